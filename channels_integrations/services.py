"""Writes for channel connections and the inbound pipeline: storing raw events, processing them into tickets,
polling, token refresh and the connection's lifecycle (connect, pause, resume, disconnect, needs re-authorization).

Inbound: webhook view / poller → `events_store` (raw, unique per connection) → `event_process` (connector parses,
tickets services write) — each event in one transaction with its row locked, so a crash anywhere rolls back
cleanly and the next attempt starts from the stored raw event."""

import contextlib
import dataclasses
import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection as db_connection
from django.db import connections as db_connections
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django_scopes import scopes_disabled
from kombu.exceptions import KombuError
from redis.exceptions import RedisError

from accounts.audit import audit_record
from accounts.models import AuditAction, Organization, User
from channels_integrations import tasks  # the module, not its names: the tasks call these services
from channels_integrations.connector import (
    AccountChoice,
    AuthFailed,
    ConnectorError,
    RateLimited,
    TransientError,
)
from channels_integrations.handlers import ProfilesLookup, ingest_handler
from channels_integrations.inbound import (
    AuthorProfile,
    InboundItem,
    InboundMessage,
)
from channels_integrations.models import ChannelConnection, ConnectionStatus, InboundEvent, InboundEventStatus
from channels_integrations.providers.api.connector import API_EVENT_SOURCE, intake_items
from channels_integrations.registry import all_connectors, connector_for
from core import realtime
from core.after_batch import after_batch
from core.db import commit_without_flush
from core.errors import DomainError
from core.models import Attempt, AttemptOutcome
from core.redis_client import redis_client
from core.retry import MAX_ATTEMPTS, attempt_record, is_outage

logger = logging.getLogger("tsunagu.channels")

MAX_EVENT_ATTEMPTS = MAX_ATTEMPTS  # then the event is a dead letter an admin can inspect and replay (core.retry)
STUCK_AFTER = timedelta(minutes=5)  # a received event nobody processed (lost task) is re-queued by the sweeper
RECEIVING = (ConnectionStatus.ACTIVE, ConnectionStatus.ERROR, ConnectionStatus.NEEDS_REAUTH)


# --- inbound ----------------------------------------------------------------------------------------------------


def events_store(*, connection: ChannelConnection, items: list[tuple[str, bytes]], source: str) -> list[int]:
    """Store raw events exactly once (unique per connection and event key) in one statement: a redelivery meets the
    unique key and is skipped (ON CONFLICT, no error, no savepoint per row). Returns the ids of the new rows and,
    after commit, wakes the connection's ingest unless it is paused (its events wait for resume)."""
    keyed = {event_key[:200]: payload for event_key, payload in items}
    if not keyed:
        return []
    # A VALUES row per event: binding arrays of bytea (unnest) cost a webhook more client-side work than the rest
    # of its insert.
    values_row = "(%s, %s, %s, %s, %s, %s, 0, '', now())"
    params = []
    for event_key, payload in keyed.items():
        params += [connection.organization_id, connection.pk, source, event_key, payload, InboundEventStatus.RECEIVED]
    with db_connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {InboundEvent._meta.db_table} "  # our table name, not input
            "(organization_id, connection_id, source, event_key, payload, status, attempts, last_error, received_at) "
            f"VALUES {', '.join([values_row] * len(keyed))} "
            "ON CONFLICT (connection_id, event_key) DO NOTHING RETURNING id",
            params,
        )
        new_ids = sorted(row[0] for row in cursor.fetchall())
    if len(new_ids) < len(keyed):
        logger.info("%d redelivered event(s) on connection %s ignored", len(keyed) - len(new_ids), connection.pk)
    if new_ids and connection.status in RECEIVING and source == "webhook":
        transaction.on_commit(lambda: ingest_wake(connection))
    return new_ids


# How long a wake-up stays claimed: while it is, further events of the connection queue no task (the one queued
# will find them). A task lost with its worker, or with the worker's broker connection (a Redis restart: the claim
# survives in the append-only file, the prefetched task returns only after the visibility timeout), leaves the claim
# until then, and the events arriving meanwhile wait that long: hence seconds, not minutes. A queue longer than this
# costs one extra (empty) task per connection and period. The sweeper catches anything left.
WAKE_SECONDS = 5


