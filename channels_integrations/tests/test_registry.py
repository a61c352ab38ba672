"""Adding a platform takes one package and one registry line (README, "Adding a channel"): the test package
`fake_provider` is registered the way a new provider is, and without another change anywhere the product routes its
webhooks (per connection, and by payload on Meta's shared endpoint), offers and renders its connect form, serves its
simulator part, ingests what its customers write and sends replies through it."""

import hashlib
import hmac
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.test import Client

from channels_integrations import registry
from channels_integrations.models import ChannelConnection, InboundEvent, InboundEventStatus
from channels_integrations.simulator.core import Simulator
from tickets.models import DeliveryState, Message, Ticket
from tickets.services.delivery import message_send
from tickets.services.replies import message_reply

FAKE = "channels_integrations.tests.fake_provider"
META_FIXTURES = Path(__file__).parents[1] / "providers" / "meta" / "tests" / "fixtures"
WHATSAPP = META_FIXTURES / "whatsapp" / "signed_text_message.raw.json"


@pytest.fixture
def fake_platform(monkeypatch):
    # The one registry line. The fake's "fakewa" stands in for WhatsApp on Meta's shared endpoint (one connector per
    # payload object), so the real WhatsApp provider steps aside here.
    providers = [p for p in registry.PROVIDERS if p != "channels_integrations.providers.whatsapp"]
    monkeypatch.setattr(registry, "PROVIDERS", [*providers, FAKE])
    registry.reset()
    yield
    registry.reset()


@pytest.fixture
def fake_simulator(fake_platform, settings):
    sim = Simulator(webhook_base="http://testserver").start()
    settings.FAKECHAT_URL = sim.base_url
    client = Client()

    def transport(url: str, body: bytes, headers: dict[str, str]) -> int:
        extra = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        return client.post(urlsplit(url).path, data=body, content_type="application/json", headers=extra).status_code

    sim.transport = transport
    yield sim
    sim.stop()


def test_the_registry_line_makes_it_a_platform(fake_platform):
    assert registry.has_connector("fakechat") and registry.connector_for("fakechat").label == "FakeChat"
    assert ("fakechat", "FakeChat") in registry.platform_choices()
    assert [c.platform for c in registry.app_level_connectors("meta")] == ["facebook", "instagram", "fakewa"]


def test_without_the_line_it_is_not_one():
    assert not registry.has_connector("fakechat")
    assert "fakechat" not in dict(registry.platform_choices())


def test_its_connect_form_is_offered_rendered_and_connects(fake_platform, tenant_a, login):
    client = login(tenant_a.users["owner"])
    page = client.get(f"/{tenant_a.slug}/settings/channels/").content.decode()
    assert 'id="connect-fakechat"' in page and "Connect FakeChat" in page
    form = client.get(f"/{tenant_a.slug}/settings/channels/fakechat/")
    assert form.status_code == 200 and 'name="bot_id"' in form.content.decode()
    refused = client.post(f"/{tenant_a.slug}/settings/channels/fakechat/", {"bot_id": "", "secret": "s3cret"})
    assert refused.status_code == 400
    done = client.post(f"/{tenant_a.slug}/settings/channels/fakechat/", {"bot_id": "bot-7", "secret": "s3cret"})
    assert done.status_code == 200
    with tenant_a.scope():
        connection = ChannelConnection.objects.get(platform="fakechat")
    assert connection.credentials == {"secret": "s3cret"} and "s3cret" not in connection.credentials_encrypted
    assert f"/webhooks/fakechat/{connection.uuid}/" in done.content.decode()
    assert "s3cret" not in done.content.decode()


def test_its_simulator_part_webhooks_and_sends_run_through_the_real_pipeline(
    fake_simulator, tenant_a, django_capture_on_commit_callbacks
):
    assert "fakechat" in fake_simulator.parts  # the simulator's core found it through the registry
    with tenant_a.scope():
        connection = ChannelConnection.objects.create(
            organization=tenant_a.organization, platform="fakechat", display_name="Bot", external_account_id="bot-1"
        )
        connection.set_credentials({"secret": "webhook-secret"})
        connection.save()
    part = fake_simulator.parts["fakechat"]
    with django_capture_on_commit_callbacks(execute=True):
        status = part.customer_writes(
            connection_uuid=connection.uuid, secret="webhook-secret", sender="C-1", text="注文がまだ届きません"
        )
    assert status == 200
    # A forged signature is refused before anything is stored.
    assert part.customer_writes(connection_uuid=connection.uuid, secret="wrong", sender="C-1", text="x") == 403
    with tenant_a.scope():
        message = Message.objects.select_related("ticket").get(connection=connection)
        assert message.text == "注文がまだ届きません" and message.ticket.contact.name == "Fake Customer"
        assert InboundEvent.objects.get(connection=connection).status == InboundEventStatus.PROCESSED
        reply = message_reply(
            organization=tenant_a.organization, actor=tenant_a.users["agent"], ticket=message.ticket, text="確認します"
        )
        outcome = message_send(organization=tenant_a.organization, message_id=reply.pk)
        reply.refresh_from_db()
    assert outcome.state == DeliveryState.SENT and reply.delivery_state == DeliveryState.SENT
    assert part.sent == [
        {"to": "C-1", "text": "確認します", "ref": str(reply.local_ref), "id": reply.platform_message_id}
    ]


def test_meta_s_shared_endpoint_routes_by_the_payload_s_object(
    fake_platform, tenant_a, client, settings, django_capture_on_commit_callbacks
):
    # A real delivery signed by Meta (pywa's test vector): object "whatsapp_business_account", account 264937493375603.
    settings.META_APP_SECRET = "1222e786b144d0e85b9f365372d93676"
    body = WHATSAPP.read_bytes()
    signature = "sha256=54edfa1d7259e0eb13c677cc7d73d1b5c86cfa12433d19156e058ab9251bc441"
    with tenant_a.scope():
        connection = ChannelConnection.objects.create(
            organization=tenant_a.organization,
            platform="fakewa",
            display_name="WhatsApp",
            external_account_id="264937493375603",
        )
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(
            "/webhooks/meta/", data=body, content_type="application/json", headers={"X-Hub-Signature-256": signature}
        )
    assert answer.status_code == 200
    with tenant_a.scope():
        assert InboundEvent.objects.get().connection_id == connection.pk
        ticket = Ticket.objects.get(connection=connection)
        assert ticket.messages.get().text == "Hey there! I am using PyWa."
    # A payload no connector of the endpoint takes is refused as malformed (after the signature).
    other = json.dumps({"object": "permissions", "entry": []}).encode()
    forged = "sha256=" + hmac.new(settings.META_APP_SECRET.encode(), other, hashlib.sha256).hexdigest()
    refused = client.post(
        "/webhooks/meta/", data=other, content_type="application/json", headers={"X-Hub-Signature-256": forged}
    )
    assert refused.status_code == 400
