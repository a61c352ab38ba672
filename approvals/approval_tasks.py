"""Approval reminders and escalations in Celery: beat runs `approvals.sweep_everywhere` every minute; it fans out one
`approvals.sweep` per organization with a pending request on a step that has a target time. Both are idempotent
(approvals.services.engine.approval_sweep claims each reminder and escalation once). Imported by ApprovalsConfig.ready
(approvals/tasks.py belongs to publishing)."""

from celery import shared_task
from django.db import OperationalError
from django_scopes import scopes_disabled

from approvals.models import ApprovalRequest, ApprovalStatus
from approvals.services.engine import approval_sweep
from core.task_base import TenantTask


@shared_task(name="approvals.sweep_everywhere")
def approvals_sweep_everywhere() -> int:
    """One task per organization with a pending request on a timed step (the lookup spans tenants by design, on the
    partial index of pending requests)."""
    with scopes_disabled():
        organization_ids = list(
            ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING, current_step__target_minutes__isnull=False)
            .order_by()
            .values_list("organization_id", flat=True)
            .distinct()
        )
    for organization_id in organization_ids:
        approvals_sweep.delay(organization_id=organization_id)
    return len(organization_ids)


@shared_task(
    base=TenantTask,
    name="approvals.sweep",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def approvals_sweep(*, organization) -> tuple[int, int]:
    """Remind and escalate the organization's late approval steps; returns (reminded, escalated)."""
    return approval_sweep(organization=organization)
