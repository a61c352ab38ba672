"""REST API intake in asynchronous mode (`POST .../tickets/` with `Prefer: respond-async`) against the real database:
the 202 with its Location, the status resource (received → processed with the ticket), the worker's customer matching
(the synchronous path's), Idempotency-Key replays (also concurrent), validation still synchronous, tenancy and the
accepting request's query budget. Celery runs eagerly in tests: the ingest woken after commit runs in-process."""

import threading
import uuid

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django_scopes import scopes_disabled

from channels_integrations import services as channel_services
from channels_integrations.models import InboundEvent
from tickets.models import Contact, ContactIdentity, IdempotencyKey, Message, Ticket, TicketEvent
from tickets.services.contacts import contact_create
from tickets.tests.api.conftest import COMPLAINT, api_key, intake_post
from tickets.tests.api.conftest import count as _count
from tickets.tests.api.conftest import intake_url as _url
from tickets.tests.factories import connection

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("each_wake_queues")]


def _post(api, tenant, body, *, key: str | None = None, prefer: str | None = "respond-async"):
    return intake_post(api, tenant, body, key=key, prefer=prefer)


def _accepted(response) -> dict:
    assert response.status_code == 202, (response.status_code, response.content[:500])
    assert response["Preference-Applied"] == "respond-async"
    body = response.json()
    assert response["Location"].endswith(f"/api/v1/orgs/{response.wsgi_request.organization.slug}/intake/{body['id']}/")
    return body


def _status(api, location: str) -> dict:
    response = api.get(location)
    assert response.status_code == 200, (response.status_code, response.content[:500])
    return response.json()


def test_accepted_then_processed_by_the_ingest_with_the_ticket_in_the_status(
    tenant_a, api_client_for, api_channel, django_capture_on_commit_callbacks
):
    api = api_client_for(tenant_a, "owner")
    body = {"customer": {"email": "Hanako@Example.JP", "name": "山田 花子"}, "subject": "配送", "text": COMPLAINT}
    with django_capture_on_commit_callbacks(execute=False) as wakes:
        response = _post(api, tenant_a, body)
    accepted = _accepted(response)
    assert accepted == {"id": accepted["id"], "status": "received", "ticket": None, "message": None}
    assert _count(tenant_a, Ticket) == 0  # nothing ingested in the request
    assert _status(api, response["Location"])["status"] == "received"
    assert len(wakes) == 1  # the connection's ingest is woken after commit, as for a webhook
    with django_capture_on_commit_callbacks(execute=True):
        wakes[0]()
    status = _status(api, response["Location"])
    assert status["status"] == "processed" and status["ticket"] and status["message"]
    with tenant_a.scope():
        ticket = Ticket.objects.select_related("contact").get(pk=status["ticket"])
        assert ticket.connection_id == api_channel.pk and ticket.subject == "配送"
        assert ticket.contact.emails == ["hanako@example.jp"] and ticket.contact.name == "山田 花子"
        message = Message.objects.get(pk=status["message"])
        assert message.ticket_id == ticket.pk and message.text == COMPLAINT and message.kind == "form"
        # The same ingest as webhooks: language and sentiment, the creation event.
        assert ticket.language == "ja" and message.sentiment
        assert TicketEvent.objects.filter(ticket=ticket, kind="created").count() == 1
        assert ContactIdentity.objects.get(contact=ticket.contact).external_id == "email:hanako@example.jp"
        assert InboundEvent.objects.get(pk=accepted["id"]).source == "api"


def test_the_worker_finds_existing_customers_as_the_synchronous_path_does(
    tenant_a, api_client_for, api_channel, django_capture_on_commit_callbacks
):
    with tenant_a.scope():
        known = contact_create(
            organization=tenant_a.organization,
            actor=tenant_a.users["owner"],
            name="佐藤 太郎",
            emails=["taro@example.jp"],
            phones=["090-1234-5678"],
        )
    api = api_client_for(tenant_a, "owner")
    locations = []
    with django_capture_on_commit_callbacks(execute=True):
        for customer in ({"email": "TARO@example.jp"}, {"phone": "+81 90-1234-5678"}, {"email": "new@example.jp"}):
            locations.append(_post(api, tenant_a, {"customer": customer, "text": "問い合わせ"})["Location"])
    tickets = [_status(api, location)["ticket"] for location in locations]
    with tenant_a.scope():
        contacts = [Ticket.objects.get(pk=pk).contact_id for pk in tickets]
    assert contacts[0] == contacts[1] == known.pk and contacts[2] != known.pk
    assert _count(tenant_a, Contact) == 2


