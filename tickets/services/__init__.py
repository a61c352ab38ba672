"""Writes for tickets, one module per concern: ingest (what customers write), changes (status, priority, assignee,
team, tags, snooze), notes, merge and split, replies and their delivery, contacts, a ticket's history and numbers.
Each service runs in one transaction, records TicketEvents and publishes real-time events after commit
(tickets.events). Import a service from its module."""
