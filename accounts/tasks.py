"""Background work for accounts: emails are sent here, after the transaction that caused them commits."""

import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from accounts.models import Invitation
from core.task_base import TenantTask

logger = logging.getLogger("tsunagu.accounts")


@shared_task(
    base=TenantTask,
    name="accounts.send_invitation_email",
    bind=True,
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
)
def send_invitation_email(self, *, organization, invitation_id: int, token: str) -> None:
    invitation = Invitation.objects.select_related("organization", "invited_by").filter(pk=invitation_id).first()
    if invitation is None or not invitation.is_open:
        logger.info("invitation %s no longer open; email not sent", invitation_id)
        return
    link = settings.SITE_URL + reverse("accounts:invitation_accept", args=[token])
    with translation.override(invitation.organization.default_language):
        context = {"invitation": invitation, "link": link}
        subject = render_to_string("accounts/email/invitation_subject.txt", context).strip()
        body = render_to_string("accounts/email/invitation_body.txt", context)
    send_mail(subject, body, None, [invitation.email])
