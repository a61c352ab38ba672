"""The asynchronous intake's thin ASGI path (tickets/api/intake_asgi.py) against the real database: a caller the full
stack accepted once is accepted with one statement, the same answer, event and Idempotency-Key row; the rights
are checked again on every request (a change takes effect at once); anything but the plain case is left to the full
stack, which answers as the API documents; and through the real ASGI server, the second request takes the thin path
with the first one's headers, and concurrent retries of one key store one event. The worker's side: a batch's
customers are matched in a constant number of statements, as request by request."""

import json
import threading
import time
from datetime import timedelta

import pytest
import requests
from django.core import signals
from django.db import close_old_connections, transaction
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_scopes import scopes_disabled

from accounts import services as account_services
from accounts.models import ApiToken, Membership, Role, User
from accounts.tokens import digest
from channels_integrations.models import ChannelConnection, ConnectionStatus, InboundEvent
from tests.e2e.asgi_server import AsgiServer
from tickets.api import intake, intake_asgi
from tickets.models import Contact, ContactIdentity, ContactSettings, IdempotencyKey, Ticket
from tickets.services import api_intake
from tickets.services.contacts import contact_create
from tickets.tests.api.conftest import COMPLAINT, api_key, intake_post
from tickets.tests.api.conftest import count as _count
from tickets.tests.factories import connection

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("each_wake_queues")]

HEADERS = [(b"content-type", b"application/json"), (b"x-content-type-options", b"nosniff")]


def _client(key: str):
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


def _full(secret, tenant, body, **kwargs):
    """Through the full stack (Django's test client): the caller's first accepted request is remembered."""
    return intake_post(_client(secret), tenant, body, prefer=kwargs.pop("prefer", "respond-async"), **kwargs)


def _remember(key, tenant, body=None):
    """The caller's first request, through the full stack, and the headers the ASGI path would record from it."""
    response = _full(key, tenant, body or {"customer": {"email": "first@example.jp"}, "text": "最初"})
    assert response.status_code == 202, response.content
    intake.context_headers_record(intake.context_key(digest(key), tenant.slug, False), HEADERS)
    return response


def _thin(key, tenant, body, *, idempotency_key: str | None = None, extra: dict | None = None):
    """The thin path's answer: (status, headers, body) or None (the full stack is to answer)."""
    headers = {
        "host": "testserver",
        "authorization": f"Token {key}",
        "content-type": "application/json",
        "prefer": "respond-async",
        "accept-language": "en",
    }
    if idempotency_key is not None:
        headers["idempotency-key"] = idempotency_key
    headers.update(extra or {})
    scope = {
        "type": "http",
        "method": "POST",
        "path": f"/api/v1/orgs/{tenant.slug}/tickets/",
        "root_path": "",
        "query_string": b"",
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
        "headers": [(k.encode(), v.encode()) for k, v in headers.items() if v is not None],
    }
    # In the test's thread and transaction: the request signals must not close its connection (Django's test client
    # turns the same check off around each request).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        answer, _key = intake_asgi.accept(scope, json.dumps(body).encode() if not isinstance(body, bytes) else body)
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    if answer is None:
        return None
    status, headers, content = answer
    return status, dict(headers), json.loads(content)


# --- the plain case ---------------------------------------------------------------------------------------------


