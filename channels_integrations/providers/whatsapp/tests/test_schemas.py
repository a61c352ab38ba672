"""WhatsApp webhooks as the Cloud API sends them (fixtures from pywa's test data and a real Meta-signed delivery,
SOURCE.txt): the signature, splitting per message and status, and every fixture parsed into items."""

import json
from pathlib import Path

import pytest
from django.test import RequestFactory

from channels_integrations.connector import MalformedPayload, WebhookRejected
from channels_integrations.inbound import DeliveryUpdate, InboundDelete, InboundEdit, InboundMessage
from channels_integrations.providers.whatsapp.connector import WhatsAppConnector

FIXTURES = Path(__file__).parent / "fixtures"
SIGNED_SECRET = "1222e786b144d0e85b9f365372d93676"
SIGNED_HEADER = "sha256=54edfa1d7259e0eb13c677cc7d73d1b5c86cfa12433d19156e058ab9251bc441"
PHONE = "1122334455667"


def cases(name: str) -> dict:
    return json.loads((FIXTURES / f"pywa_{name}.json").read_text())


def items_of(body: dict | bytes) -> list:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    connector = WhatsAppConnector()
    return [i for d in connector.split_webhook(raw) for i in connector.parse_event(d.payload, account_id=d.account_id)]


def one(body: dict):
    items = items_of(body)
    assert len(items) == 1, items
    return items[0]


def signed_request(body: bytes, header: str | None):
    headers = {"HTTP_X_HUB_SIGNATURE_256": header} if header is not None else {}
    return RequestFactory().post("/webhooks/meta/", data=body, content_type="application/json", **headers)


# --- the signature (Meta's, shared by /webhooks/meta/) ------------------------------------------------------------


def test_the_real_signed_delivery_verifies_and_a_changed_byte_does_not(settings):
    settings.META_APP_SECRET = SIGNED_SECRET
    body = (FIXTURES / "signed_text_message.raw.json").read_bytes()
    assert len(body) == 511
    WhatsAppConnector().verify_webhook(signed_request(body, SIGNED_HEADER), None)
    with pytest.raises(WebhookRejected) as rejected:
        WhatsAppConnector().verify_webhook(signed_request(body.replace(b"PyWa.", b"PyWa!"), SIGNED_HEADER), None)
    assert rejected.value.status == 403
    with pytest.raises(WebhookRejected) as missing:
        WhatsAppConnector().verify_webhook(signed_request(body, None), None)
    assert missing.value.status == 401


def test_the_handshake_echoes_the_challenge_for_the_right_verify_token(settings):
    settings.META_VERIFY_TOKEN = "meatyhamhock"
    good = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "meatyhamhock"}
    assert WhatsAppConnector().handshake(RequestFactory().get("/webhooks/meta/", good), None).content == b"1158201444"
    with pytest.raises(WebhookRejected) as wrong:
        WhatsAppConnector().handshake(
            RequestFactory().get("/webhooks/meta/", good | {"hub.verify_token": "nope"}), None
        )
    assert wrong.value.status == 403


def test_the_real_delivery_is_one_text_from_a_named_customer():
    body = (FIXTURES / "signed_text_message.raw.json").read_bytes()
    (delivery,) = WhatsAppConnector().split_webhook(body)
    assert delivery.account_id == "277321005464405"  # the phone number id: the connection's account
    assert delivery.event_key == "wamid.HBgMOTcyNTQ0NDAxMjQzFQIAEhggM0RFQTNCMEEwRTY3QzUwODYzMDc4NjQ4QzM4ODAxM0YA"
    (message,) = WhatsAppConnector().parse_event(delivery.payload, account_id=delivery.account_id)
    assert message == InboundMessage(
        platform_message_id=delivery.event_key,
        thread_key="dm:972544401243",
        kind="direct",
        author_id="972544401243",
        author_name="PyWa Tests",
        author_handle="+972544401243",
        text="Hey there! I am using PyWa.",
        timestamp=message.timestamp,
    )
    assert message.timestamp.timestamp() == 1730231903


# --- splitting ------------------------------------------------------------------------------------------------------


def test_a_batch_splits_per_message_and_status_with_keys_a_redelivery_repeats():
    text = cases("message")["text"]
    status = cases("message_status")["read"]
    batch = json.loads(json.dumps(text))
    value = batch["entry"][0]["changes"][0]["value"]
    value["messages"].append({**value["messages"][0], "id": "wamid.second", "text": {"body": "2"}})
    batch["entry"].append(status["entry"][0])
    deliveries = WhatsAppConnector().split_webhook(json.dumps(batch).encode())
    assert [d.event_key for d in deliveries] == ["wamid.xyzxyz", "wamid.second", "status:wamid.xyzxyz:read"]
    assert {d.account_id for d in deliveries} == {PHONE}
    # The same message redelivered alone (another batch) gets the same key: the gateway stores it once.
    alone = WhatsAppConnector().split_webhook(json.dumps(text).encode())
    assert alone[0].event_key == deliveries[0].event_key
    # Each payload carries only its own item, with the contacts that name the sender.
    only = json.loads(deliveries[1].payload)["entry"][0]["changes"][0]["value"]
    assert [m["id"] for m in only["messages"]] == ["wamid.second"] and only["contacts"][0]["wa_id"] == "972987654321"


