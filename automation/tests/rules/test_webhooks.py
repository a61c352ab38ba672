"""The "call a URL" action cannot be turned against our own network: the attacks from issue 15 (finding 2) through
webhook_deliver, against real loopback servers. Only DNS is faked, and connections to anything but loopback are
refused (tests have no network) and recorded."""

import socket

import pytest
from django.utils import translation
from urllib3.util import connection as urllib3_connection

from automation.models import WebhookCallState
from automation.rules.webhooks import webhook_deliver
from automation.tests.rules.test_engine import Receiver, _call_for, ticket_with
from core.tests.test_outbound_http import FakeDNS, Server

pytestmark = pytest.mark.django_db

_real_create_connection = urllib3_connection.create_connection


@pytest.fixture
def receiver():
    made = []

    def make(*statuses):
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture
def fence(monkeypatch):
    """Connections by IP address outside loopback are refused and recorded; names go through (and are resolved
    by the fake DNS, as a second lookup by the HTTP library would be)."""
    attempted = []

    def create_connection(address, *args, **kwargs):
        host = address[0]
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        except OSError:
            return _real_create_connection(address, *args, **kwargs)
        attempted.append(host)
        if not host.startswith("127."):
            raise ConnectionRefusedError(f"no network in tests: {host}")
        return _real_create_connection(address, *args, **kwargs)

    monkeypatch.setattr(urllib3_connection, "create_connection", create_connection)
    return attempted


def _deliver(tenant, call):
    with tenant.scope(), translation.override("en"):
        retry_in = webhook_deliver(organization=tenant.organization, call_id=call.pk)
        call.refresh_from_db()
    return retry_in


def test_dns_rebinding_cannot_reach_an_internal_server(tenant_a, receiver, fence, settings, monkeypatch):
    """The name is public when checked and loopback when the library would look it up again."""
    settings.RULE_WEBHOOKS_ALLOW_PRIVATE = False
    internal = receiver()
    port = internal.server.server_address[1]
    FakeDNS(monkeypatch, rebind_test=["8.8.8.8", "127.0.0.1"])
    ticket, message = ticket_with(tenant_a)
    call = _call_for(tenant_a, ticket, message, f"http://rebind.test:{port}/hook")
    _deliver(tenant_a, call)
    assert internal.requests == []
    assert fence == ["8.8.8.8"]  # the connection went to the address that was checked
    assert call.state == WebhookCallState.PENDING  # a network error: retried later, checked again then


def test_a_failed_first_lookup_is_refused(tenant_a, receiver, fence, settings, monkeypatch):
    settings.RULE_WEBHOOKS_ALLOW_PRIVATE = False
    internal = receiver()
    port = internal.server.server_address[1]
    FakeDNS(monkeypatch, flaky_test=[socket.gaierror(socket.EAI_AGAIN, "try again"), "127.0.0.1"])
    ticket, message = ticket_with(tenant_a)
    call = _call_for(tenant_a, ticket, message, f"http://flaky.test:{port}/hook")
    _deliver(tenant_a, call)
    assert internal.requests == [] and fence == []
    assert "could not be resolved" in call.last_error


@pytest.mark.parametrize("address", ["64:ff9b::7f00:1", "2002:7f00:1::1", "::ffff:127.0.0.1", "2001::7f00:1"])
def test_ipv6_forms_of_private_addresses_are_refused_for_good(tenant_a, fence, settings, monkeypatch, address):
    settings.RULE_WEBHOOKS_ALLOW_PRIVATE = False
    FakeDNS(monkeypatch, sneaky_test=[address])
    ticket, message = ticket_with(tenant_a)
    call = _call_for(tenant_a, ticket, message, "http://sneaky.test/hook")
    assert _deliver(tenant_a, call) is None
    assert (call.state, fence) == (WebhookCallState.FAILED, [])
    assert "private network" in call.last_error


def test_a_redirect_is_the_answer_and_is_not_followed(tenant_a, receiver):
    elsewhere = receiver()

    def redirect(handler):
        handler.send_response(302)
        handler.send_header("Location", elsewhere.url)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    redirecting = Server(answer=redirect)
    try:
        ticket, message = ticket_with(tenant_a)
        call = _call_for(tenant_a, ticket, message, f"http://127.0.0.1:{redirecting.port}/hook")
        _deliver(tenant_a, call)
    finally:
        redirecting.stop()
    assert (len(redirecting.hits), elsewhere.requests) == (1, [])
    assert (call.state, call.last_status_code) == (WebhookCallState.FAILED, 302)