def test_a_remembered_caller_is_accepted_in_one_statement_with_the_full_stacks_answer(
    tenant_a, api_channel, django_capture_on_commit_callbacks
):
    _token, key = api_key(tenant_a)
    first = _remember(key, tenant_a)
    body = {"customer": {"email": "Hanako@Example.JP", "name": "山田 花子"}, "subject": "配送", "text": COMPLAINT}
    with django_capture_on_commit_callbacks(execute=False) as wakes, CaptureQueriesContext(db_connection) as queries:
        status, headers, accepted = _thin(key, tenant_a, body, idempotency_key="thin-1")
    # A savepoint here (the test's transaction), BEGIN and COMMIT in the server: around the one statement.
    assert len(queries) == 3, [q["sql"][:80] for q in queries]
    assert status == 202 and accepted == {"id": accepted["id"], "status": "received", "ticket": None, "message": None}
    location = f"http://testserver/api/v1/orgs/{tenant_a.slug}/intake/{accepted['id']}/"
    assert headers == {**dict(HEADERS), b"location": location.encode(), b"content-length": headers[b"content-length"]}
    assert first["Location"].startswith("http://testserver/api/v1/orgs/")
    with tenant_a.scope():
        event, theirs = InboundEvent.objects.get(pk=accepted["id"]), InboundEvent.objects.get(pk=first.json()["id"])
        stored = json.loads(bytes(event.payload))
        # The same raw event as the full stack stores (customer validated and normalised), of the same source.
        assert {k for k in stored} == {k for k in json.loads(bytes(theirs.payload))}
        assert stored["customer"] == {
            "name": "山田 花子",
            "email": "hanako@example.jp",
            "phone": "",
            "platform": "",
            "external_id": "",
        }
        assert (stored["text"], stored["subject"], stored["kind"]) == (COMPLAINT, "配送", "form")
        assert (event.source, event.connection_id, event.status) == ("api", api_channel.pk, "received")
        assert event.event_key == api_intake.intake_event_key(principal=f"token:{_token.pk}", key="thin-1")
        key_row = IdempotencyKey.objects.get(key="thin-1")
        assert (key_row.principal, key_row.response_status, key_row.response_body) == (
            f"token:{_token.pk}",
            202,
            accepted,
        )
        assert key_row.fingerprint == api_intake.request_fingerprint(
            "POST", f"/api/v1/orgs/{tenant_a.slug}/tickets/", body
        )
    assert len(wakes) == 1  # the ingest woken after the commit, as for the full stack's 202
    with django_capture_on_commit_callbacks(execute=True):
        wakes[0]()
    with tenant_a.scope():
        ticket = Ticket.objects.select_related("contact").get(connection=api_channel, subject="配送")
        assert ticket.contact.emails == ["hanako@example.jp"]
    status = _client(key).get(location.removeprefix("http://testserver")).json()
    assert status["status"] == "processed" and status["ticket"] == ticket.pk


def test_replays_and_reused_keys_are_answered_by_the_full_stack(tenant_a, api_channel):
    _token, key = api_key(tenant_a)
    _remember(key, tenant_a)
    body = {"customer": {"email": "retry@example.jp"}, "text": "再送"}
    _status, _headers, accepted = _thin(key, tenant_a, body, idempotency_key="k")
    assert _thin(key, tenant_a, body, idempotency_key="k") is None  # known key: nothing stored, the full stack
    replay = _full(key, tenant_a, body, key="k")
    assert replay.status_code == 202 and replay["Idempotent-Replayed"] == "true" and replay.json() == accepted
    other = {**body, "text": "別の内容"}
    assert _thin(key, tenant_a, other, idempotency_key="k") is None
    refused = _full(key, tenant_a, other, key="k")
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "idempotency_key_reused"
    # A key first answered synchronously replays its 201, also when retried asynchronously.
    sync = _full(key, tenant_a, body, key="sync", prefer=None)
    assert sync.status_code == 201
    assert _thin(key, tenant_a, body, idempotency_key="sync") is None
    assert _full(key, tenant_a, body, key="sync").json() == sync.json()
    assert _count(tenant_a, InboundEvent) == 2 and _count(tenant_a, IdempotencyKey) == 2
    # The caller stays remembered: a replay is no reason to forget it.
    assert _thin(key, tenant_a, {**body, "text": "新しい"}, idempotency_key="k2")[0] == 202


def test_the_default_channel_and_a_named_one_are_remembered_each(tenant_a, api_channel):
    _token, key = api_key(tenant_a)
    _remember(key, tenant_a)
    second = connection(tenant_a, "api", "Second form")
    named = {"connection": second.pk, "customer": {"email": "a@example.jp"}, "text": "x"}
    assert _thin(key, tenant_a, named) is None  # not yet seen through the full stack
    assert _full(key, tenant_a, named).status_code == 202
    assert _thin(key, tenant_a, named)[0] == 202
    assert _thin(key, tenant_a, {"customer": {"email": "a@example.jp"}, "text": "x"})[0] == 202
    with tenant_a.scope():
        assert InboundEvent.objects.filter(connection=second).count() == 2
        assert InboundEvent.objects.filter(connection=api_channel).count() == 2


# --- the rights, checked again on every request ----------------------------------------------------------------


def _revoke(tenant, token, key):
    with tenant.scope():
        ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    return 401


def _deactivate(tenant, token, key):
    User.objects.filter(pk=token.user_id).update(is_active=False)
    return 401