# When this process last made sure a connection's ingest was queued (monotonic time taken before asking Redis), by
# connection UUID. Within INGEST_WAKE_DEBOUNCE of that, a new event asks nothing: the wake-up it would make is
# covered. Either the task queued then has not started (it will claim the event), or it started after that moment
# and so looks for events once more INGEST_WAKE_DEBOUNCE after its last claim (`ingest_linger`), by which time
# every event committed within the window is visible. At 200 webhooks a second the Redis round trip per webhook was
# a tenth of the web process's work.
_woken: dict[object, float] = {}
WOKEN_MAX_ENTRIES = 10_000


def ingest_wake(connection: ChannelConnection) -> None:
    """Make sure an ingest task for this connection is queued: at most one waits at a time, however many events
    arrive meanwhile (it takes them in batches). The key is the connection's UUID, never reused."""
    now = time.monotonic()
    last = _woken.get(connection.uuid)
    if last is not None and now - last < settings.INGEST_WAKE_DEBOUNCE:
        return
    if len(_woken) >= WOKEN_MAX_ENTRIES:
        _woken.clear()  # bounded (a forgotten entry only costs one Redis round trip)
    _woken[connection.uuid] = now
    if not _queue_wake(connection.uuid, connection.organization_id, connection.pk):
        _woken.pop(connection.uuid, None)  # not covered: the next event asks again
        # The events are stored and the platform gets its 200; this process asks again every second until Redis and
        # the broker answer, so what arrived during an outage is taken within seconds of its end.
        _wake_later(connection.uuid, connection.organization_id, connection.pk)


def _queue_wake(connection_uuid, organization_id: int, connection_id: int) -> bool:
    """Queue the connection's ingest unless one is waiting; False when Redis or the broker cannot be reached."""
    try:
        if redis_client().set(_wake_key(connection_uuid), 1, nx=True, ex=WAKE_SECONDS):
            try:
                tasks.ingest_pending.apply_async(
                    kwargs={"organization_id": organization_id, "connection_id": connection_id}, queue="inbound"
                )
            except (RedisError, KombuError):
                # No task was queued: the claim must not keep the next wake-ups from queueing one.
                with contextlib.suppress(RedisError):
                    redis_client().delete(_wake_key(connection_uuid))
                raise
    except (RedisError, KombuError):
        logger.warning("could not queue the ingest of connection %s; asking again shortly", connection_id)
        return False
    return True


# Wake-ups that failed (Redis or the broker away), by connection UUID: one thread per process asks again every
# WAKE_RETRY_SECONDS until each succeeds, then ends. Without it, events stored during an outage waited for the next
# event of their connection or for the stuck-event sweeper (minutes).
WAKE_RETRY_SECONDS = 1.0
_missed: dict[object, tuple[int, int]] = {}
_missed_lock = threading.Lock()
_retrier: list[threading.Thread] = []


def _wake_later(connection_uuid, organization_id: int, connection_id: int) -> None:
    with _missed_lock:
        _missed[connection_uuid] = (organization_id, connection_id)
        if not (_retrier and _retrier[0].is_alive()):
            _retrier[:] = [threading.Thread(target=_wake_missed, name="ingest-wake-retry", daemon=True)]
            _retrier[0].start()


def _wake_missed() -> None:
    while True:
        time.sleep(WAKE_RETRY_SECONDS)
        with _missed_lock:
            waiting = list(_missed.items())
        for connection_uuid, (organization_id, connection_id) in waiting:
            if not _queue_wake(connection_uuid, organization_id, connection_id):
                break  # still down: the rest would fail the same way
            with _missed_lock:
                _missed.pop(connection_uuid, None)
        with _missed_lock:
            if not _missed:
                _retrier.clear()
                db_connections.close_all()  # this thread's own, if any (tests run the queued task right here)
                return


def ingest_wake_clear(connection_uuid) -> None:
    """The task starts: from now on a new event queues a new task (this one may miss what arrives after its claim,
    save what `ingest_linger` finds)."""
    redis_client().delete(_wake_key(connection_uuid))


def ingest_linger() -> None:
    """The wait before an ingest task's last look for events: events stored within INGEST_WAKE_DEBOUNCE of a
    wake-up that this task answered queued no task of their own (see `_woken`)."""
    time.sleep(settings.INGEST_WAKE_DEBOUNCE)


