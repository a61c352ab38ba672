"""Conformance of the Facebook/Instagram connector with Meta's documented protocol, beyond test_meta.py: each test
names the documentation it follows (developers.facebook.com, PROTOCOLS.md §1)."""

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import pytest

from channels_integrations.connector import (
    OutboundFile,
    OutboundMessage,
    RateLimited,
    ReplyContext,
    TransientError,
)
from channels_integrations.inbound import DeliveryUpdate, InboundMessage
from channels_integrations.models import ChannelConnection
from channels_integrations.providers.meta.connector import FacebookConnector, InstagramConnector
from channels_integrations.providers.meta.tests.test_connector import page_connection
from channels_integrations.simulator.core import Response

MB = 1024 * 1024


def envelope(*events: dict, obj: str = "page", account: str = "PAGE_ID") -> bytes:
    return json.dumps({"object": obj, "entry": [{"id": account, "time": 1, "messaging": list(events)}]}).encode()


# --- webhooks ---------------------------------------------------------------------------------------------------


def test_instagram_messaging_seen_marks_the_message_it_names_delivered():
    # instagram-messaging/webhooks, messaging_seen: {"read": {"mid": "<LAST_MESSAGE_ID_READ>"}}; a message the
    # customer read was delivered.
    seen = {"sender": {"id": "IGSID"}, "recipient": {"id": "IGID"}, "timestamp": 1569262485349, "read": {"mid": "m_9"}}
    (item,) = InstagramConnector().parse_event(envelope(seen, obj="instagram", account="IGID"), account_id="IGID")
    assert item == DeliveryUpdate(
        platform_message_id="m_9", state="delivered", timestamp=datetime.fromtimestamp(1569262485.349, tz=UTC)
    )


def test_messenger_receipts_without_mids_cover_the_thread_up_to_their_watermark():
    # message_deliveries: "mids ... may not be present", and the watermark means "all messages that were sent before
    # or at this timestamp were delivered"; message_reads carry only a watermark. Either names the thread, no message.
    delivery = {"sender": {"id": "P"}, "recipient": {"id": "PAGE_ID"}, "delivery": {"watermark": 1458668856253}}
    read = {"sender": {"id": "P"}, "recipient": {"id": "PAGE_ID"}, "timestamp": 1, "read": {"watermark": 1}}
    items = FacebookConnector().parse_event(envelope(delivery, read), account_id="PAGE_ID")
    assert [(i.platform_message_id, i.thread_key, i.up_to) for i in items] == [
        ("", "dm:P", datetime.fromtimestamp(1458668856.253, tz=UTC)),
        ("", "dm:P", datetime.fromtimestamp(0.001, tz=UTC)),
    ]


def test_an_instagram_echo_of_the_business_own_message_is_outbound_in_the_customers_thread():
    # Instagram has no message_echoes field: the business's messages come on `messages` with is_echo, sender = IGID.
    echo = {
        "sender": {"id": "IGID"},
        "recipient": {"id": "IGSID"},
        "timestamp": 1569262485349,
        "message": {"mid": "m_echo", "text": "ありがとうございます", "is_echo": True},
    }
    (item,) = InstagramConnector().parse_event(envelope(echo, obj="instagram", account="IGID"), account_id="IGID")
    assert isinstance(item, InboundMessage)
    assert item.direction == "outbound" and item.author_id == "IGSID" and item.thread_key == "dm:IGSID"


def test_a_batch_of_entries_and_messaging_items_lands_once_each(
    client, tenant_a, settings, django_capture_on_commit_callbacks
):
    # "entry is an array and may contain multiple objects"; several messaging items per entry; mid de-duplicates.
    from tickets.models import Message

    settings.META_APP_SECRET = "conformance-secret"
    with tenant_a.scope():
        ChannelConnection.objects.create(
            organization=tenant_a.organization, platform="facebook", display_name="P", external_account_id="555"
        )
    now = int(time.time() * 1000)

    def dm(mid, text):
        return {
            "sender": {"id": "PSID-1"},
            "recipient": {"id": "555"},
            "timestamp": now,
            "message": {"mid": mid, "text": text},
        }

    body = json.dumps(
        {
            "object": "page",
            "entry": [
                {"id": "555", "time": now, "messaging": [dm("m_a", "一つ目"), dm("m_b", "二つ目")]},
                {"id": "555", "time": now + 1, "messaging": [dm("m_b", "二つ目"), dm("m_c", "三つ目")]},
            ],
        }
    ).encode()
    signature = "sha256=" + hmac.new(b"conformance-secret", body, hashlib.sha256).hexdigest()
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(
            "/webhooks/meta/", data=body, content_type="application/json", headers={"X-Hub-Signature-256": signature}
        )
    assert answer.status_code == 200
    with tenant_a.scope():
        assert sorted(Message.objects.values_list("text", flat=True)) == ["一つ目", "三つ目", "二つ目"]


# --- Send API ---------------------------------------------------------------------------------------------------