def test_one_batch_matches_each_customer_once(
    tenant_a, api_client_for, api_channel, django_capture_on_commit_callbacks
):
    with tenant_a.scope():
        known = contact_create(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], name="既存", emails=["known@example.jp"]
        )
    api = api_client_for(tenant_a, "owner")
    customers = [
        {"email": "twice@example.jp"},
        {"email": "known@example.jp"},
        {"email": "TWICE@example.jp"},
        {"phone": "03-1234-5678"},
    ]
    with django_capture_on_commit_callbacks(execute=False):
        locations = [_post(api, tenant_a, {"customer": c, "text": "まとめて"})["Location"] for c in customers]
    with django_capture_on_commit_callbacks(execute=False) as after_batch, tenant_a.scope():
        processed, failed = channel_services.events_process_pending(
            organization=tenant_a.organization, connection_id=api_channel.pk
        )
    assert (processed, failed) == (4, [])
    with tenant_a.scope():
        contacts = [Ticket.objects.get(pk=_status(api, url)["ticket"]).contact_id for url in locations]
    assert contacts[0] == contacts[2] != known.pk and contacts[1] == known.pk and contacts[3] not in contacts[:3]
    assert _count(tenant_a, Contact) == 3 and _count(tenant_a, Ticket) == 4
    matching = [c for c in after_batch if "match_contacts" in repr(c.__code__.co_names)]
    assert len(matching) == 1  # the batch's new contacts are matched in one task


def test_a_named_channel_of_another_platform_is_ingested_by_the_api_connector(
    tenant_a, api_client_for, django_capture_on_commit_callbacks
):
    line = connection(tenant_a, "line")
    api = api_client_for(tenant_a, "owner")
    body = {"connection": line.pk, "customer": {"platform": "line", "external_id": "U-async"}, "text": "LINEで"}
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(api, tenant_a, body)
    status = _status(api, _accepted(response) and response["Location"])
    assert status["status"] == "processed"
    with tenant_a.scope():
        ticket = Ticket.objects.get(pk=status["ticket"])
        assert ticket.connection_id == line.pk
        assert ContactIdentity.objects.get(contact_id=ticket.contact_id, platform="line").external_id == "U-async"


def test_validation_stays_synchronous_and_stores_nothing(tenant_a, api_client_for, api_channel):
    api = api_client_for(tenant_a, "owner")
    no_customer = _post(api, tenant_a, {"text": "x"}, key="k1")
    assert no_customer.status_code == 400 and "customer" in no_customer.json()["error"]["fields"]
    bad_email = _post(api, tenant_a, {"customer": {"email": "not an address"}, "text": "x"})
    assert bad_email.status_code == 400 and "customer.email" in bad_email.json()["error"]["fields"]
    unknown = _post(api, tenant_a, {"connection": 999999, "customer": {"email": "a@example.jp"}, "text": "x"})
    assert unknown.status_code == 400 and "connection" in unknown.json()["error"]["fields"]
    # A channel whose platform needs the customer's account there: refused now, not by the worker later.
    line = connection(tenant_a, "line")
    wrong = _post(api, tenant_a, {"connection": line.pk, "customer": {"email": "a@example.jp"}, "text": "x"})
    assert wrong.status_code == 400, wrong.content
    assert _count(tenant_a, InboundEvent) == 0 and _count(tenant_a, IdempotencyKey) == 0


def test_without_the_preference_the_request_is_answered_synchronously(tenant_a, api_client_for, api_channel):
    api = api_client_for(tenant_a, "owner")
    for prefer in (None, "return=minimal", "respond-asynchronously"):
        response = _post(api, tenant_a, {"customer": {"email": "a@example.jp"}, "text": "x"}, prefer=prefer)
        assert response.status_code == 201 and not response.has_header("Preference-Applied")
    # Preferences are a comma-separated list, each maybe with parameters.
    assert _post(api, tenant_a, {"customer": {"email": "a@example.jp"}, "text": "x"}, prefer="wait=5, RESPOND-ASYNC")
    assert _count(tenant_a, InboundEvent) == 1 and _count(tenant_a, Ticket) == 3


