"""Reporting in Celery: beat runs `analytics.consume` every minute on the `analytics` queue (the queue is named in
CELERY_BEAT_SCHEDULE's options: the task attribute is deprecated)."""

from celery import shared_task
from django.db import OperationalError

from analytics import services


@shared_task(
    name="analytics.consume",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def consume() -> int:
    """Derive facts from the history committed since the last run (idempotent). Returns how many were added."""
    return services.consume()
