"""Snooze hides a ticket until it wakes (by time or by the customer), merge joins two tickets of one customer,
split moves one message into its own ticket."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import DomainError
from tickets import selectors
from tickets.models import Message, Ticket
from tickets.services.changes import ticket_snooze, tickets_wake_snoozed
from tickets.services.ingest import message_ingest
from tickets.services.merge import ticket_merge
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db


def _ingest(tenant, conn, text, **kw):
    with tenant.scope():
        return message_ingest(organization=tenant.organization, connection=conn, inbound=inbound(text, **kw))[0]


def _listed(tenant, role="manager", **query):
    with tenant.scope():
        f = selectors.TicketFilter.from_query(query)
        return set(selectors.ticket_list(tenant.memberships[role], f).values_list("pk", flat=True))


def test_snoozed_tickets_leave_the_working_views_until_they_wake(tenant_a):
    conn = connection(tenant_a)
    message = _ingest(tenant_a, conn, "later please", thread="s")
    with tenant_a.scope():
        ticket_snooze(
            organization=tenant_a.organization,
            actor=tenant_a.users["agent"],
            ticket=message.ticket,
            until=timezone.now() + timedelta(hours=1),
        )
    assert message.ticket_id not in _listed(tenant_a)
    assert message.ticket_id in _listed(tenant_a, view="snoozed")
    with tenant_a.scope():
        Ticket.objects.filter(pk=message.ticket_id).update(snoozed_until=timezone.now() - timedelta(seconds=1))
        assert tickets_wake_snoozed(organization=tenant_a.organization) == 1
    assert message.ticket_id in _listed(tenant_a)


def test_a_customer_message_wakes_a_snoozed_ticket(tenant_a):
    conn = connection(tenant_a)
    message = _ingest(tenant_a, conn, "one", thread="w")
    with tenant_a.scope():
        ticket_snooze(
            organization=tenant_a.organization,
            actor=tenant_a.users["agent"],
            ticket=message.ticket,
            until=timezone.now() + timedelta(days=1),
        )
    _ingest(tenant_a, conn, "are you there?", thread="w")
    assert message.ticket_id in _listed(tenant_a)


def test_merge_moves_messages_and_closes_the_source(tenant_a):
    line, mail = connection(tenant_a, "line"), connection(tenant_a, "email")
    a = _ingest(tenant_a, line, "LINEで質問", thread="m1", author="same")
    with tenant_a.scope():
        contact = a.ticket.contact
        from tickets.models import ContactIdentity

        ContactIdentity.objects.create(
            organization=tenant_a.organization, contact=contact, platform="email", external_id="same@example.com"
        )
    b = _ingest(tenant_a, mail, "メールでも質問", thread="m2", author="same@example.com")
    other = _ingest(tenant_a, line, "someone else", thread="m3", author="other")
    with tenant_a.scope():
        target = ticket_merge(
            organization=tenant_a.organization, actor=tenant_a.users["agent"], source=b.ticket, target=a.ticket
        )
        assert set(Message.objects.filter(ticket=target).values_list("text", flat=True)) == {
            "LINEで質問",
            "メールでも質問",
        }
        source = Ticket.objects.get(pk=b.ticket_id)
        assert source.merged_into_id == target.pk and source.status == "closed"
        with pytest.raises(DomainError):
            ticket_merge(
                organization=tenant_a.organization, actor=tenant_a.users["agent"], source=other.ticket, target=target
            )
    assert b.ticket_id not in _listed(tenant_a, status="closed")  # merged tickets leave every list


def test_split_moves_one_message_into_a_new_ticket(tenant_a, login):
    conn = connection(tenant_a)
    first = _ingest(tenant_a, conn, "注文について", thread="sp")
    second = _ingest(tenant_a, conn, "別件ですが、請求書について", thread="sp")
    client = login(tenant_a.users["agent"])
    from accounts import services as account_services

    with tenant_a.scope():
        account_services.connection_access_set(
            organization=tenant_a.organization,
            actor=tenant_a.users["owner"],
            connection=conn,
            users=[tenant_a.users["agent"]],
        )
    response = client.post(f"/{tenant_a.slug}/inbox/tickets/{first.ticket_id}/messages/{second.pk}/split/")
    assert response.status_code == 200 and "別件ですが" in response.content.decode()
    with tenant_a.scope():
        moved = Message.objects.get(pk=second.pk)
        assert moved.ticket_id != first.ticket_id and moved.ticket.subject == "別件ですが、請求書について"
        assert moved.ticket.contact_id == first.ticket.contact_id
    # The only message of a ticket cannot be split off.
    response = client.post(f"/{tenant_a.slug}/inbox/tickets/{moved.ticket_id}/messages/{second.pk}/split/")
    assert response.status_code == 400


def test_snooze_view_uses_presets(tenant_a, login):
    conn = connection(tenant_a)
    message = _ingest(tenant_a, conn, "x", thread="p")
    client = login(tenant_a.users["manager"])
    url = f"/{tenant_a.slug}/inbox/tickets/{message.ticket_id}/snooze/"
    assert client.post(url, {"until": "tomorrow"}).status_code == 200
    with tenant_a.scope():
        woke_at = timezone.localtime(
            Ticket.objects.get(pk=message.ticket_id).snoozed_until, __import__("zoneinfo").ZoneInfo("Asia/Tokyo")
        )
    assert (woke_at.hour, woke_at.minute) == (9, 0)
    assert client.post(url, {"until": "yesterday"}).status_code == 400
