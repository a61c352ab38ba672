"""Scheduled reports in Celery: beat runs `analytics_reports.dispatch` every 15 minutes on the `analytics` queue;
it queues one `analytics_reports.send_run` per run due."""

from celery import shared_task
from django.db import OperationalError

from analytics.reports import services
from core.task_base import TenantTask

MAX_RETRIES = 3


@shared_task(name="analytics_reports.dispatch", acks_late=True, autoretry_for=(OperationalError,), max_retries=3)
def dispatch() -> list[int]:
    """Record the runs of the schedules now due and queue their sending (idempotent)."""
    return services.schedules_dispatch()


@shared_task(
    base=TenantTask,
    bind=True,
    name="analytics_reports.send_run",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=MAX_RETRIES,
)
def send_run(self, *, organization, run_id: int) -> str | None:
    """Email one run to its recipients; emails that failed transiently are tried again later (up to three times),
    never those already sent."""
    result = services.run_send(organization=organization, run_id=run_id, final=self.request.retries >= MAX_RETRIES)
    if result.retry:
        raise self.retry(
            countdown=60 * 2**self.request.retries, kwargs={"organization_id": organization.pk, "run_id": run_id}
        )
    return result.run.status if result.run else None
