"""Celery tasks of the gateway: ingest (queue `inbound`) and the beat jobs that poll, refresh tokens and re-queue lost
events; sends are the owning apps' tasks, on queue `outbound`, through channels_integrations.outbound. Tasks take
ids and are idempotent: acks_late means each may run twice, and the row locks and unique constraints underneath make
the second run a no-op."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django_scopes import scopes_disabled

from accounts.models import Membership
from accounts.roles import Capability
from channels_integrations import services  # the module, not its names: services queue these tasks
from channels_integrations.models import ChannelConnection, ConnectionStatus, InboundEvent, InboundEventStatus
from core.errors import DomainError
from core.retry import is_outage, retry_delay, retry_later
from core.task_base import TenantTask

logger = logging.getLogger("tsunagu.channels")


@shared_task(base=TenantTask, name="channels.agent_activity", ignore_result=True)
def agent_activity(*, organization, connection_id: int, thread_key: str, activity: str) -> str:
    """Show the customer that an agent read or is answering their conversation (Connector.agent_activity, LINE's read
    marks and loading animation). Best effort: never retried, errors only logged."""
    from channels_integrations.connector import ConnectorError
    from channels_integrations.registry import connector_for

    connection = ChannelConnection.objects.filter(pk=connection_id, status=ConnectionStatus.ACTIVE).first()
    if connection is None:
        return "inactive"
    try:
        connector_for(connection.platform).agent_activity(connection, thread_key, activity)
    except ConnectorError as exc:
        logger.info("agent activity %s on connection %s not shown: %s", activity, connection_id, exc.message or exc)
        return "failed"
    return "done"


@shared_task(base=TenantTask, name="channels.ingest_event", acks_late=True, resume_after_outage=True)
def ingest_event(*, organization, event_id: int) -> str:
    """Process one stored raw event; on failure record the attempt and schedule the next one (core.retry). An
    outage of the database or Redis is no attempt of the event's: TenantTask runs the body again once it ends."""
    started = timezone.now()
    try:
        return services.event_process(organization=organization, event_id=event_id)
    except Exception as exc:
        if is_outage(exc):
            raise
        logger.exception("processing event %s failed", event_id)
        event = services.event_failed(
            organization=organization, event_id=event_id, error=f"{type(exc).__name__}: {exc}", started_at=started
        )
        if event.status == InboundEventStatus.DEAD:
            return "dead"
        retry_later(
            ingest_event,
            kwargs={"organization_id": organization.pk, "event_id": event_id},
            delay=retry_delay(event.attempts),
            queue="inbound",
        )
        return "retrying"


@shared_task(base=TenantTask, name="channels.ingest_pending", acks_late=True, resume_after_outage=True)
def ingest_pending(*, organization, connection_id: int) -> int:
    """Process the connection's received events in batches (queued by `ingest_wake` when webhooks arrive), and
    once more after `ingest_linger` for the events whose wake-up was covered by this one. Events of a batch that
    failed are processed one by one, each with its own retries, and a new task takes the rest. A database or Redis
    outage met anywhere here starts the task again once it ends (TenantTask): a batch is one transaction, so its
    events are either processed and marked or still received, never half done."""

    connection_uuid = ChannelConnection.objects.filter(pk=connection_id).values_list("uuid", flat=True).first()
    if connection_uuid is None:
        return 0
    services.ingest_wake_clear(connection_uuid)
    processed, failed = services.events_process_pending(organization=organization, connection_id=connection_id)
    if not failed:  # (after a failure the task queued below lingers instead)
        services.ingest_linger()
        more, failed = services.events_process_pending(organization=organization, connection_id=connection_id)
        processed += more
    for event_id in failed:
        ingest_event(organization_id=organization.pk, event_id=event_id)
    if failed:  # the rest of the backlog, if any, after the one-by-one pass
        ingest_pending.apply_async(
            kwargs={"organization_id": organization.pk, "connection_id": connection_id}, queue="inbound"
        )
    return processed


@shared_task(name="channels.poll_due")
def poll_due() -> int:
    """Beat: queue a poll for every connection whose poll is due (the poll itself locks the connection)."""

    due = services.connections_due_for_poll()
    for organization_id, connection_id in due:
        poll_connection.apply_async(
            kwargs={"organization_id": organization_id, "connection_id": connection_id}, queue="inbound"
        )
    return len(due)


