"""Every customer message becomes exactly one message in exactly one ticket."""

import threading
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from accounts.services import connection_access_set
from tickets.models import Contact, Message, Ticket, TicketEvent, TicketStatus
from tickets.services.changes import ticket_update
from tickets.services.ingest import message_ingest
from tickets.services.notes import note_add
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db


def _ingest(tenant, conn, message):
    with tenant.scope():
        return message_ingest(organization=tenant.organization, connection=conn, inbound=message)


def test_first_message_opens_a_ticket_and_later_ones_join_it(tenant_a):
    conn = connection(tenant_a)
    first, created = _ingest(tenant_a, conn, inbound("注文した商品がまだ届いていません"))
    second, _ = _ingest(tenant_a, conn, inbound("至急確認してください"))
    assert created
    assert first.ticket_id == second.ticket_id
    with tenant_a.scope():
        ticket = Ticket.objects.get()
        assert ticket.number == 1 and ticket.subject == "注文した商品がまだ届いていません"
        assert ticket.contact.name == "山田 花子" and Contact.objects.count() == 1
        assert [e.kind for e in TicketEvent.objects.all()] == ["created"]


def test_the_same_delivery_twice_is_one_message(tenant_a):
    conn = connection(tenant_a)
    message = inbound("hello", mid="mid.1")
    a, created_a = _ingest(tenant_a, conn, message)
    b, created_b = _ingest(tenant_a, conn, message)
    assert (created_a, created_b) == (True, False) and a.pk == b.pk
    with tenant_a.scope():
        assert Message.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_deliveries_make_one_message_and_one_ticket(tenant_a):
    conn = connection(tenant_a)
    message = inbound("同時に届いたメッセージ", mid="mid.concurrent", thread="t-concurrent")
    barrier = threading.Barrier(10)
    results, errors = [], []

    def deliver():
        try:
            barrier.wait()
            results.append(_ingest(tenant_a, conn, message)[1])
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == [False] * 9 + [True]
    with tenant_a.scope():
        assert Message.objects.count() == 1 and Ticket.objects.count() == 1


def test_pending_ticket_reopens_when_the_customer_answers(tenant_a):
    conn = connection(tenant_a)
    msg, _ = _ingest(tenant_a, conn, inbound("質問です"))
    with tenant_a.scope():
        ticket_update(
            organization=tenant_a.organization,
            actor=tenant_a.users["agent"],
            ticket=msg.ticket,
            status=TicketStatus.PENDING,
        )
    _ingest(tenant_a, conn, inbound("回答します"))
    with tenant_a.scope():
        assert Ticket.objects.get().status == TicketStatus.OPEN


def test_solved_ticket_reopens_inside_the_window_and_a_new_one_starts_after(tenant_a):
    conn = connection(tenant_a)
    msg, _ = _ingest(tenant_a, conn, inbound("one"))
    with tenant_a.scope():
        ticket_update(
            organization=tenant_a.organization,
            actor=tenant_a.users["agent"],
            ticket=msg.ticket,
            status=TicketStatus.SOLVED,
        )
    again, _ = _ingest(tenant_a, conn, inbound("two"))
    assert again.ticket_id == msg.ticket_id
    with tenant_a.scope():
        ticket = Ticket.objects.get()
        assert ticket.status == TicketStatus.OPEN
        assert "reopened" in [e.kind for e in ticket.events.all()]
        ticket_update(
            organization=tenant_a.organization, actor=tenant_a.users["agent"], ticket=ticket, status=TicketStatus.SOLVED
        )
        Ticket.objects.filter(pk=ticket.pk).update(solved_at=timezone.now() - timedelta(days=8))
    later, _ = _ingest(tenant_a, conn, inbound("three"))
    assert later.ticket_id != msg.ticket_id
    with tenant_a.scope():
        assert Ticket.objects.count() == 2 and later.ticket.number == 2


def test_ticket_numbers_and_identities_are_per_organization(tenant_a, tenant_b):
    conn_a, conn_b = connection(tenant_a), connection(tenant_b)
    a, _ = _ingest(tenant_a, conn_a, inbound("a", author="same-user-id"))
    b, _ = _ingest(tenant_b, conn_b, inbound("b", author="same-user-id"))
    assert a.ticket.number == b.ticket.number == 1
    assert a.author_contact_id != b.author_contact_id


def test_update_records_history_and_notes_notify_mentions(tenant_a):
    from core.models import Notification

    conn = connection(tenant_a)
    msg, _ = _ingest(tenant_a, conn, inbound("help"))
    manager, agent = tenant_a.users["manager"], tenant_a.users["agent"]
    with tenant_a.scope():  # only a member who may see the channel can be assigned
        connection_access_set(organization=tenant_a.organization, actor=manager, connection=conn, users=[agent])
    with tenant_a.scope():
        ticket = ticket_update(
            organization=tenant_a.organization,
            actor=manager,
            ticket=msg.ticket,
            priority="urgent",
            assignee=agent,
            tags=["返品", "VIP"],
        )
        note_add(organization=tenant_a.organization, actor=agent, ticket=ticket, text="@manager 確認お願いします")
        kinds = [e.kind for e in ticket.events.all()]
        notified = sorted((n.user.email, n.kind) for n in Notification.objects.select_related("user"))
    assert kinds == ["created", "priority", "assignment", "tags"]
    assert notified == [(agent.email, "assigned"), (manager.email, "mentioned")]
