"""Private notes on a ticket, with @mentions that notify members."""

import logging
import re

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Membership, Organization, User
from channels_integrations.permissions import members_who_see_connection
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
def note_add(
    *,
    organization: Organization,
    actor: User | None,
    ticket: Ticket,
    text: str,
    mention_ids: list[int] = (),
    rule: str = "",
) -> Message:
    """A private note. It mentions the members picked by id (the composer's autocomplete: names in any script, as
    `@高橋` or `@managerさん` cannot be told apart from the words after them) and, for API clients and rules, those
    named as @local-part or @full@address. Only members who may see the ticket's channel can be mentioned; each is
    notified. `actor=None` is a note written by an automation rule, named by `rule` in the notifications."""
    text = (text or "").strip()
    if not text:
        raise DomainError(_("Write something first."), field="text")
    mentioned = _mentionable(ticket, set(mention_ids) | {user.pk for user in _mentioned_by_address(text)})
    unknown = set(mention_ids) - {user.pk for user in mentioned}
    if unknown:
        raise DomainError(_("Only colleagues who can see this ticket can be mentioned."), field="mentions")
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
    note.mentions.set(mentioned)
    for user in mentioned:
        if user != actor:
            notify_about_ticket(
                organization=organization,
                user_id=user.pk,
                kind="mentioned",
                ticket=ticket,
                params={"actor": actor} if actor else {"automated": True, "rule": rule},
            )
    ticket_message_update(ticket, {}, document, timezone.now())
    publish_message(organization, ticket, note)
    return note


def mentionable_members(ticket: Ticket, *, query: str = "", limit: int = 8) -> list[User]:
    """Colleagues a note on this ticket may mention: members who may see its channel, whose name or address holds
    `query` (any script; "高橋" finds 高橋 誠), by name."""
    members = list(Membership.objects.select_related("role", "user").filter(user__is_active=True))
    allowed = members_who_see_connection(ticket.connection_id, members)
    users = User.objects.filter(pk__in=allowed)
    if query:
        users = users.filter(Q(name__icontains=query) | Q(email__istartswith=query))
    return list(users.order_by("name", "email")[:limit])


def _mentionable(ticket: Ticket, user_ids: set[int]) -> list[User]:
    if not user_ids:
        return []
    members = list(Membership.objects.select_related("role").filter(user_id__in=user_ids))
    allowed = members_who_see_connection(ticket.connection_id, members)
    return list(User.objects.filter(pk__in=allowed).order_by("pk"))


def _mentioned_by_address(text: str) -> list[User]:
    """Members named as @local-part or @full@address in the text."""
    handles = {h.lower() for h in re.findall(r"@([\w.+-]+(?:@[\w.-]+)?)", text)}
    if not handles:
        return []
    match = Q()
    for handle in handles:
        match |= Q(email__iexact=handle) if "@" in handle else Q(email__istartswith=f"{handle}@")
    member_ids = Membership.objects.values("user_id")
    return list(User.objects.filter(match, pk__in=member_ids))