@pytest.mark.parametrize(
    "body",
    [b"", b"[]", b'{"object":"page","entry":[]}', b'{"object":"whatsapp_business_account","entry":{}}'],
)
def test_malformed_envelopes(body):
    with pytest.raises(MalformedPayload):
        WhatsAppConnector().split_webhook(body)


# --- every fixture parsed -------------------------------------------------------------------------------------------


def test_text_reply_forwarded_and_referral():
    message = one(cases("message")["reply"])
    assert (message.text, message.reply_to_platform_id, message.author_name) == (
        "replied text",
        "wamid.xyzxyz==",
        "Test Name",
    )
    assert one(cases("message")["forwarded"]).text == "forwarded text"
    assert one(cases("message")["forwarded_many_times"]).text == "text forwarded many times"
    assert one(cases("message")["referral"]).text.startswith("BODY\n↪ AD_TITLE")


@pytest.mark.parametrize(
    ("case", "media_id", "content_type", "caption", "filename"),
    [
        ("image", "65463453", "image/jpeg", "", "image-65463453.jpg"),
        ("media_with_url", "65463453", "image/jpeg", "", "image-65463453.jpg"),
        ("video", "765756756", "video/mp4", "caption", "video-765756756.mp4"),
        ("document", "1234567890987654321", "application/pdf", "caption", "filename.pdf"),
        ("audio", "1234567890987654321", "audio/ogg", "", "audio-1234567890987654321.ogg"),
        ("voice", "1234567890987654321", "audio/ogg", "", "audio-1234567890987654321.ogg"),
        ("static_sticker", "1234567890987654321", "image/webp", "", "sticker-1234567890987654321.webp"),
        ("animated_sticker", "1234567890987654321", "image/webp", "", "sticker-1234567890987654321.webp"),
    ],
)
def test_media_messages_name_their_media_for_download(case, media_id, content_type, caption, filename):
    message = one(cases("message")[case])
    (attachment,) = message.attachments
    assert (attachment.media_id, attachment.content_type, attachment.filename) == (media_id, content_type, filename)
    assert attachment.content == b"" and message.text == caption


def test_location_contacts_order_and_unsupported_become_readable_text():
    chosen = one(cases("message")["chosen_location"]).text
    assert chosen.startswith("Facebook HQ\n1 Hacker Way") and "maps?q=37.4611978,-122.2164385" in chosen
    assert "maps?q=12.25089,43.90539" in one(cases("message")["current_location"]).text
    contacts = one(cases("message")["contacts"]).text
    assert "Chandler Bing" in contacts and "+1 555-555-5555" in contacts and "Monica" in contacts
    assert "HAMBURGER × 3" in one(cases("message")["order"]).text
    assert one(cases("message")["unsupported_with_type"]).text == "⚠ [pool]"


def test_interactive_and_template_buttons_give_their_titles():
    pressed = one(cases("callback_button")["button"])
    assert (pressed.text, pressed.reply_to_platform_id) == ("title", "wamid.xyzxyz")
    assert one(cases("callback_button")["quick_reply"]).text == "title"
    assert one(cases("callback_button")["quick_reply_without_context"]).text == "title"
    # An interactive message Meta could not read (it says so in `errors`) shows nothing rather than crash.
    assert items_of(cases("message")["interactive_message_with_err"]) == []


def test_reactions_and_their_removal():
    reaction = one(cases("message")["reaction"])
    assert (reaction.text, reaction.reply_to_platform_id) == ("😮", "wamid.yzxyzx=")
    assert items_of(cases("message")["unreaction_empty"]) == []
    assert items_of(cases("message")["unreaction_no_emoji"]) == []


def test_edits_and_deletes_by_the_customer_and_from_the_business_app():
    edit = one(cases("edited_message")["image"])
    assert edit == InboundEdit(
        platform_message_id="wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=",
        text="Updated image caption",
        timestamp=edit.timestamp,
    )
    deleted = one(cases("deleted_message")["revoke"])
    assert isinstance(deleted, InboundDelete) and deleted.platform_message_id == "<ORIGINAL_WHATSAPP_MESSAGE_ID>"
    echo = one(cases("outgoing_message")["text"])
    assert (echo.direction, echo.text, echo.author_id) == ("outbound", "Test message", "<WHATSAPP_USER_PHONE_NUMBER>")
    assert isinstance(one(cases("outgoing_message")["delete"]), InboundDelete)
    assert isinstance(one(cases("outgoing_message")["edit"]), InboundEdit)


def test_statuses_move_our_messages_forward_and_failures_carry_the_code():
    statuses = cases("message_status")
    assert items_of(statuses["sent"]) == []  # the Send API's answer already said so
    assert one(statuses["delivered"]).state == "delivered"
    assert one(statuses["read"]).state == "read"
    assert one(statuses["played"]).state == "read"
    failed = one(statuses["failed"])
    assert isinstance(failed, DeliveryUpdate) and failed.state == "failed"
    assert failed.error.startswith("130472 User's number is part of an experiment: Failed to send message")
    assert one(statuses["group"]).state == "read"


def test_system_messages_and_account_errors_are_skipped_without_crashing():
    for case in cases("system").values():
        assert items_of(case) == []


def test_every_fixture_case_parses():
    for path in FIXTURES.glob("pywa_*.json"):
        for name, body in json.loads(path.read_text()).items():
            try:
                items_of(body)
            except Exception as exc:  # pragma: no cover - names the case that broke
                raise AssertionError(f"{path.name}:{name}") from exc
