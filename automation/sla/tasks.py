"""SLA monitoring in Celery: beat runs `tickets.sla_scan_everywhere` every 30 seconds; it fans out one
`tickets.sla_scan` per organization that has a ticket to look at."""

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone
from django_scopes import scopes_disabled

from automation.sla import monitor
from core.task_base import TenantTask
from tickets.models import Ticket


@shared_task(name="automation.sla_scan_everywhere")
def sla_scan_everywhere() -> int:
    """One task per organization with a ticket whose SLA check time has come (the lookup spans tenants by design,
    on the partial index of `sla_check_at`)."""
    with scopes_disabled():
        organization_ids = list(
            Ticket.objects.filter(sla_check_at__lte=timezone.now())
            .order_by()
            .values_list("organization_id", flat=True)
            .distinct()
        )
    for organization_id in organization_ids:
        sla_scan.delay(organization_id=organization_id)
    return len(organization_ids)


@shared_task(
    base=TenantTask,
    name="automation.sla_scan",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def sla_scan(*, organization) -> int:
    """Record the organization's due SLA warnings and breaches. Idempotent: a second run finds nothing to record.
    Returns how many events were recorded."""
    recorded = monitor.sla_scan(organization=organization)
    # The automation rules on SLA warning / breach run on `recorded` here (wired with automation/rules).
    return len(recorded)
