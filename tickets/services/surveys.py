"""Satisfaction surveys: planned once per solve of a ticket (after commit, by a task), skipped by the rules that say
so, answered once through the signed link. Sending lives in tickets/services/survey_sending.py.

Flow: ticket_update solves a ticket → `survey_after_solve` (inside its transaction) queues `tickets.survey_plan`
after commit → `survey_plan` records one Survey for that solve (scheduled, or skipped with the reason) → the survey
is sent when due (at once, or by beat after the organization's delay) → the customer answers on the public page →
`survey_answer_submit` stores the answer, writes a private note on the ticket, and analytics derives a CSAT fact."""

import hashlib
import logging
import secrets
from datetime import timedelta

from celery import signature
from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override
from django_scopes import scope, scopes_disabled

from accounts.models import Organization, User
from core.errors import DomainError
from tickets.events import publish_message
from tickets.models import (
    Direction,
    Message,
    MessageKind,
    Survey,
    SurveyAnswer,
    SurveySettings,
    SurveyState,
    Ticket,
    TicketStatus,
)
from tickets.search import document_expression, index_document
from tickets.services.ingest import ticket_message_update

logger = logging.getLogger("tsunagu.tickets.surveys")

LINK_DAYS = 30  # a survey link answers for this long after it was sent
SPAM_TAG = "spam"  # the tag automation's "mark as spam" sets
LANGUAGES = ("ja", "en")


def survey_settings(organization: Organization) -> SurveySettings | None:
    return SurveySettings.objects.filter(organization=organization).first()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh link token and the hash stored in its place."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def survey_after_solve(*, organization: Organization, ticket: Ticket, solve_event_id: int) -> None:
    """The ticket was just solved (inside the caller's transaction): plan its survey after commit. The task is
    named, not imported: tickets.tasks imports the ticket services that call this."""
    settings_row = survey_settings(organization)
    if settings_row is None or not settings_row.enabled:
        return
    kwargs = {"organization_id": organization.pk, "ticket_id": ticket.pk, "solve_event_id": solve_event_id}
    transaction.on_commit(lambda: signature("tickets.survey_plan", kwargs=kwargs).apply_async())


def _skip_reason(organization: Organization, settings_row: SurveySettings, ticket: Ticket) -> str:
    """Why this solve gets no survey ("" when it does)."""
    if ticket.merged_into_id is not None:
        return _("The ticket was merged into another one.")
    if ticket.status != TicketStatus.SOLVED:
        return _("The ticket was no longer solved.")
    allowed = set(settings_row.connections.values_list("pk", flat=True))
    if allowed and ticket.connection_id not in allowed:
        return _("Surveys are not sent on this channel.")
    if ticket.tags.filter(name=SPAM_TAG).exists():
        return _("The ticket is marked as spam.")
    if not Message.objects.filter(ticket=ticket, direction=Direction.INBOUND).exists():
        return _("The customer never wrote on this ticket.")
    since = timezone.now() - timedelta(days=settings_row.cooldown_days)
    if (
        Survey.objects.filter(ticket=ticket, created_at__gte=since)
        .exclude(state__in=[SurveyState.SKIPPED, SurveyState.NOT_SENT])
        .exclude(solve_event_id__isnull=True)
        .exists()
    ):
        return _("The ticket was already surveyed in the last %(days)d days.") % {"days": settings_row.cooldown_days}
    return ""


def survey_language(organization: Organization, ticket: Ticket) -> str:
    """The customer's language when we know it (ja or en), else the organization's."""
    for language in (ticket.contact.language, ticket.language, organization.default_language):
        code = (language or "").split("-")[0].lower()
        if code in LANGUAGES:
            return code
    return "ja"


@transaction.atomic
def survey_plan(*, organization: Organization, ticket_id: int, solve_event_id: int) -> Survey | None:
    """Record the survey of one solve: scheduled (due after the organization's delay) or skipped with the reason.
    Idempotent: a second run for the same solve returns the first one's survey. None when surveys are off."""
    settings_row = survey_settings(organization)
    if settings_row is None or not settings_row.enabled:
        return None
    ticket = Ticket.objects.select_for_update().select_related("contact").filter(pk=ticket_id).first()
    if ticket is None:
        return None
    existing = Survey.objects.filter(ticket=ticket, solve_event_id=solve_event_id).first()
    if existing is not None:
        return existing
    now = timezone.now()
    with override(organization.default_language):
        reason = _skip_reason(organization, settings_row, ticket)
    pending_skip = Survey.objects.filter(ticket=ticket, solve_event_id__isnull=True).first()
    if pending_skip is not None:
        # A rule asked to skip this ticket's next survey: that skip is this solve's.
        pending_skip.solve_event_id = solve_event_id
        pending_skip.agent_id = ticket.assignee_id
        pending_skip.save(update_fields=["solve_event_id", "agent"])
        return pending_skip
    survey = Survey.objects.create(
        organization=organization,
        ticket=ticket,
        solve_event_id=solve_event_id,
        agent_id=ticket.assignee_id,
        state=SurveyState.SKIPPED if reason else SurveyState.SCHEDULED,
        reason=reason,
        language=survey_language(organization, ticket),
        due_at=None if reason else now + timedelta(minutes=settings_row.delay_minutes),
    )
    logger.info("survey %s of ticket %s: %s %s", survey.pk, ticket.pk, survey.state, reason)
    return survey