def _expire(tenant, token, key):
    with tenant.scope():
        ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    return 401


def _outlive_the_organizations_limit(tenant, token, key):
    with tenant.scope():
        ApiToken.objects.filter(pk=token.pk).update(created_at=timezone.now() - timedelta(days=3))
    tenant.organization.api_token_max_days = 2
    tenant.organization.save(update_fields=["api_token_max_days"])
    return 401


def _remove_the_member(tenant, token, key):
    with tenant.scope():
        Membership.objects.filter(user_id=token.user_id).delete()
    return 404


def _make_an_analyst(tenant, token, key):
    with tenant.scope():
        Membership.objects.filter(user_id=token.user_id).update(role=Role.objects.get(key="analyst"))
    return 403


def _require_two_factor(tenant, token, key):
    tenant.organization.require_two_factor = True
    tenant.organization.save(update_fields=["require_two_factor"])
    return 403


def _pause_the_channel(tenant, token, key):
    with tenant.scope():
        ChannelConnection.objects.filter(platform="api").update(status=ConnectionStatus.PAUSED)
    return 400


def _take_the_grant_back(tenant, token, key):
    with tenant.scope():
        account_services.connection_access_set(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            connection=ChannelConnection.objects.get(display_name="Contact form"),
            users=[],
        )
    return 400


def _add_an_earlier_default(tenant, token, key):
    # The default is the first active API channel: a paused one before it comes back.
    with tenant.scope():
        earlier = ChannelConnection.objects.filter(platform="api").order_by("pk").first()
        ChannelConnection.objects.filter(pk=earlier.pk).update(status=ConnectionStatus.ACTIVE)
    return 202


@pytest.mark.parametrize(
    "change",
    [
        _revoke,
        _deactivate,
        _expire,
        _outlive_the_organizations_limit,
        _remove_the_member,
        _make_an_analyst,
        _require_two_factor,
        _pause_the_channel,
        _take_the_grant_back,
        _add_an_earlier_default,
    ],
)
def test_a_change_of_rights_takes_effect_at_the_next_request(tenant_a, change):
    earlier = connection(tenant_a, "api", "Earlier form")
    with tenant_a.scope():
        ChannelConnection.objects.filter(pk=earlier.pk).update(status=ConnectionStatus.PAUSED)
    channel = connection(tenant_a, "api", "Contact form")
    with tenant_a.scope():
        account_services.connection_access_set(
            organization=tenant_a.organization,
            actor=tenant_a.users["owner"],
            connection=channel,
            users=[tenant_a.users["agent"]],
        )
    token, key = api_key(tenant_a, "agent")
    _remember(key, tenant_a)
    body = {"customer": {"email": "a@example.jp"}, "text": "x"}
    assert _thin(key, tenant_a, body)[0] == 202  # the agent, granted the channel, is accepted by the thin path
    events, keys = _count(tenant_a, InboundEvent), _count(tenant_a, IdempotencyKey)
    expected = change(tenant_a, token, key)
    assert _thin(key, tenant_a, body, idempotency_key="after") is None
    assert (_count(tenant_a, InboundEvent), _count(tenant_a, IdempotencyKey)) == (events, keys)  # nothing written
    # The full stack gives the change's answer (and, when it accepts, remembers the caller again).
    assert _full(key, tenant_a, body, key="after").status_code == expected


def test_an_authenticator_lets_the_member_back_when_two_factor_is_required(tenant_a, api_channel):
    token, key = api_key(tenant_a)
    _remember(key, tenant_a)
    _require_two_factor(tenant_a, token, key)
    body = {"customer": {"email": "a@example.jp"}, "text": "x"}
    assert _thin(key, tenant_a, body) is None
    TOTPDevice.objects.create(user=tenant_a.users["owner"], name="phone", confirmed=True)
    _remember(key, tenant_a)
    assert _thin(key, tenant_a, body)[0] == 202


