"""The SLA monitor: finds the tickets whose `sla_check_at` has come (an index scan, every due ticket of the
organization in batches), records their warnings and breaches exactly once, updates their SLA state, tells the
browsers and the assignee."""

import logging
import time

from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation

from automation.models import RuleTrigger, SlaEvent, SlaEventKind
from automation.rules.engine import RuleSet, ruleset, run_rules
from automation.sla.clocks import recorded_for, sla_check_many
from core import realtime
from core.notifications import Notice, notify_many
from tickets.events import publish_ticket
from tickets.models import SlaMetric, Ticket

logger = logging.getLogger("tsunagu.sla")

NOTIFICATION_KIND = {SlaEventKind.WARNING: "sla_warning", SlaEventKind.BREACHED: "sla_breach"}


SCAN_BATCH = 200  # tickets locked and checked in one transaction
SCAN_BUDGET = 25.0  # seconds one scan works before leaving the rest to the next (beat runs every 30 s)


def sla_scan(*, organization, now=None, limit: int = SCAN_BATCH, budget: float | None = SCAN_BUDGET) -> list[SlaEvent]:
    """Look at every ticket of the organization whose check time has come, in batches of `limit` in check-time order
    (keyset pagination on the per-organization index of `sla_check_at`), each batch locked in one query and checked
    in one transaction. A ticket another scan holds is skipped (it is being handled); the unique constraint on SlaEvent
    guarantees each warning and breach is recorded once even so. Stops after `budget` seconds, leaving the rest to
    the next scan. Returns the events recorded now, oldest check first, for the automation rules on SLA warning /
    breach."""
    now = now or timezone.now()
    deadline = None if budget is None else time.monotonic() + budget
    recorded: list[SlaEvent] = []
    after = None
    while True:
        due = Ticket.objects.filter(sla_check_at__lte=now)
        if after is not None:
            due = due.filter(Q(sla_check_at__gt=after[0]) | Q(sla_check_at=after[0], pk__gt=after[1]))
        rows = list(due.order_by("sla_check_at", "pk").values_list("sla_check_at", "pk")[:limit])
        if not rows:
            break
        # The batch's real-time events are written and sent together after its commit, not one transaction each.
        with realtime.batched():
            recorded += _scan_batch(organization, [pk for _at, pk in rows], now)
        after = rows[-1]
        if len(rows) < limit or (deadline is not None and time.monotonic() > deadline):
            break
    if recorded:
        logger.info("sla scan org=%s recorded %s events", organization.pk, len(recorded))
    return recorded


def _scan_batch(organization, ticket_ids: list[int], now) -> list[SlaEvent]:
    """One batch in one transaction and a constant number of statements, whatever its size and however many of its
    tickets are due: the lock, the recorded events, one INSERT of the new ones, one UPDATE of the tickets, the
    assignees' preferences and one INSERT of their notifications (plus whatever "SLA" rules do)."""
    rules = ruleset(organization)  # once per batch: most organizations have no rules on SLA warnings or breaches
    with transaction.atomic():
        tickets = list(
            Ticket.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("sla_policy", "assignee")
            .filter(pk__in=ticket_ids, sla_check_at__lte=now)  # not one another scan holds, or changed since
            .order_by("sla_check_at", "pk")
        )
        if not tickets:
            return []
        known = recorded_for([ticket.pk for ticket in tickets])  # read once the batch is locked
        before = {ticket.pk: ticket.sla_state for ticket in tickets}
        created = sla_check_many(organization=organization, tickets=tickets, now=now, recorded=known)
        for ticket in tickets:
            if created[ticket.pk] or ticket.sla_state != before[ticket.pk]:
                publish_ticket(organization, ticket)
        notify_many(
            organization=organization,
            notices=[
                _assignee_notice(organization, ticket, event)
                for ticket in tickets
                for event in created[ticket.pk]
                if ticket.assignee_id is not None
            ],
        )
        recorded: list[SlaEvent] = []
        for ticket in tickets:
            for event in created[ticket.pk]:
                _run_rules(organization, ticket, event, rules)
            recorded += created[ticket.pk]
    return recorded


def _run_rules(organization, ticket: Ticket, event: SlaEvent, rules: RuleSet) -> None:
    """The "SLA due soon" / "SLA breached" rules, in the same transaction (once per clock and due time)."""

    trigger = {SlaEventKind.WARNING: RuleTrigger.SLA_WARNING, SlaEventKind.BREACHED: RuleTrigger.SLA_BREACH}.get(
        event.kind
    )
    if trigger is not None and rules.rules(trigger):
        key = f"sla:{event.metric}:{event.kind}:{int(event.due_at.timestamp())}"
        run_rules(organization=organization, trigger=trigger, ticket=ticket, dedupe_key=key)


def _assignee_notice(organization, ticket: Ticket, event: SlaEvent) -> Notice:
    """The assignee's notification of the event (`tickets.notifications.notify_about_ticket`'s parameters)."""
    # The metric is stored as text: name it in the assignee's language, as the rest of their notifications.
    language = (ticket.assignee.language if ticket.assignee else "") or organization.default_language
    with translation.override(language):
        metric = str(SlaMetric(event.metric).label)
    return Notice(
        user_id=ticket.assignee_id,
        kind=NOTIFICATION_KIND[event.kind],
        target=ticket,
        params={"number": ticket.number, "metric": metric},
    )
