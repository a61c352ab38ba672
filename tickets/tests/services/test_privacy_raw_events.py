"""Erasing a contact blanks the raw inbound events that hold their identities — a LINE user id, an email address
(whatever its case in a mail's headers), a phone number (as a callback's form encodes it, or as WhatsApp's digits),
in webhooks, polled mail and the REST API's asynchronous requests — in one statement over the organization's events;
other contacts' events and other organizations' events are untouched, and a redelivery of a blanked event is still
recognised as one."""

import json
from urllib.parse import quote

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from channels_integrations.models import InboundEvent, InboundEventStatus
from channels_integrations.services import events_store
from core.models import Attempt
from tickets.models import Contact
from tickets.services import privacy
from tickets.services.api_intake import Customer, ticket_open_later
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db

LINE_ID, EMAIL, PHONE = "U-ayano-7731", "ayano.todoroki@example.jp", "+819012345678"
OTHER_ID, OTHER_EMAIL, OTHER_PHONE = "U-jiro-4410", "jiro.sato@example.jp", "+818011112222"
# What must not survive in any raw event of the organization, in every way the events spell it.
IDENTITY_FORMS = [LINE_ID, EMAIL, PHONE, PHONE[1:], quote(PHONE, safe=""), quote(EMAIL, safe="")]


def _mail(sender: str, message_id: str) -> bytes:
    return (
        f"From: Customer <{sender}>\r\nTo: support@shop.example\r\nSubject: =?UTF-8?B?6L+U6YeR?=\r\n"
        f"Message-ID: <{message_id}>\r\nContent-Type: text/plain; charset=shift_jis\r\n\r\n"
    ).encode() + "返金をお願いします".encode("shift_jis")


def _event(tenant, conn, key, payload: bytes, **fields) -> InboundEvent:
    with tenant.scope():
        return InboundEvent.objects.create(
            organization=tenant.organization,
            connection=conn,
            event_key=key,
            payload=payload,
            status=fields.pop("status", InboundEventStatus.PROCESSED),
            **fields,
        )


def _raw_events(tenant, contact_line_id, email, phone, prefix=""):
    """A customer's raw events on every kind of channel, as each platform sends them."""
    line, mail, calls, whatsapp = (connection(tenant, p) for p in ("line", "email", "phone", "whatsapp"))
    return [
        _event(
            tenant,
            line,
            f"{prefix}line-1",
            json.dumps({"events": [{"source": {"userId": contact_line_id}, "message": {"text": "返金"}}]}).encode(),
        ),
        # The address in capitals in the mail's header, the body in Shift_JIS; the event key is its Message-ID.
        _event(tenant, mail, f"msgid:{prefix}{email.upper()}-1", _mail(email.upper(), f"{email}-1")),
        # A phone platform's callback: a form body, "+" encoded.
        _event(
            tenant,
            calls,
            f"{prefix}CA1:incoming",
            f"CallSid=CA1&From={quote(phone, safe='')}&To=%2B815011112222".encode(),
        ),
        # WhatsApp names the customer by the number's digits; this one failed and its error quotes them.
        _event(
            tenant,
            whatsapp,
            f"{prefix}wamid-1",
            json.dumps({"contacts": [{"wa_id": phone[1:]}], "messages": [{"from": phone[1:]}]}).encode(),
            status=InboundEventStatus.DEAD,
            last_error=f"no profile for {phone[1:]}",
        ),
    ]


@pytest.fixture
def customers(tenant_a, tenant_b):
    """The customer to erase (a LINE account, an address, a number), another customer of the same organization,
    and the same identities in another organization's events."""
    line = connection(tenant_a, "line")
    api = connection(tenant_a, "api")
    with tenant_a.scope():
        message, _created = message_ingest(
            organization=tenant_a.organization,
            connection=line,
            inbound=inbound("返金をお願いします", thread=LINE_ID, author=LINE_ID, name="轟木 綾乃"),
        )
        contact = message.ticket.contact
        Contact.objects.filter(pk=contact.pk).update(email=EMAIL, emails=[EMAIL], phones=[PHONE])
        contact.refresh_from_db()
    mine = _raw_events(tenant_a, LINE_ID, EMAIL, PHONE)
    with tenant_a.scope():
        # An asynchronous API request not processed yet (202 answered, the worker has not run).
        accepted = ticket_open_later(
            organization=tenant_a.organization,
            actor=None,
            connection=api,
            customer=Customer(name="轟木 綾乃", email=EMAIL, phone=PHONE),
            text="注文QX-99821の返金",
            event_key="async:1",
        )
        Attempt.objects.create(
            organization=tenant_a.organization,
            subject_type=ContentType.objects.get_for_model(InboundEvent),
            subject_id=mine[3].pk,
            number=1,
            outcome="failed",
            started_at=mine[3].received_at,
            error=f"no profile for {PHONE[1:]}",
        )
        mine.append(InboundEvent.objects.get(pk=accepted.pk))
    others = _raw_events(tenant_a, OTHER_ID, OTHER_EMAIL, OTHER_PHONE, prefix="other-")
    elsewhere = _raw_events(tenant_b, LINE_ID, EMAIL, PHONE)
    return {"contact": contact, "mine": mine, "others": others, "elsewhere": elsewhere}


def _holds_identity(event: InboundEvent) -> bool:
    texts = [bytes(event.payload).lower(), event.event_key.lower().encode(), event.last_error.lower().encode()]
    return any(form.lower().encode() in text for form in IDENTITY_FORMS for text in texts)


def _snapshot(events) -> dict:
    rows = InboundEvent.objects.filter(pk__in=[e.pk for e in events])
    return {e.pk: (bytes(e.payload), e.event_key, e.status, e.last_error) for e in rows}


def test_erasure_blanks_every_raw_event_naming_the_contact_and_nothing_else(tenant_a, tenant_b, customers):
    mine, others, elsewhere = customers["mine"], customers["others"], customers["elsewhere"]
    assert all(_holds_identity(e) for e in mine), "each event names the customer before"
    with tenant_b.scope():
        elsewhere_before = _snapshot(elsewhere)
    with tenant_a.scope():
        others_before = _snapshot(others)

    with tenant_a.scope(), CaptureQueriesContext(db) as queries:
        counts = privacy.contact_erase(
            organization=tenant_a.organization,
            actor=tenant_a.users["owner"],
            contact=customers["contact"],
            confirmation=privacy.erase_confirmation_word(customers["contact"]),
        )

    assert counts["inbound_events"] == len(mine)
    # One statement over the organization's events for all the identities, not one scan per identity or event.
    touching = [q["sql"] for q in queries.captured_queries if InboundEvent._meta.db_table in q["sql"]]
    assert len(touching) == 1, touching
    with tenant_a.scope():
        events = list(InboundEvent.objects.all())
        assert not [e.event_key for e in events if _holds_identity(e)]
        blanked = [e for e in events if e.pk in {m.pk for m in mine}]
        # The rows stay (their keys still recognise a redelivery), blank and never to be processed.
        assert len(blanked) == len(mine)
        assert all(bytes(e.payload) == b"" and e.status == InboundEventStatus.PROCESSED for e in blanked)
        assert not Attempt.objects.filter(subject_id=mine[3].pk).exclude(error="").exists()
        # The other customer's events are untouched.
        assert _snapshot(others) == others_before
        line = mine[0].connection
        assert events_store(connection=line, items=[("line-1", b'{"events": []}')], source="webhook") == []
    with tenant_b.scope():
        assert _snapshot(elsewhere) == elsewhere_before
