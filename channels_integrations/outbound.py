"""Sending a queued reply through its connector, exactly once.

1. Claim: lock the message; only `queued` messages are sent (a `sent`/`failed` one is never sent again). Mark it
   `sending` with the claim time and commit, so the network call holds no database lock.
2. Send through the connector, outside any transaction.
3. Record the platform's id (`sent`) or the platform's error (`failed`), or put it back to `queued` for a retry on a
   transient error.

A message found `sending` means an earlier attempt died between 1 and 3: the platform may or may not have it.
Platforms with idempotent sends (email: the same Message-ID) are simply sent again; for the others the message is
marked failed with that explanation rather than risk a duplicate — and if the platform did get it, its echo
(carrying our `local_ref`) marks it sent after all."""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organization
from channels_integrations.connector import (
    AuthFailed,
    OutboundFile,
    OutboundMessage,
    SendRejected,
    TransientError,
)
from channels_integrations.models import ChannelConnection, ConnectionStatus
from channels_integrations.registry import connector_for
from tickets.models import DeliveryState, Direction, Message

logger = logging.getLogger("tsunagu.channels.outbound")

MAX_SEND_ATTEMPTS = 8
CLAIM_TIMEOUT = timedelta(minutes=5)  # a claim older than this belongs to a worker that died


@dataclass(frozen=True)
class SendOutcome:
    state: str
    retry_in: int | None = None


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
    )


def message_send(*, organization: Organization, message_id: int) -> SendOutcome:
    from tickets.replies import message_delivery_set

    now = timezone.now()
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(of=("self",))
            .select_related("connection", "ticket__contact", "author_user")
            .get(pk=message_id, direction=Direction.OUTBOUND)
        )
        connection: ChannelConnection = message.connection
        connector = connector_for(connection.platform)
        if message.delivery_state not in (DeliveryState.QUEUED, DeliveryState.SENDING):
            return SendOutcome(message.delivery_state)
        if message.delivery_state == DeliveryState.SENDING:
            if message.send_claimed_at and message.send_claimed_at > now - CLAIM_TIMEOUT:
                return SendOutcome("busy")  # another worker is sending it right now
            if not connector.idempotent_send:
                message_delivery_set(
                    organization=organization,
                    message=message,
                    state=DeliveryState.FAILED,
                    error=_(
                        "Sending was interrupted; the platform may or may not have received this reply. Check the "
                        "conversation on the platform before sending it again."
                    ),
                )
                return SendOutcome(DeliveryState.FAILED)
        if connection.status in (ConnectionStatus.PAUSED, ConnectionStatus.DISCONNECTED, ConnectionStatus.NEEDS_REAUTH):
            message_delivery_set(
                organization=organization,
                message=message,
                state=DeliveryState.FAILED,
                error=_("The channel is %(status)s; the reply was not sent.")
                % {"status": connection.get_status_display().lower()},
            )
            return SendOutcome(DeliveryState.FAILED)
        message.delivery_state = DeliveryState.SENDING
        message.send_claimed_at = now
        message.send_attempts += 1
        message.save(update_fields=["delivery_state", "send_claimed_at", "send_attempts"])
        outbound = _outbound_for(message)
        attempts = message.send_attempts

    try:
        result = connector.send(connection, outbound)
    except TransientError as exc:
        if attempts >= MAX_SEND_ATTEMPTS:
            return _fail(organization, message_id, _("The platform kept failing: %(error)s") % {"error": exc.message})
        wait = int(exc.retry_after or min(10 * 2**attempts, 900))
        logger.warning("send of message %s failed for now (%s); retry in %ss", message_id, exc, wait)
        with transaction.atomic():
            Message.objects.filter(pk=message_id, delivery_state=DeliveryState.SENDING).update(
                delivery_state=DeliveryState.QUEUED, send_claimed_at=None
            )
        return SendOutcome(DeliveryState.QUEUED, retry_in=wait)
    except AuthFailed as exc:
        from channels_integrations.services import connection_auth_failed

        connection_auth_failed(organization=organization, connection_id=connection.pk, error=exc.message or str(exc))
        return _fail(
            organization, message_id, _("The channel needs to be connected again: %(error)s") % {"error": exc.message}
        )
    except SendRejected as exc:
        return _fail(organization, message_id, exc.message or exc.code)
    except Exception as exc:  # a bug or an unexpected answer: fail visibly rather than retry into duplicates
        logger.exception("send of message %s crashed", message_id)
        return _fail(
            organization, message_id, _("Sending failed unexpectedly (%(error)s).") % {"error": type(exc).__name__}
        )

    with transaction.atomic():
        message = Message.objects.select_for_update(of=("self",)).select_related("ticket").get(pk=message_id)
        message_delivery_set(
            organization=organization,
            message=message,
            state=DeliveryState.SENT,
            platform_message_id=result.platform_message_id,
            platform_timestamp=result.sent_at or timezone.now(),
        )
    return SendOutcome(DeliveryState.SENT)


def _fail(organization: Organization, message_id: int, error: str) -> SendOutcome:
    from tickets.replies import message_delivery_set

    logger.warning("message %s failed: %s", message_id, error)
    with transaction.atomic():
        message = Message.objects.select_for_update(of=("self",)).select_related("ticket").get(pk=message_id)
        message_delivery_set(organization=organization, message=message, state=DeliveryState.FAILED, error=error)
    return SendOutcome(DeliveryState.FAILED)
