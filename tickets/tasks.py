"""Periodic ticket work (Celery beat)."""

import logging

from celery import shared_task
from django.utils import timezone
from django_scopes import scopes_disabled

from core.retry import retry_later
from core.task_base import TenantTask
from tickets.models import Survey, SurveyState, Ticket
from tickets.services.api_intake import idempotency_prune
from tickets.services.changes import tickets_wake_snoozed
from tickets.services.delivery import message_send, replies_stranded
from tickets.services.survey_sending import survey_send, surveys_send_due
from tickets.services.surveys import survey_plan as plan

logger = logging.getLogger("tsunagu.tickets")


@shared_task(name="tickets.wake_snoozed_everywhere")
def wake_snoozed_everywhere() -> int:
    """Fan out one task per organization that has a snooze ending (the lookup spans tenants by design)."""

    with scopes_disabled():
        organization_ids = list(
            Ticket.objects.filter(snoozed_until__lte=timezone.now())
            .values_list("organization_id", flat=True)
            .distinct()
        )
    for organization_id in organization_ids:
        wake_snoozed.delay(organization_id=organization_id)
    return len(organization_ids)


@shared_task(base=TenantTask, name="tickets.wake_snoozed", acks_late=True)
def wake_snoozed(*, organization) -> int:
    return tickets_wake_snoozed(organization=organization)


# resume_after_outage: the claim makes a second run safe (deliver_once: a claimed send is looked at again later).
@shared_task(base=TenantTask, name="tickets.send_message", acks_late=True, resume_after_outage=True)
def send_message(*, organization, message_id: int) -> str:
    """Send one queued reply through its channel, exactly once (tickets.services.delivery.message_send); a
    transient failure queues the next attempt on the retry policy's schedule."""
    outcome = message_send(organization=organization, message_id=message_id)
    if outcome.retry_in is not None:
        retry_later(
            send_message,
            kwargs={"organization_id": organization.pk, "message_id": message_id},
            delay=outcome.retry_in,
            queue="outbound",
        )
    return outcome.state


@shared_task(name="tickets.send_stranded_replies")
def send_stranded_replies() -> int:
    """Beat: queue the send of every reply whose send task was lost (tickets.services.delivery.replies_stranded).
    Sending one twice is impossible: the send claims the reply first. Returns how many were queued."""
    stranded = replies_stranded()
    for organization_id, message_id in stranded:
        logger.warning("reply %s was never sent: its send is queued again", message_id)
        send_message.apply_async(
            kwargs={"organization_id": organization_id, "message_id": message_id}, queue="outbound"
        )
    return len(stranded)


@shared_task(base=TenantTask, name="tickets.survey_plan", acks_late=True)
def survey_plan(*, organization, ticket_id: int, solve_event_id: int) -> str:
    """Plan the satisfaction survey of one solve (queued after the solve commits; idempotent) and send it at once
    when the organization asks for no delay."""
    survey = plan(organization=organization, ticket_id=ticket_id, solve_event_id=solve_event_id)
    if survey is None:
        return "off"
    if survey.state == SurveyState.SCHEDULED and survey.due_at <= timezone.now():
        survey = survey_send(organization=organization, survey_id=survey.pk)
    return survey.state


@shared_task(name="tickets.send_due_surveys_everywhere")
def send_due_surveys_everywhere() -> int:
    """Fan out one task per organization with a survey whose delay has passed (beat, every minute)."""
    with scopes_disabled():
        organization_ids = list(
            Survey.objects.filter(state=SurveyState.SCHEDULED, due_at__lte=timezone.now())
            .values_list("organization_id", flat=True)
            .distinct()
        )
    for organization_id in organization_ids:
        send_due_surveys.delay(organization_id=organization_id)
    return len(organization_ids)


@shared_task(base=TenantTask, name="tickets.send_due_surveys", acks_late=True)
def send_due_surveys(*, organization) -> int:
    return surveys_send_due(organization=organization)


from tickets import tasks_privacy  # noqa: E402,F401 (registers the privacy tasks with the worker)


@shared_task(name="tickets.prune_idempotency_keys")
def prune_idempotency_keys() -> int:
    """Forget the REST API's idempotency keys older than API_IDEMPOTENCY_KEY_HOURS."""
    return idempotency_prune()
