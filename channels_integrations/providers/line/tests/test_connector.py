"""The LINE connector against the documented protocol (PROTOCOLS.md §3, fixtures/ with SOURCE.txt: the SDK's 28-event
webhook, the worked signature examples, the error bodies) and against the simulator's Messaging API over loopback:
customers write through signed webhooks, agents answer through the real reply service and send task."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.test import RequestFactory
from django.urls import reverse

from channels_integrations.connector import (
    AccountChoice,
    AuthFailed,
    OutboundMessage,
    RateLimited,
    ReplyContext,
    SendRejected,
    TransientError,
    WebhookRejected,
)
from channels_integrations.inbound import InboundDelete, InboundEdit, InboundMessage
from channels_integrations.models import ChannelConnection, InboundEvent
from channels_integrations.providers.line import schemas
from channels_integrations.providers.line.connector import LineConnector
from channels_integrations.providers.line.simulator import (
    ACCESS_TOKEN,
    BOT_USER_ID,
    CHANNEL_ID,
    CHANNEL_SECRET,
    DEMO_CUSTOMERS,
    png,
)

FIXTURES = Path(__file__).parent / "fixtures"
SDK_WEBHOOK = FIXTURES / "line-bot-sdk-python_tests_v3_webhook.json"
HANAKO, KEN = list(DEMO_CUSTOMERS)


def signed(body: bytes, header: str | None, secret: str = "channel_secret"):
    headers = {"HTTP_X_LINE_SIGNATURE": header} if header is not None else {}
    request = RequestFactory().post("/webhooks/line/x/", data=body, content_type="application/json", **headers)
    return request, SimpleNamespace(credentials={"channel_secret": secret})


# --- signatures: the worked examples of §3.2 --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "good"),
    [
        (b"bodybodybodybody", "/gg9a+LvFevTH1sd7XCQycD7tsWclCsInj7MhBHxN7k="),
        (SDK_WEBHOOK.read_bytes(), "Ay5km4RvdSHwBk4SxsPtjeTNSHvZV7frV7Z7kVGAEKc="),
        ((FIXTURES / "COMPUTED_japanese_body.json").read_bytes(), "QlYgOkcF0JVTJQbTwbAtx6VeLezbgBK2eGHaRZFreJw="),
    ],
)
def test_signature_valid_invalid_and_missing(body, good):
    LineConnector().verify_webhook(*signed(body, good))
    with pytest.raises(WebhookRejected) as wrong:
        LineConnector().verify_webhook(*signed(body + b" ", good))  # one byte more: another digest
    assert wrong.value.status == 403
    with pytest.raises(WebhookRejected) as other_secret:
        LineConnector().verify_webhook(*signed(body, good, secret="another_secret"))
    assert other_secret.value.status == 403
    with pytest.raises(WebhookRejected) as missing:
        LineConnector().verify_webhook(*signed(body, None))
    assert missing.value.status == 401


def test_the_japanese_body_is_signed_as_utf8_bytes():
    body = (FIXTURES / "COMPUTED_japanese_body.json").read_bytes()
    assert "こんにちは".encode() in body
    escaped = json.dumps(json.loads(body), separators=(",", ":")).encode()  # \u3053… : not what LINE signed
    with pytest.raises(WebhookRejected):
        LineConnector().verify_webhook(*signed(escaped, "QlYgOkcF0JVTJQbTwbAtx6VeLezbgBK2eGHaRZFreJw="))


# --- parsing the SDK's 28 events --------------------------------------------------------------------------------


def test_every_event_of_the_sdk_fixture_parses():
    deliveries = schemas.split(SDK_WEBHOOK.read_bytes())
    assert len(deliveries) == 28
    items = [schemas.parse(d.payload) for d in deliveries]
    by_type = {}
    for delivery, parsed in zip(deliveries, items, strict=True):
        event = json.loads(delivery.payload)["events"][0]
        by_type.setdefault(event["type"], []).append(parsed)
    text = by_type["message"][0][0]
    assert text == InboundMessage(
        platform_message_id="325708",
        thread_key="user:U206d25c2ea6bd87c17655609a1c37cb8",
        kind="direct",
        author_id="U206d25c2ea6bd87c17655609a1c37cb8",
        text="Hello, world",
        timestamp=datetime.fromtimestamp(1462629479.859, tz=UTC),
    )
    image = by_type["message"][1][0]  # in a room, without the member's id; sent from an external server
    assert image.thread_key == "room:Ra8dbf4673c4c812cd491258042226c99"
    assert image.attachments[0].url == "https://example.com" and not image.attachments[0].media_id
    location = by_type["message"][4][0]
    assert location.text.startswith("my location\nTokyo\nhttps://www.google.com/maps/search/?api=1&query=35.659")
    sticker = by_type["message"][5][0]
    assert sticker.text == "[sticker] Just sticker"
    assert sticker.attachments[0].url.endswith("/sticker/1/android/sticker.png")
    group = by_type["message"][6][0]
    assert group.thread_key == "group:Ca56f94637cc4347f90a25382909b24b9" and group.author_id.startswith("U206")
    file = by_type["message"][8][0]
    assert (file.attachments[0].filename, file.attachments[0].media_id, file.attachments[0].size) == (
        "file.txt",
        "325708",
        2138,
    )
    line_image = by_type["message"][9][0]  # contentProvider "line": fetched from the content endpoint
    assert line_image.attachments[0].media_id == "354718705033693861"
    assert by_type["unsend"] == [
        [InboundDelete(platform_message_id="325708", timestamp=datetime.fromtimestamp(1547817848.122, tz=UTC))]
    ]
    (edit,) = by_type["messageEdited"][0]
    assert isinstance(edit, InboundEdit) and edit.text == "Hello, edited world"
    postbacks = [p[0].text for p in by_type["postback"]]
    assert postbacks[0] == "action=buyItem&itemId=123123&color=red (datetime: 2017-12-25T01:00)"
    for quiet in ("follow", "unfollow", "join", "leave", "beacon", "accountLink", "memberJoined", "memberLeft"):
        assert all(p == [] for p in by_type[quiet]), quiet
    assert by_type["undefined"] == [[]]  # an unknown type is logged and ignored


def test_split_keys_by_webhook_event_id_and_an_empty_verify_gives_nothing():
    body = (FIXTURES / "COMPUTED_japanese_body.json").read_bytes()
    (delivery,) = schemas.split(body)
    assert delivery.event_key == "01H810YECXQQZ37VAXPF6H9E6T"
    redelivered = json.loads(body)
    redelivered["events"][0]["deliveryContext"]["isRedelivery"] = True
    assert schemas.split(json.dumps(redelivered).encode())[0].event_key == delivery.event_key
    assert schemas.split(b'{"destination":"U0","events":[]}') == []


# --- through the simulator ----------------------------------------------------------------------------------------


@pytest.fixture
def line(simulator, settings):
    settings.LINE_API_URL = simulator.base_url
    settings.LINE_API_DATA_URL = simulator.base_url
    return simulator.parts["line"]


def connect(tenant, line, *, access_token: str = ACCESS_TOKEN):
    from channels_integrations.services import connection_connect

    with tenant.scope():
        connection = connection_connect(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            choice=AccountChoice(
                platform="line",
                external_account_id=BOT_USER_ID,
                display_name="つなぐデモ",
                credentials={"channel_id": CHANNEL_ID, "channel_secret": CHANNEL_SECRET, "access_token": access_token},
                config={"basic_id": "@tsunagu-demo"},
            ),
        )
    line.webhook_url = f"http://testserver/webhooks/line/{connection.uuid}/"  # pasted in the console
    return connection


def reply(tenant, text: str, ticket=None):
    from tickets.models import Ticket
    from tickets.services import replies

    with tenant.scope():
        message = replies.message_reply(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            ticket=ticket or Ticket.objects.get(),
            text=text,
        )
        return message


def fresh(tenant, message):
    """The reply as the send task left it (after the on-commit callbacks ran)."""
    with tenant.scope():
        message.refresh_from_db()
    return message


def test_the_endpoint_answers_verify_and_rejects_bad_signatures(tenant_a, line, client):
    connection = connect(tenant_a, line)
    url = f"/webhooks/line/{connection.uuid}/"
    empty = b'{"destination":"' + BOT_USER_ID.encode() + b'","events":[]}'
    good = base64.b64encode(hmac.new(CHANNEL_SECRET.encode(), empty, hashlib.sha256).digest()).decode()
    post = lambda body, **headers: client.post(url, data=body, content_type="application/json", headers=headers)  # noqa: E731
    assert post(empty, **{"x-line-signature": good}).status_code == 200  # the console's Verify button
    assert post(empty, **{"x-line-signature": "AAAA" + good[4:]}).status_code == 403
    assert post(empty).status_code == 401
    with tenant_a.scope():
        assert InboundEvent.objects.count() == 0


def test_a_redelivered_event_is_stored_once_and_the_profile_names_the_customer(
    tenant_a, line, django_capture_on_commit_callbacks
):
    from tickets.models import Contact, Message

    connect(tenant_a, line)
    with django_capture_on_commit_callbacks(execute=True):
        event = line.customer_text(HANAKO, "注文した商品がまだ届きません", deliveries=3)  # 1 + 2 redeliveries
    with tenant_a.scope():
        assert InboundEvent.objects.get().event_key == event["webhookEventId"]
        message = Message.objects.get()
        assert message.text == "注文した商品がまだ届きません" and message.platform_message_id == event["message"]["id"]
        contact = Contact.objects.get()
        assert contact.name == "佐藤 花子"  # GET /v2/bot/profile/{userId}
        assert contact.avatar_url == line.profiles[HANAKO]["pictureUrl"]
    assert len(line.sim.deliveries) == 3


def test_edit_and_unsend(tenant_a, line, django_capture_on_commit_callbacks):
    from tickets.models import Message

    connect(tenant_a, line)
    with django_capture_on_commit_callbacks(execute=True):
        event = line.customer_text(HANAKO, "明日届けてください")
        line.customer_edit(HANAKO, event["message"]["id"], "明後日届けてください")
    with tenant_a.scope():
        message = Message.objects.get()
        assert message.text == "明後日届けてください" and message.edited_at is not None
    with django_capture_on_commit_callbacks(execute=True):
        line.customer_unsend(HANAKO, event["message"]["id"])
    with tenant_a.scope():
        assert Message.objects.get().deleted_at is not None


def test_image_and_file_bytes_are_stored_through_the_real_ingest(tenant_a, line, django_capture_on_commit_callbacks):
    from tickets.models import Attachment

    connect(tenant_a, line)
    with django_capture_on_commit_callbacks(execute=True):
        line.customer_media(HANAKO, "image")
        line.customer_media(
            HANAKO, "file", content=b"%PDF-1.4 invoice", content_type="application/pdf", file_name="請求書.pdf"
        )
        line.customer_sticker(HANAKO)
    with tenant_a.scope():
        image, pdf, sticker = Attachment.objects.order_by("pk")
        assert image.content_type == "image/png" and image.filename.endswith(".png") and image.file.read() == png()
        assert pdf.filename == "請求書.pdf" and pdf.file.read() == b"%PDF-1.4 invoice"
        assert not sticker.file and sticker.remote_url.startswith("https://stickershop.line-scdn.net/")
        assert sticker.message.text == "[sticker] Thanks, Happy"


def test_reply_within_the_token_window_then_push_after_expiry(tenant_a, line, django_capture_on_commit_callbacks):
    from tickets.models import DeliveryState

    connect(tenant_a, line)
    with django_capture_on_commit_callbacks(execute=True):
        line.customer_text(HANAKO, "サイズ交換できますか？")
    with django_capture_on_commit_callbacks(execute=True):
        first = reply(tenant_a, "はい、できます。")
    fresh(tenant_a, first)
    assert first.delivery_state == DeliveryState.SENT
    assert [d["kind"] for d in line.deliveries] == ["reply"]
    assert first.platform_message_id == line.deliveries[0]["sentMessages"][0]["id"]
    # The customer writes again, and a minute passes on LINE's side: the token we hold is refused, we push.
    with django_capture_on_commit_callbacks(execute=True):
        line.customer_text(HANAKO, "ありがとうございます。送料は？")
    line.expire_reply_tokens()
    with django_capture_on_commit_callbacks(execute=True):
        second = reply(tenant_a, "送料は無料です。")
    fresh(tenant_a, second)
    assert second.delivery_state == DeliveryState.SENT
    assert [d["kind"] for d in line.deliveries] == ["reply", "push"]
    assert line.deliveries[1]["retry_key"] == str(second.local_ref) and line.deliveries[1]["to"] == HANAKO
    # The token was taken once: a third reply is pushed too.
    with django_capture_on_commit_callbacks(execute=True):
        reply(tenant_a, "またのご利用をお待ちしております。")
    assert [d["kind"] for d in line.deliveries] == ["reply", "push", "push"]
    assert line.state()["quota"]["used"] == 2  # replies are free, pushes count


def test_a_group_is_one_conversation_answered_in_the_group(tenant_a, line, django_capture_on_commit_callbacks):
    from tickets.models import Ticket

    connect(tenant_a, line)
    group = "Ca56f94637cc4347f90a25382909b24b9"
    events = []
    for user_id, text in ((HANAKO, "グループから失礼します"), (KEN, "Same question here")):
        event = line._new_message(user_id, {"type": "text", "text": text})
        event["source"] = {"type": "group", "groupId": group, "userId": user_id}
        line.reply_tokens[event["replyToken"]]["to"] = group
        events.append(event)
    with django_capture_on_commit_callbacks(execute=True):
        line.deliver(*events)  # one webhook, two events
    with tenant_a.scope():
        ticket = Ticket.objects.get()
        assert ticket.external_thread_key == f"group:{group}" and ticket.messages.count() == 2
    with django_capture_on_commit_callbacks(execute=True):
        reply(tenant_a, "お二人ともありがとうございます。", ticket=ticket)
    with django_capture_on_commit_callbacks(execute=True):
        reply(tenant_a, "追ってご連絡します。", ticket=ticket)
    # The latest event's token answers in the group, once; then a push to the group
    assert [(d["kind"], d["to"]) for d in line.deliveries] == [("reply", group), ("push", group)]


def test_a_push_whose_answer_was_lost_is_retried_with_its_key_and_delivered_once(
    tenant_a, line, django_capture_on_commit_callbacks
):
    from tickets.models import DeliveryState

    connect(tenant_a, line)
    with django_capture_on_commit_callbacks(execute=True):
        line.customer_text(HANAKO, "返品の方法を教えてください")
    line.expire_reply_tokens()
    line.fail_next.append("lost_answer")  # LINE accepts the push but the answer is a 500
    with django_capture_on_commit_callbacks(execute=True):
        message = reply(tenant_a, "返品フォームをお送りします。")  # the reply token is refused → push → retry → 409
    fresh(tenant_a, message)
    assert message.delivery_state == DeliveryState.SENT
    assert [d["kind"] for d in line.deliveries] == ["push"]
    assert message.platform_message_id == line.deliveries[0]["sentMessages"][0]["id"]
    with tenant_a.scope():
        assert message.attempt_log.count() == 2  # the lost answer, then the 409 that confirms it


def test_a_reply_whose_answer_was_lost_is_not_sent_again(tenant_a, line, django_capture_on_commit_callbacks):
    from tickets.models import DeliveryState

    connect(tenant_a, line)
    with django_capture_on_commit_callbacks(execute=True):
        line.customer_text(HANAKO, "今日中に届きますか？")
    line.fail_next.append("lost_reply")  # LINE delivers the reply but answers 500
    with django_capture_on_commit_callbacks(execute=True):
        message = reply(tenant_a, "はい、本日中にお届けします。")
    fresh(tenant_a, message)
    # A reply carries no retry key: pushing it again could show it twice, so the agent is asked to check instead.
    assert message.delivery_state == DeliveryState.FAILED and "may or may not have reached" in message.delivery_error
    assert [d["kind"] for d in line.deliveries] == ["reply"]


def test_the_connector_maps_lines_errors(tenant_a, line):
    connection = connect(tenant_a, line)
    out = OutboundMessage(
        text="お知らせ", recipient_id=HANAKO, thread_key=f"user:{HANAKO}", kind="direct", idempotency_key=""
    )
    keyed = lambda: OutboundMessage(**{**out.__dict__, "idempotency_key": str(__import__("uuid").uuid4())})  # noqa: E731
    connector = LineConnector()
    with tenant_a.scope():
        line.fail_next.append("rate_limit")
        with pytest.raises(RateLimited) as limited:
            connector.send(connection, keyed())
        assert limited.value.retry_after == 30
        line.fail_next.append("server_error")
        with pytest.raises(TransientError):
            connector.send(connection, keyed())
        line.quota_used = line.quota_limit
        with pytest.raises(SendRejected) as quota:
            connector.send(connection, keyed())
        assert quota.value.code == "quota" and "monthly message quota" in quota.value.message
        line.quota_used = 0
        with pytest.raises(SendRejected) as stranger:
            connector.send(connection, OutboundMessage(**{**keyed().__dict__, "thread_key": "user:U" + "9" * 32}))
        assert stranger.value.code == "400" and "Failed to send messages" in stranger.value.message
        line.revoked = True
        with pytest.raises(AuthFailed) as expired:
            connector.send(connection, keyed())
        assert "expired or revoked" in expired.value.message
    assert line.deliveries == []


def test_an_expired_token_fails_the_reply_and_flags_the_channel(tenant_a, line, django_capture_on_commit_callbacks):
    from tickets.models import DeliveryState

    connection = connect(tenant_a, line)
    with django_capture_on_commit_callbacks(execute=True):
        line.customer_text(HANAKO, "届いていません")
    line.revoked = True
    with django_capture_on_commit_callbacks(execute=True):
        message = reply(tenant_a, "確認します")
    fresh(tenant_a, message)
    connection.refresh_from_db()
    assert message.delivery_state == DeliveryState.FAILED and "expired or revoked" in message.delivery_error
    assert connection.status == "needs_reauth"


def test_a_customer_who_blocked_the_account_gets_a_clear_refusal(tenant_a, line, django_capture_on_commit_callbacks):
    from tickets.models import DeliveryState

    connect(tenant_a, line)
    with django_capture_on_commit_callbacks(execute=True):
        line.customer_text(KEN, "Please cancel my order")
        line.customer_unfollow(KEN)
    with django_capture_on_commit_callbacks(execute=True):
        message = reply(tenant_a, "Cancelled.")
    fresh(tenant_a, message)
    assert message.delivery_state == DeliveryState.FAILED and "blocked this LINE account" in message.delivery_error
    assert line.deliveries == []


def test_the_quota_is_checked_before_queueing(tenant_a, line):
    connection = connect(tenant_a, line)
    now = datetime.now(UTC)
    connector = LineConnector()
    line.quota_used = line.quota_limit
    with tenant_a.scope():
        late = ReplyContext(kind="direct", is_public=False, last_customer_message_at=now - timedelta(hours=1), now=now)
        assert any("monthly message quota" in p for p in connector.check_reply(connection, late, "hello", []))
        fresh = ReplyContext(kind="direct", is_public=False, last_customer_message_at=now, now=now)
        assert connector.check_reply(connection, fresh, "hello", []) == []  # a reply token is free
        assert connector.check_reply(connection, fresh, "x" * 5001, [])
        assert connector.check_reply(connection, fresh, "ok", [("a.png", "image/png", 10)])  # text only


def test_stateless_tokens_are_issued_from_the_channel_secret(tenant_a, line, django_capture_on_commit_callbacks):
    connect(tenant_a, line, access_token="")
    with django_capture_on_commit_callbacks(execute=True):
        line.customer_media(HANAKO, "image")
    with tenant_a.scope():
        from tickets.models import Attachment

        assert Attachment.objects.get().file.read() == png()
    assert len(line.stateless_tokens) == 1  # issued once, then kept in Redis for its life


def test_connect_form_checks_the_credentials_against_line(tenant_a, line, login, settings):
    settings.SITE_URL = "https://tsunagu.example"
    client = login(tenant_a.users["owner"])
    url = reverse("org:channel_connect_form", kwargs={"org_slug": tenant_a.slug, "platform": "line"})
    assert client.get(url).status_code == 200
    bad_secret = client.post(url, {"channel_id": CHANNEL_ID, "channel_secret": "f" * 32, "access_token": ""})
    assert bad_secret.status_code == 400 and "does not accept this channel ID and secret" in bad_secret.text
    bad_token = client.post(url, {"channel_id": CHANNEL_ID, "channel_secret": CHANNEL_SECRET, "access_token": "nope"})
    assert bad_token.status_code == 400 and "does not accept this channel access token" in bad_token.text
    malformed = client.post(url, {"channel_id": "abc", "channel_secret": "short"})
    assert malformed.status_code == 400
    good = client.post(url, {"channel_id": CHANNEL_ID, "channel_secret": CHANNEL_SECRET, "access_token": ACCESS_TOKEN})
    assert good.status_code == 200
    with tenant_a.scope():
        from channels_integrations.models import ChannelConnection

        connection = ChannelConnection.objects.get(platform="line")
    assert connection.external_account_id == BOT_USER_ID and connection.display_name == "つなぐデモ"
    assert connection.credentials["channel_secret"] == CHANNEL_SECRET
    hook = f"https://tsunagu.example/webhooks/line/{connection.uuid}/"
    assert hook in good.text  # shown to paste in the console…
    assert line.webhook_url == hook  # …and set through the API, the site being public HTTPS


def test_the_channel_page_shows_the_quota(tenant_a, line, login, django_assert_max_num_queries):
    connection = connect(tenant_a, line)
    client = login(tenant_a.users["owner"])
    url = reverse("org:channel_detail", kwargs={"org_slug": tenant_a.slug, "connection_id": connection.pk})
    line.quota_used = 37
    with django_assert_max_num_queries(30):
        page = client.get(url)
    assert page.status_code == 200
    assert "37 of 200 (monthly limit)" in page.text and "@tsunagu-demo" in page.text
    line.quota_limit = None
    page = client.get(url)
    assert "37 of 200" in page.text  # cached for a minute: the page does not ask LINE on every view


def test_while_line_does_not_answer_the_quota_is_not_asked_on_every_page(tenant_a, line, settings):
    connection = connect(tenant_a, line)
    connector = LineConnector()
    settings.LINE_API_URL = "http://127.0.0.1:9"  # nothing listens: refused
    with tenant_a.scope():
        assert connector.quota(connection) is None
        settings.LINE_API_URL = line.sim.base_url
        assert connector.quota(connection) is None  # remembered for a minute
        assert ("Messages pushed this month", "LINE did not answer; try again later.") in connector.account_facts(
            connection
        )


def test_the_demo_connection_receives_what_a_simulated_customer_writes(
    db, line, tmp_path, settings, django_capture_on_commit_callbacks
):
    from django.conf import settings as live
    from django.core.management import call_command

    # Every platform's base URL at the simulator, as `make run` does (the demo connects each platform).
    for name in dir(live):
        if name.endswith("_URL") and getattr(live, name) == "http://127.0.0.1:9":
            setattr(settings, name, line.sim.base_url)
    from django_scopes import scopes_disabled

    from conftest import make_org, make_user
    from tickets.models import Message

    demo = make_org("demo", make_user("owner@demo.tsunagu.example"))
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"base_url": line.sim.base_url}))
    call_command("connect_demo_channels", simulator_state=str(state))
    with scopes_disabled():
        connection = ChannelConnection.objects.get(organization=demo, platform="line")
    assert line.webhook_url.endswith(f"/webhooks/line/{connection.uuid}/")
    with django_capture_on_commit_callbacks(execute=True):
        line.customer_sticker(HANAKO)
    with scopes_disabled():
        assert Message.objects.get(connection=connection).text == "[sticker] Thanks, Happy"


@pytest.mark.django_db(transaction=True)
def test_opening_and_answering_a_conversation_shows_on_line(tenant_a, line):
    """The agent opens the conversation (read marks) and types (the loading animation), over the inbox's socket."""
    from asgiref.sync import async_to_sync, sync_to_async

    from inbox.tests.test_consumers import _socket
    from tickets.models import Ticket

    connect(tenant_a, line)
    line.customer_text(HANAKO, "至急確認してください")
    with tenant_a.scope():
        ticket_id = Ticket.objects.get().pk

    async def settle(socket) -> list[dict]:
        """The frames the socket sent until the answer to a ping (every earlier message is handled by then)."""
        await socket.send_json_to({"type": "ping"})
        frames = []
        while not frames or frames[-1].get("type") != "pong":
            frames.append(await socket.receive_json_from(timeout=5))
        return frames

    async def run():
        socket = await sync_to_async(_socket)(tenant_a.slug, tenant_a.users["owner"])
        assert (await socket.connect())[0]
        await settle(socket)
        await socket.send_json_to({"type": "view", "ticket_id": ticket_id})
        assert not [f for f in await settle(socket) if f.get("type") == "error"]
        for _keystroke in range(3):
            await socket.send_json_to({"type": "typing", "ticket_id": ticket_id})
        await socket.send_json_to({"type": "view", "ticket_id": ticket_id})  # opened again (another tab)
        await settle(socket)
        await socket.disconnect()

    async_to_sync(run)()
    assert line.read_marks == [HANAKO]  # once: the token marks everything up to the latest message
    assert line.loading == [{"chatId": HANAKO, "loadingSeconds": 20}]  # once per animation, not per keystroke