@shared_task(base=TenantTask, name="channels.poll_connection", acks_late=True)
def poll_connection(*, organization, connection_id: int) -> int:

    return services.connection_poll(organization=organization, connection_id=connection_id)


@shared_task(base=TenantTask, name="channels.check_connection", acks_late=True)
def check_connection(*, organization, connection_id: int) -> bool:
    """The mailbox watcher heard of new mail (IMAP IDLE): check the connection now, as the Check now button does —
    the poll it queues is the one way polled mail comes in, and a wait the server or the retry policy asked for
    still holds. False when the connection is gone, paused or disconnected."""

    connection = ChannelConnection.objects.filter(pk=connection_id).first()
    if connection is None:
        return False
    try:
        services.connection_poll_now(organization=organization, connection=connection)
    except DomainError:
        return False
    return True


@shared_task(name="channels.refresh_tokens")
def refresh_tokens() -> int:
    """Beat: refresh tokens that expire within a week (each in its organization's scope)."""

    soon = timezone.now() + timedelta(days=7)
    with scopes_disabled():
        rows = list(
            ChannelConnection.objects.filter(token_expires_at__lt=soon)
            .exclude(status__in=[ConnectionStatus.DISCONNECTED, ConnectionStatus.NEEDS_REAUTH])
            .values_list("organization_id", "pk")
        )
    for organization_id, connection_id in rows:
        refresh_connection_token.delay(organization_id=organization_id, connection_id=connection_id)
    return len(rows)


@shared_task(base=TenantTask, name="channels.refresh_connection_token", acks_late=True)
def refresh_connection_token(*, organization, connection_id: int) -> bool:

    return services.connection_refresh_credentials(organization=organization, connection_id=connection_id)


@shared_task(name="channels.sweep_events")
def sweep_events() -> int:
    """Beat: find organizations with events nobody processed (a lost task) and re-queue them."""

    cutoff = timezone.now() - services.STUCK_AFTER
    with scopes_disabled():
        organization_ids = list(
            InboundEvent.objects.filter(
                Q(status=InboundEventStatus.RECEIVED) | Q(status=InboundEventStatus.RETRYING), received_at__lt=cutoff
            )
            .values_list("organization_id", flat=True)
            .distinct()
        )
    for organization_id in organization_ids:
        requeue_stuck_events.delay(organization_id=organization_id)
    return len(organization_ids)


@shared_task(base=TenantTask, name="channels.requeue_stuck_events")
def requeue_stuck_events(*, organization) -> int:

    return services.events_requeue_stuck(organization=organization)


@shared_task(base=TenantTask, name="channels.notify_channel_problem", acks_late=True)
def notify_channel_problem(*, organization, connection_id: int) -> int:
    """Email the members who manage channels that a connection needs re-authorization, each in their language."""

    connection = ChannelConnection.objects.get(pk=connection_id)
    sent = 0
    for membership in Membership.objects.select_related("user", "role"):
        if not membership.has(Capability.CHANNELS_MANAGE):
            continue
        user = membership.user
        with translation.override(user.language or organization.default_language):
            subject = _("[Tsunagu] %(channel)s needs to be connected again") % {"channel": connection.display_name}
            body = _(
                "The channel %(channel)s (%(platform)s) in %(organization)s stopped working: %(error)s\n\n"
                "Open the Channels settings and connect the account again:\n%(url)s"
            ) % {
                "channel": connection.display_name,
                "platform": connection.get_platform_display(),
                "organization": organization.name,
                "error": connection.last_error,
                "url": f"{settings.SITE_URL}/{organization.slug}/settings/channels/",
            }
        send_mail(subject, body, None, [user.email])
        sent += 1
    return sent


@shared_task(name="channels.prune_events")
def prune_events() -> int:
    """Forget processed raw events older than INBOUND_EVENT_RETENTION_DAYS."""
    return services.events_prune(before=timezone.now() - timedelta(days=settings.INBOUND_EVENT_RETENTION_DAYS))
