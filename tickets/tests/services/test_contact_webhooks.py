"""Outgoing contact webhooks: each event a subscription asked for is POSTed as signed JSON to a real loopback
receiver; failures are retried on the one retry policy's schedule with every attempt kept; refusals are final."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.models import Attempt
from tickets.models import Contact, WebhookDeliveryState, WebhookEventDelivery
from tickets.services.contact_merge import contact_merge
from tickets.services.contact_webhooks import (
    SIGNATURE_HEADER,
    contacts_announce,
    webhook_delivery_send,
    webhook_subscription_create,
)
from tickets.services.contacts import contact_create, contact_update

pytestmark = pytest.mark.django_db


class Receiver:
    """A real HTTP endpoint on loopback answering the given statuses in turn, keeping what it got."""

    def __init__(self, *statuses):
        self.statuses, self.requests = list(statuses), []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self):
        self.server.shutdown()


@pytest.fixture
def receiver(settings):
    settings.RULE_WEBHOOKS_ALLOW_PRIVATE = True  # loopback
    made = []

    def make(*statuses):
        made.append(Receiver(*statuses))
        return made[-1]

    yield make
    for r in made:
        r.close()


def _subscribe(tenant, url, events):
    with tenant.scope():
        return webhook_subscription_create(
            organization=tenant.organization, actor=tenant.users["owner"], url=url, events=events
        )


def test_events_are_sent_signed_to_the_subscribers_that_asked(tenant_a, receiver, django_capture_on_commit_callbacks):
    hook, other = receiver(), receiver()
    _subscription, secret = _subscribe(tenant_a, hook.url, ["contact.created", "contact.updated", "contact.merged"])
    _subscribe(tenant_a, other.url, ["contact.merged"])
    org = tenant_a.organization
    with tenant_a.scope():
        with django_capture_on_commit_callbacks(execute=True):
            a = contact_create(organization=org, actor=None, name="山田 花子", emails=["hanako@example.jp"])
        with django_capture_on_commit_callbacks(execute=True):
            contact_update(organization=org, contact=a, actor=None, vip=True)
        with django_capture_on_commit_callbacks(execute=True):
            b = contact_create(organization=org, actor=None, name="Hanako")
        with django_capture_on_commit_callbacks(execute=True):
            contact_merge(organization=org, actor=tenant_a.users["agent"], survivor=a, merged=b)
    events = [json.loads(body)["event"] for _headers, body in hook.requests]
    assert events == ["contact.created", "contact.updated", "contact.created", "contact.merged"]
    assert [json.loads(body)["event"] for _h, body in other.requests] == ["contact.merged"]
    headers, body = hook.requests[1]
    payload = json.loads(body)
    assert payload["contact"]["vip"] is True and payload["changed"] == ["vip"]
    assert payload["contact"]["emails"] == ["hanako@example.jp"]
    # The receiver checks the signature over the raw body with the secret it was shown once.
    timestamp, signature = (part.split("=", 1)[1] for part in headers[SIGNATURE_HEADER].split(","))
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected)
    merged = json.loads(hook.requests[3][1])
    assert merged["merged"] == {"id": b.pk, "name": "Hanako"} and merged["contact"]["id"] == a.pk
    with tenant_a.scope():
        assert set(WebhookEventDelivery.objects.values_list("state", flat=True)) == {WebhookDeliveryState.SUCCEEDED}


def test_a_failing_receiver_is_retried_with_every_attempt_kept_then_refusal_is_final(tenant_a, receiver):
    hook = receiver(503, 500, 200)
    _subscribe(tenant_a, hook.url, ["contact.updated"])
    org = tenant_a.organization
    with tenant_a.scope():
        contact = contact_create(organization=org, actor=None, name="x")
        contact_update(organization=org, contact=contact, actor=None, company="c")  # after commit: not run here
        delivery = WebhookEventDelivery.objects.get()
        assert webhook_delivery_send(organization=org, delivery_id=delivery.pk) == 30  # core.retry's schedule
        assert webhook_delivery_send(organization=org, delivery_id=delivery.pk) == 120
        assert webhook_delivery_send(organization=org, delivery_id=delivery.pk) is None
        delivery.refresh_from_db()
        assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("succeeded", 3, 200)
        assert list(Attempt.objects.order_by("number").values_list("outcome", "status_code")) == [
            ("retrying", 503),
            ("retrying", 500),
            ("succeeded", 200),
        ]
        assert webhook_delivery_send(organization=org, delivery_id=delivery.pk) is None  # done: never sent twice
    assert len(hook.requests) == 3
    refusing = receiver(410)
    _subscribe(tenant_a, refusing.url, ["contact.updated"])
    with tenant_a.scope():
        contact_update(organization=org, contact=Contact.objects.get(), actor=None, company="d")
        delivery = WebhookEventDelivery.objects.filter(subscription__url=refusing.url).get()
        assert webhook_delivery_send(organization=org, delivery_id=delivery.pk) is None
        delivery.refresh_from_db()
        assert delivery.state == "failed" and delivery.last_error == "HTTP 410"


def test_ingested_contacts_are_announced_from_the_matching_task(tenant_a, receiver):
    hook = receiver()
    _subscribe(tenant_a, hook.url, ["contact.created"])
    with tenant_a.scope():
        contact = Contact.objects.create(organization=tenant_a.organization, name="from LINE")
        assert contacts_announce(organization=tenant_a.organization, contact_ids=[contact.pk]) == 1
        assert WebhookEventDelivery.objects.get().payload["contact"]["name"] == "from LINE"


def test_without_subscribers_nothing_is_recorded(tenant_a, django_assert_max_num_queries):
    with tenant_a.scope():
        contact = contact_create(organization=tenant_a.organization, actor=None, name="x")
        with django_assert_max_num_queries(1):
            assert contacts_announce(organization=tenant_a.organization, contact_ids=[contact.pk]) == 0
        assert not WebhookEventDelivery.objects.exists()
