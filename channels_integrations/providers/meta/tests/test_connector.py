"""The Facebook/Instagram connector against Meta's documented payloads (fixtures/meta, with SOURCE.txt), the
signature vectors, and the simulator's Graph API (send, rules, errors, rate limits, OAuth)."""

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.test import RequestFactory

from channels_integrations.connector import (
    AuthFailed,
    MalformedPayload,
    OutboundMessage,
    RateLimited,
    ReplyContext,
    SendRejected,
    WebhookRejected,
)
from channels_integrations.inbound import DeliveryUpdate, InboundDelete, InboundEdit, InboundMessage
from channels_integrations.models import ChannelConnection
from channels_integrations.providers.meta.connector import FacebookConnector, InstagramConnector

FIXTURES = Path(__file__).parent / "fixtures"
PAGE = "PAGE_ID"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / "meta" / name).read_text())


def envelope(*events: dict, obj: str = "page", account: str = PAGE) -> bytes:
    return json.dumps({"object": obj, "entry": [{"id": account, "time": 1, "messaging": list(events)}]}).encode()


def parse(body: bytes, account: str = PAGE, connector=None):
    return (connector or FacebookConnector()).parse_event(body, account_id=account)


# --- signatures and the handshake -------------------------------------------------------------------------------


def signed_request(body: bytes, header: str | None):
    headers = {"HTTP_X_HUB_SIGNATURE_256": header} if header is not None else {}
    return RequestFactory().post("/webhooks/meta/", data=body, content_type="application/json", **headers)


def test_the_computed_japanese_vector_verifies_and_its_utf8_twin_does_not(settings):
    settings.META_APP_SECRET = "test_app_secret"
    body = (FIXTURES / "meta" / "COMPUTED_signature_example_escaped_body.json").read_bytes().strip()
    good = "sha256=1327611e3a8d4f998b82cee98f2c8c84d8658a45dba4ddcbe9dd49d21125d114"
    FacebookConnector().verify_webhook(signed_request(body, good), None)
    utf8 = json.dumps(json.loads(body), ensure_ascii=False, separators=(",", ":")).encode()
    with pytest.raises(WebhookRejected) as rejected:
        FacebookConnector().verify_webhook(signed_request(utf8, good), None)
    assert rejected.value.status == 403


def test_the_real_meta_signed_whatsapp_vector_verifies(settings):
    settings.META_APP_SECRET = "1222e786b144d0e85b9f365372d93676"
    body = (FIXTURES / "whatsapp" / "signed_text_message.raw.json").read_bytes()
    header = "sha256=54edfa1d7259e0eb13c677cc7d73d1b5c86cfa12433d19156e058ab9251bc441"
    assert len(body) == 511
    FacebookConnector().verify_webhook(signed_request(body, header), None)


@pytest.mark.parametrize(("header", "status"), [(None, 401), ("sha256=abc", 403), ("sha1=" + "0" * 40, 403)])
def test_missing_or_wrong_signatures_are_rejected(settings, header, status):
    settings.META_APP_SECRET = "s"
    with pytest.raises(WebhookRejected) as rejected:
        FacebookConnector().verify_webhook(signed_request(b"{}", header), None)
    assert rejected.value.status == status


def test_no_app_secret_configured_rejects_everything(settings):
    settings.META_APP_SECRET = ""
    body = b"{}"
    header = "sha256=" + hmac.new(b"", body, hashlib.sha256).hexdigest()
    with pytest.raises(WebhookRejected):
        FacebookConnector().verify_webhook(signed_request(body, header), None)


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"hub.mode": "subscribe", "hub.challenge": "42", "hub.verify_token": "meatyhamhock"}, 200),
        ({"hub.mode": "subscribe", "hub.challenge": "42", "hub.verify_token": "wrong"}, 403),
        ({"hub.mode": "subscribe"}, 400),
    ],
)
def test_handshake(settings, params, status):
    settings.META_VERIFY_TOKEN = "meatyhamhock"
    request = RequestFactory().get("/webhooks/meta/", params)
    if status == 200:
        assert FacebookConnector().handshake(request, None).content == b"42"
    else:
        with pytest.raises(WebhookRejected) as rejected:
            FacebookConnector().handshake(request, None)
        assert rejected.value.status == status


