"""Automatic replies: the rule action "send an automatic reply", and each channel's auto-responses (out of business
hours; acknowledging a new conversation).

They are real replies through the channel (queued, sent by the outbound task, delivery tracked) marked `automated`:
they do not count as the agent's first response for the SLA and do not move the ticket out of "new".
Auto-responses never answer a public comment (the whole page would see a canned text), never the organization's own
accounts (two connected mailboxes would answer each other forever), and reach a contact at most once per window per
channel and kind (checked under a lock on the contact, so concurrent messages cannot both send).

No automatic text answers an email whose sender failed DMARC (or had no single From domain): its From address is
probably forged, and the answer would go to someone who never wrote (backscatter, and a way to make us mail anyone)."""

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organization
from automation.models import AutoResponse, AutoResponseKind, AutoResponseSent
from automation.setup_cache import cached_setup
from automation.sla.calendar import default_calendar_spec, is_open, spec_for
from channels_integrations.models import ChannelConnection
from core.batch_reads import cached
from core.errors import DomainError
from tickets.canned import pick_variant, render_canned
from tickets.models import CannedResponse, Contact, Direction, Message, MessageKind, Ticket
from tickets.services.replies import message_reply

logger = logging.getLogger("tsunagu.tickets")

# Conversations an automatic text may answer: private ones.
PRIVATE_KINDS = {MessageKind.DIRECT, MessageKind.EMAIL, MessageKind.CHAT, MessageKind.FORM}


class SenderNotVerified(DomainError):
    """The message an automatic reply would answer failed sender authentication."""


def send_canned_automatically(
    *, organization: Organization, ticket: Ticket, response: CannedResponse, answering: Message | None = None
) -> Message:
    """Send a shared canned response to the ticket's customer, in their language when the response has it.
    `answering` is the customer message that set it off (else the ticket's latest one): every automatic reply,
    the channel's and the rules', passes here, so this is where a forged sender is refused."""
    if answering is None:
        answering = (
            Message.objects.filter(ticket=ticket, direction=Direction.INBOUND).order_by("-created_at", "-pk").first()
        )
    verdict = ((answering.sender_authentication or {}) if answering is not None else {}).get("verdict")
    if verdict == "fail":
        raise SenderNotVerified(_("The sender's address could not be verified (DMARC failed): no automatic reply."))
    variant = pick_variant(response, ticket=ticket)
    if variant is None:
        raise DomainError("the canned response has no text")
    text = render_canned(variant.body, ticket=ticket, agent=None)
    return message_reply(organization=organization, actor=None, ticket=ticket, text=text, automated=True)


def _own_account(connection: ChannelConnection, contact: Contact, author_external_id: str) -> bool:
    """Is the author one of the organization's own connected accounts? (Read once per ingest batch: every new
    conversation of the batch asks.)"""
    own_lower = cached(
        ("own_accounts", connection.organization_id),
        lambda: {
            value.lower() for value in ChannelConnection.objects.values_list("external_account_id", flat=True) if value
        },
    )
    return author_external_id.lower() in own_lower or bool(contact.email and contact.email.lower() in own_lower)


def auto_respond(
    *, organization: Organization, ticket: Ticket, message: Message, created: bool, author_external_id: str
) -> Message | None:
    """After a customer message is stored (same transaction): the channel's out-of-hours reply when the business is
    closed, else its first-contact acknowledgement when the message opened a new conversation. At most one."""
    if message.direction != Direction.INBOUND or message.kind not in PRIVATE_KINDS:
        return None
    configured = cached_setup(
        ticket.organization_id,
        ("auto_responses", ticket.connection_id),
        lambda: {
            a.kind: a
            for a in AutoResponse.objects.filter(connection_id=ticket.connection_id, enabled=True)
            .select_related("response", "calendar")
            .prefetch_related("response__variants")
        },
    )
    if not configured:
        return None
    choice = None
    out_of_hours = configured.get(AutoResponseKind.OUT_OF_HOURS)
    if out_of_hours is not None and not _open_now(organization, out_of_hours):
        choice = out_of_hours
    elif created and AutoResponseKind.FIRST_CONTACT in configured:
        choice = configured[AutoResponseKind.FIRST_CONTACT]
    if choice is None:
        return None
    contact = Contact.objects.select_for_update().get(pk=ticket.contact_id)  # serializes this contact's checks
    if _own_account(ticket.connection, contact, author_external_id):
        logger.info("no auto-response on ticket %s: the author is one of our own accounts", ticket.pk)
        return None
    now = timezone.now()
    recent = AutoResponseSent.objects.filter(
        contact=contact,
        connection_id=ticket.connection_id,
        kind=choice.kind,
        sent_at__gt=now - timedelta(hours=choice.window_hours),
    ).exists()
    if recent:
        return None
    try:
        with transaction.atomic():
            reply = send_canned_automatically(
                organization=organization, ticket=ticket, response=choice.response, answering=message
            )
    except DomainError as exc:  # the channel cannot send now (paused, outside the platform's window…)
        logger.warning("auto-response %s on ticket %s not sent: %s", choice.kind, ticket.pk, exc)
        return None
    AutoResponseSent.objects.create(
        organization=organization,
        contact=contact,
        connection_id=ticket.connection_id,
        kind=choice.kind,
        message=reply,
        sent_at=now,
    )
    return reply


def _open_now(organization: Organization, auto_response: AutoResponse) -> bool:
    if auto_response.calendar is not None:
        spec = spec_for(auto_response.calendar, organization)
    else:
        spec = default_calendar_spec(organization)
    return True if spec is None else is_open(timezone.now(), spec)
