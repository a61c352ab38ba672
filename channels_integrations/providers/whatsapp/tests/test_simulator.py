"""The simulator's WhatsApp part as the demo operator drives it (its `/_sim/whatsapp/…` routes and operator page), and
the demo organization's WhatsApp connection."""

import json

import requests
from django_scopes import scopes_disabled

from channels_integrations.inbound import InboundDelete, InboundEdit, InboundMessage
from channels_integrations.models import ChannelConnection
from channels_integrations.providers.whatsapp import simulator as sim
from channels_integrations.providers.whatsapp.connector import WhatsAppConnector


def recorded(simulator) -> list[tuple[str, bytes, dict]]:
    """Webhooks the part sends, kept here instead of posted (the operator's requests run in the server's thread)."""
    posts: list = []
    simulator.transport = lambda url, body, headers: posts.append((url, body, headers)) or 200
    return posts


def items(posts) -> list:
    connector = WhatsAppConnector()
    found = []
    for url, body, headers in posts:
        assert url.endswith("/webhooks/meta/") and headers["X-Hub-Signature-256"].startswith("sha256=")
        for delivery in connector.split_webhook(body):
            assert delivery.account_id == sim.PHONE_NUMBER_ID
            found += connector.parse_event(delivery.payload, account_id=delivery.account_id)
    return found


def test_the_operator_makes_a_customer_write_send_media_press_a_button_edit_and_delete(simulator):
    posts = recorded(simulator)
    base = simulator.base_url + "/_sim/whatsapp"
    customer = {"wa_id": "819011112222", "name": "井上 彩"}
    text = requests.post(f"{base}/messages", data=customer | {"kind": "text", "text": "こんにちは"}, timeout=5).json()
    requests.post(f"{base}/messages", data=customer | {"kind": "image", "text": "写真です"}, timeout=5)
    requests.post(f"{base}/messages", data=customer | {"kind": "button", "text": "はい"}, timeout=5)
    requests.post(f"{base}/messages", data=customer | {"kind": "location", "text": "東京駅"}, timeout=5)
    requests.post(
        f"{base}/edit", data=customer | {"message_id": text["id"], "text": "こんばんは", "action": "edit"}, timeout=5
    )
    requests.post(f"{base}/edit", data=customer | {"message_id": text["id"], "action": "delete"}, timeout=5)
    hello, photo, button, place, edit, delete = items(posts)
    assert isinstance(hello, InboundMessage) and (hello.text, hello.author_name) == ("こんにちは", "井上 彩")
    assert photo.text == "写真です" and photo.attachments[0].content_type == "image/png"
    assert photo.attachments[0].media_id in simulator.parts["whatsapp"].media
    assert button.text == "はい"
    assert place.text.startswith("東京駅\n📍 https://www.google.com/maps?q=35.6812,139.7671")
    assert edit == InboundEdit(platform_message_id=text["id"], text="こんばんは", timestamp=edit.timestamp)
    assert isinstance(delete, InboundDelete) and delete.platform_message_id == text["id"]
    page = requests.get(simulator.base_url + "/_sim/", timeout=5).text
    assert 'action="/_sim/whatsapp/messages"' in page and "井上 彩" in page  # the customer can be aged


def test_the_operator_arms_errors_and_closes_the_window(simulator):
    recorded(simulator)
    part = simulator.parts["whatsapp"]
    base = simulator.base_url + "/_sim/whatsapp"
    requests.post(f"{base}/messages", data={"wa_id": "819011112222", "text": "hi"}, timeout=5)
    graph = f"{simulator.base_url}/v24.0/{sim.PHONE_NUMBER_ID}/messages"
    headers = {"Authorization": f"Bearer {sim.SYSTEM_TOKEN}"}
    body = {"messaging_product": "whatsapp", "to": "819011112222", "type": "text", "text": {"body": "ok"}}
    assert requests.post(graph, json=body, headers=headers, timeout=5).status_code == 200
    for code, status in (("190", 401), ("130429", 400), ("131026", 400)):
        requests.post(f"{base}/fail", data={"code": code}, timeout=5)
        answer = requests.post(graph, json=body, headers=headers, timeout=5)
        assert (answer.status_code, answer.json()["error"]["code"]) == (status, int(code))
    requests.post(f"{base}/window", data={"wa_id": "819011112222"}, timeout=5)
    closed = requests.post(graph, json=body, headers=headers, timeout=5).json()
    assert closed["error"]["code"] == 131047
    assert len(part.state()["sent"]) == 1


def test_the_demo_organization_gets_the_simulators_number(db, simulator, settings, tmp_path):
    from django.core.management import call_command

    from conftest import make_org, make_user

    for name in ("TELEGRAM_API_URL", "LINE_API_URL", "LINE_API_DATA_URL", "X_API_URL"):  # as config/devserver.py
        setattr(settings, name, simulator.base_url)
    demo = make_org("demo", make_user("owner@demo.tsunagu.example"))
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"base_url": simulator.base_url}))
    call_command("connect_demo_channels", simulator_state=str(state))
    with scopes_disabled():
        connection = ChannelConnection.objects.get(organization=demo, platform="whatsapp")
    assert connection.external_account_id == sim.PHONE_NUMBER_ID and connection.status == "active"
    assert connection.config["waba_id"] == sim.WABA_ID
    assert simulator.parts["whatsapp"].state()["subscriptions"] == [sim.WABA_ID]