# --- splitting and parsing --------------------------------------------------------------------------------------


def test_a_batch_splits_per_entry_with_stable_keys():
    body = json.dumps(
        {"object": "page", "entry": [{"id": "1", "time": 1, "messaging": []}, {"id": "2", "time": 1, "messaging": []}]}
    ).encode()
    first = FacebookConnector().split_webhook(body)
    again = FacebookConnector().split_webhook(body)
    assert [d.account_id for d in first] == ["1", "2"]
    assert [d.event_key for d in first] == [d.event_key for d in again]
    assert {d.platform for d in first} == {"facebook"}
    assert FacebookConnector().split_webhook(envelope(obj="instagram"))[0].platform == "instagram"


@pytest.mark.parametrize("body", [b"", b"[]", b'{"object":"user","entry":[]}', b'{"object":"page","entry":{}}'])
def test_malformed_envelopes(body):
    with pytest.raises(MalformedPayload):
        FacebookConnector().split_webhook(body)


def test_text_with_quick_reply_and_reply_to():
    quick = fixture("messenger_messages_text_quick_reply.messaging_item.json")
    reply = fixture("messenger_messages_reply_to.messaging_item.json")
    items = parse(envelope(quick, reply))
    assert all(isinstance(i, InboundMessage) for i in items)
    assert items[0].text == "hello, world!" and items[0].author_id == "<PSID>"
    assert items[0].thread_key == "dm:<PSID>" and items[0].kind == "direct"
    assert items[0].timestamp == datetime.fromtimestamp(1458692752.478, tz=UTC)
    assert items[1].reply_to_platform_id == "m_1fTq8oLumEyIp3Q2MR-aY7IfLZDamVrALniheU"


def test_attachments_keep_their_urls():
    entry = fixture("messenger_messages_attachment.entry_item.json")
    entry["messaging"][0]["message"]["attachments"][0]["type"] = "image"
    items = parse(json.dumps({"object": "page", "entry": [entry]}).encode(), account="<PAGE_ID>")
    assert items[0].attachments[0].url == "<ATTACHMENT_URL>"
    assert items[0].attachments[0].content_type == "image/*"


def test_echoes_are_outbound_in_the_customers_thread_with_our_reference():
    echo = fixture("messenger_message_echoes_text.messaging_item.json")
    echo["message"]["metadata"] = "tsunagu:7d0c0b1e-0000-4000-8000-000000000001"
    (item,) = parse(envelope(echo), account="<PAGE_ID>")
    assert item.direction == "outbound" and item.author_id == "<PSID>" and item.thread_key == "dm:<PSID>"
    assert item.local_ref == "7d0c0b1e-0000-4000-8000-000000000001"


def test_edits_deliveries_and_instagram_unsend():
    edit = fixture("messenger_message_edits.messaging_item.json")
    delivery = {"sender": {"id": "P"}, "recipient": {"id": PAGE}, "delivery": {"mids": ["m_1", "m_2"], "watermark": 1}}
    read = {"sender": {"id": "P"}, "recipient": {"id": PAGE}, "read": {"watermark": 1}}
    items = parse(envelope(edit, delivery, read))
    assert items[0] == InboundEdit(platform_message_id="<MESSAGE_ID>", text="<TEXT>", timestamp=items[0].timestamp)
    # the delivery names its mids; the read has only a watermark: every message sent before it, in that thread
    assert [(i.platform_message_id, i.thread_key) for i in items[1:]] == [("m_1", ""), ("m_2", ""), ("", "dm:P")]
    assert all(isinstance(i, DeliveryUpdate) and i.state == "delivered" for i in items[1:])
    assert items[3].up_to == datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=UTC)
    unsend = {"sender": {"id": "IGSID"}, "recipient": {"id": "IGID"}, "message": {"mid": "m_9", "is_deleted": True}}
    (gone,) = parse(envelope(unsend, obj="instagram", account="IGID"), account="IGID")
    assert isinstance(gone, InboundDelete) and gone.platform_message_id == "m_9"


