"""Language and time zone follow the user's choice, else the organization's; organization settings are audited."""

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import AuditAction, AuditEntry

pytestmark = pytest.mark.django_db


def test_organization_default_language_then_user_choice(tenant_a, login):
    client = login(tenant_a.users["agent"])
    page = client.get(f"/{tenant_a.slug}/settings/members/")
    assert page.headers["Content-Language"] == "ja" and "<h1>メンバー</h1>" in page.content.decode()
    tenant_a.organization.default_language = "en"
    tenant_a.organization.save()
    page = client.get(f"/{tenant_a.slug}/settings/members/")
    assert page.headers["Content-Language"] == "en" and "<h1>Members</h1>" in page.content.decode()
    user = tenant_a.users["agent"]
    user.language = "ja"
    user.save()
    assert client.get(f"/{tenant_a.slug}/settings/members/").headers["Content-Language"] == "ja"


def test_times_are_shown_in_the_organization_time_zone(tenant_a, login):
    client = login(tenant_a.users["owner"])
    client.post(f"/{tenant_a.slug}/settings/teams/", {"name": "Night"})
    with tenant_a.scope():
        created = AuditEntry.objects.get(action=AuditAction.TEAM_CREATED).created_at  # stored in UTC
    page = client.get(f"/{tenant_a.slug}/settings/audit/").content.decode()
    assert created.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%d %H:%M") in page
    tenant_a.organization.timezone = "America/New_York"
    tenant_a.organization.save()
    page = client.get(f"/{tenant_a.slug}/settings/audit/").content.decode()
    assert created.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York")).strftime("%Y-%m-%d %H:%M") in page


def test_requiring_two_factor_needs_it_on_the_admin_first_and_is_audited(tenant_a, login):
    client = login(tenant_a.users["admin"])
    data = {
        "name": "Org A",
        "timezone": "Asia/Tokyo",
        "default_language": "ja",
        "require_two_factor": "on",
        "ticket_reopen_days": 7,
    }
    response = client.post(f"/{tenant_a.slug}/settings/", data)
    assert response.status_code == 400 and 'class="field-error"' in response.content.decode()
    TOTPDevice.objects.create(user=tenant_a.users["admin"], name="x", confirmed=True)
    response = client.post(f"/{tenant_a.slug}/settings/", data)
    # Saved; the admin's own session is not yet verified, so the next page asks for the code.
    assert response.status_code == 302
    tenant_a.organization.refresh_from_db()
    assert tenant_a.organization.require_two_factor
    with tenant_a.scope():
        entry = AuditEntry.objects.get(action=AuditAction.ORG_UPDATED)
    assert entry.changes["require_two_factor"] == [False, True]


def test_help_texts_are_announced_with_their_field(tenant_a, login):
    """Django points a field's aria-describedby at "<id>_helptext"; the shared form partial must use that id."""
    import re

    page = login(tenant_a.users["owner"]).get(f"/{tenant_a.slug}/settings/").content.decode()
    described = set(re.findall(r'aria-describedby="([^"]+)"', page))
    assert described, "the settings form has fields with help texts"
    for ids in described:
        for target in ids.split():
            assert f'id="{target}"' in page, target