def test_attachment_messages_carry_our_metadata_like_the_text(tenant_a, simulator):
    # Send API: message.metadata is "delivered as a message echo"; each attachment is its own message (own mid,
    # own echo), so without it the echo of our own file would come back as a second, foreign outbound message.
    connection = page_connection(tenant_a, simulator, "facebook")
    meta = simulator.parts["meta"]
    meta.register_customer(connection.external_account_id, "PSID-1")
    outbound = OutboundMessage(
        text="領収書をお送りします",
        recipient_id="PSID-1",
        thread_key="dm:PSID-1",
        kind="direct",
        local_ref="7d0c0b1e-0000-4000-8000-000000000002",
        attachments=(OutboundFile("receipt.png", "image/png", b"\x89PNG\r\n\x1a\n"),),
    )
    with tenant_a.scope():
        FacebookConnector().send(connection, outbound)
    sent = meta.state()["sent"]
    assert len(sent) == 2 and sent[1]["attachment"]["type"] == "image"
    assert {s["metadata"] for s in sent} == {"tsunagu:7d0c0b1e-0000-4000-8000-000000000002"}


def test_the_echo_of_an_attachment_we_sent_adds_no_message(tenant_a, simulator, django_capture_on_commit_callbacks):
    from tickets.models import Message, Ticket
    from tickets.services import replies

    connection = page_connection(tenant_a, simulator, "facebook")
    meta = simulator.parts["meta"]
    with django_capture_on_commit_callbacks(execute=True):
        meta.customer_message(connection.external_account_id, "PSID-3", "写真を送ってください", name="高橋 愛")
    with tenant_a.scope():
        ticket = Ticket.objects.get()
        with django_capture_on_commit_callbacks(execute=True):
            replies.message_reply(
                organization=tenant_a.organization,
                actor=tenant_a.users["owner"],
                ticket=ticket,
                text="こちらです",
                files=[_upload("photo.png", "image/png", b"\x89PNG\r\n\x1a\n")],
            )
    with django_capture_on_commit_callbacks(execute=True):
        assert meta.flush_receipts() == 2  # the text's and the image's echo + receipt
    with tenant_a.scope():
        assert Message.objects.filter(ticket=ticket).count() == 2


def _upload(name: str, content_type: str, content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type=content_type)


def test_a_2000_character_text_is_within_the_send_api_limit(tenant_a, simulator):
    # Send API reference: message.text "must be UTF-8 and has a 2000 character limit".
    connection = page_connection(tenant_a, simulator, "facebook")
    simulator.parts["meta"].register_customer(connection.external_account_id, "PSID-1")
    now = datetime.now(UTC)
    context = ReplyContext(kind="direct", is_public=False, last_customer_message_at=now, now=now)
    assert FacebookConnector().check_reply(connection, context, "あ" * 2000, []) == []
    outbound = OutboundMessage(text="あ" * 2000, recipient_id="PSID-1", thread_key="dm:PSID-1", kind="direct")
    with tenant_a.scope():
        assert FacebookConnector().send(connection, outbound).platform_message_id


@pytest.mark.parametrize("code", [80001, 80002, 80006, 4, 17, 32, 613])
def test_business_use_case_and_platform_throttling_codes_are_rate_limits(tenant_a, simulator, code):
    # graph-api/overview/rate-limiting: BUC limits answer 80001 (Pages), 80002 (Instagram), 80006 (Messenger).
    connection = page_connection(tenant_a, simulator, "facebook")
    meta = simulator.parts["meta"]
    meta.register_customer(connection.external_account_id, "PSID-1")
    meta.fail_next(code, "There have been too many calls to this account. Wait a bit and try again.")
    outbound = OutboundMessage(text="hi", recipient_id="PSID-1", thread_key="dm:PSID-1", kind="direct")
    with tenant_a.scope(), pytest.raises(RateLimited) as limited:
        FacebookConnector().send(connection, outbound)
    assert limited.value.code == str(code)


def test_a_transient_graph_error_is_retried_not_refused(tenant_a, simulator):
    connection = page_connection(tenant_a, simulator, "facebook")
    meta = simulator.parts["meta"]
    meta.register_customer(connection.external_account_id, "PSID-1")
    error = {"message": "Please retry your request later.", "type": "OAuthException", "code": 1200}
    meta.failures.append(Response(400, {"error": {**error, "is_transient": True, "fbtrace_id": "AbC"}}))
    outbound = OutboundMessage(text="hi", recipient_id="PSID-1", thread_key="dm:PSID-1", kind="direct")
    with tenant_a.scope(), pytest.raises(TransientError) as transient:
        FacebookConnector().send(connection, outbound)
    assert not isinstance(transient.value, RateLimited)


# --- Instagram --------------------------------------------------------------------------------------------------


