"""Merging two tickets of one customer, and splitting a message off into a ticket of its own."""

import logging

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organization, User
from core.errors import DomainError
from tickets.automation_hooks import automation
from tickets.events import TICKET_CREATED, TICKET_UPDATED, publish_ticket
from tickets.models import (
    Direction,
    Message,
    Ticket,
    TicketEventKind,
    TicketStatus,
)
from tickets.search import append_expression, vector_expression
from tickets.services.history import ticket_event_add
from tickets.services.numbers import ticket_numbers_next

logger = logging.getLogger("tsunagu.tickets")


@transaction.atomic
def ticket_merge(*, organization: Organization, actor: User, source: Ticket, target: Ticket) -> Ticket:
    """Move every message of `source` into `target` (same customer) and close `source` as merged."""
    if source.pk == target.pk:
        raise DomainError(_("A ticket cannot be merged into itself."), field="target")
    first, second = sorted([source.pk, target.pk])
    locked = {t.pk: t for t in Ticket.objects.select_for_update().filter(pk__in=[first, second]).order_by("pk")}
    source, target = locked[source.pk], locked[target.pk]
    if source.contact_id != target.contact_id:
        raise DomainError(_("Only tickets of the same customer can be merged."), field="target")
    if source.merged_into_id or target.merged_into_id:
        raise DomainError(_("This ticket was already merged."), field="target")
    moved = Message.objects.filter(ticket=source).update(ticket=target)
    latest = max(filter(None, [source.last_message_at, target.last_message_at]), default=None)
    Ticket.objects.filter(pk=target.pk).update(
        last_message_at=latest,
        updated_at=timezone.now(),
        search_vector=append_expression("search_vector", source.subject),
    )
    source.merged_into = target
    source.status = TicketStatus.CLOSED
    source.status_changed_at = timezone.now()
    source.save(update_fields=["merged_into", "status", "status_changed_at", "updated_at"])
    automation().ticket_merged(organization=organization, source=source, target=target)
    ticket_event_add(source, actor, TicketEventKind.MERGE, None, {"into": target.number})
    ticket_event_add(target, actor, TicketEventKind.MERGE, {"from": source.number, "messages": moved}, None)
    for ticket in (source, target):
        publish_ticket(organization, ticket)
    return target


@transaction.atomic
def message_split(*, organization: Organization, actor: User, message: Message) -> Ticket:
    """Move one customer message into a ticket of its own (same customer and channel)."""
    ticket = Ticket.objects.select_for_update().get(pk=message.ticket_id)
    if message.direction != Direction.INBOUND:
        raise DomainError(_("Only a customer's message can be split into its own ticket."))
    if not Message.objects.filter(ticket=ticket).exclude(pk=message.pk).exists():
        raise DomainError(_("This is the ticket's only message."))
    new = Ticket.objects.create(
        organization=organization,
        number=ticket_numbers_next(organization, 1)[0],
        connection_id=ticket.connection_id,
        contact_id=ticket.contact_id,
        subject=message.text.strip().splitlines()[0][:300] if message.text.strip() else "",
        external_thread_key=f"{ticket.external_thread_key}#split-{message.pk}",
        priority=ticket.priority,
        last_message_at=message.created_at,
        last_customer_message_at=message.created_at,
        search_vector=vector_expression(message.text),
    )
    Message.objects.filter(pk=message.pk).update(ticket=new)
    automation().ticket_split(
        organization=organization, ticket=ticket, new=Ticket.objects.select_for_update().get(pk=new.pk)
    )
    ticket_event_add(new, actor, TicketEventKind.SPLIT, {"from": ticket.number}, None)
    ticket_event_add(ticket, actor, TicketEventKind.SPLIT, None, {"into": new.number})
    for changed in (ticket, new):
        publish_ticket(organization, changed, TICKET_CREATED if changed is new else TICKET_UPDATED)
    return new
