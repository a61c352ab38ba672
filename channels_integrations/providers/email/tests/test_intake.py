"""Email intake as the bench (bench/email.py) drives it: raw mails stored as the inbound endpoint stores them, then
ingested in batches by the worker's service. A reply that comes before the mail it answers ends up in the same
ticket; the queries a mail costs do not depend on how many come together; parsed headers are remembered, bounded."""

import base64
import threading

import pytest
from django.db import connection as db_connection
from django.db import transaction
from django.test.utils import CaptureQueriesContext

from channels_integrations import services
from channels_integrations.models import InboundEvent
from channels_integrations.providers.email import mime
from channels_integrations.providers.email.connector import EmailConnector
from channels_integrations.providers.email.tests.test_connector import mailbox
from tickets.models import Message, Ticket

pytestmark = pytest.mark.django_db


def mail(mid: str, text: str, *, in_reply_to: str = "", references: str = "", subject: str = "注文の件") -> bytes:
    headers = [
        "From: =?UTF-8?B?" + base64.b64encode("山田 花子".encode()).decode() + "?= <hanako@example.jp>",
        "To: support@shop.example.jp",
        "Subject: =?ISO-2022-JP?B?" + base64.b64encode(subject.encode("iso2022_jp")).decode() + "?=",
        "Date: Tue, 01 Dec 2026 09:00:00 +0900",
        f"Message-ID: {mid}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=ISO-2022-JP",
        "Content-Transfer-Encoding: 7bit",
    ]
    if in_reply_to:
        headers.append(f"In-Reply-To: {in_reply_to}")
    if references:
        headers.append(f"References: {references}")
    return "\r\n".join(headers).encode() + b"\r\n\r\n" + text.encode("iso2022_jp") + b"\r\n"


def store(tenant, connection, *raws: bytes) -> None:
    """As the inbound endpoint stores them (its split, its event keys); no wake-up: `ingest` runs the worker's part."""
    connector = EmailConnector()
    deliveries = [d for raw in raws for d in connector.split_webhook(raw)]
    with tenant.scope():
        items = [(d.event_key, d.payload) for d in deliveries]
        services.events_store(connection=connection, items=items, source="poll")


def ingest(tenant, connection) -> int:
    with tenant.scope():
        processed, failed = services.events_process_pending(
            organization=tenant.organization, connection_id=connection.pk
        )
    assert failed == []
    return processed


def tickets_of(tenant, *mids: str) -> set[int]:
    with tenant.scope():
        return set(Message.objects.filter(platform_message_id__in=mids).values_list("ticket_id", flat=True))


ORIGINAL = "<original@example.jp>"
REPLY = "<reply@example.jp>"


@pytest.mark.parametrize("same_batch", [False, True], ids=["reply-ingested-first", "reply-first-in-one-batch"])
@pytest.mark.parametrize(
    "original_references, reply_references",
    [
        ("", ORIGINAL),  # the usual case: the reply names the original as the thread's start
        # The original answers a mail this mailbox never saw (a newsletter sent from elsewhere), and the reply's
        # client kept only In-Reply-To: the two mails' own thread ids differ.
        ("<newsletter@mailer.example>", ""),
    ],
    ids=["references", "in-reply-to-only"],
)
def test_a_reply_that_comes_before_its_original_ends_in_the_original_s_ticket(
    tenant_a, original_references, reply_references, same_batch
):
    connection = mailbox(tenant_a)
    original = mail(ORIGINAL, "注文した商品がまだ届いていません。", references=original_references)
    reply = mail(
        REPLY,
        "追記です。箱が破損していました。",
        subject="Re: 注文の件",
        in_reply_to=ORIGINAL,
        references=reply_references,
    )
    if same_batch:
        store(tenant_a, connection, reply, original)
        assert ingest(tenant_a, connection) == 2
    else:
        store(tenant_a, connection, reply)
        ingest(tenant_a, connection)
        store(tenant_a, connection, original)
        ingest(tenant_a, connection)
    assert len(tickets_of(tenant_a, ORIGINAL, REPLY)) == 1
    with tenant_a.scope():
        ticket = Ticket.objects.get()
        assert list(ticket.messages.order_by("pk").values_list("text", flat=True)) == (
            ["追記です。箱が破損していました。", "注文した商品がまだ届いていません。"]
        )
    # A later answer to either joins the same ticket.
    store(tenant_a, connection, mail("<third@example.jp>", "まだですか。", in_reply_to=REPLY, references=""))
    ingest(tenant_a, connection)
    assert len(tickets_of(tenant_a, ORIGINAL, REPLY, "<third@example.jp>")) == 1


