"""The operator admin is no way around two-factor, throttling or the audit; a confirmed authenticator is replaced or
removed only with a current code from it (or a backup code)."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_scopes import scopes_disabled

from accounts.models import AuditAction, AuditEntry
from conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _audit(action, **filters):
    with scopes_disabled():
        return list(AuditEntry.objects.filter(action=action, **filters))


@pytest.fixture
def operator(tenant_a):
    user = tenant_a.users["admin"]
    user.is_staff = True
    user.is_superuser = True
    user.save()
    return user


def _enrol(client, user):
    """A confirmed authenticator and backup codes, set up the normal way. Returns (device, backup codes)."""
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    client.get(reverse("accounts:two_factor_setup"))
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    response = client.post(reverse("accounts:two_factor_setup"), {"code": f"{totp(device.bin_key):06d}"})
    assert response.status_code == 200
    device.refresh_from_db()
    assert device.confirmed
    codes = list(StaticDevice.objects.get(user=user).token_set.values_list("token", flat=True))
    return device, codes


def _password_only_session(client, user):
    """What a stolen password gives: a session that never passed the second factor."""
    client.logout()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")


def test_admin_has_no_password_only_sign_in_of_its_own(client, operator):
    response = client.post(
        "/admin/login/?next=/admin/", {"username": operator.email, "password": PASSWORD, "next": "/admin/"}
    )
    assert "_auth_user_id" not in client.session
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == reverse("accounts:login")
    assert parse_qs(location.query)["next"] == ["/admin/"]


def test_staff_session_without_second_factor_cannot_use_the_admin(client, operator):
    _password_only_session(client, operator)
    response = client.get("/admin/accounts/user/")
    assert response.status_code == 302
    response = client.get(response["Location"])
    assert response.status_code == 403  # no authenticator: the admin is closed to this account
    assert client.get("/admin/").status_code != 200


def test_staff_with_an_authenticator_signs_in_through_the_app_and_verifies(client, operator, tenant_a):
    device, _codes = _enrol(client, operator)
    client.logout()
    response = client.get("/admin/")
    response = client.get(response["Location"])
    login_url = response["Location"]
    assert login_url.startswith(reverse("accounts:login"))
    response = client.post(login_url, {"email": operator.email, "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:two_factor_verify"))
    assert client.get("/admin/").status_code == 302  # not before the second factor
    response = client.post(response["Location"], {"code": f"{totp(device.bin_key, drift=1):06d}"})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert len(_audit(AuditAction.LOGIN, organization=tenant_a.organization, actor=operator)) == 1

    # A session that signed in with the password only is sent to the second factor, not let in.
    _password_only_session(client, operator)
    response = client.get(client.get("/admin/")["Location"])
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:two_factor_verify"))


def test_replacing_a_confirmed_authenticator_takes_a_current_code(client, tenant_a):
    user = tenant_a.users["agent"]
    old, _codes = _enrol(client, user)
    _password_only_session(client, user)
    client.get(reverse("accounts:two_factor_setup"))
    new = TOTPDevice.objects.get(user=user, confirmed=False)

    # The attack: the session alone sets up the thief's authenticator.
    response = client.post(reverse("accounts:two_factor_setup"), {"code": f"{totp(new.bin_key):06d}"})
    assert response.status_code == 400
    assert TOTPDevice.objects.get(user=user, confirmed=True).pk == old.pk

    # A wrong current code is refused and audited.
    response = client.post(
        reverse("accounts:two_factor_setup"), {"code": f"{totp(new.bin_key):06d}", "current_code": "000000"}
    )
    assert response.status_code == 400
    assert TOTPDevice.objects.get(user=user, confirmed=True).pk == old.pk
    assert len(_audit(AuditAction.TWO_FACTOR_FAILED, organization=tenant_a.organization)) == 1

    # The owner, with a code from the current authenticator, replaces it.
    old.refresh_from_db()
    old.throttle_reset()  # django-otp's delay after the failure (1 s)
    response = client.post(
        reverse("accounts:two_factor_setup"),
        {"code": f"{totp(new.bin_key, drift=1):06d}", "current_code": f"{totp(old.bin_key, drift=1):06d}"},
    )
    assert response.status_code == 200
    assert TOTPDevice.objects.get(user=user, confirmed=True).pk == new.pk
    assert len(_audit(AuditAction.TWO_FACTOR_REPLACED, organization=tenant_a.organization)) == 1


def test_turning_two_factor_off_takes_a_current_code(client, tenant_a):
    user = tenant_a.users["agent"]
    _device, codes = _enrol(client, user)
    _password_only_session(client, user)

    client.post(reverse("accounts:two_factor_disable"), {"password": PASSWORD})
    assert TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    client.post(reverse("accounts:two_factor_disable"), {"password": PASSWORD, "code": "00000000"})
    assert TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    assert len(_audit(AuditAction.TWO_FACTOR_FAILED, organization=tenant_a.organization)) == 1

    StaticDevice.objects.get(user=user).throttle_reset()
    client.post(reverse("accounts:two_factor_disable"), {"password": PASSWORD, "code": codes[0]})
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert len(_audit(AuditAction.TWO_FACTOR_DISABLED, organization=tenant_a.organization)) == 1
