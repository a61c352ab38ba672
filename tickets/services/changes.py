"""Changing tickets: status, priority, assignee, team and tags (one at a time or in bulk), snoozing and waking."""

import logging
from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Membership, Organization, Team, User
from channels_integrations.permissions import members_who_see_connection
from core.errors import DomainError
from tickets.automation_hooks import automation
from tickets.events import publish_ticket
from tickets.models import (
    Priority,
    Tag,
    Ticket,
    TicketEvent,
    TicketEventKind,
    TicketStatus,
)
from tickets.selectors import visible_tickets
from tickets.services.assignment import assignment_change, assignment_notify
from tickets.services.history import ticket_event_add
from tickets.services.surveys import survey_after_solve

logger = logging.getLogger("tsunagu.tickets")


def _check_assignable(ticket: Ticket, assignee: User) -> None:
    """The assignee must be a member who may see the ticket's channel: otherwise they would be told the customer's
    name and message in a notification for a ticket they cannot open (automation already asks the same)."""
    membership = Membership.objects.select_related("role").filter(user=assignee).first()
    if membership is None:
        raise DomainError(_("The assignee must be a member of this organization."), field="assignee")
    if assignee.pk not in members_who_see_connection(ticket.connection_id, [membership]):
        raise DomainError(
            _("%(name)s has no access to this ticket's channel, so cannot be assigned to it.") % {"name": assignee},
            field="assignee",
        )


def _clean_tags(names) -> set[str]:
    return {name.strip()[:60] for name in names if name.strip()}


def _tag_ids(organization: Organization, names: set[str]) -> list[int]:
    """The ids of the organization's tags of these names, creating the missing ones: one read when they all exist
    (the usual case); else one insert of the missing (ON CONFLICT DO NOTHING: a concurrent transaction may create the
    same name) and one read of them."""
    if not names:
        return []
    found = dict(Tag.objects.filter(name__in=names).values_list("name", "pk"))
    missing = sorted(names - found.keys())
    if missing:
        Tag.objects.bulk_create([Tag(organization=organization, name=name) for name in missing], ignore_conflicts=True)
        found.update(Tag.objects.filter(name__in=missing).values_list("name", "pk"))
    return list(found.values())


def ticket_update(
    *,
    organization: Organization,
    actor: User | None,
    ticket: Ticket,
    status: str | None = None,
    priority: str | None = None,
    assignee: User | None | bool = False,
    team: Team | None | bool = False,
    tags: list[str] | None = None,
    tags_add: Sequence[str] = (),
    tags_remove: Sequence[str] = (),
    run_rules: bool = True,
    rule: str = "",
    locked: bool = False,
) -> Ticket:
    """Change status, priority, assignee (None = unassign), team or tags (`tags`: the whole list; or `tags_add` and
    `tags_remove` against the ticket's current tags); each change is a TicketEvent. `False` for assignee/team means
    "leave as is". `actor=None` is automation (a rule or routing); automation passes `run_rules=False` so that its
    own changes do not trigger the "ticket updated" rules again. `rule`: the name of the rule acting, which
    notifications name instead of a person. `locked`: the caller holds the ticket's row lock in a transaction that
    rolls back to its own savepoint on error, and its instance is current (the rules engine's actions): the instance
    is changed in place, without reading the row again or a savepoint of its own."""
    if status is not None and status not in TicketStatus.values:
        raise DomainError(_("Unknown status."), field="status")
    if priority is not None and priority not in Priority.values:
        raise DomainError(_("Unknown priority."), field="priority")
    with transaction.atomic(savepoint=not locked):
        if not locked:
            ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
        return _ticket_update(
            organization, actor, ticket, status, priority, assignee, team, tags, tags_add, tags_remove, run_rules, rule
        )