def test_the_reply_service_refuses_a_push_beyond_the_quota_before_queueing(
    tenant_a, line, django_capture_on_commit_callbacks
):
    from core.errors import DomainError
    from tickets.models import Ticket

    connect(tenant_a, line)
    with django_capture_on_commit_callbacks(execute=True):
        line.customer_text(HANAKO, "まだですか？")
    line.quota_used = line.quota_limit
    with tenant_a.scope():
        Ticket.objects.update(last_customer_message_at=datetime.now(UTC) - timedelta(minutes=5))  # no reply token
    with pytest.raises(DomainError) as refused:
        reply(tenant_a, "確認中です")
    assert refused.value.code == "platform_rule" and "monthly message quota" in refused.value.message
    assert line.deliveries == []


def test_the_operator_routes_drive_a_customer_and_the_failures(tenant_a, line, django_capture_on_commit_callbacks):
    import requests

    from tickets.models import Attachment, Message

    connect(tenant_a, line)
    base = f"{line.sim.base_url}/_sim/line"
    page = requests.get(f"{line.sim.base_url}/_sim/", timeout=5).text
    assert "Customer writes on LINE" in page and "monthly quota exhausted" in page
    # The operator page's forms post urlencoded fields; the simulator's webhooks reach Django in this thread.
    with django_capture_on_commit_callbacks(execute=True):
        for kind in ("text", "sticker", "image", "file"):
            line._operator_message(_form({"user_id": KEN, "kind": kind, "text": "Hello from LINE"}), None)
    with tenant_a.scope():
        assert Message.objects.count() == 4 and Attachment.objects.exclude(file="").count() == 2
        first = Message.objects.order_by("pk").first()
    with django_capture_on_commit_callbacks(execute=True):
        line._operator_edit(_form({"user_id": KEN, "message_id": first.platform_message_id, "text": "Edited"}), None)
        line._operator_unsend(_form({"user_id": KEN, "message_id": first.platform_message_id}), None)
    with tenant_a.scope():
        first.refresh_from_db()
        assert first.text == "Edited" and first.deleted_at is not None
    for kind in ("rate_limit", "lost_answer", "quota", "expired_token"):
        assert requests.post(f"{base}/fail", data={"kind": kind}, timeout=5).status_code == 200
    assert line.fail_next == ["rate_limit", "lost_answer"] and line.revoked and line.quota_used == line.quota_limit
    assert requests.post(f"{base}/fail", data={"kind": "nonsense"}, timeout=5).status_code == 400
    assert requests.post(f"{base}/expire-reply-tokens", timeout=5).json()["expired"] >= 4


def _form(data: dict):
    from urllib.parse import urlencode

    from channels_integrations.simulator.core import Request

    return Request(
        method="POST",
        path="/_sim/line/",
        query={},
        headers={"content-type": "application/x-www-form-urlencoded"},
        body=urlencode(data).encode(),
    )
