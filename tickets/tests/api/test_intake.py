"""REST API intake (`POST .../tickets/`, `POST .../tickets/<id>/messages/`) against the real database: customers found
or created by email, phone or identity, the same ingest as webhooks, validation errors, Idempotency-Key replays and
refusals, concurrent retries with one key, permissions, tenant isolation, pruning and query budgets."""

import json
import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from django_scopes import scopes_disabled

from accounts import services as account_services
from channels_integrations.models import ChannelConnection, ConnectionStatus
from tickets.models import Contact, ContactIdentity, DeliveryState, IdempotencyKey, Message, Ticket, TicketEvent
from tickets.services import replies
from tickets.services.api_intake import idempotency_prune
from tickets.services.contacts import contact_create
from tickets.services.delivery import message_send
from tickets.services.ingest import message_ingest
from tickets.tests.api.conftest import COMPLAINT, api_key, intake_post
from tickets.tests.api.conftest import count as _count
from tickets.tests.api.conftest import intake_url as _url
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db


def ja(message: str, **values) -> str:
    """A message as the API answers it to the test members (their language is Japanese)."""
    with translation.override("ja"):
        text = translation.gettext(message)
    return text % values if values else text


def _post(api, tenant, body, *, key: str | None = None, path: str = "tickets/"):
    return intake_post(api, tenant, body, key=key, path=path)


def _created(response) -> dict:
    assert response.status_code == 201, (response.status_code, response.content[:500])
    return response.json()


def _fields(response) -> dict:
    assert response.status_code == 400, (response.status_code, response.content[:500])
    return response.json()["error"]["fields"]


# --- creation ---------------------------------------------------------------------------------------------------


def test_a_new_customer_by_email_gets_a_contact_and_a_ticket_on_the_api_channel(tenant_a, api_client_for, api_channel):
    api = api_client_for(tenant_a, "owner")
    body = {"customer": {"email": "Hanako@Example.JP", "name": "山田 花子"}, "subject": "配送", "text": COMPLAINT}
    result = _created(_post(api, tenant_a, body))
    assert result["ticket_created"] is True and result["connection"] == api_channel.pk
    with tenant_a.scope():
        ticket = Ticket.objects.select_related("contact").get(pk=result["ticket"])
        assert ticket.number == result["number"] and ticket.subject == "配送" and ticket.status == result["status"]
        assert ticket.contact.emails == ["hanako@example.jp"] and ticket.contact.name == "山田 花子"
        message = Message.objects.get(pk=result["message"])
        assert message.ticket_id == ticket.pk and message.text == COMPLAINT and message.direction == "inbound"
        assert message.author_contact_id == ticket.contact_id == result["contact"]
        # The ingest webhooks use ran: language and sentiment, the creation event.
        assert ticket.language == "ja" and message.language == "ja" and message.sentiment
        assert TicketEvent.objects.filter(ticket=ticket, kind="created").count() == 1
        assert ContactIdentity.objects.get(contact=ticket.contact).external_id == "email:hanako@example.jp"
    # The same customer again: the same contact, a new ticket.
    again = _created(_post(api, tenant_a, {"customer": {"email": "hanako@example.jp"}, "text": "もう一件"}))
    assert again["contact"] == result["contact"] and again["ticket"] != result["ticket"]
    assert _count(tenant_a, Contact) == 1


def test_an_existing_contact_is_found_by_email_phone_or_identity(tenant_a, api_client_for, api_channel):
    line = connection(tenant_a, "line")
    with tenant_a.scope():
        by_fields = contact_create(
            organization=tenant_a.organization,
            actor=tenant_a.users["owner"],
            name="佐藤 太郎",
            emails=["taro@example.jp"],
            phones=["090-1234-5678"],
        )
        from_line, _ = message_ingest(
            organization=tenant_a.organization, connection=line, inbound=inbound("こんにちは", author="U-line-1")
        )
    api = api_client_for(tenant_a, "owner")
    by_email = _created(_post(api, tenant_a, {"customer": {"email": "TARO@example.jp"}, "text": "a"}))
    by_phone = _created(_post(api, tenant_a, {"customer": {"phone": "０９０１２３４５６７８"}, "text": "b"}))
    by_plus = _created(_post(api, tenant_a, {"customer": {"phone": "+81 90-1234-5678"}, "text": "c"}))
    by_line = _created(_post(api, tenant_a, {"customer": {"platform": "line", "external_id": "U-line-1"}, "text": "d"}))
    assert by_email["contact"] == by_phone["contact"] == by_plus["contact"] == by_fields.pk
    assert by_line["contact"] == from_line.ticket.contact_id
    assert _count(tenant_a, Contact) == 2