@transaction.atomic
def survey_settings_update(*, organization: Organization, actor: User, form) -> SurveySettings:
    """Save the organization's survey settings from a valid SurveySettingsForm (bound to its row or a new one)."""
    row = form.save(commit=False)
    row.organization = organization
    row.save()
    form.save_m2m()
    logger.info("survey settings of %s changed by %s: enabled=%s", organization.pk, actor.pk, row.enabled)
    return row


@transaction.atomic
def survey_skip(*, organization: Organization, actor: User | None, ticket: Ticket, reason: str) -> Survey:
    """Skip the ticket's survey (a rule's "skip survey"): one not sent yet is skipped, else the next solve's is."""
    scheduled = Survey.objects.select_for_update().filter(ticket=ticket, state=SurveyState.SCHEDULED).first()
    if scheduled is not None:
        scheduled.state, scheduled.reason, scheduled.due_at = SurveyState.SKIPPED, reason[:300], None
        scheduled.save(update_fields=["state", "reason", "due_at"])
        return scheduled
    pending = Survey.objects.filter(ticket=ticket, solve_event_id__isnull=True).first()
    if pending is not None:
        return pending
    try:
        with transaction.atomic():
            return Survey.objects.create(
                organization=organization,
                ticket=ticket,
                state=SurveyState.SKIPPED,
                reason=reason[:300],
                language=survey_language(organization, ticket),
            )
    except IntegrityError:  # a concurrent rule recorded the same skip
        return Survey.objects.get(ticket=ticket, solve_event_id__isnull=True)


# --- the customer's answer ----------------------------------------------------------------------------------------


def survey_for_token(token: str) -> Survey | None:
    """The sent survey a link token opens (any organization: the link carries no organization), or None."""
    if not token or len(token) > 100:
        return None
    with scopes_disabled():
        return (
            Survey.objects.select_related("organization", "answer")
            .filter(token_hash=token_hash(token), state=SurveyState.SENT)
            .first()
        )


def survey_status(survey: Survey | None) -> str:
    """What the link shows: "invalid", "expired", "answered" or "open"."""
    if survey is None:
        return "invalid"
    if hasattr(survey, "answer"):
        return "answered"
    if survey.expires_at is None or survey.expires_at <= timezone.now():
        return "expired"
    return "open"


def survey_answer_submit(*, token: str, rating, comment: str = "") -> SurveyAnswer:
    """Store the customer's answer (once), attach it to the ticket as a private note for the agents, and to the
    agent who solved it. Raises DomainError with code invalid, expired, answered or a field error."""
    survey = survey_for_token(token)
    status = survey_status(survey)
    if status != "open":
        raise DomainError(_("This survey link cannot be answered."), code=status)
    try:
        rating = int(rating)
    except (TypeError, ValueError):
        rating = 0
    if not 1 <= rating <= 5:
        raise DomainError(_("Choose a rating from 1 to 5."), field="rating")
    comment = (comment or "").replace("\r\n", "\n").strip()
    if len(comment) > 2000:
        raise DomainError(_("The comment can be at most 2000 characters long."), field="comment")
    organization = survey.organization
    with scope(organization=organization), transaction.atomic():
        locked = Survey.objects.select_for_update().get(pk=survey.pk)
        if SurveyAnswer.objects.filter(survey=locked).exists():
            raise DomainError(_("This survey link cannot be answered."), code="answered")
        ticket = Ticket.objects.get(pk=locked.ticket_id)
        answer = SurveyAnswer.objects.create(
            organization=organization,
            survey=locked,
            ticket=ticket,
            agent_id=locked.agent_id,
            rating=rating,
            comment=comment,
        )
        _answer_note(organization, ticket, answer)
    logger.info("survey %s answered: %s", survey.pk, rating)
    return answer


def _answer_note(organization: Organization, ticket: Ticket, answer: SurveyAnswer) -> Message:
    """The answer in the conversation, as a private note the agents see (in the organization's language). Written
    directly, not through note_add: the customer's words must not mention (notify) anyone."""
    with override(organization.default_language):
        text = _("Satisfaction survey: the customer rated %(rating)d out of 5.") % {"rating": answer.rating}
        if answer.comment:
            text += "\n" + _("Comment: %(comment)s") % {"comment": answer.comment}
    document = index_document(text)
    note = Message.objects.create(
        organization=organization,
        ticket=ticket,
        connection_id=ticket.connection_id,
        direction=Direction.OUTBOUND,
        kind=MessageKind.NOTE,
        automated=True,
        text=text,
        search_vector=document_expression(document),
    )
    ticket_message_update(ticket, {}, document, timezone.now())
    publish_message(organization, ticket, note)
    return note


def survey_link(token: str, *, rating: int | None = None) -> str:
    """The public link (absolute), optionally preselecting a rating (one click from an email)."""
    url = settings.SITE_URL + reverse("csat_survey", args=[token])
    return f"{url}?rating={rating}" if rating else url
