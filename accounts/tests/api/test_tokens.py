"""API tokens against the four attacks of issue 15, finding 4: a token standing in for the second factor its
organization requires, a token that never expires, a token minting tokens, and /me/ answering for other
organizations."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_scopes import scopes_disabled
from rest_framework.test import APIClient

from accounts import services
from accounts.models import ApiToken, Membership
from core.errors import DomainError


def token_client(tenant, role: str = "agent", **kwargs) -> tuple[APIClient, ApiToken]:
    with tenant.scope():
        token, key = services.api_token_create(
            organization=tenant.organization, actor=tenant.users[role], name="script", **kwargs
        )
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api, token


def verified_session(client, user) -> None:
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="phone", confirmed=True
    )
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()


# --- the organization's two-factor requirement ----------------------------------------------------------------------


def test_a_token_of_a_member_without_a_second_factor_stops_when_the_organization_requires_it(tenant_a):
    api, _token = token_client(tenant_a)
    members = f"/api/v1/orgs/{tenant_a.slug}/members/"
    assert api.get(members).status_code == 200
    tenant_a.organization.require_two_factor = True
    tenant_a.organization.save()
    for url in (members, "/api/v1/me/"):
        answer = api.get(url)
        assert answer.status_code == 403, url
        error = answer.json()["error"]
        assert error["code"] == "two_factor_required"
        assert "two-factor" in error["message"] or "二要素" in error["message"] or "2 段階" in error["message"]
    # Once the member confirms an authenticator, the same token works again.
    TOTPDevice.objects.create(user=tenant_a.users["agent"], name="phone", confirmed=True)
    assert api.get(members).status_code == 200
    assert api.get("/api/v1/me/").status_code == 200


# --- expiry ----------------------------------------------------------------------------------------------------------


def test_an_expired_token_no_longer_authenticates(tenant_a):
    api, token = token_client(tenant_a, expires_in_days=30)
    members = f"/api/v1/orgs/{tenant_a.slug}/members/"
    assert token.expires_at is not None
    assert api.get(members).status_code == 200
    with scopes_disabled():
        ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    answer = api.get(members)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "authentication_failed"
    assert api.get("/api/v1/me/").status_code == 401


def test_the_organizations_longest_lifetime_ends_older_tokens_and_caps_new_ones(tenant_a):
    api, token = token_client(tenant_a)  # created before the limit, without an expiry of its own
    members = f"/api/v1/orgs/{tenant_a.slug}/members/"
    assert token.expires_at is None
    with scopes_disabled():
        ApiToken.objects.filter(pk=token.pk).update(created_at=timezone.now() - timedelta(days=31))
    assert api.get(members).status_code == 200
    tenant_a.organization.api_token_max_days = 30
    tenant_a.organization.save()
    assert api.get(members).status_code == 401
    # New tokens: the limit is the default and the most one can ask for.
    with tenant_a.scope():
        capped, _key = services.api_token_create(
            organization=tenant_a.organization, actor=tenant_a.users["agent"], name="capped"
        )
        assert abs(capped.expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
        with pytest.raises(DomainError):
            services.api_token_create(
                organization=tenant_a.organization, actor=tenant_a.users["agent"], name="long", expires_in_days=31
            )


# --- tokens cannot mint tokens -------------------------------------------------------------------------------------


def test_a_token_cannot_create_tokens(tenant_a):
    api, _token = token_client(tenant_a, role="owner")
    answer = api.post(f"/api/v1/orgs/{tenant_a.slug}/tokens/", {"name": "successor"}, format="json")
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "session_required"
    with scopes_disabled():
        assert list(ApiToken.objects.values_list("name", flat=True)) == ["script"]


def test_a_session_creates_tokens_verified_by_its_second_factor_when_the_member_has_one(tenant_a, client):
    url = f"/api/v1/orgs/{tenant_a.slug}/tokens/"
    owner = tenant_a.users["owner"]
    client.force_login(owner, backend="django.contrib.auth.backends.ModelBackend")
    answer = client.post(url, {"name": "no 2fa yet", "expires_in_days": 7}, content_type="application/json")
    assert answer.status_code == 201
    assert answer.json()["key"] and answer.json()["expires_at"]
    TOTPDevice.objects.create(user=owner, name="phone", confirmed=True)
    answer = client.post(url, {"name": "unverified"}, content_type="application/json")
    assert answer.status_code == 403
    verified_session(client, owner)
    assert client.post(url, {"name": "verified"}, content_type="application/json").status_code == 201
    assert client.post(url, {"name": "x" * 500}, content_type="application/json").status_code == 400
    with scopes_disabled():
        assert set(ApiToken.objects.values_list("name", flat=True)) == {"no 2fa yet", "verified"}


# --- /me/ -----------------------------------------------------------------------------------------------------------


def test_me_with_a_token_answers_only_for_the_tokens_organization(tenant_a, tenant_b, client):
    agent = tenant_a.users["agent"]
    with tenant_b.scope():
        Membership.objects.create(
            organization=tenant_b.organization, user=agent, role=tenant_b.memberships["agent"].role
        )
    api, _token = token_client(tenant_a)
    slugs = [org["slug"] for org in api.get("/api/v1/me/").json()["organizations"]]
    assert slugs == [tenant_a.slug]
    # Signed in, the person sees every organization they belong to.
    client.force_login(agent, backend="django.contrib.auth.backends.ModelBackend")
    slugs = {org["slug"] for org in client.get("/api/v1/me/").json()["organizations"]}
    assert slugs == {tenant_a.slug, tenant_b.slug}
