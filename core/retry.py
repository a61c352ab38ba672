"""The one retry policy for everything that may fail and be tried again: processing a received platform event,
sending a reply or a post through a platform, calling a rule's webhook. One backoff schedule, every attempt kept
(`attempt_record`, shown where the item is shown), and after the last attempt a dead letter that a person can
inspect and replay.

An outage of our own database or Redis (a restart, a failover, a dropped connection) is no fault of the item: it
counts no attempt. The work is tried again in the same process after OUTAGE_SCHEDULE's short waits, so it resumes
within seconds of the end of the outage (`is_outage`, `outage_delay`; core.task_base applies them to tasks)."""

import time
from datetime import datetime

from celery import Task, current_app
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Model
from django_scopes import scopes_disabled
from kombu.exceptions import OperationalError as BrokerUnreachable
from redis.exceptions import ConnectionError as RedisUnreachable
from redis.exceptions import TimeoutError as RedisTimeout

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


# Seconds between tries while our own database or Redis is unreachable: soon after a blip, then every second (a
# try is one connection attempt); after OUTAGE_GIVE_UP seconds of trying the error propagates (the task fails; its
# events wait for the sweeper).
OUTAGE_SCHEDULE = (0.25, 0.5, 1.0)
OUTAGE_GIVE_UP = 300.0
# SQLSTATEs of a database that is going away or not there yet (class 08: connection exception; 57P01-03: admin or
# crash shutdown, cannot connect now; 53300: too many connections). Other operational errors (a deadlock, a
# statement timeout) belong to the item and take the retry schedule above.
_OUTAGE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")


def retry_later(task: Task, *, kwargs: dict, delay: float, **options) -> None:
    """Queue `task` with `kwargs` to run in `delay` seconds (`options`: apply_async's, e.g. the queue). Every wait on
    the retry schedule goes through here.

    Celery holds a countdown task unacknowledged until it runs, and the Redis broker delivers an unacknowledged
    message again after its visibility timeout (one hour): a longer countdown would then run the task several times
    at the same moment, e.g. two calls to a customer's webhook at once. So a wait longer than `hop_seconds` is taken
    in hops (`core.retry_hop`), each shorter than the timeout, and only the last one queues the task."""
    hop = hop_seconds()
    if delay <= hop or current_app.conf.task_always_eager:  # eager (tests): nothing is held, nothing waits
        task.apply_async(kwargs=kwargs, countdown=max(delay, 0), **options)
        return
    # Looked up by name: core.tasks imports this module.
    current_app.tasks["core.retry_hop"].apply_async(
        kwargs={"task": task.name, "kwargs": kwargs, "due": time.time() + delay, "options": options}, countdown=hop
    )


def hop_seconds() -> int:
    """The longest countdown given to the broker: half its visibility timeout, so clock skew and a busy worker
    never push a held message past it."""
    return settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600) // 2


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` says our database or Redis (cache, broker) cannot be reached right now, rather than that the
    work itself failed."""
    if isinstance(exc, RedisUnreachable | RedisTimeout | BrokerUnreachable):  # BusyLoadingError (AOF) included
        return True
    if isinstance(exc, InterfaceError):  # "connection already closed"
        return True
    if isinstance(exc, OperationalError):
        sqlstate = getattr(exc.__cause__, "sqlstate", None)
        return sqlstate is None or sqlstate.startswith(_OUTAGE_SQLSTATES)  # None: refused, lost, closed mid-query
    return False


def outage_delay(tries: int, *, waited: float) -> float | None:
    """Seconds before trying again after `tries` tries met an outage, `waited` seconds since the first; None once
    OUTAGE_GIVE_UP has passed."""
    if waited >= OUTAGE_GIVE_UP:
        return None
    return OUTAGE_SCHEDULE[min(max(tries, 1), len(OUTAGE_SCHEDULE)) - 1]


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
