"""The list's keyset pages: read page after page, every ticket comes exactly once and in the sort's order, for every
sort, with ties and empty values; a cursor that is not ours is refused, not a 500."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tickets.models import Ticket
from tickets.selectors import SORTS, TicketFilter, ticket_list, ticket_page
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db


@pytest.fixture
def inbox(tenant_a):
    """23 tickets whose sort values tie in places (same time, same priority) and are missing in others."""
    conn = connection(tenant_a, "email")
    base = timezone.now() - timedelta(days=3)
    with tenant_a.scope():
        for n in range(23):
            message_ingest(
                organization=tenant_a.organization, connection=conn, inbound=inbound(f"m{n}", thread=f"t{n}")
            )
        for n, ticket in enumerate(Ticket.objects.order_by("pk")):
            Ticket.objects.filter(pk=ticket.pk).update(
                last_message_at=base + timedelta(minutes=n // 3),  # three share each time
                priority=["low", "normal", "high", "urgent"][n % 4],
                first_response_due_at=None if n % 5 == 0 else base + timedelta(hours=n % 7),
            )
    return tenant_a


@pytest.mark.parametrize("sort", sorted(SORTS))
def test_pages_cover_the_list_once_in_order(inbox, sort):
    membership = inbox.memberships["manager"]
    with inbox.scope():
        filters = TicketFilter(sort=sort)
        expected = list(ticket_list(membership, filters).values_list("pk", flat=True))
        seen, cursor, pages = [], "", 0
        while True:
            rows, cursor = ticket_page(membership, filters, after=cursor, size=4)
            seen += [row.pk for row in rows]
            pages += 1
            if not cursor:
                break
    assert len(expected) == 23 and seen == expected and pages == 6


@pytest.mark.parametrize("cursor", ["not-base64!", "bnVsbA", "WzEsMl0", "WyJ4IiwgMV0"])
def test_a_cursor_that_is_not_ours_is_refused(inbox, cursor):
    with inbox.scope(), pytest.raises(ValueError):
        ticket_page(inbox.memberships["manager"], TicketFilter(), after=cursor, size=4)


def test_the_list_endpoint_answers_a_bad_cursor_with_400(inbox, login):
    client = login(inbox.users["manager"])
    assert client.get(f"/{inbox.slug}/inbox/list/", {"cursor": "WyJ4IiwgMV0", "rows": "1"}).status_code == 400
