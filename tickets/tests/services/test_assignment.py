"""What an assignment records is defined once: routing's one-round-trip write (`ticket_assign_routed`) records the
same ticket fields, history rows and notification as `ticket_update(assignee=..., team=...)`, plus the agent's turn."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection as db_connection
from django.db import transaction
from django.test.utils import CaptureQueriesContext

from accounts import services as account_services
from accounts.models import Membership
from core.models import Notification
from tickets.models import Ticket, TicketEvent
from tickets.services import assignment, changes
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db


def _ticket(tenant, conn, thread) -> Ticket:
    with tenant.scope():
        message, _created = message_ingest(
            organization=tenant.organization, connection=conn, inbound=inbound("help", thread=thread)
        )
        return Ticket.objects.select_related("connection").get(pk=message.ticket_id)


def _recorded(tenant, ticket) -> tuple:
    """What the change left: the ticket's assignee and team, its history rows and the notification's parameters."""
    with tenant.scope():
        row = Ticket.objects.get(pk=ticket.pk)
        events = [
            (e.kind, e.actor_id, e.old, e.new)
            for e in TicketEvent.objects.filter(ticket=ticket).exclude(kind="created").order_by("pk")
        ]
        notes = [
            (n.user_id, n.kind, {k: v for k, v in n.params.items() if k != "number"})
            for n in Notification.objects.filter(target_id=ticket.pk, kind="assigned")
        ]
        return row.assignee_id, row.team_id, events, notes


@pytest.mark.parametrize("moved_by", [None, "owner"])
def test_a_routed_assignment_records_what_ticket_update_records_plus_the_turn(tenant_a, moved_by):
    conn = connection(tenant_a)
    agent, actor = tenant_a.users["agent"], tenant_a.users[moved_by] if moved_by else None
    with tenant_a.scope():
        team = account_services.team_create(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], name="Support", members=[agent]
        )
        account_services.connection_access_set(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], connection=conn, teams=[team]
        )
    updated, routed = _ticket(tenant_a, conn, "t-updated"), _ticket(tenant_a, conn, "t-routed")
    with tenant_a.scope():
        membership = Membership.objects.get(user=agent)
    assert membership.last_assigned_at is None

    with tenant_a.scope(), transaction.atomic():
        # By hand: the team is the actor's move, the assignment automation's (as routing records it).
        changes.ticket_update(organization=tenant_a.organization, actor=actor, ticket=updated, team=team)
        changes.ticket_update(organization=tenant_a.organization, actor=None, ticket=updated, assignee=agent)
    with tenant_a.scope(), transaction.atomic():
        locked = Ticket.objects.select_for_update().select_related("connection").get(pk=routed.pk)
        assignment.ticket_assign_routed(
            organization=tenant_a.organization,
            actor=actor,
            ticket=locked,
            team=team,
            assignee=agent,
            turn_membership_id=membership.pk,
        )
        assert (locked.assignee_id, locked.team_id) == (agent.pk, team.pk)

    by_update, by_routing = _recorded(tenant_a, updated), _recorded(tenant_a, routed)
    assert by_routing[:2] == (agent.pk, team.pk)
    # The same rows (history in the order ticket_update records a change of both: assignment, then team).
    assert sorted(by_routing[2]) == sorted(by_update[2])
    assert by_routing[2] == [
        ("assignment", None, None, agent.pk),
        ("team", actor.pk if actor else None, None, team.pk),
    ]
    assert by_routing[3] == by_update[3] == [(agent.pk, "assigned", {"automated": "True", "rule": ""})]
    with tenant_a.scope():
        membership.refresh_from_db()
    assert membership.last_assigned_at is not None


@pytest.mark.django_db(transaction=True)
def test_a_routed_assignment_writes_in_one_round_trip(tenant_a):
    conn = connection(tenant_a)
    agent = tenant_a.users["agent"]
    with tenant_a.scope():
        team = account_services.team_create(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], name="Support", members=[agent]
        )
    ticket = _ticket(tenant_a, conn, "t-1")
    with tenant_a.scope():
        membership = Membership.objects.get(user=agent)
    # A process reads the ticket's content type once (Django caches it); an earlier test may have emptied the cache.
    ContentType.objects.get_for_model(Ticket)
    with tenant_a.scope(), transaction.atomic():
        locked = Ticket.objects.select_for_update().select_related("connection").get(pk=ticket.pk)
        with CaptureQueriesContext(db_connection) as ctx:
            assignment.ticket_assign_routed(
                organization=tenant_a.organization,
                actor=None,
                ticket=locked,
                team=team,
                assignee=agent,
                turn_membership_id=membership.pk,
            )
    writes = [q["sql"] for q in ctx.captured_queries if "last_assigned_at" in q["sql"]]
    assert len(writes) == 1 and "INSERT INTO" in writes[0] and "UPDATE" in writes[0]
    # The writes, then the notification's two statements (its preferences and its row): nothing read again.
    assert len(ctx.captured_queries) == 3, "\n".join(q["sql"] for q in ctx.captured_queries)