def _ticket_update(
    organization, actor, ticket, status, priority, assignee, team, tags, tags_add, tags_remove, run_rules, rule
) -> Ticket:
    changed = []
    old_status = ticket.status
    old_assignee_id = ticket.assignee_id
    if status is not None and status != ticket.status:
        event = ticket_event_add(ticket, actor, TicketEventKind.STATUS, ticket.status, status)
        ticket.status = status
        ticket.solved_at = timezone.now() if status == TicketStatus.SOLVED else None
        ticket.status_changed_at = timezone.now()
        changed += ["status", "solved_at", "status_changed_at"]
        if status == TicketStatus.SOLVED:
            survey_after_solve(organization=organization, ticket=ticket, solve_event_id=event.pk)
    if priority is not None and priority != ticket.priority:
        ticket_event_add(ticket, actor, TicketEventKind.PRIORITY, ticket.priority, priority)
        ticket.priority = priority
        changed.append("priority")
    if assignee is not False and assignee is not None and assignee.pk != ticket.assignee_id:
        _check_assignable(ticket, assignee)
    # What an assignee or team change records is defined once (tickets.services.assignment), with routing's write.
    assignment = assignment_change(ticket, actor=actor, assignee=assignee, team=team, rule=rule)
    if assignment.events:
        TicketEvent.objects.bulk_create(assignment.events)
        changed += assignment.fields
        assignment_notify(organization=organization, ticket=ticket, change=assignment)
    if changed:
        ticket.save(update_fields=[*changed, "updated_at"])
    if tags is not None or tags_add or tags_remove:
        current = dict(ticket.tags.values_list("name", "pk"))
        wanted = _clean_tags(current if tags is None else tags) | _clean_tags(tags_add)
        wanted -= _clean_tags(tags_remove)
        if wanted != current.keys():
            gone = [pk for name, pk in current.items() if name not in wanted]
            if gone:
                ticket.tags.remove(*gone)
            added = _tag_ids(organization, wanted - current.keys())
            if added:
                ticket.tags.add(*added)  # one INSERT … ON CONFLICT DO NOTHING (no m2m signal listeners)
            ticket_event_add(ticket, actor, TicketEventKind.TAGS, sorted(current), sorted(wanted))
            changed.append("tags")
    automation().ticket_changed(
        organization=organization,
        ticket=ticket,
        actor=actor,
        old_status=old_status,
        old_assignee_id=old_assignee_id,
        changed={"status", "priority", "assignee", "team", "tags"} & set(changed),
        rules=run_rules,
    )
    if changed:
        publish_ticket(organization, ticket)
    return ticket


@transaction.atomic
def tickets_bulk_update(
    *,
    organization: Organization,
    actor: User,
    membership: Membership,
    ids: list[int],
    tags_add: list[str] | None = None,
    **change,
) -> list[int]:
    """Apply one change (ticket_update's keywords, plus `tags_add`) to every listed ticket the member may see, all
    or nothing. Returns the ids changed; the others are unknown or not visible and are left alone."""
    tickets = visible_tickets(membership).filter(pk__in=ids).order_by("pk")
    if tags_add is not None:
        tickets = tickets.prefetch_related("tags")
    changed = []
    for ticket in tickets:
        kwargs = dict(change)
        if tags_add is not None:
            kwargs["tags"] = [*(tag.name for tag in ticket.tags.all()), *tags_add]
        ticket_update(organization=organization, actor=actor, ticket=ticket, **kwargs)
        changed.append(ticket.pk)
    return changed


@transaction.atomic
def ticket_snooze(*, organization: Organization, actor: User, ticket: Ticket, until) -> Ticket:
    """Hide the ticket from the active views until `until` (None wakes it now). A customer message wakes it too."""
    ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
    if until is not None and until <= timezone.now():
        raise DomainError(_("Choose a time in the future."), field="until")
    old = ticket.snoozed_until.isoformat() if ticket.snoozed_until else None
    ticket.snoozed_until = until
    ticket.save(update_fields=["snoozed_until", "updated_at"])
    ticket_event_add(ticket, actor, TicketEventKind.SNOOZE, old, until.isoformat() if until else None)
    publish_ticket(organization, ticket)
    return ticket


def tickets_wake_snoozed(*, organization: Organization) -> int:
    """Bring back tickets whose snooze has ended (Celery beat, every minute). Returns how many woke."""
    woke = 0
    due = Ticket.objects.filter(snoozed_until__lte=timezone.now()).values_list("pk", flat=True)[:500]
    for ticket_id in due:
        with transaction.atomic():
            ticket = Ticket.objects.select_for_update(skip_locked=True).filter(pk=ticket_id).first()
            if ticket is None or ticket.snoozed_until is None or ticket.snoozed_until > timezone.now():
                continue
            ticket.snoozed_until = None
            ticket.save(update_fields=["snoozed_until", "updated_at"])
            ticket_event_add(ticket, None, TicketEventKind.SNOOZE, "ended", None)
            publish_ticket(organization, ticket)
            woke += 1
    return woke
