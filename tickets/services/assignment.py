"""Assigning a ticket and moving it to a team: what such a change records, defined once, and routing's write of its
decision in one round trip.

What an assignee or team change records (`assignment_change`): the ticket's `assignee` and `team` (and `updated_at`),
one history row per change — ASSIGNMENT with the old and new user id, TEAM with the old and new team id, each by its
actor (None: automation) — and a notification to the new assignee unless they made the change themselves (naming the
person, or the rule, or "automatically"). The `ticket_changed` automation hook and the ticket's real-time event
follow. `tickets.services.changes.ticket_update` applies it through the ORM (an agent, a rule, a bulk edit);
`ticket_assign_routed` writes the same rows in one round trip for automatic routing
(`automation.routing.assignment`), whose decisions run one at a time per team under the team's lock, so that every
round trip inside one is paid by the whole queue."""

import dataclasses
import json

import psycopg
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Membership, Organization, Team, User
from tickets.automation_hooks import automation
from tickets.events import publish_ticket
from tickets.models import Ticket, TicketEvent, TicketEventKind
from tickets.notifications import notify_about_ticket

_SAME = object()  # `assigned_by` not given: the assignment is `actor`'s like the rest of the change


@dataclasses.dataclass(frozen=True)
class AssignmentChange:
    """What an assignee/team change records, worked out on the ticket instance (already set on it): the ticket's
    fields that changed, the unsaved history rows in the order they are recorded, and who is told."""

    fields: tuple[str, ...]  # "assignee", "team": the Ticket fields changed (with `updated_at`, to write)
    events: tuple[TicketEvent, ...]
    notify_user_id: int | None
    notify_params: dict


def assignment_change(
    ticket: Ticket,
    *,
    actor: User | None,
    assignee: User | None | bool = False,
    team: Team | None | bool = False,
    assigned_by=_SAME,
    rule: str = "",
) -> AssignmentChange:
    """Set `assignee` and `team` on the instance (False: leave as is; None: clear) and return what the change
    records. `actor` made the change (None: automation); `assigned_by`, when given, is whose act the assignment is
    when it differs (routing: the ticket is moved to the team by `actor`, the assignment is always automation's).
    `rule` names the rule acting, for the notification. Checks nothing: the callers check who may be assigned."""
    by = actor if assigned_by is _SAME else assigned_by
    fields: list[str] = []
    events: list[TicketEvent] = []
    notify_user_id, notify_params = None, {}
    now = timezone.now()

    def event(kind, who, old, new):
        return TicketEvent(
            organization_id=ticket.organization_id,
            ticket=ticket,
            actor=who,
            kind=kind,
            old=old,
            new=new,
            created_at=now,
        )

    new_assignee_id = assignee.pk if assignee else None
    if assignee is not False and new_assignee_id != ticket.assignee_id:
        events.append(event(TicketEventKind.ASSIGNMENT, by, ticket.assignee_id, new_assignee_id))
        ticket.assignee = assignee
        fields.append("assignee")
        if assignee is not None and assignee != by:
            notify_user_id = assignee.pk
            notify_params = {"actor": by} if by else {"automated": True, "rule": rule}
    new_team_id = team.pk if team else None
    if team is not False and new_team_id != ticket.team_id:
        events.append(event(TicketEventKind.TEAM, actor, ticket.team_id, new_team_id))
        ticket.team = team
        fields.append("team")
    return AssignmentChange(tuple(fields), tuple(events), notify_user_id, notify_params)


def assignment_notify(*, organization: Organization, ticket: Ticket, change: AssignmentChange) -> None:
    """Tell the new assignee (when the change says so)."""
    if change.notify_user_id is not None:
        notify_about_ticket(
            organization=organization,
            user_id=change.notify_user_id,
            kind="assigned",
            ticket=ticket,
            params=change.notify_params,
        )


