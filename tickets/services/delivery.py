"""Delivering our messages to customers: sending a queued reply through the gateway's exactly-once helper
(channels_integrations.outbound), and its delivery state (queued, sending, sent, delivered, read, failed) kept up
to date live, from our send and from the platform's receipts."""

import hashlib
import logging
from datetime import timedelta

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_scopes import scopes_disabled

from accounts.models import Organization
from channels_integrations.connector import OutboundFile, OutboundMessage, TemplateChoice
from channels_integrations.inbound import DeliveryUpdate
from channels_integrations.models import ChannelConnection
from channels_integrations.outbound import Claimed, OutboundIntent, Outcome, deliver_once
from tickets.events import publish_message_updated
from tickets.models import DeliveryState, Direction, Message

logger = logging.getLogger("tsunagu.tickets")


def message_delivery_set(
    *,
    organization: Organization,
    message: Message,
    state: str,
    error: str = "",
    platform_message_id: str = "",
    platform_timestamp=None,
) -> Message:
    """Record the delivery state of an outbound message (the caller holds its row lock) and tell the browsers."""
    message.delivery_state = state
    message.delivery_error = error[:2000] if state == DeliveryState.FAILED else ""
    fields = ["delivery_state", "delivery_error"]
    if platform_message_id and not message.platform_message_id:
        message.platform_message_id = platform_message_id[:255]
        fields.append("platform_message_id")
    if platform_timestamp is not None:
        message.platform_timestamp = platform_timestamp
        fields.append("platform_timestamp")
    message.save(update_fields=fields)
    publish_message_updated(organization, message)
    return message


def _outbound_for(message: Message) -> OutboundMessage:
    ticket = message.ticket
    contact = ticket.contact
    # PSIDs and similar ids are scoped to one account: prefer the identity this thread is about.
    identities = list(contact.identities.filter(platform=message.connection.platform).order_by("-pk"))
    identity = next((i for i in identities if i.external_id in ticket.external_thread_key), None) or next(
        iter(identities), None
    )
    earlier = list(
        Message.objects.filter(ticket=ticket, pk__lt=message.pk)
        .exclude(platform_message_id="")
        .exclude(kind="note")
        .order_by("pk")
        .values_list("platform_message_id", flat=True)
    )
    files = tuple(
        OutboundFile(filename=a.filename, content_type=a.content_type, content=a.file.read() if a.file else b"")
        for a in message.attachments.all()
    )
    sender = message.author_user.get_full_name() if message.author_user else ""
    return OutboundMessage(
        text=message.text,
        recipient_id=identity.external_id if identity else "",
        thread_key=ticket.external_thread_key,
        kind=message.kind,
        is_public=message.is_public,
        reply_to_platform_id=message.reply_to_platform_id,
        references=tuple(earlier if len(earlier) <= 20 else earlier[:1] + earlier[-19:]),  # the root and the latest
        subject=ticket.subject,
        recipient_email=contact.email,
        recipient_name=contact.name,
        sender_name=sender,
        attachments=files,
        local_ref=str(message.local_ref),
        idempotency_key=str(message.local_ref),
        automated=message.automated,
        template=_template_choice(message.template),
    )


def _template_choice(template: dict | None) -> TemplateChoice | None:
    """Message.template ({"name", "language", "parameters"}) as the connector takes it (WhatsApp templates)."""
    if not template:
        return None
    return TemplateChoice(
        name=template["name"], language=template["language"], parameters=tuple(template.get("parameters") or ())
    )


class ReplyIntent(OutboundIntent):
    """A queued reply (an outbound Message), as the gateway's exactly-once helper handles it."""

    def __init__(self, organization: Organization, message_id: int):
        self.organization = organization
        self.message_id = message_id
        self.message: Message | None = None

    def _locked(self) -> Message:
        return (
            Message.objects.select_for_update(of=("self",))
            .select_related("connection", "ticket__contact", "author_user")
            .get(pk=self.message_id, direction=Direction.OUTBOUND)
        )

    def claim(self) -> Claimed:
        self.message = message = self._locked()
        return Claimed(
            state=message.delivery_state,
            claimed_at=message.send_claimed_at,
            attempts=message.send_attempts,
            connection=message.connection,
            record=message,
        )

    def mark_sending(self, now) -> None:
        message = self.message
        message.delivery_state = DeliveryState.SENDING
        message.send_claimed_at = now
        message.send_attempts += 1
        message.save(update_fields=["delivery_state", "send_claimed_at", "send_attempts"])

    def prepare(self) -> OutboundMessage:
        return _outbound_for(self.message)

    def call(self, connector, connection, prepared: OutboundMessage):
        return connector.send(connection, prepared)

    def sent(self, result) -> None:
        message = self._locked()
        message_delivery_set(
            organization=self.organization,
            message=message,
            state=DeliveryState.SENT,
            platform_message_id=result.platform_message_id,
            platform_timestamp=result.sent_at or timezone.now(),
        )
        if message.platform_message_id:
            organization, connection, platform_id = self.organization, message.connection, message.platform_message_id
            transaction.on_commit(
                lambda: receipts_held_apply(
                    organization=organization, connection=connection, platform_message_id=platform_id
                )
            )

    def failed(self, error: str) -> None:
        logger.warning("message %s failed: %s", self.message_id, error)
        message_delivery_set(
            organization=self.organization, message=self._locked(), state=DeliveryState.FAILED, error=error
        )

    def requeue(self, retry_in: int) -> None:
        Message.objects.filter(pk=self.message_id, delivery_state=DeliveryState.SENDING).update(
            delivery_state=DeliveryState.QUEUED,
            send_claimed_at=None,
            send_retry_at=timezone.now() + timedelta(seconds=retry_in),
        )


