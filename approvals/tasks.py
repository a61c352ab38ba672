"""Publishing in Celery (approvals.services.publishing): `approvals.publish_target` publishes one target (queued at
the post's time with an eta, at once for "publish now", or by the sweep) and queues its own retry after a transient
failure; beat runs `approvals.publish_due_everywhere` every minute, which fans out `approvals.publish_due` per
organization with something due or stuck. All idempotent: a target publishes once however often it is queued.
(Approval reminders are in approvals/approval_tasks.py.)"""

from celery import shared_task
from django.db import OperationalError
from django.db.models import Q
from django.utils import timezone
from django_scopes import scopes_disabled

from approvals.models import PostTarget, TargetStatus
from approvals.services.publishing import post_target_publish, posts_due
from core.retry import retry_later
from core.task_base import TenantTask


# resume_after_outage: a target publishes once however often this runs (deliver_once's claim).
@shared_task(base=TenantTask, name="approvals.publish_target", acks_late=True, resume_after_outage=True)
def publish_target(*, organization, target_id: int) -> str:
    outcome = post_target_publish(organization=organization, target_id=target_id)
    if outcome.retry_in is not None:
        retry_later(
            publish_target,
            kwargs={"organization_id": organization.pk, "target_id": target_id},
            delay=outcome.retry_in,
            queue="outbound",
        )
    return outcome.state


@shared_task(name="approvals.publish_due_everywhere")
def publish_due_everywhere() -> int:
    """One task per organization with a target due or stuck (the lookup spans tenants by design; the partial index
    of scheduled/publishing targets keeps it small)."""
    now = timezone.now()
    with scopes_disabled():
        organization_ids = list(
            PostTarget.objects.filter(
                Q(status=TargetStatus.SCHEDULED, post__scheduled_at__lte=now) | Q(status=TargetStatus.PUBLISHING)
            )
            .order_by()
            .values_list("organization_id", flat=True)
            .distinct()
        )
    for organization_id in organization_ids:
        publish_due.delay(organization_id=organization_id)
    return len(organization_ids)


@shared_task(
    base=TenantTask,
    name="approvals.publish_due",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def publish_due(*, organization) -> int:
    ids = posts_due(organization=organization)
    for target_id in ids:
        publish_target.apply_async(
            kwargs={"organization_id": organization.pk, "target_id": target_id}, queue="outbound"
        )
    return len(ids)