def test_a_new_customer_by_phone_or_identity_keeps_what_was_given(tenant_a, api_client_for, api_channel):
    api = api_client_for(tenant_a, "owner")
    by_phone = _created(_post(api, tenant_a, {"customer": {"phone": "03-1234-5678", "name": "鈴木"}, "text": "x"}))
    by_line = _created(
        _post(api, tenant_a, {"customer": {"platform": "line", "external_id": "U-new", "name": "Jo"}, "text": "y"})
    )
    with tenant_a.scope():
        assert Contact.objects.get(pk=by_phone["contact"]).phones == ["+81312345678"]
        identities = set(
            ContactIdentity.objects.filter(contact=by_line["contact"]).values_list("platform", "external_id")
        )
        assert identities == {("api", "line:U-new"), ("line", "U-new")}
    # A later LINE message of that customer lands on the same contact.
    with tenant_a.scope():
        message, _ = message_ingest(
            organization=tenant_a.organization, connection=connection(tenant_a, "line"), inbound=inbound(author="U-new")
        )
    assert message.ticket.contact_id == by_line["contact"]


def test_a_named_email_channel_takes_the_customers_address(tenant_a, api_client_for):
    mailbox = connection(tenant_a, "email", "Support mailbox")
    api = api_client_for(tenant_a, "owner")
    body = {
        "connection": mailbox.pk,
        "customer": {"email": "kenji@example.jp"},
        "subject": "返品",
        "text": "返品したい",
    }
    result = _created(_post(api, tenant_a, body))
    with tenant_a.scope():
        message = Message.objects.get(pk=result["message"])
        assert message.connection_id == mailbox.pk and message.kind == "email"
        assert ContactIdentity.objects.get(contact=result["contact"]).platform == "email"
    refused = _post(api, tenant_a, {"connection": mailbox.pk, "customer": {"phone": "09012345678"}, "text": "x"})
    assert "customer" in refused.json()["error"]["fields"] and refused.status_code == 400


def test_replies_to_an_api_ticket_are_stored_as_sent(tenant_a, api_client_for, api_channel):
    api = api_client_for(tenant_a, "owner")
    result = _created(_post(api, tenant_a, {"customer": {"email": "a@example.jp"}, "text": "hello"}))
    with tenant_a.scope():
        ticket = Ticket.objects.get(pk=result["ticket"])
        reply = replies.message_reply(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], ticket=ticket, text="承知しました"
        )
        message_send(organization=tenant_a.organization, message_id=reply.pk)
        reply.refresh_from_db()
        assert reply.delivery_state == DeliveryState.SENT and reply.platform_message_id.startswith("api-reply:")
    conversation = api.get(_url(tenant_a, f"tickets/{ticket.pk}/messages/")).json()["results"]
    assert [m["text"] for m in conversation] == ["hello", "承知しました"]


def test_an_admin_adds_an_api_channel_in_the_channels_settings(tenant_a, login, api_client_for):
    client = login(tenant_a.users["admin"])
    page = client.get(reverse("org:channels", args=[tenant_a.slug]))
    assert b'id="connect-api"' in page.content
    url = reverse("org:channel_connect_form", args=[tenant_a.slug, "api"])
    assert client.get(url).status_code == 200
    done = client.post(url, {"name": "お問い合わせフォーム"})
    assert done.status_code == 200
    with tenant_a.scope():
        made = ChannelConnection.objects.get(platform="api")
    assert made.display_name == "お問い合わせフォーム" and str(made.pk).encode() in done.content
    assert client.get(reverse("org:channel_detail", args=[tenant_a.slug, made.pk])).status_code == 200
    # Its tickets open in the inbox like any other, with the channel's reply note.
    api = api_client_for(tenant_a, "admin")
    result = _created(_post(api, tenant_a, {"customer": {"email": "a@example.jp"}, "text": "フォームから"}))
    page = client.get(reverse("org:inbox_ticket", args=[tenant_a.slug, result["ticket"]]))
    assert page.status_code == 200 and "フォームから" in page.content.decode()


# --- messages on an existing ticket -----------------------------------------------------------------------------


