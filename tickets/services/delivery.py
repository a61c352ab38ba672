"""Delivering our messages to customers: sending a queued reply through the gateway's exactly-once helper
(channels_integrations.outbound), and its delivery state (queued, sending, sent, delivered, failed) kept up to date
live."""

import logging

from django.utils import timezone

from accounts.models import Organization
from channels_integrations.connector import OutboundFile, OutboundMessage, TemplateChoice
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

    def failed(self, error: str) -> None:
        logger.warning("message %s failed: %s", self.message_id, error)
        message_delivery_set(
            organization=self.organization, message=self._locked(), state=DeliveryState.FAILED, error=error
        )

    def requeue(self) -> None:
        Message.objects.filter(pk=self.message_id, delivery_state=DeliveryState.SENDING).update(
            delivery_state=DeliveryState.QUEUED, send_claimed_at=None
        )


def message_send(*, organization: Organization, message_id: int) -> Outcome:
    """Send one queued reply through its channel, exactly once (the send task calls this)."""
    return deliver_once(organization=organization, intent=ReplyIntent(organization, message_id))
