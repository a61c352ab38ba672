"""Periodic ticket work (Celery beat)."""

from celery import shared_task
from django.utils import timezone
from django_scopes import scopes_disabled

from core.task_base import TenantTask

# Tasks kept next to the code they run: Celery's autodiscovery imports only this module.
from tickets.assignment_tasks import drain_queues_everywhere, drain_team_queue
from tickets.rules.tasks import deliver_webhook, run_scheduled_rules, run_scheduled_rules_everywhere
from tickets.sla.tasks import sla_scan, sla_scan_everywhere

__all__ = [
    "deliver_webhook",
    "drain_queues_everywhere",
    "drain_team_queue",
    "run_scheduled_rules",
    "run_scheduled_rules_everywhere",
    "sla_scan",
    "sla_scan_everywhere",
    "wake_snoozed",
    "wake_snoozed_everywhere",
]


@shared_task(name="tickets.wake_snoozed_everywhere")
def wake_snoozed_everywhere() -> int:
    """Fan out one task per organization that has a snooze ending (the lookup spans tenants by design)."""
    from tickets.models import Ticket

    with scopes_disabled():
        organization_ids = list(
            Ticket.objects.filter(snoozed_until__lte=timezone.now())
            .values_list("organization_id", flat=True)
            .distinct()
        )
    for organization_id in organization_ids:
        wake_snoozed.delay(organization_id=organization_id)
    return len(organization_ids)


@shared_task(base=TenantTask, name="tickets.wake_snoozed", acks_late=True)
def wake_snoozed(*, organization) -> int:
    from tickets.services import tickets_wake_snoozed

    return tickets_wake_snoozed(organization=organization)
