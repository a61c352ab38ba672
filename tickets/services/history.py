"""A ticket's history: one TicketEvent per change, by whom (None: automation)."""

import logging

from accounts.models import User
from tickets.models import (
    Ticket,
    TicketEvent,
)

logger = logging.getLogger("tsunagu.tickets")


def ticket_event_add(ticket: Ticket, actor: User | None, kind: str, old, new) -> TicketEvent:
    return TicketEvent.objects.create(
        organization_id=ticket.organization_id, ticket=ticket, actor=actor, kind=kind, old=old, new=new
    )
