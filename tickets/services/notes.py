"""Private notes on a ticket, with @mentions that notify members."""

import logging
import re

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Membership, Organization, User
from core.errors import DomainError
from tickets.events import publish_message
from tickets.models import (
    Direction,
    Message,
    MessageKind,
    Ticket,
)
from tickets.notifications import notify_about_ticket
from tickets.search import document_expression, index_document
from tickets.services.ingest import ticket_message_update

logger = logging.getLogger("tsunagu.tickets")


@transaction.atomic
def note_add(*, organization: Organization, actor: User | None, ticket: Ticket, text: str) -> Message:
    """A private note; @mentions of members (by email local part or full email) notify them. `actor=None` is a note
    written by an automation rule."""
    text = (text or "").strip()
    if not text:
        raise DomainError(_("Write something first."), field="text")
    document = index_document(text)
    note = Message.objects.create(
        organization=organization,
        ticket=ticket,
        connection_id=ticket.connection_id,
        direction=Direction.OUTBOUND,
        kind=MessageKind.NOTE,
        author_user=actor,
        automated=actor is None,
        text=text,
        search_vector=document_expression(document),
    )
    mentioned = _mentioned_members(text)
    note.mentions.set(mentioned)
    for user in mentioned:
        if user != actor:
            notify_about_ticket(
                organization=organization,
                user_id=user.pk,
                kind="mentioned",
                ticket=ticket,
                params={"actor": actor} if actor else {"automated": True},
            )
    ticket_message_update(ticket, {}, document, timezone.now())
    publish_message(organization, ticket, note)
    return note


def _mentioned_members(text: str) -> list[User]:
    """Members named as @local-part or @full@address in the text."""
    handles = {h.lower() for h in re.findall(r"@([\w.+-]+(?:@[\w.-]+)?)", text)}
    if not handles:
        return []
    match = Q()
    for handle in handles:
        match |= Q(email__iexact=handle) if "@" in handle else Q(email__istartswith=f"{handle}@")
    member_ids = Membership.objects.values("user_id")
    return list(User.objects.filter(match, pk__in=member_ids))