def statements_run(sql: list[str], params: dict) -> list[list[tuple]]:
    """Run the statements (named parameters, shared) in one round trip when the driver allows it (psycopg's
    client-side binding cursor, Django's default), one by one otherwise; the rows of each, in order."""
    with connection.cursor() as cursor:
        if isinstance(cursor.cursor, psycopg.ClientCursor):
            cursor.execute(";\n".join(sql), params)
            results = [cursor.fetchall() if cursor.description else []]
            while cursor.nextset():
                results.append(cursor.fetchall() if cursor.description else [])
            return results
        results = []
        for statement in sql:
            cursor.execute(statement, params)
            results.append(cursor.fetchall() if cursor.description else [])
        return results


_EVENT_COLUMNS = ("organization_id", "ticket_id", "actor_id", "kind", "old", "new", "created_at")


@transaction.atomic(savepoint=False)  # in routing's transaction, which holds the locks: no round trip of its own
def ticket_assign_routed(
    *,
    organization: Organization,
    actor: User | None,
    ticket: Ticket,
    team: Team,
    assignee: User,
    turn_membership_id: int,
) -> Ticket:
    """Record a routing decision on the ticket the caller has locked (its instance current): `assignee` takes it in
    `team`. It records what `assignment_change` defines — as `ticket_update(assignee=..., team=...)` would, the
    move to the team being `actor`'s (None: automation) and the assignment automation's — plus the agent's turn
    (`Membership.last_assigned_at` of `turn_membership_id`, round robin's pointer), writing the turn, the ticket and
    its history rows in one round trip; then the notification, the `ticket_changed` hook (without rules: routing is
    automation) and the real-time event after commit. The caller has checked, under its locks, that the agent may
    take the ticket and see its channel: nothing is read again."""
    old_status, old_assignee_id = ticket.status, ticket.assignee_id
    change = assignment_change(ticket, actor=actor, assignee=assignee, team=team, assigned_by=None)
    now = timezone.now()  # the application's clock, as the turn's readers compare it
    ticket.updated_at = now
    params: dict = {"now": now, "ticket": ticket.pk, "membership": turn_membership_id}
    columns = []
    for name in change.fields:
        field = Ticket._meta.get_field(name)
        params[f"f_{name}"] = getattr(ticket, field.attname)
        columns.append(f"{field.column} = %(f_{name})s")
    sql = [f"UPDATE {Membership._meta.db_table} SET last_assigned_at = %(now)s WHERE id = %(membership)s"]
    if columns:
        sql.append(
            f"UPDATE {Ticket._meta.db_table} SET {', '.join(columns)}, updated_at = %(now)s WHERE id = %(ticket)s"
        )
    rows = []
    for i, event in enumerate(change.events):
        params.update(
            {
                f"e{i}_org": event.organization_id,
                f"e{i}_actor": event.actor_id,
                f"e{i}_kind": event.kind,
                # None is SQL NULL, as the ORM stores it, not JSON null.
                f"e{i}_old": None if event.old is None else json.dumps(event.old),
                f"e{i}_new": None if event.new is None else json.dumps(event.new),
            }
        )
        rows.append(
            f"(%(e{i}_org)s, %(ticket)s, %(e{i}_actor)s, %(e{i}_kind)s, %(e{i}_old)s::jsonb, %(e{i}_new)s::jsonb, "
            "%(now)s)"
        )
    if rows:
        sql.append(f"INSERT INTO {TicketEvent._meta.db_table} ({', '.join(_EVENT_COLUMNS)}) VALUES {', '.join(rows)}")
    statements_run(sql, params)
    assignment_notify(organization=organization, ticket=ticket, change=change)
    automation().ticket_changed(
        organization=organization,
        ticket=ticket,
        actor=None,
        old_status=old_status,
        old_assignee_id=old_assignee_id,
        changed=set(change.fields),
        rules=False,  # routing is automation: it must not start the "ticket updated" rules again
    )
    publish_ticket(organization, ticket)
    return ticket
