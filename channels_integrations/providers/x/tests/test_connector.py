"""The X connector against X's documented payloads (fixtures/, with SOURCE.txt) and the computed CRC and signature
vectors of PROTOCOLS.md §2.1-2.2: the app-level endpoint `/webhooks/x/`, parsing of mentions, DMs and deletes
(Account Activity's v1.1 shapes and polling's v2 shapes), and the length rule X counts a post with."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.test import Client
from django_scopes import scopes_disabled

from channels_integrations.connector import ReplyContext
from channels_integrations.inbound import DeliveryUpdate, InboundDelete, InboundEdit, InboundMessage
from channels_integrations.models import ChannelConnection, InboundEvent
from channels_integrations.providers.x.connector import XConnector
from channels_integrations.providers.x.twittertext import weighted_length

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "EXAMPLE_CONSUMER_SECRET"
DM_SIGNATURE = "sha256=QrFA0qD0/BnwzYJSoloJU3HCsine/QFSTROUyWTFA0c="  # §2.2, over aaa_direct_message_events.json


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def cassette(name: str) -> list[dict]:
    return json.loads(raw(name))


@pytest.fixture
def x_secret(settings):
    settings.X_CONSUMER_SECRET = SECRET


def connection_for(tenant, account_id: str) -> ChannelConnection:
    with tenant.scope():
        connection = ChannelConnection(
            organization=tenant.organization, platform="x", display_name="@test", external_account_id=account_id
        )
        connection.set_credentials({"access_token": "t", "refresh_token": "r"})
        connection.save()
        return connection


# --- CRC and signatures -----------------------------------------------------------------------------------------


def test_the_crc_is_answered_with_the_documented_hmac(db, x_secret):
    answer = Client().get("/webhooks/x/", {"crc_token": "challenge_string"})
    assert answer.status_code == 200 and answer["Content-Type"] == "application/json"
    assert answer.json() == {"response_token": "sha256=ucs3szxy7nc5RHYFeUBvQ31fmegbrprVtwKeqKZGirU="}


def test_a_crc_without_its_token_or_without_a_secret_is_refused(db, settings):
    settings.X_CONSUMER_SECRET = SECRET
    assert Client().get("/webhooks/x/").status_code == 400
    settings.X_CONSUMER_SECRET = ""
    assert Client().get("/webhooks/x/", {"crc_token": "challenge_string"}).status_code == 403


@pytest.mark.parametrize(
    ("header", "status"),
    [(DM_SIGNATURE, 200), ("sha256=QrFA0qD0/BnwzYJSoloJU3HCsine/QFSTROUyWTFA0d=", 403), (None, 401)],
    ids=["valid", "invalid", "missing"],
)
def test_posts_are_stored_only_with_the_right_signature(tenant_a, x_secret, header, status):
    connection = connection_for(tenant_a, "4337869213")
    headers = {"x-twitter-webhooks-signature": header} if header else {}
    body = raw("aaa_direct_message_events.json")
    assert len(body) == 1693  # the exact bytes the vector was computed over
    answer = Client().post("/webhooks/x/", data=body, content_type="application/json", headers=headers)
    assert answer.status_code == status
    with scopes_disabled():
        stored = InboundEvent.objects.filter(connection=connection)
        assert stored.count() == (1 if status == 200 else 0)
        if status == 200:
            assert stored.get().event_key == "954491830116155396"


def test_a_redelivered_event_is_stored_once_and_becomes_one_message(
    tenant_a, x_secret, django_capture_on_commit_callbacks
):
    from tickets.models import Message

    connection = connection_for(tenant_a, "4337869213")
    body = raw("aaa_direct_message_events.json")
    for _attempt in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            answer = Client().post(
                "/webhooks/x/",
                data=body,
                content_type="application/json",
                headers={"x-twitter-webhooks-signature": DM_SIGNATURE},
            )
        assert answer.status_code == 200
    with tenant_a.scope():
        assert InboundEvent.objects.filter(connection=connection).count() == 1
        message = Message.objects.get()
    assert message.text == "Hello World!" and message.platform_message_id == "954491830116155396"
    assert message.ticket.contact.name == "Jordan Brinks"


# --- parsing ----------------------------------------------------------------------------------------------------


def parse(body: bytes, account: str):
    connector = XConnector()
    items = []
    for delivery in connector.split_webhook(body):
        assert delivery.account_id == account
        items.extend(connector.parse_event(delivery.payload, account_id=account))
    return items


def test_a_mention_becomes_a_public_message_in_the_customers_mention_thread():
    body = raw("aaa_tweet_create_events_mention_real_capture.json")
    assert XConnector().webhook_route(body) == "account_activity"
    [delivery] = XConnector().split_webhook(body)
    assert delivery.event_key == "1332557345071644672"
    [message] = parse(body, "1114259648326987776")
    assert isinstance(message, InboundMessage)
    assert message.kind == "mention" and message.is_public and message.direction == "inbound"
    assert message.thread_key == "mentions:1247048165561270272"
    assert message.author_name == "Tanu Learns" and message.author_handle == "TanuLearns"
    assert message.text == "@Learn_Awesome Save this"
    assert message.reply_to_platform_id == "1332252354599555074"
    assert message.thread_hints == ("1332252354599555074",)
    assert message.timestamp == datetime.fromtimestamp(1606541403.440, tz=UTC)  # timestamp_ms


def test_a_long_post_is_read_from_its_full_text_and_its_id_from_id_str():
    text = raw("aaa_tweet_create_events_longform_NOTE_contains_ellipsis_placeholder.json.txt").decode()
    body = text.replace('"user": { ... }', '"user": {"id": 7, "id_str": "7", "name": "A", "screen_name": "a"}')
    [message] = parse(body.encode(), "1603419180975409153")
    assert message.platform_message_id == "1924465506158878979"  # the number lost its last digits in JSON
    assert message.text.startswith("The Antikythera Mechanism") and "off the Greek island" in message.text


def test_a_dm_names_its_sender_and_the_accounts_own_dm_is_an_outbound_echo():
    body = raw("aaa_direct_message_events.json")
    [message] = parse(body, "4337869213")
    assert message.kind == "direct" and message.thread_key == "dm:3001969357" and message.direction == "inbound"
    assert message.author_name == "Jordan Brinks" and message.author_handle == "furiouscamper"
    assert message.timestamp == datetime.fromtimestamp(1516403560.557, tz=UTC)
    # Seen from the other side (the sender's own subscription), the same event is the account's echo
    data = json.loads(body)
    data["for_user_id"] = "3001969357"
    [echo] = parse(json.dumps(data).encode(), "3001969357")
    assert echo.direction == "outbound" and echo.author_id == "4337869213" and echo.thread_key == "dm:4337869213"


def test_a_deleted_post_is_an_unsend():
    [delete] = parse(raw("aaa_tweet_delete_events.json"), "930524282358325248")
    assert delete == InboundDelete(
        platform_message_id="1045405559317569537", timestamp=datetime.fromtimestamp(1432228155.593, tz=UTC)
    )


def test_dm_media_is_left_for_the_authorized_download_and_read_receipts_mark_our_messages():
    data = json.loads(raw("aaa_direct_message_events.json"))
    event = data["direct_message_events"][0]
    event["message_create"]["message_data"]["attachment"] = {
        "type": "media",
        "media": {
            "id_str": "1",
            "type": "photo",
            "media_url_https": "https://ton.twitter.com/1.1/ton/data/dm/1/2/a.jpg",
        },
    }
    data["direct_message_mark_read_events"] = [
        {
            "created_timestamp": "1516403600000",
            "sender_id": "3001969357",
            "target": {"recipient_id": "4337869213"},
            "last_read_event_id": "954491830116155300",
        }
    ]
    message, read = parse(json.dumps(data).encode(), "4337869213")
    [attachment] = message.attachments
    assert attachment.media_id == "https://ton.twitter.com/1.1/ton/data/dm/1/2/a.jpg" and not attachment.content
    assert isinstance(read, DeliveryUpdate) and read.state == "read" and read.thread_key == "dm:3001969357"


def test_polled_v2_mentions_parse_like_webhook_ones_and_an_edit_edits():
    [recorded] = cassette("tweepy_test_client_get_users_mentions.json")
    assert recorded["response"]["headers"]["x-rate-limit-remaining"] == ["448"]
    tweet = {**recorded["response"]["body"]["data"][0], "author_id": "99", "created_at": "2022-10-07T22:46:00.000Z"}
    payload = {
        "x_poll": "mention",
        "for_user_id": "783214",
        "item": tweet,
        "users": {"99": {"name": "N", "username": "n"}},
    }
    [message] = XConnector().parse_event(json.dumps(payload).encode(), account_id="783214")
    assert message.platform_message_id == "1578516295611748353" and message.thread_key == "mentions:99"
    assert message.author_name == "N" and message.kind == "mention"
    with_photo = {**tweet, "attachments": {"media_keys": ["3_1"]}}
    photo = {"media_key": "3_1", "type": "photo", "url": "https://pbs.twimg.com/media/Fe0.jpg"}
    shown = {**payload, "item": with_photo, "media": {"3_1": photo}}
    [message] = XConnector().parse_event(json.dumps(shown).encode(), account_id="783214")
    assert message.attachments[0].url == "https://pbs.twimg.com/media/Fe0.jpg"
    edited = {
        **tweet,
        "id": "1578516295611749999",
        "text": "fixed",
        "edit_history_tweet_ids": [tweet["id"], "1578516295611749999"],
    }
    [edit] = XConnector().parse_event(json.dumps({**payload, "item": edited}).encode(), account_id="783214")
    assert edit == InboundEdit(platform_message_id=tweet["id"], text="fixed", timestamp=edit.timestamp)


def test_polled_v2_dm_events_tell_direction_by_the_sender():
    recorded = cassette("tweepy_test_manage_and_lookup_direct_messages.json")
    sent = recorded[0]["response"]["body"]["data"]
    conversation = sent["dm_conversation_id"]  # "750362064426721281-1072250532645998596"
    account, customer = "1072250532645998596", "750362064426721281"
    event = {
        "id": sent["dm_event_id"],
        "event_type": "MessageCreate",
        "text": "Testing 1",
        "sender_id": account,
        "dm_conversation_id": conversation,
    }
    payload = {"x_poll": "dm", "for_user_id": account, "item": event}
    [echo] = XConnector().parse_event(json.dumps(payload).encode(), account_id=account)
    assert echo.direction == "outbound" and echo.author_id == customer and echo.thread_key == f"dm:{customer}"
    payload["item"] = {**event, "sender_id": customer, "id": "1585800613752881157"}
    [inbound] = XConnector().parse_event(json.dumps(payload).encode(), account_id=account)
    assert inbound.direction == "inbound" and inbound.author_id == customer


# --- the length X counts ------------------------------------------------------------------------------------------


def context(public: bool, kind: str = "mention") -> ReplyContext:
    return ReplyContext(kind=kind, is_public=public, last_customer_message_at=None, now=datetime.now(UTC))


def test_a_post_is_counted_the_way_x_counts():
    assert weighted_length("あ" * 141) == 282
    assert weighted_length("a" * 280) == 280
    assert weighted_length("https://example.com/a/very/long/path/that/is/much/longer/than/23") == 23
    assert weighted_length("見て https://example.com/x") == 2 * 2 + 1 + 23
    assert weighted_length("👨‍👩‍👧") == 2 and weighted_length("🇯🇵") == 2 and weighted_length("👍🏽") == 2
    assert weighted_length("café") == 4  # Latin with accents weighs one


def test_check_reply_refuses_141_japanese_characters_in_public_and_accepts_280_ascii():
    connector = XConnector()
    [problem] = connector.check_reply(None, context(True), "あ" * 141, [])
    assert "282" in problem and "280" in problem
    assert connector.check_reply(None, context(True), "a" * 280, []) == []
    assert connector.check_reply(None, context(True), "a" * 256 + " https://example.com/" + "p" * 60, []) == []
    # The same text as a direct message: DMs take 10,000 characters
    assert connector.check_reply(None, context(False), "あ" * 141, []) == []
    assert connector.check_reply(None, context(False, kind="direct"), "あ" * 10_001, []) != []
    limits = connector.reply_limits(None, context(False))
    assert limits.length_rule == "x-weighted" and limits.max_length == 280 and limits.can_reply_publicly
    dm_limits = connector.reply_limits(None, context(False, kind="direct"))
    assert dm_limits.length_rule == "" and dm_limits.max_length == 10_000 and not dm_limits.can_reply_publicly