def test_a_message_is_added_to_an_existing_ticket(tenant_a, api_client_for, api_channel):
    api = api_client_for(tenant_a, "owner")
    first = _created(_post(api, tenant_a, {"customer": {"email": "a@example.jp"}, "text": "one"}))
    path = f"tickets/{first['ticket']}/messages/"
    added = _created(_post(api, tenant_a, {"text": "two"}, path=path, key="k-add"))
    assert added["ticket"] == first["ticket"] and added["ticket_created"] is False
    assert added["contact"] == first["contact"]
    assert _post(api, tenant_a, {"text": "two"}, path=path, key="k-add").json() == added
    line = connection(tenant_a, "line")
    with tenant_a.scope():
        on_line, _ = message_ingest(organization=tenant_a.organization, connection=line, inbound=inbound(author="U9"))
    from_line = _created(_post(api, tenant_a, {"text": "続き"}, path=f"tickets/{on_line.ticket_id}/messages/"))
    assert from_line["ticket"] == on_line.ticket_id and from_line["contact"] == on_line.ticket.contact_id
    with tenant_a.scope():
        assert list(Message.objects.filter(ticket=first["ticket"]).values_list("text", flat=True).order_by("pk")) == [
            "one",
            "two",
        ]
    assert _fields(_post(api, tenant_a, {"text": ""}, path=path)) == {"text": [ja("This field may not be blank.")]}


# --- validation -------------------------------------------------------------------------------------------------


def test_bad_requests_are_400_with_field_messages_and_create_nothing(tenant_a, api_client_for, api_channel):
    api = api_client_for(tenant_a, "owner")
    assert set(_fields(_post(api, tenant_a, {}))) == {"customer", "text"}
    assert _fields(_post(api, tenant_a, {"customer": {"name": "x"}, "text": "t"})) == {
        "customer": [ja("Name the customer by email, phone, or platform and external_id.")]
    }
    assert _fields(_post(api, tenant_a, {"customer": {"email": "not-an-address"}, "text": "t"})) == {
        "customer.email": [ja("“%(value)s” is not an email address.", value="not-an-address")]
    }
    assert _fields(_post(api, tenant_a, {"customer": {"phone": "12"}, "text": "t"})) == {
        "customer.phone": [ja("“%(value)s” is not a valid phone number.", value="12")]
    }
    fields = _fields(_post(api, tenant_a, {"customer": {"platform": "myspace", "external_id": "1"}, "text": "t"}))
    assert fields == {"customer.platform": [ja("Unknown platform.")]}
    fields = _fields(_post(api, tenant_a, {"customer": {"platform": "line"}, "text": "t"}))
    assert fields == {"customer.external_id": [ja("Give both platform and external_id.")]}
    unknown = {"connection": 999999, "customer": {"email": "a@b.jp"}, "text": "t"}
    assert _fields(_post(api, tenant_a, unknown)) == {
        "connection": [ja("There is no channel with this id that you can see.")]
    }
    too_long = _fields(_post(api, tenant_a, {"customer": {"email": "a@b.jp"}, "text": "x" * 20001}))
    assert list(too_long) == ["text"]
    assert _fields(_post(api, tenant_a, {"customer": {"email": "a@b.jp"}, "text": "t"}, key=" ")) == {
        "Idempotency-Key": [ja("Use a key of 1 to 255 printable characters, such as a UUID.")]
    }
    assert _count(tenant_a, Ticket) == 0 and _count(tenant_a, Contact) == 0
    assert _count(tenant_a, IdempotencyKey) == 0


def test_without_an_api_channel_the_connection_must_be_named(tenant_a, api_client_for):
    api = api_client_for(tenant_a, "owner")
    fields = _fields(_post(api, tenant_a, {"customer": {"email": "a@b.jp"}, "text": "t"}))
    assert fields == {"connection": [ja("Name a channel, or add an API channel in the channels settings first.")]}
    paused = connection(tenant_a, "api")
    with tenant_a.scope():
        ChannelConnection.objects.filter(pk=paused.pk).update(status=ConnectionStatus.PAUSED)
    body = {"connection": paused.pk, "customer": {"email": "a@b.jp"}, "text": "t"}
    assert _fields(_post(api, tenant_a, body)) == {"connection": [ja("This channel is paused or disconnected.")]}


# --- idempotency ------------------------------------------------------------------------------------------------