def _wake_key(connection_uuid) -> str:
    return f"ingest-wake:{connection_uuid}"


def _queue_ingest(organization_id: int, event_ids: list[int]) -> None:
    """Queue events one by one (a replay, a retry, the sweeper): each runs in its own task with backoff on failure."""

    def send() -> None:
        for event_id in event_ids:
            tasks.ingest_event.apply_async(
                kwargs={"organization_id": organization_id, "event_id": event_id}, queue="inbound"
            )

    transaction.on_commit(send)


def events_process_pending(*, organization: Organization, connection_id: int) -> tuple[int, list[int]]:
    """Process the connection's received events in batches of INGEST_BATCH (oldest first), each batch in one
    transaction with its events locked (SKIP LOCKED: concurrent tasks take different events). The real-time events
    of a batch go out together after its commit. A batch that fails rolls back whole; its events are returned for
    processing one by one, so that one bad event cannot hold the others back. Returns (processed, to retry)."""
    batch_size = settings.INGEST_BATCH
    processed = 0
    while True:
        claimed: list[int] = []
        # What the batch defers (routing decisions, each locking its team) runs once the batch has committed and its
        # real-time events are out: outside the batch's transaction, so no team lock is held for the whole batch.
        with after_batch() as deferred, realtime.batched():
            try:
                with transaction.atomic():
                    # As in event_process: the raw events are durable; a lost commit is processed again.
                    commit_without_flush()
                    events = list(claimable_events(connection_id)[:batch_size])
                    claimed = [event.pk for event in events]
                    if events:
                        _apply_events(organization, events[0].connection, events)
            except Exception as exc:
                deferred.discard()  # the batch rolled back: nothing it deferred exists
                if is_outage(exc):  # not the events' fault: the task starts again when the outage ends
                    raise
                logger.exception(
                    "a batch of %d events on connection %s failed; one by one", len(claimed), connection_id
                )
                return processed, claimed
        processed += len(claimed)
        if len(claimed) < batch_size:
            return processed, []


def claimable_events(connection_id: int) -> QuerySet[InboundEvent]:
    """The connection's received events, oldest first, locked as they are read (SKIP LOCKED: concurrent tasks take
    different ones), with their connection: a paused one yields none (its events wait for resume). Served by the
    partial index `channels_event_claim`, which holds only received events."""
    return (
        InboundEvent.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("connection")
        .filter(connection_id=connection_id, status=InboundEventStatus.RECEIVED, connection__status__in=RECEIVING)
        .order_by("pk")
    )


def event_process(*, organization: Organization, event_id: int) -> str:
    """Turn one stored raw event into messages. Returns what happened: "processed", "done" (already), "busy"
    (another worker holds it), "held" (connection paused). Parse or write errors propagate after the transaction
    rolled back; the caller records the attempt. What the ingest defers runs after the commit (see
    events_process_pending)."""
    with after_batch(), transaction.atomic():
        # The raw event was stored durably before the platform got its 200, and processing is idempotent: should a
        # database crash lose this commit, the event is still "received" and the sweeper processes it again.
        commit_without_flush()
        event = (
            InboundEvent.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("connection")
            .filter(pk=event_id)
            .first()
        )
        if event is None:
            return "busy" if InboundEvent.objects.filter(pk=event_id).exists() else "gone"
        if event.status == InboundEventStatus.PROCESSED:
            return "done"
        connection = event.connection
        if connection.status not in RECEIVING:
            return "held"
        _apply_events(organization, connection, [event])
        return "processed"


