"""Destructive actions ask first, also without JavaScript: a POST that does not carry `confirmed=yes` answers with a
page that asks (the same fields, plus the confirmation) and changes nothing; confirming does the action."""

import re

import pytest

from accounts import services as account_services
from accounts.models import ApiToken, Invitation, Membership, Role, Team
from automation.models import BusinessCalendar, BusinessClosure, SlaPolicy
from channels_integrations.models import ChannelConnection
from tickets.models import CannedResponse

pytestmark = pytest.mark.django_db


def _objects(tenant) -> dict:
    owner = tenant.users["owner"]
    with tenant.scope():
        connection = ChannelConnection.objects.create(
            organization=tenant.organization, platform="facebook", display_name="Shop page", external_account_id="P"
        )
        connection.set_credentials({"access_token": "t"})
        connection.save()
        team = Team.objects.get(
            pk=account_services.team_create(organization=tenant.organization, actor=owner, name="Night", members=[]).pk
        )
        token, _key = account_services.api_token_create(organization=tenant.organization, actor=owner, name="crm")
        invitation, _token = account_services.invitation_create(
            organization=tenant.organization,
            actor=owner,
            actor_membership=tenant.memberships["owner"],
            email="later@org-a.test",
            role=Role.objects.get(key="agent"),
        )
        calendar = BusinessCalendar.objects.create(organization=tenant.organization, name="Office")
        closure = BusinessClosure.objects.create(
            organization=tenant.organization,
            calendar=calendar,
            name="New year",
            starts_at="2027-01-01T00:00:00Z",
            ends_at="2027-01-03T00:00:00Z",
        )
        policy = SlaPolicy.objects.create(organization=tenant.organization, name="Urgent", priority="urgent")
        canned = CannedResponse.objects.create(organization=tenant.organization, title="Thanks", shortcut="thanks")
    base = f"/{tenant.slug}/settings"
    return {
        # url, data, "is it still there?"
        "disconnect": (
            f"{base}/channels/{connection.pk}/status/",
            {"status": "disconnected"},
            lambda: ChannelConnection.objects.get(pk=connection.pk).status != "disconnected",
        ),
        "member": (
            f"{base}/members/{tenant.memberships['analyst'].pk}/remove/",
            {},
            lambda: Membership.objects.filter(pk=tenant.memberships["analyst"].pk).exists(),
        ),
        "invitation": (
            f"{base}/invitations/{invitation.pk}/revoke/",
            {},
            lambda: Invitation.objects.get(pk=invitation.pk).revoked_at is None,
        ),
        "team": (f"{base}/teams/{team.pk}/delete/", {}, lambda: Team.objects.filter(pk=team.pk).exists()),
        "token": (
            f"{base}/tokens/{token.pk}/revoke/",
            {},
            lambda: ApiToken.objects.get(pk=token.pk).revoked_at is None,
        ),
        "calendar": (
            f"{base}/sla/calendars/{calendar.pk}/delete/",
            {},
            lambda: BusinessCalendar.objects.filter(pk=calendar.pk).exists(),
        ),
        "closure": (
            f"{base}/sla/closures/{closure.pk}/delete/",
            {},
            lambda: BusinessClosure.objects.filter(pk=closure.pk).exists(),
        ),
        "policy": (
            f"{base}/sla/policies/{policy.pk}/delete/",
            {},
            lambda: SlaPolicy.objects.filter(pk=policy.pk).exists(),
        ),
        "canned": (
            f"{base}/canned-responses/{canned.pk}/delete/",
            {},
            lambda: CannedResponse.objects.filter(pk=canned.pk).exists(),
        ),
    }


@pytest.mark.parametrize(
    "action", ["disconnect", "member", "invitation", "team", "token", "calendar", "closure", "policy", "canned"]
)
def test_a_destructive_post_asks_first_and_acts_once_confirmed(tenant_a, login, action):
    url, data, still_there = _objects(tenant_a)[action]
    client = login(tenant_a.users["owner"])

    asked = client.post(url, data)
    assert asked.status_code == 200
    page = asked.content.decode()
    with tenant_a.scope():
        assert still_there(), "nothing happens before the confirmation"
    # The page's form posts the same fields again, confirmed, to the same address; it offers a way back.
    form = page[page.index('<section class="card confirm"') :]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form))
    fields.pop("csrfmiddlewaretoken")  # the page's own token
    assert fields.pop("confirmed") == "yes" and fields == data
    assert 'class="button" href="/' in form

    done = client.post(url, {**data, "confirmed": "yes"})
    assert done.status_code == 302
    with tenant_a.scope():
        assert not still_there()
