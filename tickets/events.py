"""Real-time events of the tickets app: their types, who hears about them, and their payloads. Every service that
changes a ticket or a message publishes through these builders (core.realtime, after commit)."""

from accounts.models import Organization
from core import realtime
from tickets.models import DONE_STATUSES, Message, Ticket

TICKET_CREATED = "ticket.created"
TICKET_UPDATED = "ticket.updated"
MESSAGE_CREATED = "message.created"
MESSAGE_UPDATED = "message.updated"


def ticket_groups(ticket: Ticket) -> list[str]:
    """Who hears about a ticket: everyone who may see its connection. Whoever has it open is among them (the
    consumer lets a member view only tickets of connections they see), so the ticket's own group, which carries
    presence and typing, would only deliver every event twice."""
    return [realtime.queue_group(ticket.organization_id, ticket.connection_id)]


def publish_ticket(organization: Organization, ticket: Ticket, type: str = TICKET_UPDATED) -> None:
    realtime.publish(organization=organization, type=type, payload=ticket_payload(ticket), groups=ticket_groups(ticket))


def publish_message(organization: Organization, ticket: Ticket, message: Message) -> None:
    realtime.publish(
        organization=organization,
        type=MESSAGE_CREATED,
        payload={"ticket_id": ticket.pk, "message_id": message.pk, "direction": message.direction},
        groups=ticket_groups(ticket),
    )


def publish_message_updated(organization: Organization, message: Message) -> None:
    realtime.publish(
        organization=organization,
        type=MESSAGE_UPDATED,
        payload={"ticket_id": message.ticket_id, "message_id": message.pk, "delivery_state": message.delivery_state},
        groups=ticket_groups(message.ticket),
    )


def sla_payload(ticket: Ticket) -> dict:
    """The SLA part of a ticket's real-time payload."""

    def iso(value):
        return value.isoformat() if value is not None else None

    return {
        "sla_state": ticket.sla_state,
        "sla_paused": ticket.sla_paused_at is not None,
        "first_response_due_at": iso(ticket.first_response_due_at if ticket.first_response_at is None else None),
        "next_response_due_at": iso(ticket.next_response_due_at),
        "resolution_due_at": iso(ticket.resolution_due_at if ticket.status not in DONE_STATUSES else None),
    }


def ticket_payload(ticket: Ticket) -> dict:
    """A ticket's real-time payload: what the inbox's list and panes need to refresh it."""
    return {
        "ticket_id": ticket.pk,
        "number": ticket.number,
        "status": ticket.status,
        "priority": ticket.priority,
        "assignee_id": ticket.assignee_id,
        "team_id": ticket.team_id,
        "connection_id": ticket.connection_id,
        **sla_payload(ticket),
    }