def test_a_replay_answers_the_same_202_and_stores_one_event_and_one_ticket(
    tenant_a, api_client_for, api_channel, django_capture_on_commit_callbacks
):
    api = api_client_for(tenant_a, "owner")
    body = {"customer": {"email": "retry@example.jp"}, "text": "再送"}
    with django_capture_on_commit_callbacks(execute=True):
        first = _post(api, tenant_a, body, key="retry-1")
        again = _post(api, tenant_a, body, key="retry-1")
    assert again.json() == first.json() and again["Location"] == first["Location"]
    assert again.status_code == 202 and again["Idempotent-Replayed"] == "true"
    assert _count(tenant_a, InboundEvent) == 1 and _count(tenant_a, Ticket) == 1
    assert _status(api, first["Location"])["status"] == "processed"
    other = _post(api, tenant_a, {**body, "text": "別の内容"}, key="retry-1")
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    # A key first answered synchronously replays that answer.
    sync = _post(api, tenant_a, body, key="sync-1", prefer=None)
    assert sync.status_code == 201
    replayed = _post(api, tenant_a, body, key="sync-1")
    assert replayed.status_code == 201 and replayed.json() == sync.json()


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_key_store_one_event_and_one_ticket(tenant_a, settings):
    settings.INGEST_WAKE_DEBOUNCE = 0
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
    assert [r.status_code for r in responses] == [202] * 8
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.has_header("Idempotent-Replayed") for r in responses) == 7
    with scopes_disabled():
        assert InboundEvent.objects.filter(connection=api_channel).count() == 1
        assert Ticket.objects.filter(connection=api_channel).count() == 1
        assert Message.objects.count() == 1 and Contact.objects.count() == 1


def test_the_status_resource_follows_tenancy_and_channel_grants(
    tenant_a, tenant_b, api_client_for, api_channel, django_capture_on_commit_callbacks
):
    owner = api_client_for(tenant_a, "owner")
    accepted = _accepted(_post(owner, tenant_a, {"customer": {"email": "a@example.jp"}, "text": "x"}))
    path = f"intake/{accepted['id']}/"
    api_b = api_client_for(tenant_b, "owner")
    assert api_b.get(_url(tenant_a, path)).status_code == 404  # not their organization
    assert api_b.get(_url(tenant_b, path)).status_code == 404  # not their request
    # An agent without a grant on the channel does not see it; a webhook's raw event is no intake request.
    assert api_client_for(tenant_a, "agent").get(_url(tenant_a, path)).status_code == 404
    line = connection(tenant_a, "line")
    with tenant_a.scope():
        raw = channel_services.events_store(connection=line, items=[("raw-1", b"{}")], source="webhook")[0]
    assert owner.get(_url(tenant_a, f"intake/{raw}/")).status_code == 404
    assert owner.get(_url(tenant_a, path)).status_code == 200


def _queries(api, tenant, body, key) -> int:
    with CaptureQueriesContext(db_connection) as captured:
        _accepted(_post(api, tenant, body, key=key))
    return len(captured)


def test_accepting_costs_few_queries_whatever_the_data(tenant_a, api_client_for, api_channel):
    api = api_client_for(tenant_a, "owner")
    _accepted(_post(api, tenant_a, {"customer": {"email": "warm@example.jp"}, "text": "warm up"}))
    first = _queries(api, tenant_a, {"customer": {"email": "n0@example.jp"}, "text": "新規"}, "q0")
    for n in range(1, 11):
        _accepted(_post(api, tenant_a, {"customer": {"email": f"n{n}@example.jp"}, "text": "新規"}, key=f"q{n}"))
    later = _queries(api, tenant_a, {"customer": {"email": "n99@example.jp"}, "text": "新規"}, "q99")
    replay = _queries(api, tenant_a, {"customer": {"email": "n99@example.jp"}, "text": "新規"}, "q99")
    print(f"accepting request: {later} queries, replay {replay}")
    assert later == first and later <= 12 and replay <= 12, (first, later, replay)
