"""The overview page and its onboarding checklist: each step is marked done from the organization's real state."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_scopes import scope

from accounts.models import Membership
from conftest import add_member, make_org, make_user
from tests import tenant_objects
from tickets.models import Ticket
from tickets.services import notes, replies
from tickets.services.ingest import message_ingest
from tickets.tests import factories

pytestmark = pytest.mark.django_db


def _steps(client, slug) -> dict[str, bool]:
    page = client.get(reverse("org:home", args=[slug])).content.decode()
    assert page.count("data-step=") == 5
    return {
        key: f'class="step done" data-step="{key}"' in page for key in ("channel", "invite", "hours", "rule", "answer")
    }


class FreshOrg:
    def __init__(self):
        self.organization = make_org("shinki")
        self.slug = "shinki"
        with self.scope():
            membership = Membership.objects.select_related("user").get(organization=self.organization)
        self.owner = membership.user
        self.users = {"owner": self.owner}
        self.memberships = {"owner": membership}

    def scope(self):
        return scope(organization=self.organization)


def test_a_new_organization_starts_with_nothing_done_and_finishes_with_everything_done(login, tenant_b):
    org = FreshOrg()
    client = login(org.owner)
    # Another organization having done everything marks nothing done here.
    makers = (
        tenant_objects._connection,
        tenant_objects._invitation,
        tenant_objects._sla_calendar,
        tenant_objects._rule,
    )
    for make in makers:
        make(tenant_b)
    assert _steps(client, org.slug) == dict.fromkeys(("channel", "invite", "hours", "rule", "answer"), False)

    tenant_objects._connection(org)
    tenant_objects._invitation(org)
    tenant_objects._sla_calendar(org)
    tenant_objects._rule(org)
    assert _steps(client, org.slug) == {"channel": True, "invite": True, "hours": True, "rule": True, "answer": False}

    conn = factories.connection(org, platform="facebook")
    with org.scope():
        message, _created = message_ingest(
            organization=org.organization, connection=conn, inbound=factories.inbound("テストです", thread="first")
        )
        ticket = Ticket.objects.select_related("connection").get(pk=message.ticket_id)
        # A private note is not an answer to the customer.
        notes.note_add(organization=org.organization, actor=org.owner, ticket=ticket, text="確認します")
    assert _steps(client, org.slug)["answer"] is False
    with org.scope():
        replies.message_reply(organization=org.organization, actor=org.owner, ticket=ticket, text="承知しました。")
    assert all(_steps(client, org.slug).values())
    assert 'id="onboarding-title">' in client.get(reverse("org:home", args=[org.slug])).content.decode()


def test_a_teammate_who_joined_counts_as_invited(login):
    org = FreshOrg()
    add_member(org.organization, make_user("mate@shinki.test"), "agent")
    assert _steps(login(org.owner), org.slug)["invite"] is True


def test_only_those_who_manage_the_organization_see_the_checklist(login, tenant_a):
    page = login(tenant_a.users["agent"]).get(reverse("org:home", args=[tenant_a.slug])).content.decode()
    assert 'id="onboarding"' not in page
    page = login(tenant_a.users["owner"]).get(reverse("org:home", args=[tenant_a.slug])).content.decode()
    assert 'id="onboarding"' in page


def test_the_overview_costs_the_same_number_of_queries_however_much_is_set_up(login):
    org = FreshOrg()
    client = login(org.owner)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("org:home", args=[org.slug])).status_code == 200
        return len(captured)

    queries()  # warm the session and caches
    empty = queries()
    for make in (
        tenant_objects._connection,
        tenant_objects._invitation,
        tenant_objects._sla_calendar,
        tenant_objects._rule,
    ):
        make(org)
        make(org)
    add_member(org.organization, make_user("mate@shinki.test"), "agent")
    assert queries() == empty
