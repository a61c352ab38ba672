"""Sending a scheduled satisfaction survey: through the conversation's own channel when the platform lets us send a
message there right now, else by email to the customer's address, else not at all (the reason is kept).

The channel message is an automatic reply (`automated`, no actor): the exactly-once outbound helper sends it, and
it is neither the agent's response (SLA clocks and first-response metrics ignore it) nor a reopen. An email is sent
once: the survey is marked `sending` (committed) before the mail goes out and `sent` after, so a worker that dies in
between leaves it `sending`, never sent twice."""

import logging
from datetime import timedelta

from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from accounts.models import Organization
from channels_integrations.models import ConnectionStatus
from channels_integrations.registry import connector_for, has_connector
from core.errors import DomainError
from tickets.models import MessageKind, Survey, SurveyState, SurveyVia, Ticket, TicketStatus
from tickets.services import replies  # a module: replies imports tickets.tasks, which imports this module
from tickets.services.surveys import LINK_DAYS, new_token, survey_link, survey_settings

logger = logging.getLogger("tsunagu.tickets.surveys")

# Conversations a survey may be sent into: private ones (never a public comment or review everyone sees).
PRIVATE_KINDS = {MessageKind.DIRECT, MessageKind.EMAIL, MessageKind.CHAT, MessageKind.FORM}


def channel_refusal(ticket: Ticket, text: str) -> str:
    """Why the survey cannot go through the conversation's channel now ("" when it can)."""
    connection = ticket.connection
    if not has_connector(connection.platform):
        return _("This channel cannot send messages.")
    if connection.status not in (ConnectionStatus.ACTIVE, ConnectionStatus.ERROR):
        return _("The channel is not active.")
    context, _answered = replies.reply_context(ticket, public=False)
    if context.kind not in PRIVATE_KINDS:
        return _("The conversation is public.")
    problems = connector_for(connection.platform).check_reply(connection, context, text, [])
    return " ".join(problems)


def _message_text(organization: Organization, survey: Survey, link: str) -> str:
    settings_row = survey_settings(organization)
    invitation = settings_row.invitation(survey.language) if settings_row else ""
    with override(survey.language):
        return f"{invitation}\n{_('Answer here (it takes a few seconds):')} {link}".strip()


def survey_send(*, organization: Organization, survey_id: int) -> Survey | None:
    """Send one scheduled survey (the task calls this when it is due). Idempotent: only a `scheduled` survey is
    sent; a ticket reopened or merged meanwhile is skipped instead."""
    with override(organization.default_language):  # the reasons are read by the organization's agents
        return _send(organization, survey_id)


def _send(organization: Organization, survey_id: int) -> Survey | None:
    email = None
    with transaction.atomic():
        survey = (
            Survey.objects.select_for_update(of=("self",))
            .select_related("ticket__contact", "ticket__connection")
            .filter(pk=survey_id)
            .first()
        )
        if survey is None or survey.state != SurveyState.SCHEDULED:
            return survey
        ticket = survey.ticket
        if ticket.status != TicketStatus.SOLVED or ticket.merged_into_id is not None:
            reason = _("The ticket was reopened or merged before the survey was sent.")
            return _finish(survey, SurveyState.SKIPPED, reason)
        token, hashed = new_token()
        link = survey_link(token)
        text = _message_text(organization, survey, link)
        now = timezone.now()
        survey.token_hash, survey.expires_at = hashed, now + timedelta(days=LINK_DAYS)
        refusal = channel_refusal(ticket, text)
        if not refusal:
            try:
                survey.message = replies.message_reply(
                    organization=organization, actor=None, ticket=ticket, text=text, automated=True
                )
            except DomainError as exc:
                refusal = str(exc)
            else:
                survey.via, survey.sent_at = SurveyVia.CHANNEL, now
                return _finish(survey, SurveyState.SENT, "")
        if not ticket.contact.email:
            reason = _("Not sent: %(refusal)s The customer has no email address.") % {"refusal": refusal}
            survey.token_hash = survey.expires_at = None
            return _finish(survey, SurveyState.NOT_SENT, reason)
        survey.via = SurveyVia.EMAIL
        _finish(survey, SurveyState.SENDING, refusal[:300])
        email = _email(organization, survey, ticket, token)
    try:
        email.send()
    except Exception as exc:  # the mail server refused or is down: the survey is not sent, and says why
        logger.warning("survey %s: email failed: %s", survey_id, exc)
        with transaction.atomic():
            return _finish(survey, SurveyState.NOT_SENT, (_("The email could not be sent: %(error)s") % {"error": exc}))
    with transaction.atomic():
        survey.sent_at = timezone.now()
        survey.expires_at = survey.sent_at + timedelta(days=LINK_DAYS)
        return _finish(survey, SurveyState.SENT, survey.reason)


def _finish(survey: Survey, state: str, reason: str) -> Survey:
    survey.state, survey.reason = state, reason[:300]
    if state != SurveyState.SCHEDULED:
        survey.due_at = None
    survey.save(update_fields=["state", "reason", "due_at", "via", "token_hash", "expires_at", "sent_at", "message"])
    logger.info("survey %s: %s via %s %s", survey.pk, state, survey.via or "-", reason)
    return survey


def _email(organization: Organization, survey: Survey, ticket: Ticket, token: str) -> EmailMultiAlternatives:
    settings_row = survey_settings(organization)
    with override(survey.language):
        context = {
            "organization_name": organization.name,
            "invitation": settings_row.invitation(survey.language) if settings_row else "",
            "link": survey_link(token),
            "ratings": [(n, survey_link(token, rating=n)) for n in range(1, 6)],
        }
        subject = render_to_string("tickets/email/survey_subject.txt", context).strip()
        body = render_to_string("tickets/email/survey_body.txt", context)
        html = render_to_string("tickets/email/survey_body.html", context)
    message = EmailMultiAlternatives(subject, body, None, [ticket.contact.email])
    message.attach_alternative(html, "text/html")
    return message


def surveys_send_due(*, organization: Organization, limit: int = 200) -> int:
    """Send the organization's surveys whose delay has passed (beat). Returns how many were looked at."""
    due = list(
        Survey.objects.filter(state=SurveyState.SCHEDULED, due_at__lte=timezone.now())
        .order_by("due_at")
        .values_list("pk", flat=True)[:limit]
    )
    for survey_id in due:
        survey_send(organization=organization, survey_id=survey_id)
    return len(due)
