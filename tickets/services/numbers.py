"""Ticket numbers: #1, #2, … per organization."""

import logging

from django.db import IntegrityError, ProgrammingError, transaction
from django.db import connection as db_connection
from django.db.models import Max

from accounts.models import Organization
from tickets.models import (
    Ticket,
)

logger = logging.getLogger("tsunagu.tickets")


def ticket_numbers_next(organization: Organization, count: int) -> list[int]:
    """The organization's next ticket numbers (#1, #2, …) from its own PostgreSQL sequence. nextval() holds no lock
    until commit, so new conversations of one organization are not serialized; a rolled-back ticket leaves a gap."""
    name = f"tickets_number_org_{int(organization.pk)}"  # created for existing organizations by migration 0004
    with db_connection.cursor() as cursor:
        try:
            with transaction.atomic():
                cursor.execute("SELECT nextval(%s) FROM generate_series(1, %s)", [name, count])
                return [row[0] for row in cursor.fetchall()]
        except ProgrammingError:  # the organization's first ticket: create its sequence after the highest number
            start = (Ticket.objects.aggregate(top=Max("number"))["top"] or 0) + 1
            try:
                with transaction.atomic():
                    cursor.execute(f'CREATE SEQUENCE IF NOT EXISTS "{name}" START {int(start)}')
            except IntegrityError:
                # Two first tickets at once (API clients in parallel): IF NOT EXISTS does not cover a concurrent
                # creation, whose catalog row wins; its sequence is used.
                pass
            cursor.execute("SELECT nextval(%s) FROM generate_series(1, %s)", [name, count])
            return [row[0] for row in cursor.fetchall()]