def test_a_retry_with_the_same_key_returns_the_first_answer_and_creates_nothing(tenant_a, api_client_for, api_channel):
    api = api_client_for(tenant_a, "owner")
    body = {"customer": {"email": "a@example.jp"}, "text": "一度だけ"}
    first = _post(api, tenant_a, body, key="order-42")
    again = _post(api, tenant_a, {"text": "一度だけ", "customer": {"email": "a@example.jp"}}, key="order-42")
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true" and not first.has_header("Idempotent-Replayed")
    assert _count(tenant_a, Ticket) == 1 and _count(tenant_a, Message) == 1
    # Another key is another request.
    other = _created(_post(api, tenant_a, body, key="order-43"))
    assert other["ticket"] != first.json()["ticket"] and _count(tenant_a, Ticket) == 2


def test_the_same_key_with_another_body_is_refused(tenant_a, api_client_for, api_channel):
    api = api_client_for(tenant_a, "owner")
    _created(_post(api, tenant_a, {"customer": {"email": "a@example.jp"}, "text": "one"}, key="k1"))
    refused = _post(api, tenant_a, {"customer": {"email": "a@example.jp"}, "text": "two"}, key="k1")
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "idempotency_key_reused" and error["fields"] == {"Idempotency-Key": [error["message"]]}
    assert _count(tenant_a, Ticket) == 1


def test_keys_belong_to_one_token_and_expire(tenant_a, api_client_for, api_channel):
    body = {"customer": {"email": "a@example.jp"}, "text": "one"}
    first = _created(_post(api_client_for(tenant_a, "owner"), tenant_a, body, key="shared"))
    second = _created(_post(api_client_for(tenant_a, "owner"), tenant_a, body, key="shared"))
    assert first["ticket"] != second["ticket"]
    # Past the retention, a key is new again (even before the prune removes it).
    with tenant_a.scope():
        IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    api = api_client_for(tenant_a, "owner")
    assert _created(_post(api, tenant_a, body, key="old"))
    assert idempotency_prune() == 2 and _count(tenant_a, IdempotencyKey) == 1


def test_a_failed_request_leaves_its_key_free(tenant_a, api_client_for):
    mailbox = connection(tenant_a, "email")
    api = api_client_for(tenant_a, "owner")
    body = {"connection": mailbox.pk, "customer": {"platform": "line", "external_id": "U1"}, "text": "x"}
    assert _post(api, tenant_a, body, key="k").status_code == 400  # the service refused: rolled back with the key
    assert _count(tenant_a, IdempotencyKey) == 0
    body["customer"] = {"email": "ok@example.jp"}
    assert _created(_post(api, tenant_a, body, key="k"))


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_key_create_exactly_one_ticket(tenant_a, api_client_for):
    api_channel = connection(tenant_a, "api")
    _token, key = api_key(tenant_a, "owner", "retrying client")
    body = {"customer": {"email": "new-customer@example.jp", "name": "新規"}, "text": "同時に再送"}
    idempotency_key = str(uuid.uuid4())
    barrier = threading.Barrier(8)
    responses, errors = [], []

    def send():
        from rest_framework.test import APIClient

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        try:
            barrier.wait()
            responses.append(_post(client, tenant_a, body, key=idempotency_key))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [r.status_code for r in responses] == [201] * 8  # the others waited for the first and replayed it
    assert len({json.dumps(r.json(), sort_keys=True) for r in responses}) == 1
    assert sum(r.has_header("Idempotent-Replayed") for r in responses) == 7
    with scopes_disabled():
        assert Ticket.objects.filter(connection=api_channel).count() == 1
        assert Message.objects.count() == 1 and Contact.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_for_one_new_customer_make_one_contact(tenant_a, api_client_for):
    connection(tenant_a, "api")
    _token, key = api_key(tenant_a, "owner", "form")
    barrier = threading.Barrier(6)
    results, errors = [], []

    def send(n):
        from rest_framework.test import APIClient

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        try:
            barrier.wait()
            results.append(_post(client, tenant_a, {"customer": {"email": "same@example.jp"}, "text": f"#{n}"}))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and [r.status_code for r in results] == [201] * 6
    assert len({r.json()["contact"] for r in results}) == 1
    with scopes_disabled():
        assert Contact.objects.count() == 1 and Ticket.objects.count() == 6


# --- permissions and tenancy ------------------------------------------------------------------------------------


