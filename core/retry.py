"""The one retry policy for everything that may fail and be tried again: processing a received platform event,
sending a reply or a post through a platform, calling a rule's webhook. One backoff schedule, every attempt kept
(`attempt_record`, shown where the item is shown), and after the last attempt a dead letter that a person can
inspect and replay."""

from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Model
from django_scopes import scopes_disabled

from core.models import Attempt

# Seconds to wait before attempts 2, 3, …: soon after a blip, then spread over about five hours for an outage.
# After the sixth attempt the item is a dead letter.
SCHEDULE = (30, 120, 600, 3600, 4 * 3600)
MAX_ATTEMPTS = len(SCHEDULE) + 1
MAX_WAIT = 6 * 3600  # a platform's Retry-After is honoured up to this


def retry_delay(attempts: int, *, retry_after: float | None = None) -> int | None:
    """Seconds before the next attempt once `attempts` attempts have failed; None when none is left (dead letter).
    A longer wait the other side asked for (Retry-After) wins."""
    if attempts >= MAX_ATTEMPTS:
        return None
    delay = SCHEDULE[max(attempts, 1) - 1]
    if retry_after:
        delay = max(delay, min(int(retry_after + 0.999), MAX_WAIT))
    return delay


def attempt_record(
    *,
    organization,
    subject: Model,
    number: int,
    outcome: str,
    started_at: datetime,
    duration_ms: int,
    status_code: int | None = None,
    error: str = "",
    response: str = "",
) -> Attempt:
    """Keep one attempt of `subject` (a received event, a reply, a webhook call…): when, how long, what came back."""
    return Attempt.objects.create(
        organization=organization,
        subject_type=ContentType.objects.get_for_model(subject),
        subject_id=subject.pk,
        number=number,
        outcome=outcome,
        started_at=started_at,
        duration_ms=max(0, duration_ms),
        status_code=status_code,
        error=error[:2000],
        response=response[:1000],
    )


def attempts_prune(*, before: datetime, batch: int = 5000) -> int:
    """Delete attempts started before `before`, in batches each committed on its own (short locks, and a stopped run
    keeps what it did). The item itself keeps its last error; only the step-by-step history goes."""
    deleted = 0
    while True:
        with transaction.atomic(), scopes_disabled():
            ids = list(Attempt.objects.filter(started_at__lt=before).order_by().values_list("id", flat=True)[:batch])
            if ids:
                Attempt.objects.filter(id__in=ids).delete()
        deleted += len(ids)
        if len(ids) < batch:
            return deleted
