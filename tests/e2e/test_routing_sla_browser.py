"""An agent's browser on a real ASGI server: a rule routes a new conversation to the agent (online because the inbox
is open), the SLA breach lights the row up without a reload, and "away" keeps new tickets in the team queue until
the agent is available again."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services as account_services
from automation.models import Rule, SlaPolicy
from automation.sla.monitor import sla_scan
from conftest import PASSWORD
from tests.e2e.conftest import screenshot, sign_in
from tests.e2e.test_inbox_browser import ingest, off_loop
from tickets.models import Ticket
from tickets.tests.factories import connection, inbound

pytestmark = [pytest.mark.browser]


def test_routing_sla_highlight_and_availability_live(page, asgi_server, tenant_a):
    # Given a LINE channel, a round-robin team with one agent, a rule routing every new ticket to it, and a
    # 30-minute first-response SLA for normal tickets
    agent = tenant_a.users["agent"]
    line = connection(tenant_a, "line", "LINE 公式アカウント")

    def setup():
        with tenant_a.scope():
            owner = tenant_a.users["owner"]
            team = account_services.team_create(
                organization=tenant_a.organization, actor=owner, name="サポート", members=[agent]
            )
            team.assignment_strategy = "round_robin"
            team.save(update_fields=["assignment_strategy"])
            account_services.connection_access_set(
                organization=tenant_a.organization, actor=owner, connection=line, teams=[team]
            )
            Rule.objects.create(
                organization=tenant_a.organization,
                name="新規はサポートへ",
                trigger="ticket_created",
                conditions={"all": []},
                actions=[{"type": "assign_team", "team": team.pk}],
            )
            SlaPolicy.objects.create(
                organization=tenant_a.organization,
                name="標準",
                priority="normal",
                first_response_minutes=30,
                warning_minutes=10,
            )

    off_loop(setup)
    sign_in(page, asgi_server.url, agent.email, PASSWORD)
    page.goto(f"{asgi_server.url}/{tenant_a.slug}/inbox/")
    page.wait_for_selector("#inbox[data-connected='true']")  # the open inbox is what makes the agent "online"

    # When a customer writes, the ticket arrives already assigned to the agent
    first = ingest(tenant_a, line, inbound("注文した商品がまだ届いていません", thread="t-1", author="C1"))
    row = page.locator(f"#ticket-row-{first.ticket_id}")
    row.wait_for()
    assert agent.name in row.locator(".assignee").inner_text()

    # When the first-response time passes unanswered, the monitor marks it overdue and the row lights up live
    events = off_loop(
        lambda: _scan(tenant_a, at=timezone.now() + timedelta(minutes=31))  # as the beat would, 31 minutes later
    )
    assert sorted(e.kind for e in events) == ["breached"]
    page.wait_for_selector(f"#ticket-row-{first.ticket_id}.sla-breached")
    assert "期限超過" in row.locator(".sla").inner_text()
    screenshot(page, "inbox-sla-breached")

    # When the agent steps away, a new conversation waits in the team's queue
    page.locator("#availability button[value='away']").click()
    page.wait_for_selector("#availability [data-availability='away']")
    second = ingest(tenant_a, line, inbound("返品の方法を教えてください", thread="t-2", author="C2"))
    second_row = page.locator(f"#ticket-row-{second.ticket_id}")
    second_row.wait_for()
    assert off_loop(lambda: _assignee(tenant_a, second.ticket_id)) is None

    # And when they are available again, the queue is drained to them, live
    page.locator("#availability button[value='available']").click()
    page.wait_for_selector("#availability [data-availability='available']")
    page.wait_for_function(
        "([id, name]) => document.querySelector(`#ticket-row-${id} .assignee`).textContent.includes(name)",
        arg=[second.ticket_id, agent.name],
    )
    assert off_loop(lambda: _assignee(tenant_a, second.ticket_id)) == agent.pk


def _scan(tenant, at):
    with tenant.scope():
        return sla_scan(organization=tenant.organization, now=at)


def _assignee(tenant, ticket_id):
    with tenant.scope():
        return Ticket.objects.get(pk=ticket_id).assignee_id
