"""Background work for accounts: emails are sent here, after the transaction that caused them commits."""

import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from accounts.models import Invitation, User
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


@shared_task(
    name="accounts.send_signup_email",
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
)
def send_signup_email(*, email: str, token: str, language: str) -> None:
    """The confirmation link, or for an address that already has an account a reminder of how to sign in (the
    sign-up page says the same either way, so it does not reveal who has an account)."""
    existing = User.objects.filter(email__iexact=email).exists()
    with translation.override(language or settings.LANGUAGE_CODE):
        if existing:
            context = {
                "login_link": settings.SITE_URL + reverse("accounts:login"),
                "reset_link": settings.SITE_URL + reverse("accounts:password_reset"),
            }
            subject = render_to_string("accounts/email/signup_existing_subject.txt", context).strip()
            body = render_to_string("accounts/email/signup_existing_body.txt", context)
        else:
            hours = settings.SIGNUP_LINK_MAX_AGE // 3600
            context = {"link": settings.SITE_URL + reverse("accounts:signup_confirm", args=[token]), "hours": hours}
            subject = render_to_string("accounts/email/signup_subject.txt", context).strip()
            body = render_to_string("accounts/email/signup_body.txt", context)
    send_mail(subject, body, None, [email])
