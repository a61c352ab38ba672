"""The SLA monitor: finds the tickets whose `sla_check_at` has come (an index scan), records their warnings and
breaches exactly once, updates their SLA state, tells the browsers and the assignee."""

import logging

from django.db import transaction
from django.utils import timezone, translation

from automation.models import RuleTrigger, SlaEvent, SlaEventKind
from automation.rules.engine import run_rules
from automation.sla.clocks import sla_check
from tickets.events import publish_ticket
from tickets.models import SlaMetric, Ticket
from tickets.notifications import notify_about_ticket

logger = logging.getLogger("tsunagu.sla")

NOTIFICATION_KIND = {SlaEventKind.WARNING: "sla_warning", SlaEventKind.BREACHED: "sla_breach"}


def sla_scan(*, organization, now=None, limit: int = 500) -> list[SlaEvent]:
    """Look at up to `limit` tickets of the organization whose check time has come, each in its own short
    transaction. A ticket another scan holds is skipped (it is being handled); the unique constraint on SlaEvent
    guarantees each warning and breach is recorded once even so. Returns the events recorded now, oldest check
    first, for the automation rules on SLA warning / breach."""
    now = now or timezone.now()
    due_ids = list(
        Ticket.objects.filter(sla_check_at__lte=now).order_by("sla_check_at", "pk").values_list("pk", flat=True)[:limit]
    )
    recorded: list[SlaEvent] = []
    for ticket_id in due_ids:
        with transaction.atomic():
            ticket = (
                Ticket.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("sla_policy", "assignee")
                .filter(pk=ticket_id, sla_check_at__lte=now)
                .first()
            )
            if ticket is None:
                continue  # another scan has it, or it changed since the list was read
            state_before = ticket.sla_state
            created = sla_check(organization=organization, ticket=ticket, now=now)
            if created or ticket.sla_state != state_before:
                publish_ticket(organization, ticket)
            for event in created:
                _notify_assignee(organization, ticket, event)
                _run_rules(organization, ticket, event)
            recorded += created
    if recorded:
        logger.info("sla scan org=%s recorded %s events", organization.pk, len(recorded))
    return recorded


def _run_rules(organization, ticket: Ticket, event: SlaEvent) -> None:
    """The "SLA due soon" / "SLA breached" rules, in the same transaction (once per clock and due time)."""

    trigger = {SlaEventKind.WARNING: RuleTrigger.SLA_WARNING, SlaEventKind.BREACHED: RuleTrigger.SLA_BREACH}.get(
        event.kind
    )
    if trigger is not None:
        key = f"sla:{event.metric}:{event.kind}:{int(event.due_at.timestamp())}"
        run_rules(organization=organization, trigger=trigger, ticket=ticket, dedupe_key=key)


def _notify_assignee(organization, ticket: Ticket, event: SlaEvent) -> None:
    if ticket.assignee_id is None:
        return
    # The metric is stored as text: name it in the assignee's language, as the rest of their notifications.
    language = (ticket.assignee.language if ticket.assignee else "") or organization.default_language
    with translation.override(language):
        metric = str(SlaMetric(event.metric).label)
    notify_about_ticket(
        organization=organization,
        user_id=ticket.assignee_id,
        kind=NOTIFICATION_KIND[event.kind],
        ticket=ticket,
        params={"metric": metric},
    )