def _apply_events(organization: Organization, connection: ChannelConnection, events: list[InboundEvent]) -> None:
    connector = connector_for(connection.platform)
    items: list[InboundItem] = []
    # REST API requests stored for the worker (on any kind of channel): the API connector's, all at once.
    requests = [event for event in events if event.source == API_EVENT_SOURCE]
    from_api = {}
    if requests:
        parsed = intake_items(
            organization=organization,
            connection=connection,
            events=[(event.event_key, bytes(event.payload)) for event in requests],
        )
        from_api = {event.pk: item for event, item in zip(requests, parsed, strict=True)}
    for event in events:
        if event.pk in from_api:
            items.append(from_api[event.pk])
            continue
        items.extend(connector.parse_event(bytes(event.payload), account_id=connection.external_account_id))
    if connector.downloads_media:
        items = [_with_media(connector, connection, item) for item in items]
    ingest_handler()(
        organization=organization, connection=connection, items=items, lookup_profile=_profile_lookup(connection)
    )
    now = timezone.now()
    InboundEvent.objects.filter(pk__in=[event.pk for event in events]).update(
        status=InboundEventStatus.PROCESSED, processed_at=now, attempts=F("attempts") + 1, last_error=""
    )
    # At hundreds of events a second one row per connection would serialize every worker: touch it rarely.
    if connection.last_event_at is None or connection.last_event_at <= now - timedelta(seconds=30):
        ChannelConnection.objects.filter(pk=connection.pk).exclude(
            last_event_at__gt=now - timedelta(seconds=30)
        ).update(last_event_at=now)


def _with_media(connector, connection: ChannelConnection, item: InboundItem) -> InboundItem:
    """A message's attachments with the content only an authorized call fetches (InboundAttachment.media_id). A
    transient failure propagates (the event is retried, nothing stored); a refusal (expired content, too large)
    keeps the attachment's name so the agent knows something was sent."""
    if not isinstance(item, InboundMessage) or not any(a.media_id and not a.content for a in item.attachments):
        return item
    attachments = []
    for attachment in item.attachments:
        if attachment.media_id and not attachment.content:
            try:
                attachment = connector.download_media(connection, attachment)
            except TransientError:
                raise
            except ConnectorError as exc:
                logger.warning(
                    "media %s of message %s on connection %s not downloaded: %s",
                    attachment.media_id,
                    item.platform_message_id,
                    connection.pk,
                    exc.message or exc,
                )
        attachments.append(attachment)
    return dataclasses.replace(item, attachments=tuple(attachments))


def _profile_lookup(connection: ChannelConnection) -> ProfilesLookup | None:
    """Messenger and Instagram DMs carry only the sender's id: the tickets service asks the platform for the names
    of customers it cannot name yet (a batch's at once), so the first message already shows who wrote. A failed
    lookup leaves the contacts nameless (the inbox shows the platform) and their next message asks again."""
    connector = connector_for(connection.platform)
    if not connector.fetches_profiles:
        return None

    def lookup(author_ids: list[str]) -> dict[str, AuthorProfile]:
        try:
            return connector.author_profiles(connection, author_ids)
        except ConnectorError as exc:
            logger.info("no profiles for %d customer(s) on connection %s: %s", len(author_ids), connection.pk, exc)
            return {}

    return lookup


def event_failed(*, organization: Organization, event_id: int, error: str, started_at=None) -> InboundEvent:
    """Record a failed attempt (kept: core.retry); after the retry policy's last attempt the event becomes a dead
    letter."""
    now = timezone.now()
    with transaction.atomic():
        event = InboundEvent.objects.select_for_update().get(pk=event_id)
        event.attempts += 1
        event.last_error = error[:4000]
        event.status = InboundEventStatus.DEAD if event.attempts >= MAX_EVENT_ATTEMPTS else InboundEventStatus.RETRYING
        event.save(update_fields=["attempts", "last_error", "status"])
        attempt_record(
            organization=organization,
            subject=event,
            number=event.attempts,
            outcome=AttemptOutcome.FAILED if event.status == InboundEventStatus.DEAD else AttemptOutcome.RETRYING,
            started_at=started_at or now,
            duration_ms=int(((now - started_at) if started_at else timedelta(0)).total_seconds() * 1000),
            error=error,
        )
    log = logger.error if event.status == InboundEventStatus.DEAD else logger.warning
    log("event %s on connection %s failed (attempt %s): %s", event.pk, event.connection_id, event.attempts, error)
    return event


def event_replay(*, organization: Organization, actor: User, event: InboundEvent, request=None) -> None:
    """An admin retries a dead letter (after fixing the cause): attempts start over."""
    if event.status == InboundEventStatus.PROCESSED:
        raise DomainError(_("This event was already processed."))
    InboundEvent.objects.filter(pk=event.pk).update(status=InboundEventStatus.RETRYING, attempts=0, last_error="")
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.EVENT_REPLAYED,
        obj=event.connection,
        request=request,
        changes={"event": event.pk},
    )
    _queue_ingest(organization.pk, [event.pk])