def test_connecting_an_instagram_account_enables_its_pages_subscription(tenant_a, simulator):
    # webhooks-for-instagram: "The Page connected to the app user's account must have Page subscriptions enabled."
    connection = page_connection(tenant_a, simulator, "instagram")
    with tenant_a.scope():
        InstagramConnector().on_connect(connection)
    page_id = connection.credentials["page_id"]
    assert "messages" in simulator.parts["meta"].state()["subscriptions"][page_id]


@pytest.mark.parametrize(
    ("name", "content_type", "size", "ok"),
    [
        ("photo.jpg", "image/jpeg", 7 * MB, True),
        ("photo.png", "image/png", 9 * MB, False),  # images: 8 MB
        ("clip.mp4", "video/mp4", 20 * MB, True),  # video: mp4, ogg, avi, mov, webm up to 25 MB
        ("clip.mov", "video/quicktime", 26 * MB, False),
        ("voice.m4a", "audio/mp4", 5 * MB, True),  # audio: aac, m4a, wav, mp4 up to 25 MB
        ("voice.wav", "audio/wav", 5 * MB, True),
        ("anim.webp", "image/webp", 1 * MB, False),  # not a documented format
    ],
)
def test_instagram_dm_attachments_follow_the_documented_formats_and_sizes(name, content_type, size, ok):
    # instagram-messaging/features/send-message: Audio aac/m4a/wav/mp4 25MB; Image png/jpeg 8MB; Video 25MB.
    now = datetime.now(UTC)
    context = ReplyContext(kind="direct", is_public=False, last_customer_message_at=now, now=now)
    problems = InstagramConnector().check_reply(None, context, "", [(name, content_type, size)])
    assert (problems == []) is ok, problems


# --- profiles ---------------------------------------------------------------------------------------------------


def test_a_batch_of_new_customers_is_named_with_one_multiple_id_read(tenant_a, simulator, monkeypatch):
    from channels_integrations.providers.meta import client

    connection = page_connection(tenant_a, simulator, "facebook")
    meta = simulator.parts["meta"]
    for psid, name in (("PSID-A", "佐藤 陽子"), ("PSID-B", "Emma Brown"), ("PSID-C", "高橋 健")):
        meta.register_customer(connection.external_account_id, psid)
        meta.names[psid] = name
    calls = []
    real_call = client.call
    monkeypatch.setattr(client, "call", lambda *a, **k: calls.append(k.get("params")) or real_call(*a, **k))
    with tenant_a.scope():
        profiles = FacebookConnector().author_profiles(connection, ["PSID-A", "PSID-B", "PSID-C"])
    assert {i: p.name for i, p in profiles.items()} == {
        "PSID-A": "佐藤 陽子",
        "PSID-B": "Emma Brown",
        "PSID-C": "高橋 健",
    }
    assert len(calls) == 1 and calls[0]["ids"] == "PSID-A,PSID-B,PSID-C"
    # Graph refuses the whole read when one id cannot be read: the others are then asked one by one
    calls.clear()
    with tenant_a.scope():
        profiles = FacebookConnector().author_profiles(connection, ["PSID-A", "PSID-GONE", "PSID-C"])
    assert {i: p.name for i, p in profiles.items()} == {"PSID-A": "佐藤 陽子", "PSID-C": "高橋 健"}
    assert len(calls) == 4


@pytest.mark.django_db
def test_a_watermark_marks_our_replies_sent_before_it_delivered_and_no_later_one(tenant_a):
    from datetime import timedelta

    from tickets.models import DeliveryState, Message
    from tickets.services.ingest import message_delivery_update, messages_ingest
    from tickets.tests.factories import inbound

    with tenant_a.scope():
        connection = ChannelConnection.objects.create(
            organization=tenant_a.organization, platform="facebook", display_name="Page", external_account_id="PG"
        )
        ((question, _),) = messages_ingest(
            organization=tenant_a.organization, connection=connection, inbounds=[inbound("届きますか", thread="dm:P")]
        )
        now = datetime.now(UTC)

        def reply(mid: str, at: datetime) -> Message:
            return Message.objects.create(
                organization=tenant_a.organization,
                ticket=question.ticket,
                connection=connection,
                direction="outbound",
                kind="direct",
                text=mid,
                platform_message_id=mid,
                platform_timestamp=at,
                delivery_state=DeliveryState.SENT,
            )

        early, late = reply("m_early", now - timedelta(minutes=2)), reply("m_late", now + timedelta(minutes=2))
        watermark = DeliveryUpdate(platform_message_id="", state="delivered", thread_key="dm:P", up_to=now)
        assert message_delivery_update(organization=tenant_a.organization, connection=connection, update=watermark)
        early.refresh_from_db()
        late.refresh_from_db()
        assert (early.delivery_state, late.delivery_state) == (DeliveryState.DELIVERED, DeliveryState.SENT)
        # a receipt for another customer's thread changes nothing here
        other = DeliveryUpdate(
            platform_message_id="", state="delivered", thread_key="dm:Q", up_to=now + timedelta(hours=1)
        )
        assert not message_delivery_update(organization=tenant_a.organization, connection=connection, update=other)
