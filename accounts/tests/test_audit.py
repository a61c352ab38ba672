"""The audit log: written by every sensitive action, readable and filterable by admins, never alterable."""

import json

import pytest
from django.db import DatabaseError, transaction
from django_scopes import scopes_disabled

from accounts.models import AuditAction, AuditEntry
from tests.urlwalk import all_routes

pytestmark = pytest.mark.django_db


def _actions(tenant):
    with tenant.scope():
        return [e.action for e in AuditEntry.objects.order_by("id")]


def test_member_role_team_and_token_changes_are_audited(tenant_a, login):
    client = login(tenant_a.users["admin"])
    base = f"/{tenant_a.slug}/settings"
    agent = tenant_a.memberships["agent"]
    with tenant_a.scope():
        from accounts.models import Role

        editor = Role.objects.get(key="editor")
    client.post(f"{base}/members/", {"email": "new@org-a.test", "role": editor.pk})
    client.post(f"{base}/members/{agent.pk}/role/", {"role": editor.pk})
    client.post(f"{base}/teams/", {"name": "Night", "members": [tenant_a.users["agent"].pk]})
    client.post(f"{base}/tokens/", {"name": "crm"})
    client.post(f"{base}/members/{tenant_a.memberships['analyst'].pk}/remove/", {"confirmed": "yes"})
    assert _actions(tenant_a)[-5:] == [
        AuditAction.MEMBER_INVITED,
        AuditAction.MEMBER_ROLE_CHANGED,
        AuditAction.TEAM_CREATED,
        AuditAction.TOKEN_CREATED,
        AuditAction.MEMBER_REMOVED,
    ]
    with tenant_a.scope():
        change = AuditEntry.objects.get(action=AuditAction.MEMBER_ROLE_CHANGED)
    assert change.changes == {"role": ["agent", "editor"]}
    assert change.actor == tenant_a.users["admin"] and change.ip_address == "127.0.0.1"


def test_admin_filters_the_log_in_the_ui_and_api(tenant_a, login, api_client_for):
    client = login(tenant_a.users["owner"])
    client.post(f"/{tenant_a.slug}/settings/teams/", {"name": "Night"})
    page = client.get(f"/{tenant_a.slug}/settings/audit/", {"action": "team.created"}).content.decode()
    assert "Night" in page
    page = client.get(f"/{tenant_a.slug}/settings/audit/", {"action": "member.invited"}).content.decode()
    assert "Night" not in page
    api = api_client_for(tenant_a, "admin")
    body = api.get(f"/api/v1/orgs/{tenant_a.slug}/audit-log/", {"action": "team.created"}).json()
    assert [r["object_repr"] for r in body["results"]] == ["Night"]
    assert body["results"][0]["actor"]["email"] == tenant_a.users["owner"].email


def test_no_endpoint_changes_or_deletes_audit_entries(tenant_a, api_client_for, login):
    api = api_client_for(tenant_a, "owner")
    url = f"/api/v1/orgs/{tenant_a.slug}/audit-log/"
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert api.generic(method, url, json.dumps({"action": "x"}), content_type="application/json").status_code == 405
    # No application route names a single audit entry (the operator admin is checked below).
    assert not [
        r.route
        for r in all_routes()
        if "audit" in r.route and "<" in r.route.split("audit")[-1] and not r.route.startswith("admin/")
    ]
    before = _actions(tenant_a)
    login(tenant_a.users["owner"]).post(f"/{tenant_a.slug}/settings/audit/", {"action": "x"})
    assert _actions(tenant_a) == before


def test_the_database_refuses_update_and_delete(tenant_a):
    with scopes_disabled():
        entry = AuditEntry.objects.filter(organization=tenant_a.organization).first() or AuditEntry.objects.create(
            organization=tenant_a.organization, action=AuditAction.ORG_UPDATED
        )
        for statement in (
            lambda: AuditEntry.objects.filter(pk=entry.pk).update(action="auth.login"),
            lambda: AuditEntry.objects.filter(pk=entry.pk).delete(),
        ):
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                statement()
        with pytest.raises(ValueError):
            entry.save()


def test_operator_admin_shows_entries_read_only(tenant_a, client):
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.models import User

    root = User.objects.create_superuser("root@ops.test", "an operator password")
    client.login(username="root@ops.test", password="an operator password")
    # The admin admits staff whose session passed the second factor (accounts/admin.py).
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.create(user=root, name="app", confirmed=True).persistent_id
    session.save()
    with scopes_disabled():
        entry = AuditEntry.objects.create(organization=tenant_a.organization, action=AuditAction.ORG_UPDATED)
    base = f"/admin/accounts/auditentry/{entry.pk}"
    assert client.get("/admin/accounts/auditentry/").status_code == 200
    assert client.post(f"{base}/delete/", {"post": "yes"}).status_code == 403
    client.post(f"{base}/change/", {"action": "auth.login"})
    with scopes_disabled():
        assert AuditEntry.objects.get(pk=entry.pk).action == AuditAction.ORG_UPDATED