def events_requeue_stuck(*, organization: Organization) -> int:
    """Queue again the events whose task was lost (broker restart, a worker killed before acknowledging)."""
    cutoff = timezone.now() - STUCK_AFTER
    ids = list(
        InboundEvent.objects.filter(
            status__in=[InboundEventStatus.RECEIVED, InboundEventStatus.RETRYING],
            received_at__lt=cutoff,
            connection__status__in=RECEIVING,
        ).values_list("pk", flat=True)[:1000]
    )
    if ids:
        logger.warning("re-queueing %d stuck events of organization %s", len(ids), organization.pk)
        _queue_ingest(organization.pk, ids)
    return len(ids)


def events_prune(*, before, batch: int = 5000) -> int:
    """Delete processed raw events received before `before`, with their attempts, in batches each committed on its
    own (all organizations: an operator task). Unprocessed and dead events stay until handled. A redelivery of a
    pruned event is stored again and processed idempotently (messages are unique on the platform's ids)."""
    event_type = ContentType.objects.get_for_model(InboundEvent)
    deleted = 0
    while True:
        with transaction.atomic(), scopes_disabled():
            ids = list(
                InboundEvent.objects.filter(status=InboundEventStatus.PROCESSED, received_at__lt=before)
                .order_by()
                .values_list("id", flat=True)[:batch]
            )
            if ids:
                Attempt.objects.filter(subject_type=event_type, subject_id__in=ids).delete()
                InboundEvent.objects.filter(id__in=ids).delete()
        deleted += len(ids)
        if len(ids) < batch:
            return deleted


# --- polling ----------------------------------------------------------------------------------------------------


@transaction.atomic
def connection_poll_now(*, organization: Organization, connection: ChannelConnection):
    """An admin asks to check a polled channel now rather than at its next interval. A wait the platform or the
    retry policy asked for still holds: returns when the check will run (None: now)."""
    connection = ChannelConnection.objects.select_for_update().get(pk=connection.pk)
    if not connector_for(connection.platform).polls:
        raise DomainError(_("This channel receives its messages as they are sent; there is nothing to check."))
    if connection.status not in (ConnectionStatus.ACTIVE, ConnectionStatus.ERROR):
        raise DomainError(_("Resume or reconnect the channel first."))
    if connection.status == ConnectionStatus.ACTIVE:
        connection.next_poll_at = None
        connection.save(update_fields=["next_poll_at"])
    organization_id, connection_id = organization.pk, connection.pk
    transaction.on_commit(
        lambda: tasks.poll_connection.apply_async(
            kwargs={"organization_id": organization_id, "connection_id": connection_id}, queue="inbound"
        )
    )
    return connection.next_poll_at


def connection_poll(*, organization: Organization, connection_id: int) -> int:
    """Poll one connection once. The connection row stays locked for the whole poll (one poll per connection at a
    time; a concurrent poll skips), and the new cursor is saved in the same transaction as the messages it covers.
    Returns how many new events were stored."""
    now = timezone.now()
    with transaction.atomic():
        connection = (
            ChannelConnection.objects.select_for_update(skip_locked=True)
            .filter(pk=connection_id, status__in=[ConnectionStatus.ACTIVE, ConnectionStatus.ERROR])
            .first()
        )
        if connection is None or (connection.next_poll_at and connection.next_poll_at > now):
            return 0
        connector = connector_for(connection.platform)
        try:
            result = connector.poll(connection, dict(connection.poll_cursor))
        except RateLimited as exc:
            wait = exc.retry_after or 60
            logger.info("connection %s rate-limited; next poll in %ss", connection.pk, wait)
            connection.next_poll_at = now + timedelta(seconds=wait)
            connection.save(update_fields=["next_poll_at"])
            return 0
        except AuthFailed as exc:
            _needs_reauth(organization, connection, exc.message or str(exc))
            return 0
        except TransientError as exc:
            _connection_error(connection, exc.message or str(exc), retry_in=max(exc.retry_after or 0, 60))
            return 0
        new_ids = events_store(
            connection=connection, items=[(e.event_key, e.payload) for e in result.events], source="poll"
        )
        failed: list[int] = []
        for event in InboundEvent.objects.filter(pk__in=new_ids).order_by("pk"):
            try:
                with transaction.atomic():
                    _apply_events(organization, connection, [event])
            except Exception as exc:  # the raw event is stored: it retries on its own, the cursor moves on
                logger.exception("polled event %s failed", event.pk)
                event_failed(organization=organization, event_id=event.pk, error=repr(exc))
                failed.append(event.pk)
        if failed:
            _queue_ingest(organization.pk, failed)
        connection.poll_cursor = result.cursor
        connection.last_polled_at = now
        connection.next_poll_at = now + timedelta(seconds=1 if result.more else connector.poll_interval_seconds)
        fields = ["poll_cursor", "last_polled_at", "next_poll_at"]
        if connection.status == ConnectionStatus.ERROR:
            connection.status = ConnectionStatus.ACTIVE
            connection.last_error = ""
            fields += ["status", "last_error"]
        connection.save(update_fields=fields)
        return len(new_ids)


