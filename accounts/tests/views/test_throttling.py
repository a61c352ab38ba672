"""Sign-in throttling that a forged X-Forwarded-For cannot dodge: the client IP is read from X-Forwarded-For only
through configured proxies, and each account has its own limit, from any IP, with a doubling delay that a password
reset clears and that never locks the owner out for good."""

import re

import pytest
from django.core import mail
from django.test import RequestFactory
from django.urls import reverse

from accounts import auth
from accounts.audit import client_ip
from conftest import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(auth, "_now", clock)
    return clock


@pytest.fixture
def account_limit(settings):
    """Only the per-account limit in play: the per-address+IP and per-IP limits are out of reach."""
    settings.LOGIN_FAILURE_LIMIT = 100
    settings.LOGIN_IP_FAILURE_LIMIT = 100
    settings.LOGIN_ACCOUNT_FAILURE_LIMIT = 4
    settings.LOGIN_ACCOUNT_MAX_DELAY = 900
    return settings


def _sign_in(client, password, ip, email="agent@org-a.test"):
    return client.post(LOGIN, {"email": email, "password": password}, REMOTE_ADDR=ip)


def test_forged_forwarded_for_from_a_direct_client_is_not_believed(client, tenant_a, settings):
    settings.TRUSTED_PROXY_COUNT = 1  # the old setting: trusted any sender's X-Forwarded-For
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    settings.LOGIN_FAILURE_LIMIT = 3
    for n in range(3):
        client.post(
            LOGIN,
            {"email": "agent@org-a.test", "password": "wrong"},
            REMOTE_ADDR="203.0.113.9",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}",
        )
    response = client.post(
        LOGIN,
        {"email": "agent@org-a.test", "password": PASSWORD},
        REMOTE_ADDR="203.0.113.9",
        HTTP_X_FORWARDED_FOR="198.51.100.77",
    )
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded", "expected"),
    [
        ([], "203.0.113.9", "198.51.100.1", "203.0.113.9"),
        (["10.0.0.1"], "203.0.113.9", "198.51.100.1", "203.0.113.9"),
        (["10.0.0.1"], "10.0.0.1", "198.51.100.1", "198.51.100.1"),
        # The client wrote the first entry itself; only what the trusted proxy appended counts.
        (["10.0.0.1"], "10.0.0.1", "6.6.6.6, 198.51.100.1", "198.51.100.1"),
        (["10.0.0.0/8"], "10.0.0.1", "6.6.6.6, 198.51.100.1, 10.2.3.4", "198.51.100.1"),
        (["10.0.0.1"], "10.0.0.1", "", "10.0.0.1"),
        (["10.0.0.1"], "10.0.0.1", "garbage", "10.0.0.1"),
        (["::1"], "::1", "2001:db8::5", "2001:db8::5"),
    ],
)
def test_client_ip_trusts_only_configured_proxies(settings, proxies, remote, forwarded, expected):
    settings.TRUSTED_PROXIES = proxies
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_account_limit_holds_across_ips_with_a_doubling_delay(client, tenant_a, account_limit, clock):
    for n in range(4):
        _sign_in(client, "wrong", f"198.51.100.{n}")
    # The attacker's next IP, even with the right password, must wait (1 s after the 4th failure).
    clock.now += 0.5
    response = _sign_in(client, PASSWORD, "198.51.100.50")
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    # After the wait, one more try; failing doubles the wait (2 s).
    clock.now += 1
    assert _sign_in(client, "wrong", "198.51.100.51").status_code == 429
    clock.now += 1.5
    assert _sign_in(client, PASSWORD, "198.51.100.52").status_code == 429
    clock.now += 1
    response = _sign_in(client, PASSWORD, "192.0.2.10")
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(tenant_a.users["agent"].pk)
    # Success clears the count: the next failure is not yet throttled.
    client.logout()
    assert _sign_in(client, "wrong", "198.51.100.60").status_code == 400


def test_the_account_delay_is_capped_so_the_lock_is_never_permanent(client, tenant_a, account_limit, clock):
    for n in range(30):
        clock.now += auth._account_delay(n) + 1
        _sign_in(client, "wrong", f"198.51.100.{n}")
    assert auth._account_delay(30) == 900
    clock.now += 899
    assert _sign_in(client, PASSWORD, "192.0.2.10").status_code == 429
    clock.now += 2
    assert _sign_in(client, PASSWORD, "192.0.2.10").status_code == 302


def test_parallel_guesses_get_one_attempt_once_the_account_is_throttled(
    client, tenant_a, account_limit, clock, monkeypatch
):
    for n in range(4):
        _sign_in(client, "wrong", f"198.51.100.{n}")
    clock.now += 5
    inner = []
    real_authenticate = auth.authenticate

    def authenticate_while_another_guess_arrives(request, **credentials):
        if not inner:
            inner.append("started")
            second = RequestFactory().post(LOGIN, REMOTE_ADDR="198.51.100.99")
            try:
                auth.login_attempt(request=second, email="agent@org-a.test", password="another guess")
            except auth.LoginLocked:
                inner[0] = "refused"
            except auth.InvalidCredentials:
                inner[0] = "let through"
        return real_authenticate(request, **credentials)

    monkeypatch.setattr(auth, "authenticate", authenticate_while_another_guess_arrives)
    _sign_in(client, "guess", "198.51.100.98")
    assert inner == ["refused"]


def test_password_reset_lets_the_owner_in_at_once(client, tenant_a, account_limit, clock):
    for n in range(20):
        clock.now += auth._account_delay(n) + 1
        _sign_in(client, "wrong", f"198.51.100.{n}")
    assert _sign_in(client, PASSWORD, "192.0.2.10").status_code == 429

    client.post(reverse("accounts:password_reset"), {"email": "agent@org-a.test"}, REMOTE_ADDR="192.0.2.10")
    link = re.search(r"https?://[^/]+(/accounts/password-reset/\S+/)", mail.outbox[0].body).group(1)
    form_url = client.get(link, follow=True).request["PATH_INFO"]
    new = "a brand new passphrase"
    response = client.post(form_url, {"new_password1": new, "new_password2": new}, REMOTE_ADDR="192.0.2.10")
    assert response.status_code == 302

    response = _sign_in(client, new, "192.0.2.10")
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(tenant_a.users["agent"].pk)