def test_instagram_dm_envelope():
    (item,) = parse(json.dumps(fixture("instagram_messaging_envelope.json")).encode(), account="IGID")
    assert item.text == "MESSAGE-TEXT" and item.author_id == "IGSID" and item.thread_key == "dm:IGSID"


def test_page_feed_comments_add_edit_remove_and_own_comments_skipped():
    capture = fixture("page_feed_comment_add_realcapture.json")
    # In the capture the page commented on its own post: never a customer message.
    assert parse(json.dumps(capture).encode(), account="448242228374517") == []
    value = capture["entry"][0]["changes"][0]["value"]
    value["from"] = {"id": "9001", "name": "田中 一郎"}
    (comment,) = parse(json.dumps(capture).encode(), account="448242228374517")
    assert comment.kind == "comment" and comment.is_public and comment.text == "meow 2"
    assert comment.platform_message_id == "122131676912594941_1213590066982748"
    assert comment.thread_key == "comment:448242228374517_122131676912594941:9001"
    assert comment.reply_to_platform_id == "122131676912594941_542072878449250"  # a reply to another comment
    assert comment.timestamp == datetime.fromtimestamp(1742667604, tz=UTC)  # seconds, not milliseconds
    value["verb"], value["message"] = "edited", "meow 3"
    assert parse(json.dumps(capture).encode(), account="448242228374517")[0].text == "meow 3"
    value["verb"] = "remove"
    assert isinstance(parse(json.dumps(capture).encode(), account="448242228374517")[0], InboundDelete)


def test_instagram_comments_in_both_documented_shapes():
    business_login = fixture("instagram_comments_business_login.json")[0]
    (a,) = parse(json.dumps(business_login).encode(), account="<YOUR_APP_USERS_INSTAGRAM_ACCOUNT_ID>")
    entry = business_login["entry"][0]
    facebook_login = {
        "object": "instagram",
        "entry": [{"id": entry["id"], "time": 1, "changes": [{"field": "comments", "value": entry["value"]}]}],
    }
    (b,) = parse(json.dumps(facebook_login).encode(), account=entry["id"])
    assert a == b
    assert (
        a.kind == "comment"
        and a.author_handle == "<USERNAME>"
        and a.thread_key == "comment:<MEDIA_ID>:<INSTAGRAM_SCOPED_USER_ID>"
    )


def test_malformed_entries_raise():
    with pytest.raises(MalformedPayload):
        parse(json.dumps({"object": "page", "entry": [{"id": "1", "messaging": "oops"}]}).encode())


# --- rules ------------------------------------------------------------------------------------------------------


def test_messenger_rules_window_and_length():
    now = datetime.now(UTC)
    connector = FacebookConnector()
    fresh = ReplyContext(kind="direct", is_public=False, last_customer_message_at=now - timedelta(hours=2), now=now)
    stale = ReplyContext(kind="direct", is_public=False, last_customer_message_at=now - timedelta(hours=25), now=now)
    assert connector.check_reply(None, fresh, "はい", []) == []
    assert connector.check_reply(None, fresh, "あ" * 2001, [])
    assert connector.check_reply(None, stale, "はい", [])
    assert connector.check_reply(None, fresh, "", [("a.exe", "application/x-msdownload", 10)])
    assert InstagramConnector().check_reply(None, fresh, "a" * 1001, [])


def test_comment_rules_public_and_one_private_reply():
    now = datetime.now(UTC)
    connector = FacebookConnector()
    context = ReplyContext(kind="comment", is_public=False, last_customer_message_at=now, now=now)
    assert connector.check_reply(None, context, "DMでご連絡します", []) == []
    used = ReplyContext(
        kind="comment", is_public=False, last_customer_message_at=now, now=now, already_replied_privately=True
    )
    assert connector.check_reply(None, used, "もう一度", [])
    public = ReplyContext(kind="comment", is_public=True, last_customer_message_at=now - timedelta(days=30), now=now)
    assert connector.check_reply(None, public, "ありがとうございます", []) == []


# --- the Graph API through the simulator ------------------------------------------------------------------------


