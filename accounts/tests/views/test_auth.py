"""Sign-in, throttling, two-factor (enrolment, sign-in, organization policy), password reset, API tokens."""

import re

import pytest
from django.core import mail
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_scopes import scopes_disabled

from accounts.models import AuditAction, AuditEntry
from conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _audit(action, **filters):
    with scopes_disabled():
        return list(AuditEntry.objects.filter(action=action, **filters))


def test_login_with_email_and_password_lands_in_the_organization(client, tenant_a):
    response = client.post(reverse("accounts:login"), {"email": "Agent@ORG-A.test", "password": PASSWORD})
    assert response.status_code == 302
    response = client.get(response["Location"], follow=True)
    assert response.request["PATH_INFO"] == f"/{tenant_a.slug}/"
    entries = _audit(AuditAction.LOGIN, organization=tenant_a.organization)
    assert [e.actor_email for e in entries] == ["agent@org-a.test"]
    assert entries[0].ip_address == "127.0.0.1"


def test_wrong_password_is_a_form_error_and_is_audited(client, tenant_a):
    response = client.post(reverse("accounts:login"), {"email": "agent@org-a.test", "password": "nope"})
    assert response.status_code == 400
    assert "incorrect" in response.content.decode() or "正しくありません" in response.content.decode()
    assert len(_audit(AuditAction.LOGIN_FAILED, organization=tenant_a.organization)) == 1


def test_unknown_address_failure_is_recorded_outside_any_organization(client, tenant_a):
    client.post(reverse("accounts:login"), {"email": "ghost@nowhere.test", "password": "x"})
    entries = _audit(AuditAction.LOGIN_FAILED)
    assert [(e.organization_id, e.actor_email) for e in entries] == [(None, "ghost@nowhere.test")]


def test_repeated_failures_lock_the_address_even_for_the_right_password(client, tenant_a, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(3):
        client.post(reverse("accounts:login"), {"email": "agent@org-a.test", "password": "wrong"})
    response = client.post(reverse("accounts:login"), {"email": "agent@org-a.test", "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert len(_audit(AuditAction.LOGIN_LOCKED, organization=tenant_a.organization)) == 1
    # Another address from the same IP is not locked by this one's failures.
    response = client.post(reverse("accounts:login"), {"email": "admin@org-a.test", "password": PASSWORD})
    assert response.status_code == 302


def test_malformed_login_form_is_a_field_error(client, db):
    response = client.post(reverse("accounts:login"), {"email": "not-an-email", "password": ""})
    assert response.status_code == 400
    assert 'class="field-error"' in response.content.decode()


def _enrol(client, user) -> TOTPDevice:
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    response = client.get(reverse("accounts:two_factor_setup"))
    assert response.status_code == 200 and "data:image/svg+xml" in response.content.decode()
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    response = client.post(reverse("accounts:two_factor_setup"), {"code": f"{totp(device.bin_key):06d}"})
    assert response.status_code == 200
    codes = re.findall(r"<code>(\w+)</code>", response.content.decode())
    assert len(codes) == 10
    device.refresh_from_db()
    assert device.confirmed
    return device, codes


def test_two_factor_enrolment_then_sign_in_needs_the_code(client, tenant_a):
    user = tenant_a.users["agent"]
    device, codes = _enrol(client, user)
    client.logout()
    response = client.post(reverse("accounts:login"), {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302 and reverse("accounts:two_factor_verify") in response["Location"]
    assert "_auth_user_id" not in client.session  # not signed in before the second factor
    response = client.post(reverse("accounts:two_factor_verify"), {"code": "000000"})
    assert response.status_code == 400
    assert len(_audit(AuditAction.TWO_FACTOR_FAILED, organization=tenant_a.organization)) == 1
    # django-otp throttles after a failure (1 s, then doubling); let that delay pass.
    from django_otp.plugins.otp_static.models import StaticDevice

    for throttled in (device, StaticDevice.objects.get(user=user)):
        throttled.refresh_from_db()
        throttled.throttle_reset()
    # A backup code works once.
    response = client.post(reverse("accounts:two_factor_verify"), {"code": codes[0]})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.get(f"/{tenant_a.slug}/").status_code == 200


def test_organization_requiring_two_factor_sends_members_to_setup(client, tenant_a):
    tenant_a.organization.require_two_factor = True
    tenant_a.organization.save()
    user = tenant_a.users["agent"]
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    response = client.get(f"/{tenant_a.slug}/settings/members/")
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:two_factor_setup"))
    # API with a session is refused too (tokens are issued to already verified users).
    response = client.get(f"/api/v1/orgs/{tenant_a.slug}/members/")
    assert response.status_code == 403 and response.json()["error"]["code"] == "two_factor_required"
    _enrol(client, user)
    assert client.get(f"/{tenant_a.slug}/settings/members/").status_code == 200


def test_password_reset_sends_a_working_link(client, tenant_a):
    response = client.post(reverse("accounts:password_reset"), {"email": "agent@org-a.test"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/accounts/password-reset/\S+/)", mail.outbox[0].body).group(1)
    response = client.get(link, follow=True)
    form_url = response.request["PATH_INFO"]
    response = client.post(
        form_url, {"new_password1": "a brand new passphrase", "new_password2": "a brand new passphrase"}
    )
    assert response.status_code == 302
    assert client.login(username="agent@org-a.test", password="a brand new passphrase")
    assert len(_audit(AuditAction.PASSWORD_RESET, organization=tenant_a.organization)) == 1


def test_api_token_authenticates_only_for_its_organization_and_stops_when_revoked(tenant_a, tenant_b, api_client_for):
    from accounts.models import ApiToken, Membership

    # The same person is a member of both organizations; the token is A's.
    with tenant_b.scope():
        Membership.objects.create(
            organization=tenant_b.organization, user=tenant_a.users["agent"], role=tenant_b.memberships["agent"].role
        )
    api = api_client_for(tenant_a, "agent")
    assert api.get(f"/api/v1/orgs/{tenant_a.slug}/members/").status_code == 200
    assert api.get(f"/api/v1/orgs/{tenant_b.slug}/members/").status_code == 404
    with scopes_disabled():
        token = ApiToken.objects.get(user=tenant_a.users["agent"])
        assert len(token.key_hash) == 64 and token.prefix.startswith("tsu_")
    response = api.delete(f"/api/v1/orgs/{tenant_a.slug}/tokens/{token.pk}/")
    assert response.status_code == 204
    response = api.get(f"/api/v1/orgs/{tenant_a.slug}/members/")
    assert response.status_code == 401 and response.json()["error"]["code"] == "authentication_failed"


def test_garbage_token_is_401_json(client, tenant_a):
    response = client.get(f"/api/v1/orgs/{tenant_a.slug}/members/", HTTP_AUTHORIZATION="Token tsu_garbage")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_anonymous_requests_are_asked_to_sign_in_whatever_the_slug(client, tenant_a):
    for slug in (tenant_a.slug, "does-not-exist"):
        assert client.get(f"/{slug}/").status_code == 302
        response = client.get(f"/api/v1/orgs/{slug}/members/")
        assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"