def message_send(*, organization: Organization, message_id: int) -> Outcome:
    """Send one queued reply through its channel, exactly once (the send task calls this)."""
    return deliver_once(organization=organization, intent=ReplyIntent(organization, message_id))


# How far each state is along the way: a receipt only ever moves a message forward ("read" after "delivered").
_PROGRESS = {
    DeliveryState.QUEUED: 0,
    DeliveryState.SENDING: 1,
    DeliveryState.SENT: 2,
    DeliveryState.DELIVERED: 3,
    DeliveryState.READ: 4,
}


@transaction.atomic
def message_delivery_update(
    *, organization: Organization, connection: ChannelConnection, update: DeliveryUpdate
) -> bool:
    """A receipt (delivered, read) or a bounce (failed) for one of our outbound messages. States only move forward:
    a late "delivered" never overwrites "read" or a bounce."""
    if update.up_to is not None and update.state in (DeliveryState.DELIVERED, DeliveryState.READ):
        return _receipt_up_to(organization, connection, update) > 0
    if not update.platform_message_id:
        return False  # never matches a reply still waiting for its id (stored as "")
    locked = (
        Message.objects.select_for_update(of=("self",))
        .select_related("ticket")
        .filter(connection=connection, platform_message_id=update.platform_message_id, direction=Direction.OUTBOUND)
    )
    message = locked.first()
    if message is None:
        # Perhaps ours, its send not recorded yet: held for the send to apply, then looked for once more (the send
        # looks for held receipts after its commit, so one of the two sees the other).
        _receipt_hold(connection, update)
        message = locked.first()  # a queryset runs again on each call
        if message is None:
            return False
    if update.state == DeliveryState.FAILED:
        if message.delivery_state == DeliveryState.FAILED:
            return False
    elif message.delivery_state not in _PROGRESS or _PROGRESS[message.delivery_state] >= _PROGRESS[update.state]:
        return False
    message_delivery_set(organization=organization, message=message, state=update.state, error=update.error)
    return True


def _receipt_up_to(organization: Organization, connection: ChannelConnection, update: DeliveryUpdate) -> int:
    """A watermark receipt: our messages in the thread, sent at or before `up_to`, are delivered (or read) — the
    newest hundred: older ones were settled by earlier receipts."""
    sent, target = _PROGRESS[DeliveryState.SENT], _PROGRESS[update.state]
    before = [state for state, rank in _PROGRESS.items() if sent <= rank < target]
    messages = list(
        Message.objects.select_for_update(of=("self",))
        .select_related("ticket")
        .annotate(sent_at=Coalesce("platform_timestamp", "created_at"))
        .filter(
            connection=connection,
            ticket__external_thread_key=update.thread_key,
            direction=Direction.OUTBOUND,
            delivery_state__in=before,
            sent_at__lte=update.up_to,
        )
        .order_by("-pk")[:100]
    )
    for message in messages:
        message_delivery_set(organization=organization, message=message, state=update.state)
    return len(messages)


# A receipt can overtake our own record of the send: the platform answers the send call and posts its first status
# webhook at once (WhatsApp does), and another worker can ingest that webhook before the sending worker has committed
# the message's platform id. Such a receipt is held in Redis for a while and applied when the send is recorded;
# a receipt for a message we never sent (another app on the same number) just expires.
EARLY_RECEIPT_TTL = 600
_HELD_STATES = (DeliveryState.DELIVERED, DeliveryState.READ, DeliveryState.FAILED)  # applied in this order


def _held_key(connection_id: int, platform_message_id: str, state: str) -> str:
    digest = hashlib.sha256(platform_message_id.encode()).hexdigest()[:32]  # platform ids are long and free-form
    return f"early-receipt:{connection_id}:{digest}:{state}"


def _receipt_hold(connection: ChannelConnection, update: DeliveryUpdate) -> None:
    cache.set(_held_key(connection.pk, update.platform_message_id, update.state), update.error, EARLY_RECEIPT_TTL)


def receipts_held_apply(*, organization: Organization, connection: ChannelConnection, platform_message_id: str) -> int:
    """Apply the receipts that came before the send of `platform_message_id` was recorded. Returns how many moved
    the message on."""
    keys = {state: _held_key(connection.pk, platform_message_id, state) for state in _HELD_STATES}
    held = cache.get_many(list(keys.values()))
    if not held:
        return 0
    cache.delete_many(list(held))
    logger.info("%d receipt(s) for %s came before its send was recorded", len(held), platform_message_id)
    applied = 0
    for state, key in keys.items():
        if key in held:
            update = DeliveryUpdate(platform_message_id=platform_message_id, state=state, error=held[key] or "")
            applied += message_delivery_update(organization=organization, connection=connection, update=update)
    return applied


# A reply still queued this long after it was written (never tried) or after its retry was due (a failed attempt)
# lost its send task: the broker was away when the task was to be queued after the commit, or the task was lost.
STRANDED_AFTER = timedelta(minutes=2)
STRANDED_BATCH = 500


def replies_stranded(*, now=None) -> list[tuple[int, int]]:
    """(organization id, message id) of the replies still queued STRANDED_AFTER after they were written (never
    tried) or after their retry was due, every organization's (the beat's safety net,
    tickets.tasks.send_stranded_replies), read from the small index of queued replies."""
    now = now or timezone.now()
    before = now - STRANDED_AFTER
    with scopes_disabled():
        return list(
            Message.objects.filter(
                Q(send_attempts=0, created_at__lt=before) | Q(send_attempts__gt=0, send_retry_at__lt=before),
                delivery_state=DeliveryState.QUEUED,
            )
            .order_by("created_at")
            .values_list("organization_id", "pk")[:STRANDED_BATCH]
        )