def page_connection(tenant, simulator, platform: str = "facebook") -> ChannelConnection:
    page = simulator.parts["meta"].provision()["pages"][0]
    with tenant.scope():
        connection = ChannelConnection(
            organization=tenant.organization,
            platform=platform,
            display_name=page["name"],
            external_account_id=page["id"] if platform == "facebook" else page["ig_id"],
        )
        connection.set_credentials({"access_token": page["access_token"], "page_id": page["id"]})
        connection.save()
        return connection


def dm_out(text: str, psid: str = "PSID-1") -> OutboundMessage:
    return OutboundMessage(text=text, recipient_id=psid, thread_key=f"dm:{psid}", kind="direct", local_ref="ref-1")


def test_send_within_the_window_and_the_platforms_refusals(tenant_a, simulator):
    connection = page_connection(tenant_a, simulator)
    meta = simulator.parts["meta"]
    meta.register_customer(connection.external_account_id, "PSID-1")
    with tenant_a.scope():
        result = FacebookConnector().send(connection, dm_out("ご連絡ありがとうございます"))
        assert result.platform_message_id.startswith("m_")
        assert meta.state()["sent"][-1]["metadata"] == "tsunagu:ref-1"
        # Unknown customer (never wrote to the page): Graph error 100 → a permanent refusal with Meta's message
        with pytest.raises(SendRejected) as refused:
            FacebookConnector().send(connection, dm_out("hello", psid="PSID-NOBODY"))
        assert refused.value.code == "100"
        meta.set_rate_limit(0, regain_minutes=2)
        with pytest.raises(RateLimited) as limited:
            FacebookConnector().send(connection, dm_out("hello"))
        assert limited.value.retry_after == 120
        meta.set_rate_limit(None)
        meta.fail_next(190, "Error validating access token: Session has expired", subcode=463)
        with pytest.raises(AuthFailed):
            FacebookConnector().send(connection, dm_out("hello"))


def test_public_and_private_comment_replies(tenant_a, simulator):
    connection = page_connection(tenant_a, simulator)
    public = OutboundMessage(
        text="ありがとうございます！",
        recipient_id="9001",
        thread_key="comment:p:9001",
        kind="comment",
        is_public=True,
        reply_to_platform_id="122_333",
    )
    private = OutboundMessage(
        text="DMで詳細をお送りします",
        recipient_id="9001",
        thread_key="comment:p:9001",
        kind="comment",
        reply_to_platform_id="122_333",
        local_ref="r2",
    )
    with tenant_a.scope():
        assert FacebookConnector().send(connection, public).platform_message_id.startswith("122_")
        assert FacebookConnector().send(connection, private).platform_message_id.startswith("m_")
        with pytest.raises(SendRejected) as again:
            FacebookConnector().send(connection, private)
        assert again.value.code == "10900"


def test_round_trip_customer_dm_reply_echo_and_receipt(tenant_a, simulator, django_capture_on_commit_callbacks):
    from tickets.models import DeliveryState, Message, Ticket
    from tickets.services import replies

    connection = page_connection(tenant_a, simulator)
    meta = simulator.parts["meta"]
    # Given a customer DM delivered as a signed webhook, three times (Meta redelivers)
    with django_capture_on_commit_callbacks(execute=True):
        meta.customer_message(
            connection.external_account_id, "PSID-7", "在庫はありますか？", name="高橋 愛", duplicates=3
        )
    with tenant_a.scope():
        ticket = Ticket.objects.get()
        assert ticket.messages.count() == 1
        # When the agent replies
        with django_capture_on_commit_callbacks(execute=True):
            reply = replies.message_reply(
                organization=tenant_a.organization, actor=tenant_a.users["owner"], ticket=ticket, text="ございます！"
            )
        reply.refresh_from_db()
        assert reply.delivery_state == DeliveryState.SENT and reply.platform_message_id.startswith("m_")
    # Then Meta's echo (same mid, our metadata) adds nothing, and its receipt marks the reply delivered
    with django_capture_on_commit_callbacks(execute=True):
        assert meta.flush_receipts() == 1
    with tenant_a.scope():
        reply.refresh_from_db()
        assert reply.delivery_state == DeliveryState.DELIVERED
        assert Message.objects.filter(ticket=ticket).count() == 2
    assert [s["text"] for s in meta.state()["sent"]] == ["ございます！"]


