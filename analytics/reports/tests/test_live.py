"""Analytics → Live: the numbers, their definitions, channel grants, presence, permissions and a flat query budget."""

from datetime import timedelta

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from analytics.reports.selectors import live_panel
from core.presence import online_touch
from tickets.models import Ticket
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db


def _ticket(tenant, conn, thread, **fields) -> Ticket:
    with tenant.scope():
        message, _created = message_ingest(
            organization=tenant.organization, connection=conn, inbound=inbound("お問い合わせ", thread=thread)
        )
        if fields:
            Ticket.objects.filter(pk=message.ticket_id).update(**fields)
        return Ticket.objects.get(pk=message.ticket_id)


def _grant(tenant, conn, user):
    with tenant.scope():
        account_services.connection_access_set(
            organization=tenant.organization, actor=tenant.users["owner"], connection=conn, users=[user]
        )


def _panel(tenant, role, now=None):
    with tenant.scope():
        return live_panel(membership=tenant.memberships[role], now=now or timezone.now())


def test_counts_open_unassigned_and_breaching_soon_by_their_definitions(tenant_a):
    now = timezone.now()
    conn = connection(tenant_a)
    agent = tenant_a.users["agent"]
    _ticket(tenant_a, conn, "plain")  # open, unassigned, no SLA
    _ticket(tenant_a, conn, "assigned", assignee=agent, status="open")
    _ticket(tenant_a, conn, "first-due", first_response_due_at=now + timedelta(minutes=59))
    # Already answered: its first-response clock stopped, so its due time no longer matters.
    _ticket(tenant_a, conn, "answered", first_response_due_at=now + timedelta(minutes=10), first_response_at=now)
    _ticket(tenant_a, conn, "next-due", next_response_due_at=now + timedelta(minutes=1), assignee=agent)
    _ticket(tenant_a, conn, "resolution-due", resolution_due_at=now)  # due right now: within [now, now + 1 h)
    _ticket(tenant_a, conn, "later", resolution_due_at=now + timedelta(minutes=61))
    _ticket(tenant_a, conn, "overdue", resolution_due_at=now - timedelta(seconds=1))
    _ticket(tenant_a, conn, "held", status="pending", sla_paused_at=now, resolution_due_at=now + timedelta(minutes=5))
    _ticket(tenant_a, conn, "solved", status="solved", resolution_due_at=now + timedelta(minutes=5))
    merged_into = _ticket(tenant_a, conn, "target")
    _ticket(tenant_a, conn, "merged", status="closed", merged_into=merged_into)

    panel = _panel(tenant_a, "manager", now)

    # Every ticket but the solved and the merged (closed) one is active.
    assert panel.open == 10
    assert panel.unassigned == 8
    assert panel.breaching_soon == 3  # first-due, next-due, resolution-due


def test_only_the_channels_the_member_may_see_are_counted(tenant_a, tenant_b):
    seen, hidden = connection(tenant_a), connection(tenant_a)
    _grant(tenant_a, seen, tenant_a.users["analyst"])
    _ticket(tenant_a, seen, "a")
    _ticket(tenant_a, hidden, "b")
    _ticket(tenant_a, hidden, "c")
    _ticket(tenant_b, connection(tenant_b), "other-org")

    assert _panel(tenant_a, "analyst").open == 1
    assert _panel(tenant_a, "owner").open == 3


def test_online_members_with_their_load_within_the_viewers_channels(tenant_a):
    seen, hidden = connection(tenant_a), connection(tenant_a)
    _grant(tenant_a, seen, tenant_a.users["analyst"])
    agent, manager = tenant_a.users["agent"], tenant_a.users["manager"]
    _ticket(tenant_a, seen, "1", assignee=agent)
    _ticket(tenant_a, hidden, "2", assignee=agent)
    _ticket(tenant_a, hidden, "3", assignee=agent, status="solved")
    now = timezone.now()
    online_touch(tenant_a.organization.pk, agent.pk, "tab-1", now=now.timestamp())
    online_touch(tenant_a.organization.pk, manager.pk, "tab-2", now=now.timestamp() - 91)  # expired

    owner_view = _panel(tenant_a, "owner", now)
    assert [(a.user_id, a.open_tickets) for a in owner_view.agents] == [(agent.pk, 2)]
    # The analyst sees the agent online but counts only the tickets of the channel they may see.
    assert [(a.user_id, a.open_tickets) for a in _panel(tenant_a, "analyst", now).agents] == [(agent.pk, 1)]


def test_the_page_needs_analytics_view(tenant_a, login):
    url = reverse("org:reports_live", args=[tenant_a.slug])
    assert login(tenant_a.users["agent"]).get(url).status_code == 403
    page = login(tenant_a.users["analyst"]).get(url)
    assert page.status_code == 200
    assert b'id="live-open"' in page.content
    fragment = login(tenant_a.users["agent"]).get(reverse("org:reports_live_panel", args=[tenant_a.slug]))
    assert fragment.status_code == 403


def test_the_page_and_fragment_cost_the_same_queries_however_many_tickets_and_agents(tenant_a, login):
    client = login(tenant_a.users["manager"])
    urls = [reverse(name, args=[tenant_a.slug]) for name in ("org:reports_live", "org:reports_live_panel")]

    def queries(url) -> int:
        with CaptureQueriesContext(db) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    conn = connection(tenant_a)
    _ticket(tenant_a, conn, "first", assignee=tenant_a.users["agent"])
    online_touch(tenant_a.organization.pk, tenant_a.users["agent"].pk, "tab")
    for url in urls:
        queries(url)  # warm the session
    before = [queries(url) for url in urls]
    for n in range(5):
        _ticket(tenant_a, connection(tenant_a), f"more-{n}", assignee=tenant_a.users["admin"])
    for role in ("admin", "analyst", "owner", "manager"):
        online_touch(tenant_a.organization.pk, tenant_a.users[role].pk, f"tab-{role}")
    assert [queries(url) for url in urls] == before
    assert before[1] <= 8
