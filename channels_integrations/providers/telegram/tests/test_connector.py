"""The Telegram connector against the Bot API's documented updates (fixtures, with SOURCE.txt), the webhook secret,
the getUpdates offset rule, sendMessage, 429 retry_after and the connect form. The Bot API is faked in process."""

import json
import time
from pathlib import Path

import pytest
from django.test import RequestFactory

from channels_integrations.connector import (
    AuthFailed,
    MalformedPayload,
    OutboundFile,
    OutboundMessage,
    PollResult,
    RateLimited,
    ReplyContext,
    SendRejected,
    WebhookRejected,
)
from channels_integrations.inbound import InboundEdit, InboundMessage
from channels_integrations.models import ChannelConnection, InboundEvent
from channels_integrations.providers.telegram import client
from channels_integrations.providers.telegram.connect import BotTokenForm
from channels_integrations.providers.telegram.connector import TelegramConnector

FIXTURES = Path(__file__).parent / "fixtures"
TOKEN = "116169643:AAExampleExampleExampleExample_-12"


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


class FakeResponse:
    def __init__(self, status: int, body=None, content: bytes = b""):
        self.status_code, self._body, self._content = status, body, content

    def json(self):
        if self._body is None:
            raise ValueError
        return self._body

    def iter_content(self, size):
        yield self._content

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class FakeBotAPI:
    """Answers Bot API methods like Telegram (PROTOCOLS.md §4) and records every call."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []
        self.queue: list[dict] = []  # pending updates, confirmed by a higher offset
        self.fail: dict[str, tuple[int, dict]] = {}
        self.sent = 0
        self.uploads: list[tuple[str, dict, dict]] = []

    def post(self, url, json=None, timeout=None, data=None, files=None):
        method = url.rsplit("/", 1)[1]
        params = json or data or {}
        self.calls.append((method, params))
        if method in self.fail:
            status, body = self.fail.pop(method)
            return FakeResponse(status, body)
        if f"/bot{TOKEN}/" not in url:
            return FakeResponse(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        if method == "getMe":
            return ok({"id": 116169643, "is_bot": True, "first_name": "xyzbot", "username": "zyx_bot"})
        if method == "getUpdates":
            offset = params.get("offset")
            if offset is not None:
                self.queue = [u for u in self.queue if u["update_id"] >= offset]
            return ok(self.queue[: params.get("limit", 100)])
        if method == "getFile":
            return ok({"file_id": params["file_id"], "file_path": "documents/file_1.pdf"})
        if method == "sendMessage":
            self.sent += 1
            return ok({"message_id": 2000 + self.sent, "chat": {"id": params["chat_id"]}, "text": params["text"]})
        if method in ("setWebhook", "deleteWebhook"):
            return ok(True)
        if method == "getWebhookInfo":
            return ok({"url": "", "has_custom_certificate": False, "pending_update_count": 0})
        if method in ("sendPhoto", "sendDocument"):
            self.sent += 1
            self.uploads.append((method, params, files))
            return ok({"message_id": 2000 + self.sent, "chat": {"id": params["chat_id"]}})
        return FakeResponse(404, {"ok": False, "error_code": 404, "description": "Not Found"})

    def get(self, url, timeout=None, stream=False):
        return FakeResponse(200, content=b"%PDF-1.4 fake")


def ok(result):
    return FakeResponse(200, {"ok": True, "result": result})


@pytest.fixture
def api(monkeypatch):
    fake = FakeBotAPI()
    monkeypatch.setattr(client.requests, "post", fake.post)
    monkeypatch.setattr(client.requests, "get", fake.get)
    return fake


def bot_connection(tenant, mode: str = "polling") -> ChannelConnection:
    with tenant.scope():
        connection = ChannelConnection(
            organization=tenant.organization,
            platform="telegram",
            display_name="@zyx_bot",
            external_account_id="116169643",
            config={"mode": mode},
        )
        connection.set_credentials({"bot_token": TOKEN, "webhook_secret": "s3cret_-Token"})
        connection.save()
        return connection


# --- parsing ------------------------------------------------------------------------------------------------------


def test_text_message_fixture():
    [item] = TelegramConnector().parse_event(raw("message_text.json"), account_id="")
    assert isinstance(item, InboundMessage)
    assert item.platform_message_id == "1111111:1365"
    assert item.thread_key == "chat:1111111"
    assert item.author_id == "1111111"
    assert item.author_name == "Test Firstname Test Lastname"
    assert item.author_handle == "Testusername"
    assert item.text == "/start"
    assert item.timestamp.timestamp() == 1441645532


def test_edited_message_fixture_is_an_edit():
    [item] = TelegramConnector().parse_event(raw("edited_message.json"), account_id="")
    assert item == InboundEdit(platform_message_id="1111111:1365", text="Edited text", timestamp=item.timestamp)
    assert item.timestamp.timestamp() == 1441646600


def test_document_fixture_is_an_attachment_and_reply_fixture_answers():
    [item] = TelegramConnector().parse_event(raw("message_document.json"), account_id="")
    [attachment] = item.attachments
    assert (attachment.filename, attachment.content_type, attachment.size) == (
        "Testfile.pdf",
        "application/pdf",
        536392,
    )
    [reply] = TelegramConnector().parse_event(raw("message_reply.json"), account_id="")
    assert reply.reply_to_platform_id == "1111112:1334"  # the sample answers a message of another chat


def test_callback_queries_are_not_messages_and_keys_are_update_ids():
    assert TelegramConnector().parse_event(raw("callback_query.json"), account_id="") == []
    [delivery] = TelegramConnector().split_webhook(raw("message_text.json"))
    assert delivery.event_key == "update:10000"


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"message": {}}', b'{"update_id": "1"}'])
def test_malformed_updates(body):
    with pytest.raises(MalformedPayload):
        TelegramConnector().split_webhook(body)


# --- the webhook --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "", "wrong", "s3cret_-Token "])
def test_a_missing_or_wrong_secret_is_rejected(tenant_a, header):
    connection = bot_connection(tenant_a, "webhook")
    headers = {} if header is None else {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": header}
    request = RequestFactory().post("/", data=b"{}", content_type="application/json", **headers)
    with pytest.raises(WebhookRejected) as caught:
        TelegramConnector().verify_webhook(request, connection)
    assert caught.value.status == 403


def test_the_webhook_stores_a_redelivered_update_once(tenant_a, client):
    connection = bot_connection(tenant_a, "webhook")
    url = f"/webhooks/telegram/{connection.uuid}/"
    headers = {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": "s3cret_-Token"}
    for _ in range(2):
        response = client.post(url, data=raw("message_text.json"), content_type="application/json", **headers)
        assert response.status_code == 200
    assert client.post(url, data=raw("message_text.json"), content_type="application/json").status_code == 403
    with tenant_a.scope():
        assert InboundEvent.objects.filter(connection=connection).count() == 1


# --- polling ------------------------------------------------------------------------------------------------------


def update(update_id: int, text: str = "hi") -> dict:
    message = json.loads(raw("message_text.json"))["message"]
    return {"update_id": update_id, "message": {**message, "message_id": update_id, "text": text}}


def test_polling_follows_the_offset_rule(tenant_a, api):
    connection = bot_connection(tenant_a)
    api.queue = [update(7), update(8)]
    first = TelegramConnector().poll(connection, {})
    assert [e.event_key for e in first.events] == ["update:7", "update:8"]
    assert first.cursor == {"offset": 9}
    assert "offset" not in api.calls[-1][1]  # nothing was confirmed before the first batch was stored
    api.queue.append(update(9))
    second = TelegramConnector().poll(connection, first.cursor)
    assert api.calls[-1][1]["offset"] == 9  # confirms 7 and 8, asks from 9
    assert [e.event_key for e in second.events] == ["update:9"]
    assert second.cursor == {"offset": 10}
    assert TelegramConnector().poll(connection, second.cursor).events == []


def test_a_webhook_connection_never_polls_but_checks_its_webhook_now_and_then(tenant_a, api, settings):
    settings.SITE_URL = "https://tsunagu.example"
    connection = bot_connection(tenant_a, "webhook")
    recent = {"offset": 3, "webhook_checked_at": int(time.time()) - 60}
    assert TelegramConnector().poll(connection, recent) == PollResult(events=[], cursor=recent)
    assert api.calls == []
    # Ten minutes on, getWebhookInfo proves the token and finds the webhook gone: it is set again
    result = TelegramConnector().poll(connection, {"offset": 3, "webhook_checked_at": int(time.time()) - 601})
    assert result.events == [] and result.cursor["webhook_checked_at"] >= int(time.time()) - 1
    assert [method for method, _params in api.calls] == ["getWebhookInfo", "setWebhook"]
    # A revoked token is found there too (the framework marks the channel for re-authorization)
    api.fail["getWebhookInfo"] = (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    with pytest.raises(AuthFailed):
        TelegramConnector().poll(connection, {})
    assert "getUpdates" not in [method for method, _params in api.calls]


def test_the_long_poll_is_short_so_the_connection_lock_is_brief(tenant_a, api):
    TelegramConnector().poll(bot_connection(tenant_a), {})
    [(method, params)] = api.calls
    assert method == "getUpdates" and 0 < params["timeout"] <= 3


def test_media_is_an_id_until_download_media_fetches_it_through_getfile(tenant_a, api):
    connection = bot_connection(tenant_a)
    api.queue = [json.loads(raw("message_document.json"))]
    [event] = TelegramConnector().poll(connection, {}).events
    assert [method for method, _params in api.calls] == ["getUpdates"]  # polling stores the update as it came
    [item] = TelegramConnector().parse_event(event.payload, account_id="")
    [attachment] = item.attachments
    assert attachment.media_id == "AwADBAADbXXXXXXXXXXXGBdhD2l6_XX" and attachment.content == b""
    assert TelegramConnector.downloads_media and TelegramConnector.max_media_bytes == 20 * 1024 * 1024
    fetched = TelegramConnector().download_media(connection, attachment)
    assert ("getFile", {"file_id": "AwADBAADbXXXXXXXXXXXGBdhD2l6_XX"}) in api.calls
    assert (fetched.filename, fetched.content_type) == ("Testfile.pdf", "application/pdf")
    assert fetched.content == b"%PDF-1.4 fake" and fetched.size == len(b"%PDF-1.4 fake")
    assert TOKEN not in event.payload.decode()


def test_429_retry_after_is_honoured(tenant_a, api):
    connection = bot_connection(tenant_a)
    api.fail["getUpdates"] = (429, json.loads(raw("error_429_retry_after_SHAPE.json")))
    with pytest.raises(RateLimited) as caught:
        TelegramConnector().poll(connection, {})
    assert caught.value.retry_after == 42


# --- replies ------------------------------------------------------------------------------------------------------


def out(text: str) -> OutboundMessage:
    return OutboundMessage(
        text=text, recipient_id="1111111", thread_key="chat:1111111", kind="direct", reply_to_platform_id="1111111:1365"
    )


def test_a_reply_is_sent_once_as_a_reply(tenant_a, api):
    connection = bot_connection(tenant_a)
    result = TelegramConnector().send(connection, out("こんにちは"))
    assert result.platform_message_id == "1111111:2001"
    sends = [params for method, params in api.calls if method == "sendMessage"]
    assert sends == [
        {
            "chat_id": "1111111",
            "text": "こんにちは",
            "reply_parameters": {"message_id": 1365, "allow_sending_without_reply": True},
        }
    ]
    assert TelegramConnector.idempotent_send is False  # the send task never blindly retries it


def test_blocked_bot_and_revoked_token(tenant_a, api):
    connection = bot_connection(tenant_a)
    api.fail["sendMessage"] = (
        403,
        {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
    )
    with pytest.raises(SendRejected) as caught:
        TelegramConnector().send(connection, out("hi"))
    assert caught.value.code == "403" and caught.value.message  # our sentence, not Telegram's description
    api.fail["sendMessage"] = (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    with pytest.raises(AuthFailed):
        TelegramConnector().send(connection, out("hi"))


def test_the_4096_character_limit_is_checked(tenant_a):
    from django.utils import timezone

    connection = bot_connection(tenant_a)
    context = ReplyContext(kind="direct", is_public=False, last_customer_message_at=None, now=timezone.now())
    connector = TelegramConnector()
    assert connector.reply_limits(connection, context).max_length == 4096
    assert connector.check_reply(connection, context, "x" * 4096, []) == []
    assert connector.check_reply(connection, context, "x" * 4097, [])


# --- connecting ---------------------------------------------------------------------------------------------------


def test_the_connect_form_checks_the_token_with_getme(tenant_a, api, settings):
    settings.SITE_URL = "http://localhost:8000"
    form = BotTokenForm({"token": TOKEN}, organization=tenant_a.organization)
    assert form.is_valid(), form.errors
    choice = form.account_choice()
    assert (choice.external_account_id, choice.display_name, choice.config["mode"]) == (
        "116169643",
        "@zyx_bot",
        "polling",
    )
    assert choice.credentials["bot_token"] == TOKEN and len(choice.credentials["webhook_secret"]) >= 32


@pytest.mark.parametrize(
    "token, fail",
    [("nonsense", None), ("123:AAExampleExampleExampleExample_-12", None), (TOKEN, (502, None))],
)
def test_connect_form_errors(tenant_a, api, token, fail):
    if fail:
        api.fail["getMe"] = fail
    form = BotTokenForm({"token": token}, organization=tenant_a.organization)
    assert not form.is_valid()
    assert "token" in form.errors


def test_on_connect_sets_the_webhook_or_deletes_it(tenant_a, api, settings):
    settings.SITE_URL = "https://tsunagu.example"
    connection = bot_connection(tenant_a, "webhook")
    TelegramConnector().on_connect(connection)
    method, params = api.calls[-1]
    assert method == "setWebhook"
    assert params["url"] == f"https://tsunagu.example/webhooks/telegram/{connection.uuid}/"
    assert params["secret_token"] == "s3cret_-Token"
    connection.config = {"mode": "polling"}
    TelegramConnector().on_connect(connection)
    assert api.calls[-1][0] == "deleteWebhook"


# --- more of the protocol: media kinds, groups, uploads, limits ----------------------------------------------------


def message_update(**message) -> bytes:
    base = {"message_id": 5, "date": 1441645532, "chat": {"id": 1111111, "type": "private"}, "from": {"id": 1111111}}
    return json.dumps({"update_id": 1, "message": {**base, **message}}).encode()


def test_a_photo_is_its_largest_size_and_a_sticker_its_own_type():
    photo = [
        {"file_id": "small", "file_unique_id": "s1", "width": 90, "height": 90, "file_size": 1200},
        {"file_id": "large", "file_unique_id": "l1", "width": 1280, "height": 960, "file_size": 98000},
    ]
    [item] = TelegramConnector().parse_event(message_update(photo=photo, caption="壊れていました"), account_id="")
    [attachment] = item.attachments
    assert (attachment.media_id, attachment.filename, attachment.content_type, attachment.size) == (
        "large",
        "photo-l1.jpg",
        "image/jpeg",
        98000,
    )
    assert item.text == "壊れていました" and attachment.content == b""
    sticker = {"file_id": "stk", "file_unique_id": "u9", "width": 512, "height": 512, "is_animated": True}
    [item] = TelegramConnector().parse_event(message_update(sticker=sticker), account_id="")
    assert item.attachments[0].content_type == "application/x-tgsticker"


def test_groups_thread_per_chat_and_noise_is_dropped():
    group = {"id": -100555, "type": "supergroup", "title": "Users"}
    sender = {"id": 42, "is_bot": False, "first_name": "Aki", "username": "aki"}
    [item] = TelegramConnector().parse_event(
        message_update(chat=group, **{"from": sender}, text="/price@zyx_bot A-1"), account_id=""
    )
    assert (item.thread_key, item.author_id, item.author_name, item.text) == ("chat:-100555", "42", "Aki", "/price A-1")
    assert item.platform_message_id == "-100555:5"
    joined = message_update(chat=group, new_chat_members=[sender])  # a service message: nothing to answer
    assert TelegramConnector().parse_event(joined, account_id="") == []
    post = json.dumps({"update_id": 2, "channel_post": {"message_id": 1, "date": 1, "chat": {"id": -1}}}).encode()
    assert TelegramConnector().parse_event(post, account_id="") == []


def test_download_media_refuses_past_20_mb(tenant_a, api, monkeypatch):
    from channels_integrations.inbound import InboundAttachment

    connection = bot_connection(tenant_a)
    big = InboundAttachment(filename="movie.mp4", size=21 * 1024 * 1024, media_id="F")
    with pytest.raises(SendRejected):
        TelegramConnector().download_media(connection, big)
    assert api.calls == []  # not even asked for
    # A file whose size was not announced is cut off while streaming
    huge = FakeResponse(200, content=b"x" * (21 << 20))
    monkeypatch.setattr(client.requests, "get", lambda url, timeout=None, stream=False: huge)
    with pytest.raises(SendRejected):
        TelegramConnector().download_media(connection, InboundAttachment(filename="f", media_id="F"))


def test_a_group_reply_goes_to_the_group_not_to_the_member(tenant_a, api):
    connection = bot_connection(tenant_a)
    outbound = OutboundMessage(text="はい", recipient_id="42", thread_key="chat:-100555", kind="direct")
    assert TelegramConnector().send(connection, outbound).platform_message_id == "-100555:2001"
    assert [p["chat_id"] for m, p in api.calls if m == "sendMessage"] == ["-100555"]


def test_files_are_uploaded_with_the_text_as_caption_or_after_a_long_text(tenant_a, api):
    connection = bot_connection(tenant_a)
    photo = OutboundFile("a.jpg", "image/jpeg", b"\xff\xd8jpeg")
    big_photo = OutboundFile("b.png", "image/png", b"0" * (10 * 1024 * 1024 + 1))
    outbound = OutboundMessage(
        text="どうぞ", recipient_id="1111111", thread_key="chat:1111111", kind="direct", attachments=(photo, big_photo)
    )
    TelegramConnector().send(connection, outbound)
    (first, params, files), (second, params2, files2) = api.uploads
    assert (first, params["caption"], list(files)) == ("sendPhoto", "どうぞ", ["photo"])
    assert (second, "caption" in params2, list(files2)) == ("sendDocument", False, ["document"])  # over 10 MB
    api.uploads.clear()
    long = OutboundMessage(text="x" * 1025, recipient_id="1", thread_key="chat:1", kind="direct", attachments=(photo,))
    TelegramConnector().send(connection, long)
    assert [m for m, _p in api.calls][-2:] == ["sendMessage", "sendPhoto"] and "caption" not in api.uploads[0][1]


def test_a_failure_after_part_of_the_reply_went_out_is_final(tenant_a, api):
    connection = bot_connection(tenant_a)
    photo = OutboundFile("a.jpg", "image/jpeg", b"jpeg")
    outbound = OutboundMessage(
        text="x" * 2000, recipient_id="1", thread_key="chat:1", kind="direct", attachments=(photo,)
    )
    api.fail["sendPhoto"] = (429, json.loads(raw("error_429_retry_after_SHAPE.json")))
    with pytest.raises(SendRejected) as caught:  # not RateLimited: a retry would post the text twice
        TelegramConnector().send(connection, outbound)
    assert "1" in caught.value.message and api.sent == 1


def test_reply_limits_show_the_file_rules(tenant_a):
    from django.utils import timezone

    connection = bot_connection(tenant_a)
    context = ReplyContext(kind="direct", is_public=False, last_customer_message_at=None, now=timezone.now())
    connector = TelegramConnector()
    limits = connector.reply_limits(connection, context)
    assert limits.max_attachment_bytes == 50 * 1024 * 1024 and len(limits.notes) == 2
    assert connector.check_reply(connection, context, "", [("a.zip", "application/zip", 49 * 1024 * 1024)]) == []
    assert connector.check_reply(connection, context, "", [("big.mp4", "video/mp4", 51 * 1024 * 1024)])


def test_a_webhook_that_cannot_be_set_again_does_not_break_the_poll(tenant_a, api, settings):
    settings.SITE_URL = "https://tsunagu.example"
    connection = bot_connection(tenant_a, "webhook")
    api.fail["setWebhook"] = (400, {"ok": False, "error_code": 400, "description": "Bad Request: bad webhook"})
    assert TelegramConnector().poll(connection, {}).events == []
    assert [method for method, _params in api.calls] == ["getWebhookInfo", "setWebhook"]
    settings.SITE_URL = "http://localhost:8000"  # no public address any more: nothing to set the webhook to
    assert TelegramConnector().poll(connection, {}).events == []
    assert [method for method, _params in api.calls][2:] == ["getWebhookInfo"]
