"""A batch of messages is stored exactly as the same messages one by one would be: one ticket per thread, each
message once, in order, the automation and the real-time events of each — with the lookups and inserts made once
for the whole batch."""

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from channels_integrations.inbound import AuthorProfile
from core.models import RealtimeEvent
from tickets.models import Contact, ContactIdentity, Message, Ticket, TicketEvent, TicketStatus
from tickets.services.ingest import messages_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db


def _ingest_many(tenant, conn, inbounds, lookup=None):
    with tenant.scope():
        return messages_ingest(
            organization=tenant.organization, connection=conn, inbounds=inbounds, lookup_profile=lookup
        )


def test_a_batch_makes_one_ticket_per_thread_and_keeps_the_order(tenant_a):
    conn = connection(tenant_a)
    batch = [
        inbound("注文した商品が届きません", thread="t-a", author="A"),
        inbound("Where is my parcel?", thread="t-b", author="B", name="Emma Brown"),
        inbound("至急お願いします", thread="t-a", author="A"),
    ]
    results = _ingest_many(tenant_a, conn, batch)
    assert [created for _m, created in results] == [True, True, True]
    with tenant_a.scope():
        a, b = Ticket.objects.get(external_thread_key="t-a"), Ticket.objects.get(external_thread_key="t-b")
        assert [m.text for m in a.messages.order_by("pk")] == ["注文した商品が届きません", "至急お願いします"]
        assert a.subject == "注文した商品が届きません" and b.contact.name == "Emma Brown"
        assert sorted([a.number, b.number]) == [1, 2]
        assert TicketEvent.objects.filter(kind="created").count() == 2
        assert Contact.objects.count() == 2
        # the second message of thread a joined the ticket its first message opened
        assert results[0][0].ticket_id == results[2][0].ticket_id == a.pk


def test_duplicates_inside_a_batch_and_against_stored_messages_are_one_message(tenant_a):
    conn = connection(tenant_a)
    ((stored, _),) = _ingest_many(tenant_a, conn, [inbound("first", mid="m-1")])
    results = _ingest_many(
        tenant_a, conn, [inbound("first", mid="m-1"), inbound("second", mid="m-2"), inbound("second", mid="m-2")]
    )
    assert [(m.pk, created) for m, created in results] == [
        (stored.pk, False),
        (results[1][0].pk, True),
        (results[1][0].pk, False),
    ]
    with tenant_a.scope():
        assert Message.objects.count() == 2


def test_the_platform_is_asked_once_for_the_batch_s_unnamed_customers(tenant_a):
    conn = connection(tenant_a, platform="facebook")
    asked = []

    def lookup(author_ids):
        asked.append(list(author_ids))
        return {a: AuthorProfile(name=f"Customer {a}") for a in author_ids if a != "P3"}

    batch = [
        inbound("a", thread="t1", author="P1", name=""),
        inbound("b", thread="t1", author="P1", name=""),
        inbound("c", thread="t2", author="P2", name=""),
        inbound("d", thread="t3", author="P3", name=""),
    ]
    _ingest_many(tenant_a, conn, batch, lookup)
    assert asked == [["P1", "P2", "P3"]]  # one call for the batch
    with tenant_a.scope():
        names = dict(ContactIdentity.objects.values_list("external_id", "contact__name"))
    assert names == {"P1": "Customer P1", "P2": "Customer P2", "P3": ""}


