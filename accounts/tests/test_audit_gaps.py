"""Issue 15, finding 12: the audit log also covers the operator admin, shared canned responses, tag renames and
deletes and password-reset requests; and TRUNCATE cannot empty it."""

import io
import re

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_scopes import scopes_disabled

from accounts import audit_display, services
from accounts.audit import audit_record
from accounts.models import AuditAction, AuditEntry

pytestmark = pytest.mark.django_db

A = AuditAction


def _entries(action, **filters) -> list[AuditEntry]:
    with scopes_disabled():
        return list(AuditEntry.objects.filter(action=action, **filters).select_related("actor").order_by("id"))


def _texts(entry: AuditEntry) -> list[str]:
    with translation.override("en"), timezone.override("Asia/Tokyo"):
        return [detail.as_text() for detail in audit_display.details(entry)]


# --- TRUNCATE -----------------------------------------------------------------------------------------------------


def test_truncate_of_the_audit_table_is_refused(tenant_a):
    with tenant_a.scope():
        audit_record(organization=tenant_a.organization, actor=None, action=A.ORG_UPDATED)
    before = len(_entries(A.ORG_UPDATED))
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test's own inserts leave deferred checks pending
            cursor.execute("TRUNCATE accounts_auditentry CASCADE")
    assert len(_entries(A.ORG_UPDATED)) == before >= 1


@pytest.mark.django_db(transaction=True)
def test_transactional_tests_can_still_empty_the_test_database(tenant_a):
    """The check is the teardown: its flush truncates the audit table (conftest lets a superuser's flush through)."""
    with tenant_a.scope():
        audit_record(organization=tenant_a.organization, actor=None, action=A.ORG_UPDATED)
    assert _entries(A.ORG_UPDATED)


# --- the operator admin -------------------------------------------------------------------------------------------


@pytest.fixture
def operator_client(client, tenant_a):
    """The admin's Django client with a session verified by a second factor."""
    user = tenant_a.users["admin"]
    user.is_staff = user.is_superuser = True
    user.save()
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return client


