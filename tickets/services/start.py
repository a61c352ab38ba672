"""An agent starts a conversation: a follow-up by mail after a phone call, a note to a customer who has not written.
The ticket, its customer and the first message are stored together; the message goes out like any reply (queued,
then sent exactly once by the outbound task, its delivery state kept live), and the customer's answer threads back
into this ticket (email: their reply names our Message-ID, which ingest's thread hints look up).

Only channels whose connector `can_initiate` may start one: email does; Messenger and Instagram cannot write to
someone first (their Send API answers the customer's own message within its 24-hour window)."""

import logging
import uuid

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Membership, Organization, User
from channels_integrations.connector import ReplyContext
from channels_integrations.models import ChannelConnection, ConnectionStatus
from channels_integrations.permissions import members_who_see_connection
from channels_integrations.registry import connector_for, has_connector
from core.errors import DomainError, NotAllowed
from tickets.events import TICKET_CREATED, publish_message, publish_ticket
from tickets.models import (
    Contact,
    DeliveryState,
    Direction,
    Message,
    MessageKind,
    Ticket,
    TicketEventKind,
    TicketStatus,
)
from tickets.search import document_expression, index_document, vector_expression
from tickets.services.contacts import Author, contacts_for_authors
from tickets.services.history import ticket_event_add
from tickets.services.numbers import ticket_numbers_next
from tickets.tasks import send_message

logger = logging.getLogger("tsunagu.tickets")

SUBJECT_MAX = 300  # Ticket.subject


def can_start_on(connection: ChannelConnection) -> bool:
    """Whether a conversation may be started on this channel now: its connector can write first and the channel
    is sending (active, or in error but still trying, as for replies)."""
    return (
        has_connector(connection.platform)
        and connector_for(connection.platform).can_initiate
        and connection.status in (ConnectionStatus.ACTIVE, ConnectionStatus.ERROR)
    )


@transaction.atomic
def conversation_start(
    *,
    organization: Organization,
    actor: User,
    connection: ChannelConnection,
    email: str,
    name: str = "",
    subject: str,
    text: str,
) -> Ticket:
    """Start a conversation with the customer at `email` on `connection`: find or create the contact (by their
    address on that channel), open a ticket assigned to `actor` and queue its first message, sent after commit.

    The ticket is open (the agent has written; the customer's answer keeps it open), and no automation runs on it:
    the "ticket created" rules, auto-responses and SLA clocks react to a customer's message, which this is not.
    `actor` must be granted the channel (as an assignee must); the view answers 403 before it gets here. Raises
    DomainError (with the field), NotAllowed."""
    email = (email or "").strip()
    name = (name or "").strip()[:200]
    subject = " ".join((subject or "").split())
    text = (text or "").replace("\r\n", "\n").strip()
    membership = Membership.objects.select_related("role").filter(organization=organization, user=actor).first()
    if membership is None or actor.pk not in members_who_see_connection(connection.pk, [membership]):
        raise NotAllowed(_("You have no access to this channel."), field="channel")
    if not has_connector(connection.platform) or not connector_for(connection.platform).can_initiate:
        raise DomainError(
            _("Conversations cannot be started on %(name)s: the platform lets a business only answer its customers.")
            % {"name": connection.display_name},
            field="channel",
            code="cannot_initiate",
        )
    if not can_start_on(connection):
        raise DomainError(
            _("The channel %(name)s is %(status)s; nothing can be sent until it is active again.")
            % {"name": connection.display_name, "status": connection.get_status_display().lower()},
            field="channel",
            code="channel_unavailable",
        )
    try:
        validate_email(email)
    except ValidationError as exc:
        raise DomainError(_("Enter the customer's email address, like name@example.com."), field="email") from exc
    if not subject:
        raise DomainError(_("Write a subject: it is the first thing the customer reads."), field="subject")
    if len(subject) > SUBJECT_MAX:
        raise DomainError(
            _("The subject is %(length)d characters long; at most %(max)d fit.")
            % {"length": len(subject), "max": SUBJECT_MAX},
            field="subject",
        )
    connector = connector_for(connection.platform)
    context = ReplyContext(kind=MessageKind.EMAIL, is_public=False, last_customer_message_at=None, now=timezone.now())
    problems = connector.check_reply(connection, context, text, [])
    if problems:
        raise DomainError(" ".join(problems), field="text", code="platform_rule")

    contact = _contact_for(organization, connection.platform, email, name)
    now = timezone.now()
    local_ref = uuid.uuid4()
    ticket = Ticket.objects.create(
        organization=organization,
        number=ticket_numbers_next(organization, 1)[0],
        connection=connection,
        contact=contact,
        subject=subject,
        status=TicketStatus.OPEN,
        status_changed_at=now,
        assignee=actor,
        # Ours until the customer answers: their reply finds this ticket through the Message-ID it names (thread
        # hints), so the key only has to be unique on the channel.
        external_thread_key=f"started:{local_ref}",
        last_message_at=now,
        search_vector=vector_expression(subject, contact.name, text),  # as ingest indexes a ticket
    )
    ticket_event_add(ticket, actor, TicketEventKind.CREATED, None, None)
    message = Message.objects.create(
        organization=organization,
        ticket=ticket,
        connection=connection,
        direction=Direction.OUTBOUND,
        # Every channel that can start a conversation today addresses the customer by email address.
        kind=MessageKind.EMAIL,
        author_user=actor,
        text=text,
        delivery_state=DeliveryState.QUEUED,
        local_ref=local_ref,
        search_vector=document_expression(index_document(text)),
    )
    publish_ticket(organization, ticket, TICKET_CREATED)
    publish_message(organization, ticket, message)
    # robust: the reply is stored whatever happens to its task (Redis away): the sweep of stranded replies sends it.
    transaction.on_commit(
        lambda: send_message.apply_async(
            kwargs={"organization_id": organization.pk, "message_id": message.pk}, queue="outbound"
        ),
        robust=True,
    )
    logger.info("conversation started: ticket %s, message %s queued", ticket.pk, message.pk)
    return ticket


def _contact_for(organization: Organization, platform: str, email: str, name: str) -> Contact:
    """The customer with this address on the channel's platform (the identity ingest gives a mail's sender), or a
    new one. A name typed by the agent names a contact nobody had named; an existing name is kept."""
    address = email.lower()  # as ingest stores a sender: one identity per address, whatever its case
    contact = contacts_for_authors(
        organization=organization, platform=platform, authors=[Author(address, name=name, email=address)]
    )[address]
    if not contact.email:
        Contact.objects.filter(pk=contact.pk).update(email=address)
        contact.email = address
    return contact
