"""Core's background work: notification emails (sent after the transaction that caused them commits) and pruning
the real-time events kept for resuming browsers, and the hops of long waits on the retry schedule."""

import logging
import time
from datetime import timedelta

from celery import current_app, shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.mail import send_mail
from django.utils import timezone, translation

from core import realtime
from core.notification_kinds import member_preferences, notification_text, target_path
from core.retry import attempts_prune, retry_later
from core.task_base import TenantTask

logger = logging.getLogger("tsunagu.notifications")


@shared_task(
    base=TenantTask,
    name="core.send_notification_email",
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
)
def send_notification_email(
    *, organization, user_id: int, kind: str, target_type_id: int, target_id: int, params: dict
) -> bool:
    """Email one notification in the reader's language, with a link to what it is about. Returns whether it went."""
    return _email_notification(
        organization, user_id=user_id, kind=kind, target_type_id=target_type_id, target_id=target_id, params=params
    )


@shared_task(base=TenantTask, name="core.send_notification_emails", acks_late=True)
def send_notification_emails(*, organization, emails: list[dict]) -> int:
    """Email several notifications (each the keyword arguments of `send_notification_email`): one task for a batch
    (the SLA monitor's breaches) instead of one each. One that cannot be sent now is handed to
    `send_notification_email`, which retries it alone; the others go on. Returns how many went."""
    sent = 0
    for email in emails:
        try:
            sent += _email_notification(organization, **email)
        except OSError:
            logger.warning("notification email to user %s failed; retried alone", email["user_id"], exc_info=True)
            send_notification_email.delay(organization_id=organization.pk, **email)
    return sent


def _email_notification(organization, *, user_id, kind, target_type_id, target_id, params) -> bool:
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None or member_preferences(organization, user_id) is None:  # gone since the notification was made
        return False
    model = ContentType.objects.get_for_id(target_type_id).model_class()
    path = target_path(organization, model, target_id)
    with translation.override(user.language or organization.default_language):
        text = notification_text(kind, params)
        subject = f"[{organization.name}] {text}"
        body = f"{text}\n\n{settings.SITE_URL}{path}\n" if path else f"{text}\n"
    send_mail(subject[:200], body, None, [user.email])
    return True


@shared_task(name="core.prune_realtime_events")
def prune_realtime_events() -> int:
    """Forget real-time events older than the resume window."""
    return realtime.prune_events()


@shared_task(name="core.prune_attempts")
def prune_attempts() -> int:
    """Forget attempts older than ATTEMPT_RETENTION_DAYS."""
    return attempts_prune(before=timezone.now() - timedelta(days=settings.ATTEMPT_RETENTION_DAYS))


@shared_task(name="core.retry_hop", acks_late=True)
def retry_hop(*, task: str, kwargs: dict, due: float, options: dict) -> str:
    """One hop of a long wait on the retry schedule (core.retry.retry_later): queue the task when its time is near,
    else wait one more hop."""
    retry_later(current_app.tasks[task], kwargs=kwargs, delay=due - time.time(), **options)
    return task