def test_a_phone_number_is_taken_with_the_region_the_organization_has_now(tenant_a, api_channel):
    _token, key = api_key(tenant_a)
    local = {"customer": {"phone": "090-1234-5678"}, "text": "電話番号"}
    assert _remember(key, tenant_a, local).status_code == 202  # the full stack read the region (JP)
    _status, _headers, accepted = _thin(key, tenant_a, local)
    with tenant_a.scope():
        stored = json.loads(bytes(InboundEvent.objects.get(pk=accepted["id"]).payload))
        assert stored["customer"]["phone"] == "+819012345678"
        ContactSettings.objects.update_or_create(organization=tenant_a.organization, defaults={"phone_region": "US"})
    assert _thin(key, tenant_a, local) is None  # normalised with the old region: the full stack decides
    assert _full(key, tenant_a, local).status_code == 400  # not a number in the United States
    _remember(key, tenant_a, {"customer": {"phone": "+81 90-1234-5678"}, "text": "国番号つき"})
    assert _thin(key, tenant_a, {"customer": {"phone": "+81 3-1234-5678"}, "text": "x"})[0] == 202


# --- not the plain case -------------------------------------------------------------------------------------------


def test_what_is_not_the_plain_case_is_left_to_the_full_stack(tenant_a, tenant_b, api_channel, settings):
    _token, key = api_key(tenant_a)
    body = {"customer": {"email": "a@example.jp"}, "text": "x"}
    assert _thin(key, tenant_a, body) is None  # a caller not seen yet
    _remember(key, tenant_a)
    assert _thin(key, tenant_a, body)[0] == 202
    refused = [
        {"customer": {"email": "not an address"}, "text": "x"},  # the serializer's 400s
        {"text": "x"},
        {"customer": {"email": "a@example.jp"}, "text": ""},
        {"customer": {"email": "a@example.jp"}, "text": "x\u0000"},
        {"connection": 999999, "customer": {"email": "a@example.jp"}, "text": "x"},  # a channel not remembered
        ["not", "an", "object"],
    ]
    for wrong in refused:
        assert _thin(key, tenant_a, wrong) is None, wrong
    assert _thin(key, tenant_a, b"{not json") is None
    assert _thin(key, tenant_a, b'{"customer": {"email": "a@example.jp"}, "text": NaN}') is None
    for extra in (
        {"content-type": "text/plain"},
        {"content-type": "application/json; charset=latin-1"},
        {"accept": "text/html"},
        {"prefer": "return=minimal"},
        {"host": "evil.example"},
        {"idempotency-key": " "},
        {"authorization": "Basic dXNlcjpwYXNz"},
        {"authorization": "Token not-a-key"},
    ):
        assert _thin(key, tenant_a, body, extra=extra) is None, extra
    assert _thin(key, tenant_b, body) is None  # the key of another organization's member
    settings.SECURE_SSL_REDIRECT = True
    assert _thin(key, tenant_a, body) is None  # plain HTTP where HTTPS is required: the full stack redirects
    settings.SECURE_SSL_REDIRECT = False
    assert _thin(key, tenant_a, body, extra={"accept": "application/json"})[0] == 202
    assert _count(tenant_a, InboundEvent) == 3 and _count(tenant_a, IdempotencyKey) == 0


def test_only_asynchronous_ticket_creations_take_the_thin_path():
    def scope(method="POST", path="/api/v1/orgs/acme/tickets/", prefer=b"respond-async"):
        return {"type": "http", "method": method, "path": path, "headers": [(b"prefer", prefer)]}

    assert intake_asgi.is_async_intake(scope())
    assert intake_asgi.is_async_intake(scope(prefer=b"wait=5, RESPOND-ASYNC"))
    assert not intake_asgi.is_async_intake(scope(prefer=b"return=minimal"))
    assert not intake_asgi.is_async_intake(scope(method="GET"))
    assert not intake_asgi.is_async_intake(scope(path="/api/v1/orgs/acme/tickets/5/messages/"))
    assert not intake_asgi.is_async_intake(scope(path="/api/v1/orgs/acme/tickets/x"))
    assert not intake_asgi.is_async_intake({"type": "websocket", "path": "/ws/", "headers": []})


def test_the_memory_of_callers_is_bounded(tenant_a, api_channel, monkeypatch):
    monkeypatch.setattr(intake, "CONTEXT_MAX_ENTRIES", 3)
    for n in range(5):
        _token, key = api_key(tenant_a, name=f"client {n}")
        assert _full(key, tenant_a, {"customer": {"email": f"c{n}@example.jp"}, "text": "x"}).status_code == 202
        assert len(intake._contexts) <= 3