def connections_due_for_poll() -> list[tuple[int, int]]:
    """(organization id, connection id) of every connection whose poll is due, across organizations: the one
    cross-tenant read of the scheduler, which only hands ids to per-organization tasks."""
    platforms = [c.platform for c in all_connectors() if c.polls]
    now = timezone.now()
    with scopes_disabled():
        rows = ChannelConnection.objects.filter(
            platform__in=platforms, status__in=[ConnectionStatus.ACTIVE, ConnectionStatus.ERROR]
        ).exclude(next_poll_at__gt=now)
        return list(rows.values_list("organization_id", "pk"))


# --- credentials and health -------------------------------------------------------------------------------------


def connection_refresh_credentials(*, organization: Organization, connection_id: int) -> bool:
    """Refresh the token before it expires (requests-oauthlib / the platform's exchange). True when refreshed."""
    with transaction.atomic():
        connection = ChannelConnection.objects.select_for_update().get(pk=connection_id)
        if connection.status in (ConnectionStatus.PAUSED, ConnectionStatus.DISCONNECTED):
            return False
        try:
            refreshed = connector_for(connection.platform).refresh_credentials(connection)
        except AuthFailed as exc:
            _needs_reauth(organization, connection, exc.message or str(exc))
            return False
        except TransientError as exc:
            logger.warning("token refresh of connection %s failed for now: %s", connection.pk, exc)
            return False
        if refreshed is None:
            return False
        credentials, expires_at = refreshed
        connection.set_credentials(credentials)
        connection.token_expires_at = expires_at
        connection.save(update_fields=["credentials_encrypted", "token_expires_at"])
        logger.info("refreshed the token of connection %s", connection.pk)
        return True


def connection_auth_failed(*, organization: Organization, connection_id: int, error: str) -> None:
    """A send or poll found the credentials revoked: stop using them and tell the admins."""
    with transaction.atomic():
        connection = ChannelConnection.objects.select_for_update().get(pk=connection_id)
        _needs_reauth(organization, connection, error)


def _needs_reauth(organization: Organization, connection: ChannelConnection, error: str) -> None:
    already = connection.status == ConnectionStatus.NEEDS_REAUTH
    connection.status = ConnectionStatus.NEEDS_REAUTH
    connection.last_error = error[:2000]
    connection.last_error_at = timezone.now()
    connection.save(update_fields=["status", "last_error", "last_error_at"])
    if already:
        return
    logger.error("connection %s needs re-authorization: %s", connection.pk, error)
    audit_record(
        organization=organization,
        actor=None,
        action=AuditAction.CHANNEL_NEEDS_REAUTH,
        obj=connection,
        changes={"error": error[:500]},
    )

    transaction.on_commit(
        lambda: tasks.notify_channel_problem.delay(organization_id=organization.pk, connection_id=connection.pk)
    )
    _publish_connection(organization, connection)


def _connection_error(connection: ChannelConnection, error: str, *, retry_in: float) -> None:
    logger.warning("connection %s: %s", connection.pk, error)
    now = timezone.now()
    connection.status = ConnectionStatus.ERROR
    connection.last_error = error[:2000]
    connection.last_error_at = now
    connection.next_poll_at = now + timedelta(seconds=retry_in)
    connection.save(update_fields=["status", "last_error", "last_error_at", "next_poll_at"])


