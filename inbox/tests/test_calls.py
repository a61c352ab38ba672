"""Logging a call by hand on a ticket ("Log a call"): stored as a private call entry with its CallRecord, shown as a
call bubble, field errors for bad input, who may log one, and a conversation whose query count does not grow with
its calls."""

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from channels_integrations.inbound import CallDetails
from tickets.models import CallRecord, Message
from tickets.services import calls
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db


def _ticket(tenant, platform="line"):
    tenant.organization.default_language = "en"  # the assertions read English
    tenant.organization.save(update_fields=["default_language"])
    conn = connection(tenant, platform)
    with tenant.scope():
        return message_ingest(organization=tenant.organization, connection=conn, inbound=inbound("電話ください"))[
            0
        ].ticket


def test_an_agent_logs_a_call_and_it_shows_as_a_private_call_entry(tenant_a, login, django_capture_on_commit_callbacks):
    ticket = _ticket(tenant_a)
    client = login(tenant_a.users["manager"])
    url = f"/{tenant_a.slug}/inbox/tickets/{ticket.pk}/call/"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url,
            {
                "call-direction": "outbound",
                "call-outcome": "answered",
                "call-duration": "４:０５",  # full-width, as an IME types it
                "call-number": "０３－１２３４－５６７８",
                "call-note": "返品の件、明日発送と伝えた",
            },
        )
    assert response.status_code == 200
    page = response.content.decode()
    with tenant_a.scope():
        message = Message.objects.get(kind="call")
        record = CallRecord.objects.get()
    assert message.author_user == tenant_a.users["manager"] and message.platform_message_id == ""
    assert message.delivery_state == ""  # a record for the team: nothing is ever sent
    assert (record.direction, record.outcome, record.duration_seconds) == ("outbound", "answered", 245)
    assert record.to_number == "+81312345678" and record.logged_by == tenant_a.users["manager"]
    # The fresh form, and the bubble added to the conversation out of band.
    assert 'id="call-log"' in page and 'hx-swap-oob="beforeend:#messages"' in page
    assert f'id="message-{message.pk}"' in page and "4:05" in page and "03-1234-5678" in page
    assert "返品の件、明日発送と伝えた" in page and 'href="tel:+81312345678"' in page
    # The conversation shows it as a call bubble.
    conversation = client.get(f"/{tenant_a.slug}/inbox/tickets/{ticket.pk}/conversation/").content.decode()
    assert 'data-call-outcome="answered"' in conversation and 'id="call-log"' in conversation


@pytest.mark.parametrize(
    ("data", "field", "error"),
    [
        ({"call-direction": "sideways"}, "direction", "Select a valid choice."),
        ({"call-outcome": "maybe"}, "outcome", "Select a valid choice."),
        ({"call-duration": "five minutes"}, "duration", "Enter the duration as minutes:seconds (4:05)"),
        ({"call-duration": "25:00:00"}, "duration", "A call cannot last more than 24 hours."),
        ({"call-duration": ""}, "duration", "Enter how long the call lasted."),
        ({"call-number": "電話"}, "number", "This is not a phone number."),
    ],
)
def test_bad_input_gets_field_errors(tenant_a, login, data, field, error):
    ticket = _ticket(tenant_a)
    client = login(tenant_a.users["agent"])
    from accounts import services as account_services

    with tenant_a.scope():
        account_services.connection_access_set(
            organization=tenant_a.organization,
            actor=tenant_a.users["owner"],
            connection=ticket.connection,
            users=[tenant_a.users["agent"]],
        )
    post = {"call-direction": "inbound", "call-outcome": "answered", "call-duration": "3", **data}
    response = client.post(f"/{tenant_a.slug}/inbox/tickets/{ticket.pk}/call/", post)
    assert response.status_code == 200
    page = response.content.decode()
    assert "field has-error" in page and error in page and " open" in page
    with tenant_a.scope():
        assert not Message.objects.filter(kind="call").exists()


