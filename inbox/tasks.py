"""Notification emails, sent by the worker after the transaction that caused them commits."""

import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import translation

from accounts.models import Membership
from config.celery import TenantTask
from inbox.models import Notification

logger = logging.getLogger("tsunagu.inbox")


@shared_task(
    base=TenantTask,
    name="inbox.send_notification_email",
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
)
def send_notification_email(*, organization_id: int, user_id: int, ticket_id: int, kind: str, params: dict) -> None:
    membership = Membership.objects.select_related("user", "organization").filter(user_id=user_id).first()
    if membership is None or not membership.user.is_active:
        return
    user, organization = membership.user, membership.organization
    link = settings.SITE_URL + reverse("org:inbox_ticket", args=[organization.slug, ticket_id])
    with translation.override(user.language or organization.default_language):
        text = Notification(kind=kind, params=params).text
        subject = f"[{organization.name}] {text}"
        body = f"{text}\n\n{link}\n"
    send_mail(subject[:200], body, None, [user.email])


@shared_task(name="inbox.prune_events")
def prune_events() -> int:
    """Forget real-time events older than the resume window."""
    from inbox.realtime import prune_events as prune

    return prune()