# --- through the real server ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_through_the_server_the_second_request_is_accepted_by_the_thin_path_with_the_same_headers(tenant_a):
    connection(tenant_a, "api")
    token, key = api_key(tenant_a)
    server = AsgiServer()
    try:
        url = f"{server.url}/api/v1/orgs/{tenant_a.slug}/tickets/"
        headers = {"Authorization": f"Token {key}", "Prefer": "respond-async"}

        def post(text, **extra):
            body = {"customer": {"email": f"{text}@example.jp"}, "text": text}
            return requests.post(url, json=body, headers={**headers, **extra}, timeout=30)

        first = post("first")
        # A minute later, the full stack would note the token's use again; the thin path does not look it up.
        with tenant_a.scope():
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - timedelta(minutes=5))
        second = post("second", **{"Idempotency-Key": "server-1"})
        with tenant_a.scope():
            assert ApiToken.objects.get(pk=token.pk).last_used_at < timezone.now() - timedelta(minutes=4)
        assert first.status_code == second.status_code == 202
        assert second.json()["id"] != first.json()["id"]
        assert second.headers["Location"] == f"{server.url}/api/v1/orgs/{tenant_a.slug}/intake/{second.json()['id']}/"
        varying = {"location", "content-length", "date"}
        assert {k: v for k, v in first.headers.items() if k.lower() not in varying} == {
            k: v for k, v in second.headers.items() if k.lower() not in varying
        }
        # The full stack's answers for what is not the plain case, through the same entrance.
        replay = post("second", **{"Idempotency-Key": "server-1"})
        assert replay.status_code == 202 and replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json() == second.json()
        assert post("not an address").status_code == 400
        with tenant_a.scope():
            ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
        assert post("third").status_code == 401
        # Processed by the worker (in the server, eagerly): the status resource shows the ticket.
        status = requests.get(second.headers["Location"], headers={"Authorization": f"Token {api_key(tenant_a)[1]}"})
        assert status.json()["status"] == "processed" and status.json()["ticket"]
    finally:
        server.stop()
    with scopes_disabled():
        assert InboundEvent.objects.count() == 2 and Ticket.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_through_the_server_concurrent_retries_of_one_key_store_one_event(tenant_a):
    connection(tenant_a, "api")
    _token, key = api_key(tenant_a)
    server = AsgiServer()
    try:
        url = f"{server.url}/api/v1/orgs/{tenant_a.slug}/tickets/"
        headers = {"Authorization": f"Token {key}", "Prefer": "respond-async"}
        warm = requests.post(url, json={"customer": {"email": "w@example.jp"}, "text": "w"}, headers=headers)
        assert warm.status_code == 202  # the caller is remembered: the retries meet on the thin path first
        body = {"customer": {"email": "new-customer@example.jp", "name": "新規"}, "text": "同時に再送"}
        barrier = threading.Barrier(8)
        responses = []

        def send():
            barrier.wait()
            responses.append(requests.post(url, json=body, headers={**headers, "Idempotency-Key": "same"}, timeout=60))

        threads = [threading.Thread(target=send) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        server.stop()
    assert [r.status_code for r in responses] == [202] * 8
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 7
    with scopes_disabled():
        assert InboundEvent.objects.filter(event_key__startswith="idem:").count() == 1
        assert IdempotencyKey.objects.filter(key="same").count() == 1
        assert Contact.objects.filter(emails__contains=["new-customer@example.jp"]).count() == 1


# --- the worker: a batch's customers ------------------------------------------------------------------------------


def _resolve(tenant, channel, customers):
    with tenant.scope():
        return api_intake.customers_resolve(organization=tenant.organization, connection=channel, customers=customers)


def _accounts(contact) -> frozenset:
    return frozenset(contact.identities.values_list("platform", "external_id"))


def _shape(tenant, channel, customers):
    """Which of the requests share a contact, and the contacts' addresses, numbers and accounts."""
    authors = _resolve(tenant, channel, customers)
    with tenant.scope():
        contact_of = dict(ContactIdentity.objects.filter(platform="api").values_list("external_id", "contact_id"))
        ids = [contact_of[a] for a in authors]
        contacts = {
            c.pk: (c.name, tuple(c.emails), tuple(c.phones), _accounts(c)) for c in Contact.objects.filter(pk__in=ids)
        }
    first = {}
    return [first.setdefault(i, n) for n, i in enumerate(ids)], [contacts[i] for i in dict.fromkeys(ids)]


def _customers(tenant):
    """Customers already known (by address, number and LINE account), and a batch naming them and new ones."""
    with tenant.scope():
        contact_create(organization=tenant.organization, actor=tenant.users["owner"], name="既存", emails=["k@x.jp"])
        by_phone = contact_create(
            organization=tenant.organization, actor=tenant.users["owner"], name="電話", phones=["03-1111-2222"]
        )
        ContactIdentity.objects.create(
            organization=tenant.organization, contact=by_phone, platform="line", external_id="U-known"
        )
    email, phone, name = "email", "phone", "name"
    return [
        {email: "new@x.jp", phone: "+819011112222", name: "新規"},  # new
        {email: "k@x.jp"},  # known by address
        {phone: "+81311112222"},  # known by number
        {"platform": "line", "external_id": "U-known", email: "other@x.jp"},  # known by account, not by address
        {phone: "+819011112222"},  # the first request's new contact, by number
        {email: "NEW@x.jp"},  # the first request's new contact again, by address (normalised earlier)
        {"platform": "line", "external_id": "U-new", name: "LINE"},  # new, with its LINE account
        {"platform": "line", "external_id": "U-new"},  # the same account: the same contact
        {email: "late@x.jp", phone: "+819011112222"},  # a number of the batch's new contact
    ]


def test_a_batch_matches_customers_as_one_request_after_another_would(tenant_a, tenant_b):
    batch = _customers(tenant_a)
    batch[5]["email"] = "new@x.jp"  # as the request's validation leaves it
    bulk = _shape(tenant_a, connection(tenant_a, "api"), batch)
    _customers(tenant_b)
    channel_b = connection(tenant_b, "api")
    with tenant_b.scope():
        authors = [
            api_intake.customer_author(tenant_b.organization, channel_b, api_intake.Customer(**customer))
            for customer in batch
        ]
    assert len(authors) == len(batch)
    one_by_one = _shape(tenant_b, channel_b, batch)  # all linked now: read back
    assert bulk == one_by_one
    assert bulk[0] == [0, 1, 2, 2, 0, 0, 6, 6, 0]  # the LINE account's contact is the one known by number


def test_a_batch_costs_the_same_statements_however_many_customers(tenant_a):
    channel = connection(tenant_a, "api")

    def statements(n, tag):
        customers = [{"email": f"{tag}{i}@x.jp", "phone": f"+8190{i:08d}"} for i in range(n)]
        customers += [{"platform": "line", "external_id": f"{tag}-{i}"} for i in range(n)]
        with CaptureQueriesContext(db_connection) as captured:
            _resolve(tenant_a, channel, customers)
        return len(captured)

    statements(1, "warm")
    assert statements(3, "a") == statements(30, "b") <= 8


@pytest.mark.django_db(transaction=True)
def test_an_account_linked_meanwhile_by_another_worker_keeps_its_contact(tenant_a):
    channel = connection(tenant_a, "api")
    linked, blocked = threading.Event(), threading.Event()

    def another_worker():
        try:
            with transaction.atomic(), tenant_a.scope():
                theirs = Contact.objects.create(organization=tenant_a.organization, name="先", emails=["race@x.jp"])
                ContactIdentity.objects.create(
                    organization=tenant_a.organization, contact=theirs, platform="api", external_id="email:race@x.jp"
                )
                linked.set()
                assert blocked.wait(30)
        finally:
            db_connection.close()

    worker = threading.Thread(target=another_worker)
    worker.start()
    assert linked.wait(30)

    def wait_for_the_batch_to_block():
        deadline = time.monotonic() + 30
        with db_connection.cursor() as cursor:
            while time.monotonic() < deadline:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = "
                    "current_database()"
                )
                if cursor.fetchone()[0]:
                    break
                time.sleep(0.05)
        blocked.set()

    watcher = threading.Thread(target=lambda: (wait_for_the_batch_to_block(), db_connection.close()))
    watcher.start()
    try:
        with transaction.atomic():
            authors = _resolve(tenant_a, channel, [{"email": "race@x.jp", "name": "後"}, {"email": "solo@x.jp"}])
    finally:
        blocked.set()
        worker.join()
        watcher.join()
    assert authors == ["email:race@x.jp", "email:solo@x.jp"]
    with scopes_disabled():
        # Ours was undone; the batch went request by request and found theirs.
        assert list(Contact.objects.filter(emails__contains=["race@x.jp"]).values_list("name", flat=True)) == ["先"]
        assert Contact.objects.count() == 2 and ContactIdentity.objects.count() == 2