def _publish_connection(organization: Organization, connection: ChannelConnection) -> None:
    realtime.publish(
        organization=organization,
        type="connection.updated",
        payload={"connection_id": connection.pk, "status": connection.status},
        groups=[realtime.queue_group(organization.pk, connection.pk)],
    )


# --- connecting and lifecycle (the Channels settings page) -------------------------------------------------------


@transaction.atomic
def connection_connect(
    *, organization: Organization, actor: User, choice: AccountChoice, request=None
) -> ChannelConnection:
    """Add (or re-authorize) an account chosen after the platform's OAuth flow or filled in a form."""
    connector = connector_for(choice.platform)
    connection = (
        ChannelConnection.objects.select_for_update()
        .filter(platform=choice.platform, external_account_id=choice.external_account_id)
        .first()
    )
    created = connection is None
    if connection is None:
        connection = ChannelConnection(
            organization=organization, platform=choice.platform, external_account_id=choice.external_account_id
        )
    connection.display_name = choice.display_name[:120]
    connection.set_credentials(choice.credentials)
    connection.token_expires_at = choice.token_expires_at
    connection.config = {**connection.config, **choice.config}
    connection.status = ConnectionStatus.ACTIVE
    connection.last_error = ""
    connection.next_poll_at = None
    connection.save()
    try:
        connector.on_connect(connection)
    except ConnectorError as exc:
        raise DomainError(
            _("%(platform)s refused the connection: %(error)s")
            % {"platform": connection.get_platform_display(), "error": exc.message or exc.code}
        ) from exc
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.CHANNEL_CONNECTED,
        obj=connection,
        changes={"platform": connection.platform, "account": connection.external_account_id, "new": created},
        request=request,
    )
    _publish_connection(organization, connection)
    return connection


@transaction.atomic
def connection_set_status(
    *, organization: Organization, actor: User, connection: ChannelConnection, status: str, request=None
) -> ChannelConnection:
    """Pause, resume or disconnect. Paused connections keep receiving webhooks into storage (nothing is lost) and
    process them on resume; disconnecting forgets the credentials and keeps the tickets."""
    connection = ChannelConnection.objects.select_for_update().get(pk=connection.pk)
    if connection.status == ConnectionStatus.DISCONNECTED:
        raise DomainError(_("This channel is disconnected; connect the account again instead."))
    actions = {
        ConnectionStatus.PAUSED: AuditAction.CHANNEL_PAUSED,
        ConnectionStatus.ACTIVE: AuditAction.CHANNEL_RESUMED,
        ConnectionStatus.DISCONNECTED: AuditAction.CHANNEL_DISCONNECTED,
    }
    if status not in actions:
        raise DomainError(_("Unknown channel state."))
    old = connection.status
    connection.status = status
    fields = ["status"]
    if status == ConnectionStatus.DISCONNECTED:
        connection.credentials_encrypted = ""
        connection.token_expires_at = None
        fields += ["credentials_encrypted", "token_expires_at"]
    if status == ConnectionStatus.ACTIVE:
        connection.last_error = ""
        connection.next_poll_at = None
        fields += ["last_error", "next_poll_at"]
    connection.save(update_fields=fields)
    if status == ConnectionStatus.ACTIVE:
        waiting = list(
            InboundEvent.objects.filter(
                connection=connection, status__in=[InboundEventStatus.RECEIVED, InboundEventStatus.RETRYING]
            ).values_list("pk", flat=True)
        )
        if waiting:
            _queue_ingest(organization.pk, waiting)
    audit_record(
        organization=organization,
        actor=actor,
        action=actions[status],
        obj=connection,
        changes={"status": [old, status]},
        request=request,
    )
    _publish_connection(organization, connection)
    return connection


@transaction.atomic
def connection_rename(
    *, organization: Organization, actor: User, connection: ChannelConnection, display_name: str, request=None
) -> ChannelConnection:
    display_name = display_name.strip()[:120]
    if not display_name:
        raise DomainError(_("Give the channel a name."), field="display_name")
    old = connection.display_name
    connection.display_name = display_name
    connection.save(update_fields=["display_name"])
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.CHANNEL_UPDATED,
        obj=connection,
        changes={"display_name": [old, display_name]},
        request=request,
    )
    return connection