@pytest.mark.parametrize("platform", ["facebook", "instagram"])
def test_a_customer_known_only_by_id_gets_their_name_from_the_profile_api(
    tenant_a, simulator, django_capture_on_commit_callbacks, platform
):
    from tickets.models import Contact

    connection = page_connection(tenant_a, simulator, platform)
    meta = simulator.parts["meta"]
    page_id = connection.credentials["page_id"]
    # Messenger and Instagram webhooks carry the sender's id only
    with django_capture_on_commit_callbacks(execute=True):
        meta.customer_message(page_id, "PSID-9", "こんにちは", name="高橋 愛", platform=platform)
        meta.customer_message(page_id, "PSID-10", "Hello", name="", platform=platform)
    with tenant_a.scope():
        names = dict(Contact.objects.values_list("identities__external_id", "name"))
    assert names["PSID-9"] == "高橋 愛"
    assert names["PSID-10"] == "Messenger User"


def test_an_unknown_profile_leaves_the_contact_nameless_and_loses_nothing(
    tenant_a, simulator, django_capture_on_commit_callbacks
):
    from tickets.models import Contact, Message

    connection = page_connection(tenant_a, simulator)
    meta = simulator.parts["meta"]
    meta.names.clear()
    with django_capture_on_commit_callbacks(execute=True):
        meta._deliver(
            "page",
            [
                {
                    "id": connection.external_account_id,
                    "time": 1,
                    "messaging": [
                        {
                            "sender": {"id": "PSID-GONE"},
                            "recipient": {"id": connection.external_account_id},
                            "timestamp": 1700000000000,
                            "message": {"mid": "m_gone", "text": "消えたアカウント"},
                        }
                    ],
                }
            ],
        )
    with tenant_a.scope():
        assert Message.objects.get().text == "消えたアカウント"
        assert Contact.objects.get().name == ""


def test_a_revoked_token_fails_the_reply_and_flags_the_channel(tenant_a, simulator, django_capture_on_commit_callbacks):
    from tickets.models import DeliveryState, Ticket
    from tickets.services import replies

    connection = page_connection(tenant_a, simulator)
    meta = simulator.parts["meta"]
    with django_capture_on_commit_callbacks(execute=True):
        meta.customer_message(connection.external_account_id, "PSID-8", "返品したいです", name="森 ゆき")
    meta.fail_next(190, "Error validating access token: The user has not authorized application.", subcode=458)
    with tenant_a.scope():
        with django_capture_on_commit_callbacks(execute=True):
            reply = replies.message_reply(
                organization=tenant_a.organization,
                actor=tenant_a.users["owner"],
                ticket=Ticket.objects.get(),
                text="承知しました",
            )
        reply.refresh_from_db()
        connection.refresh_from_db()
        assert reply.delivery_state == DeliveryState.FAILED and "authorized" in reply.delivery_error
        assert connection.status == "needs_reauth"


def test_the_24_hour_window_is_checked_before_queueing(tenant_a, simulator):
    from core.errors import DomainError
    from tickets.models import Ticket
    from tickets.services import replies

    connection = page_connection(tenant_a, simulator)
    with tenant_a.scope():
        from tickets.services.ingest import message_ingest
        from tickets.tests.factories import inbound

        message_ingest(
            organization=tenant_a.organization,
            connection=connection,
            inbound=inbound("hi", thread="dm:PSID-OLD", author="PSID-OLD"),
        )
        Ticket.objects.update(last_customer_message_at=datetime.now(UTC) - timedelta(hours=30))
        with pytest.raises(DomainError) as refused:
            replies.message_reply(
                organization=tenant_a.organization,
                actor=tenant_a.users["owner"],
                ticket=Ticket.objects.get(),
                text="遅れてすみません",
            )
        assert refused.value.code == "platform_rule"
    assert simulator.parts["meta"].state()["sent"] == []