def test_a_mail_answering_nothing_stored_still_opens_its_own_ticket(tenant_a):
    connection = mailbox(tenant_a)
    store(tenant_a, connection, mail("<a@example.jp>", "一通目"), mail("<b@example.jp>", "二通目", references="<x@y>"))
    ingest(tenant_a, connection)
    assert len(tickets_of(tenant_a, "<a@example.jp>", "<b@example.jp>")) == 2


def _queries_for_batch(tenant, connection, raws: list[bytes]) -> int:
    store(tenant, connection, *raws)
    with CaptureQueriesContext(db_connection) as captured:
        assert ingest(tenant, connection) == len(raws)
    return len(captured.captured_queries)


def test_the_queries_a_mail_costs_do_not_depend_on_how_many_come_together(tenant_a, settings):
    settings.INGEST_BATCH = 50
    connection = mailbox(tenant_a)
    _queries_for_batch(tenant_a, connection, [mail("<warm@example.jp>", "準備")])  # sequences, the rule set
    originals = [mail(f"<o{i}@example.jp>", f"問い合わせ {i}") for i in range(25)]
    five = _queries_for_batch(tenant_a, connection, originals[:5])
    twenty = _queries_for_batch(tenant_a, connection, originals[5:25])
    assert twenty == five  # new conversations: the batch's lookups and inserts, whatever its size

    def replies(start: int, count: int) -> list[bytes]:
        return [
            mail(f"<r{i}@example.jp>", f"追記 {i}", in_reply_to=f"<o{i}@example.jp>", references=f"<o{i}@example.jp>")
            for i in range(start, start + count)
        ]

    five_replies = _queries_for_batch(tenant_a, connection, replies(0, 5))
    twenty_replies = _queries_for_batch(tenant_a, connection, replies(5, 20))
    # A reply costs exactly its ticket's update (one statement); finding its original is one query for the batch.
    assert twenty_replies - five_replies == 15
    assert len(tickets_of(tenant_a, *[f"<o{i}@example.jp>" for i in range(25)])) == 25
    with tenant_a.scope():
        assert Ticket.objects.count() == 26  # every reply in its original's ticket (and the warm-up mail's)


def test_parsed_headers_are_remembered_and_the_memory_is_bounded(monkeypatch):
    registry = mime.POLICY.header_factory
    raw = mail("<m@example.jp>", "本文")
    first, second = mime.parse_message(raw), mime.parse_message(raw)
    assert first == second and first.subject == "注文の件"
    assert registry(" Content-Type", "text/plain") is registry(" Content-Type", "text/plain")
    monkeypatch.setattr(type(registry), "MEMORY_MAX_ENTRIES", 3)
    for n in range(10):
        registry("Subject", f"subject {n}")
        assert len(registry._memory) <= 3
    # An RFC 2231 parameter in a charset the header registry cannot read is parsed again without it (and remembered
    # that way): the part still reads, its name from the raw header.
    value = "attachment; filename*=ISO-2022-JP''%1B%24B-!%1B%28B.pdf"
    assert registry("Content-Disposition", value) is registry("Content-Disposition", value)


@pytest.mark.django_db(transaction=True)
def test_a_reply_and_its_original_ingested_at_once_by_two_workers_share_a_ticket(tenant_a):
    """Worker A stores the reply (its transaction still open); worker B takes the original meanwhile. B waits for
    A's commit on the ids they share, then sees the reply's ticket — without the wait it would open its own."""
    connection = mailbox(tenant_a)
    store(tenant_a, connection, mail(REPLY, "追記です。", subject="Re: 注文の件", in_reply_to=ORIGINAL))
    store(tenant_a, connection, mail(ORIGINAL, "注文の件です。", references="<newsletter@mailer.example>"))
    with tenant_a.scope():
        reply_event, original_event = InboundEvent.objects.order_by("pk")
    stored, release, errors = threading.Event(), threading.Event(), []

    def worker(event, hold: bool) -> None:
        try:
            with tenant_a.scope(), transaction.atomic():
                services.event_process(organization=tenant_a.organization, event_id=event.pk)
                if hold:
                    stored.set()
                    release.wait(60)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            db_connection.close()

    a = threading.Thread(target=worker, args=(reply_event, True))
    a.start()
    assert stored.wait(60)
    b = threading.Thread(target=worker, args=(original_event, False))
    b.start()
    # B is waiting on an advisory lock held by A (polled: no time limit, only the state).
    with db_connection.cursor() as cursor:
        for _ in range(600):
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'"
            )
            if cursor.fetchone()[0] or not b.is_alive():
                break
            threading.Event().wait(0.1)
    release.set()
    a.join()
    b.join()
    assert errors == []
    assert len(tickets_of(tenant_a, ORIGINAL, REPLY)) == 1