def test_only_members_who_work_tickets_may_log_and_others_get_404(tenant_a, tenant_b, login):
    ticket = _ticket(tenant_a)
    url = f"/{tenant_a.slug}/inbox/tickets/{ticket.pk}/call/"
    post = {"call-direction": "inbound", "call-outcome": "missed"}
    assert login(tenant_a.users["analyst"]).post(url, post).status_code == 403
    assert login(tenant_b.users["owner"]).post(url, post).status_code == 404
    assert login(tenant_a.users["agent"]).post(url, post).status_code == 404  # the channel is not granted to them
    assert login(tenant_a.users["manager"]).get(url).status_code == 405


def test_duration_parse():
    assert [calls.duration_parse(v) for v in ("", "5", "2.5", "2,5", "4:05", "1:02:05", "０:３０")] == [
        0,
        300,
        150,
        150,
        245,
        3725,
        30,
    ]


def _provider_call(tenant, conn, n: int):
    details = CallDetails(
        call_id=f"CA{n:032x}",
        direction="inbound",
        from_number="+81312345678",
        to_number="+815012345678",
        outcome="voicemail" if n % 2 else "answered",
        duration_seconds=30 + n,
        voicemail_url=f"https://api.twilio.com/Recordings/RE{n}.mp3" if n % 2 else "",
        transcription="折り返しお願いします" if n % 2 else "",
    )
    with tenant.scope():
        message_ingest(
            organization=tenant.organization,
            connection=conn,
            inbound=inbound(
                "",
                thread="tel:+81312345678",
                author="+81312345678",
                mid=f"call:{details.call_id}",
                kind="call",
                call=details,
            ),
        )


def test_the_conversation_query_count_does_not_grow_with_calls(tenant_a, login):
    from django.core.cache import cache

    tenant_a.organization.default_language = "en"
    tenant_a.organization.save(update_fields=["default_language"])
    conn = connection(tenant_a, "phone")
    _provider_call(tenant_a, conn, 1)
    with tenant_a.scope():
        ticket = Message.objects.get().ticket
    client = login(tenant_a.users["manager"])
    url = f"/{tenant_a.slug}/inbox/tickets/{ticket.pk}/conversation/"
    client.get(url)

    def count() -> int:
        cache.clear()
        with CaptureQueriesContext(db) as ctx:
            response = client.get(url)
            assert response.status_code == 200
        return len(ctx.captured_queries)

    small = count()
    for n in range(2, 12):
        _provider_call(tenant_a, conn, n)
    with tenant_a.scope():
        calls.call_log(
            organization=tenant_a.organization,
            actor=tenant_a.users["agent"],
            ticket=ticket,
            direction="outbound",
            outcome="answered",
            duration="2:00",
            note="折り返した",
        )
    assert count() == small
    page = client.get(url).content.decode()
    assert page.count('data-call-outcome="voicemail"') == 6 and "折り返しお願いします" in page
    assert 'target="_blank" rel="noopener noreferrer"' in page
    assert "call the customer back and log the call" in page  # the rule where the reply box would be
    assert 'id="reply-form"' not in page and '<details class="call-log" id="call-log" open>' in page


def test_a_number_logged_on_a_line_customer_matches_their_next_call(tenant_a):
    from tickets.models import Contact, ContactIdentity

    ticket = _ticket(tenant_a)  # a LINE conversation
    phone_line = connection(tenant_a, "phone")
    with tenant_a.scope():
        calls.call_log(
            organization=tenant_a.organization,
            actor=tenant_a.users["agent"],
            ticket=ticket,
            direction="outbound",
            outcome="missed",
            number="090-1111-2222",
        )
        assert ContactIdentity.objects.get(platform="phone").contact_id == ticket.contact_id
    details = CallDetails(
        call_id="CA" + "1" * 32,
        direction="inbound",
        from_number="+819011112222",
        to_number="+815012345678",
        outcome="missed",
    )
    with tenant_a.scope():
        message, _created = message_ingest(
            organization=tenant_a.organization,
            connection=phone_line,
            inbound=inbound("", thread="tel:+819011112222", author="+819011112222", kind="call", call=details),
        )
        assert message.author_contact_id == ticket.contact_id and Contact.objects.count() == 1