def test_only_members_who_work_tickets_on_a_granted_channel_may_create(tenant_a, api_client_for, api_channel):
    body = {"customer": {"email": "a@example.jp"}, "text": "t"}
    assert _post(api_client_for(tenant_a, "analyst"), tenant_a, body).status_code == 403
    agent = api_client_for(tenant_a, "agent")
    assert "connection" in _fields(_post(agent, tenant_a, body))  # no grant: the channel is not theirs
    with tenant_a.scope():
        account_services.connection_access_set(
            organization=tenant_a.organization,
            actor=tenant_a.users["owner"],
            connection=api_channel,
            users=[tenant_a.users["agent"]],
        )
    created = _created(_post(agent, tenant_a, body))
    other = connection(tenant_a, "line")
    with tenant_a.scope():
        hidden, _ = message_ingest(organization=tenant_a.organization, connection=other, inbound=inbound(author="U5"))
    assert _post(agent, tenant_a, {"text": "x"}, path=f"tickets/{hidden.ticket_id}/messages/").status_code == 404
    assert _post(agent, tenant_a, {"text": "x"}, path=f"tickets/{created['ticket']}/messages/").status_code == 201


def test_another_organization_gets_404_and_cannot_name_our_channel(tenant_a, tenant_b, api_client_for, api_channel):
    api_b = api_client_for(tenant_b, "owner")
    body = {"customer": {"email": "a@example.jp"}, "text": "t"}
    assert _post(api_b, tenant_a, body).status_code == 404
    ours = _created(_post(api_client_for(tenant_a, "owner"), tenant_a, body, key="same-key"))
    connection(tenant_b, "api")
    assert "connection" in _fields(_post(api_b, tenant_b, {**body, "connection": api_channel.pk}))
    assert _post(api_b, tenant_b, {"text": "x"}, path=f"tickets/{ours['ticket']}/messages/").status_code == 404
    # The same key in another organization is another request.
    theirs = _created(_post(api_b, tenant_b, body, key="same-key"))
    assert theirs["ticket"] != ours["ticket"]
    with tenant_b.scope():
        assert Ticket.objects.count() == 1 and Contact.objects.count() == 1


# --- query budget -----------------------------------------------------------------------------------------------


def _queries(api, tenant, body, key) -> int:
    with CaptureQueriesContext(db_connection) as captured:
        _created(_post(api, tenant, body, key=key))
    return len(captured)


def test_a_creation_costs_the_same_queries_however_many_tickets_exist(tenant_a, api_client_for, api_channel):
    api = api_client_for(tenant_a, "owner")
    _created(_post(api, tenant_a, {"customer": {"email": "warm@example.jp"}, "text": "warm up"}))
    first = _queries(api, tenant_a, {"customer": {"email": "n0@example.jp"}, "text": "新規"}, "q0")
    for n in range(1, 11):
        _created(_post(api, tenant_a, {"customer": {"email": f"n{n}@example.jp"}, "text": "新規"}, key=f"q{n}"))
    later = _queries(api, tenant_a, {"customer": {"email": "n99@example.jp"}, "text": "新規"}, "q99")
    assert later == first and later <= 40, (first, later)
    known = _queries(api, tenant_a, {"customer": {"email": "n5@example.jp"}, "text": "既存"}, "q100")
    replay = _queries(api, tenant_a, {"customer": {"email": "n5@example.jp"}, "text": "既存"}, "q100")
    assert known <= first and replay <= 12, (known, replay)


@pytest.mark.django_db(transaction=True)
def test_a_retry_waits_for_the_request_holding_its_key_then_gets_409_past_the_wait(tenant_a, settings):
    from django.db import transaction
    from rest_framework.test import APIClient

    from tickets.services.api_intake import idempotency_claim

    settings.API_IDEMPOTENCY_WAIT_SECONDS = 0.3
    connection(tenant_a, "api")
    token, key = api_key(tenant_a, "owner", "slow client")
    holding, release = threading.Event(), threading.Event()
    body = {"customer": {"email": "slow@example.jp"}, "text": "遅い"}

    def first_request_still_at_work():
        try:
            with transaction.atomic():
                idempotency_claim(
                    organization=tenant_a.organization, principal=f"token:{token.pk}", key="slow", fingerprint="x"
                )
                holding.set()
                release.wait(30)
                raise RuntimeError("the first request fails: its key is freed")
        except RuntimeError:
            pass
        finally:
            db_connection.close()

    holder = threading.Thread(target=first_request_still_at_work)
    holder.start()
    assert holding.wait(30)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    try:
        busy = _post(client, tenant_a, body, key="slow")
    finally:
        release.set()
        holder.join()
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "idempotency_in_progress"
    assert _created(_post(client, tenant_a, body, key="slow"))  # the failed first request left the key free
    with scopes_disabled():
        assert Ticket.objects.count() == 1
