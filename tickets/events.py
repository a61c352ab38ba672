"""Real-time event types published by the tickets app."""

TICKET_CREATED = "ticket.created"
TICKET_UPDATED = "ticket.updated"
MESSAGE_CREATED = "message.created"
MESSAGE_UPDATED = "message.updated"