def test_a_pending_ticket_reopens_and_a_solved_one_within_the_window_is_reopened(tenant_a):
    conn = connection(tenant_a)
    (m1, _), (m2, _) = _ingest_many(
        tenant_a, conn, [inbound("one", thread="p", author="A"), inbound("two", thread="s", author="B")]
    )
    with tenant_a.scope():
        Ticket.objects.filter(pk=m1.ticket_id).update(status=TicketStatus.PENDING)
        Ticket.objects.filter(pk=m2.ticket_id).update(status=TicketStatus.SOLVED, solved_at=m2.created_at)
    results = _ingest_many(
        tenant_a, conn, [inbound("again", thread="p", author="A"), inbound("again", thread="s", author="B")]
    )
    assert [m.ticket_id for m, _ in results] == [m1.ticket_id, m2.ticket_id]
    with tenant_a.scope():
        assert set(Ticket.objects.values_list("status", flat=True)) == {TicketStatus.OPEN}
        assert TicketEvent.objects.filter(kind="reopened", ticket_id=m2.ticket_id).count() == 1


def test_each_message_of_a_batch_is_published(tenant_a, django_capture_on_commit_callbacks):
    conn = connection(tenant_a)
    with django_capture_on_commit_callbacks(execute=True):
        results = _ingest_many(
            tenant_a, conn, [inbound("x", thread="t1", author="A"), inbound("y", thread="t1", author="A")]
        )
    with tenant_a.scope():
        created = RealtimeEvent.objects.filter(type="message.created", group__contains=".queue.")
        assert sorted(e.payload["message_id"] for e in created) == sorted(m.pk for m, _ in results)
        kinds = list(
            RealtimeEvent.objects.filter(group__contains=".queue.", type__startswith="ticket.")
            .order_by("id")
            .values_list("type", flat=True)
        )
        assert kinds == ["ticket.created", "ticket.updated"]


def _queries_for(tenant, conn, count: int, tag: str) -> int:
    batch = [inbound(f"msg {i}", thread=f"{tag}-{i}", author=f"{tag}-{i}") for i in range(count)]
    with CaptureQueriesContext(db_connection) as captured:
        _ingest_many(tenant, conn, batch)
    return len(captured.captured_queries)


def test_new_conversations_cost_the_same_queries_however_many_come_in_a_batch(tenant_a):
    conn = connection(tenant_a)
    _queries_for(tenant_a, conn, 1, "warm")  # the organization's ticket number sequence, the compiled rule set
    five, twenty = _queries_for(tenant_a, conn, 5, "a"), _queries_for(tenant_a, conn, 20, "b")
    assert twenty == five <= 25  # the first message's effect on its ticket is part of the ticket's insert


def test_a_message_on_an_open_ticket_adds_exactly_its_ticket_update(tenant_a):
    conn = connection(tenant_a)
    _queries_for(tenant_a, conn, 20, "t")  # twenty open conversations
    five, twenty = _queries_for(tenant_a, conn, 5, "t"), _queries_for(tenant_a, conn, 20, "t")
    assert twenty - five == 15


def test_an_email_answering_one_earlier_in_the_same_batch_joins_its_ticket(tenant_a):
    conn = connection(tenant_a, platform="email")
    first = inbound("注文について", thread="<root-a@example.jp>", author="a@example.jp", mid="<root-a@example.jp>")
    answer = inbound(
        "追記です",
        thread="<other-root@example.jp>",  # a client that lost the References: only In-Reply-To names the first
        author="a@example.jp",
        mid="<answer@example.jp>",
        thread_hints=("<root-a@example.jp>",),
    )
    (m1, _), (m2, _) = _ingest_many(tenant_a, conn, [first, answer])
    assert m1.ticket_id == m2.ticket_id


def test_a_reply_to_a_comment_earlier_in_the_batch_hangs_under_it(tenant_a):
    conn = connection(tenant_a, platform="facebook")
    comment = inbound("この商品はいつ入荷しますか", thread="post-1", mid="c-1", kind="comment", is_public=True)
    reply = inbound(
        "私も知りたいです",
        thread="post-1",
        author="U2",
        mid="c-2",
        kind="comment",
        is_public=True,
        reply_to_platform_id="c-1",
    )
    (first, _), (second, _) = _ingest_many(tenant_a, conn, [comment, reply])
    with tenant_a.scope():
        assert Message.objects.get(pk=second.pk).parent_id == first.pk
