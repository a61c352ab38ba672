"""The Telegram connector against the Bot API's documented updates (fixtures, with SOURCE.txt), the webhook secret,
the getUpdates offset rule, sendMessage, 429 retry_after and the connect form. The Bot API is faked in process."""

import json
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


def test_a_webhook_connection_never_polls(tenant_a, api):
    connection = bot_connection(tenant_a, "webhook")
    assert TelegramConnector().poll(connection, {"offset": 3}).events == []
    assert api.calls == []


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