def test_admin_changes_and_deletions_are_audited_in_the_objects_organization(operator_client, tenant_a):
    with tenant_a.scope():
        team = services.team_create(organization=tenant_a.organization, actor=tenant_a.users["owner"], name="Night")
    data = {
        "organization": tenant_a.organization.pk,
        "name": "Late night",
        "description": team.description,
        "assignment_strategy": team.assignment_strategy,
        "default_capacity": team.default_capacity,
        **{flag: "on" for flag in ("match_skills", "require_online") if getattr(team, flag)},
    }
    response = operator_client.post(f"/admin/accounts/team/{team.pk}/change/", data)
    assert response.status_code == 302, response.content[:2000]
    (changed,) = _entries(A.ADMIN_CHANGED)
    assert changed.organization == tenant_a.organization
    assert changed.actor == tenant_a.users["admin"]
    assert changed.object_type == "accounts.team" and changed.object_id == str(team.pk)
    assert changed.changes == {"fields": ["name"]}
    assert _texts(changed) == ["Fields: Name"]
    with translation.override("en"):
        assert changed.get_action_display() == "Changed in the operator admin"

    response = operator_client.post(f"/admin/accounts/team/{team.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    (deleted,) = _entries(A.ADMIN_DELETED)
    assert (deleted.organization, deleted.object_repr) == (tenant_a.organization, "Late night")


def test_admin_password_change_of_a_user_is_audited_in_each_of_their_organizations(operator_client, tenant_a, tenant_b):
    agent = tenant_a.users["agent"]
    services.organization_create(name="Side", slug="side", owner=agent)
    response = operator_client.post(
        f"/admin/accounts/user/{agent.pk}/password/",
        {"password1": "an operator's new passphrase", "password2": "an operator's new passphrase"},
    )
    assert response.status_code == 302
    entries = _entries(A.ADMIN_CHANGED, object_id=str(agent.pk))
    assert sorted(e.organization.slug for e in entries) == ["org-a", "side"]
    assert _texts(entries[0]) == ["Fields: Password"]  # which field, never the value
    assert not _entries(A.ADMIN_CHANGED, organization=tenant_b.organization)


def test_an_admin_action_on_something_of_no_organization_has_none(operator_client):
    response = operator_client.post(
        "/admin/accounts/user/add/",
        {"email": "new@nowhere.test", "password1": "a long enough passphrase", "password2": "a long enough passphrase"},
    )
    assert response.status_code == 302
    (added,) = _entries(A.ADMIN_ADDED)
    assert added.organization is None and added.object_repr == "new@nowhere.test"
    assert "Fields: Email address, Password" in _texts(added)


# --- shared canned responses --------------------------------------------------------------------------------------


def test_shared_canned_responses_are_audited_with_their_text_personal_ones_not(tenant_a, api_client_for):
    api = api_client_for(tenant_a, "admin")
    base = f"/api/v1/orgs/{tenant_a.slug}/canned-responses/"
    response = api.post(
        base,
        {
            "title": "Thanks",
            "shortcut": "thanks",
            "shared": True,
            "variants": [{"language": "en", "body": "Thank you"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    canned_id = response.json()["id"]
    (created,) = _entries(A.CANNED_CREATED)
    assert created.organization == tenant_a.organization and created.ip_address == "127.0.0.1"
    assert _texts(created) == ["Title: Thanks", "Shortcut: thanks", "Text › English: Thank you"]

    response = api.patch(
        f"{base}{canned_id}/",
        {"title": "Thanks!", "variants": [{"language": "en", "body": "Thank you, {{contact.name}}"}]},
        format="json",
    )
    assert response.status_code == 200, response.content
    (updated,) = _entries(A.CANNED_UPDATED)
    assert _texts(updated) == ["Title: Thanks → Thanks!", "Text › English: Thank you → Thank you, {{contact.name}}"]

    assert api.delete(f"{base}{canned_id}/").status_code == 204
    (deleted,) = _entries(A.CANNED_DELETED)
    assert deleted.object_repr == "/thanks" and "Text › English: Thank you, {{contact.name}}" in _texts(deleted)

    personal = api.post(
        base,
        {"title": "Mine", "shortcut": "mine", "shared": False, "variants": [{"language": "ja", "body": "どうも"}]},
        format="json",
    )
    assert personal.status_code == 201
    assert api.delete(f"{base}{personal.json()['id']}/").status_code == 204
    assert len(_entries(A.CANNED_CREATED)) == len(_entries(A.CANNED_DELETED)) == 1


# --- tags ---------------------------------------------------------------------------------------------------------


def test_tag_renames_and_deletes_are_audited(tenant_a, api_client_for):
    from tickets.tags import tag_create

    with tenant_a.scope():
        tag = tag_create(organization=tenant_a.organization, actor=tenant_a.users["owner"], name="vip")
    api = api_client_for(tenant_a, "admin")
    url = f"/api/v1/orgs/{tenant_a.slug}/tags/{tag.pk}/"
    assert api.patch(url, {"name": "VIP customer"}, format="json").status_code == 200
    (renamed,) = _entries(A.TAG_UPDATED)
    assert renamed.organization == tenant_a.organization and renamed.actor == tenant_a.users["admin"]
    assert _texts(renamed) == ["Name: vip → VIP customer"]
    with translation.override("en"):
        assert renamed.get_action_display() == "Tag renamed or recolored"

    assert api.delete(url).status_code == 204
    (deleted,) = _entries(A.TAG_DELETED)
    assert deleted.object_repr == "VIP customer"
    assert "Name: VIP customer" in _texts(deleted) and "Tickets that had it: 0" in _texts(deleted)


# --- password-reset requests --------------------------------------------------------------------------------------


# What differs on every response anyway: the CSP nonce and the masked CSRF token.
_PER_RESPONSE = re.compile(r'(nonce="|"X-CSRFToken": ?"|name="csrfmiddlewaretoken" value=")[^"]*"')


def _unmasked(content: bytes) -> str:
    return _PER_RESPONSE.sub(r'\1"', content.decode())


def test_password_reset_requests_are_audited_and_answered_alike(client, tenant_a):
    known = client.post(reverse("accounts:password_reset"), {"email": "agent@org-a.test"})
    unknown = client.post(reverse("accounts:password_reset"), {"email": "nobody@nowhere.test"})
    assert len(mail.outbox) == 1
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert known.content == unknown.content
    known_page, unknown_page = (_unmasked(client.get(response["Location"]).content) for response in (known, unknown))
    assert known_page == unknown_page

    (for_known,) = _entries(A.PASSWORD_RESET_REQUESTED, actor=tenant_a.users["agent"])
    assert for_known.organization == tenant_a.organization
    (for_unknown,) = _entries(A.PASSWORD_RESET_REQUESTED, actor_email="nobody@nowhere.test")
    assert for_unknown.organization is None and for_unknown.actor is None
    with translation.override("en"):
        assert for_known.get_action_display() == "Password reset requested"
    # The organization's log shows it as "who asked"; nothing about the unknown address reaches it.
    with tenant_a.scope():
        assert list(AuditEntry.objects.filter(action=A.PASSWORD_RESET_REQUESTED)) == [for_known]


# --- the application's database role -----------------------------------------------------------------------------


def test_the_app_role_sql_leaves_the_audit_log_append_and_read_only(tenant_a):
    """The README's production setup, applied to a role made inside the test's transaction (rolled back with it)."""
    out = io.StringIO()
    call_command("app_role_sql", role="tsunagu_test_app", stdout=out)
    with connection.cursor() as cursor:
        cursor.execute("CREATE ROLE tsunagu_test_app NOLOGIN")
        for statement in out.getvalue().split(";\n"):
            if statement.strip():
                cursor.execute(statement)
        cursor.execute("SET LOCAL ROLE tsunagu_test_app")
        try:
            with tenant_a.scope():
                audit_record(organization=tenant_a.organization, actor=None, action=A.ORG_UPDATED)  # INSERT
            assert _entries(A.ORG_UPDATED)  # SELECT
            cursor.execute("SELECT count(*) FROM accounts_team")
            for statement in (
                "TRUNCATE accounts_auditentry",
                "ALTER TABLE accounts_auditentry DISABLE TRIGGER USER",
                "UPDATE accounts_auditentry SET action = 'x'",
                "DELETE FROM accounts_auditentry",
            ):
                with pytest.raises(DatabaseError, match="permission denied|must be owner"):
                    with transaction.atomic():
                        cursor.execute(statement)
        finally:
            cursor.execute("RESET ROLE")
