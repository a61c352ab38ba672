"""The Telegram connector end to end against the simulator's Bot API over loopback: connect (polling or webhook,
and switching), updates into tickets once (the offset rule, redelivered webhooks), media fetched with getFile in both
modes, edits, group chats, the customer's name, and replies through the real send task — exactly one delivery, 429
retry_after honoured, a blocked bot and a revoked token made clear."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation
from django.utils.translation import gettext
from django_scopes import scopes_disabled

from channels_integrations import services
from channels_integrations.connector import OutboundMessage, RateLimited, SendRejected
from channels_integrations.models import ChannelConnection, InboundEvent
from channels_integrations.providers.telegram.connect import BotTokenForm
from channels_integrations.providers.telegram.connector import TelegramConnector
from channels_integrations.providers.telegram.simulator import BOT_TOKEN, SAMPLE_JPEG


@pytest.fixture
def telegram(simulator, settings):
    settings.TELEGRAM_API_URL = simulator.base_url
    return simulator.parts["telegram"]


def connect(tenant, settings, site_url: str) -> ChannelConnection:
    settings.SITE_URL = site_url
    form = BotTokenForm({"token": BOT_TOKEN}, organization=tenant.organization)
    assert form.is_valid(), form.errors
    with tenant.scope():
        return services.connection_connect(
            organization=tenant.organization, actor=tenant.users["owner"], choice=form.account_choice()
        )


def poll(tenant, connection) -> int:
    with tenant.scope():
        ChannelConnection.objects.filter(pk=connection.pk).update(next_poll_at=None)
        return services.connection_poll(organization=tenant.organization, connection_id=connection.pk)


def test_polling_mode_reads_updates_once_with_the_offset_rule(tenant_a, telegram, settings):
    connection = connect(tenant_a, settings, "http://localhost:8000")
    assert connection.config["mode"] == "polling" and telegram.webhook == {}
    telegram.customer_message(text="こんにちは", username="hanako")
    telegram.customer_message(text="注文について", document=("invoice.pdf", "application/pdf", b"%PDF-1.4 x"))
    assert poll(tenant_a, connection) == 2
    with tenant_a.scope():
        connection.refresh_from_db()
        assert connection.poll_cursor == {"offset": 500002}
    assert poll(tenant_a, connection) == 0
    assert telegram.updates == []  # the second call's offset confirmed both
    with tenant_a.scope():
        from tickets.models import Attachment

        assert InboundEvent.objects.filter(connection=connection).count() == 2
        attachment = Attachment.objects.get()
        assert attachment.file.read() == b"%PDF-1.4 x"
        assert (attachment.filename, attachment.content_type, attachment.size) == ("invoice.pdf", "application/pdf", 10)
        # The stored update holds the file's id, never its bytes nor the token-bearing file URL
        for event in InboundEvent.objects.filter(connection=connection):
            assert BOT_TOKEN not in bytes(event.payload).decode() and "JVBERi" not in bytes(event.payload).decode()


def test_webhook_mode_media_edits_and_a_redelivered_update(
    tenant_a, telegram, settings, django_capture_on_commit_callbacks
):
    from tickets.models import Attachment, Message, Ticket

    connection = connect(tenant_a, settings, "https://tsunagu.example")
    assert telegram.webhook["url"] == f"https://tsunagu.example/webhooks/telegram/{connection.uuid}/"
    assert telegram.webhook["secret_token"] == connection.credentials["webhook_secret"]
    with django_capture_on_commit_callbacks(execute=True):
        first = telegram.customer_message(text="写真を送ります", photo=SAMPLE_JPEG, first_name="花子")
        telegram.customer_message(text="注文番号は A-1 です")
        telegram.customer_message(text="注文番号は A-2 です", edit_of=first["message"]["message_id"] + 1)
    # Telegram repeats an update it thinks failed: the same update_id is stored once
    body = json.dumps(first).encode()
    headers = {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": connection.credentials["webhook_secret"]}
    from django.test import Client

    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post(
            f"/webhooks/telegram/{connection.uuid}/", data=body, content_type="application/json", **headers
        )
    assert response.status_code == 200
    with tenant_a.scope():
        assert InboundEvent.objects.filter(connection=connection).count() == 3
        ticket = Ticket.objects.get()
        texts = list(Message.objects.filter(ticket=ticket).order_by("pk").values_list("text", flat=True))
        assert texts == ["写真を送ります", "注文番号は A-2 です"]
        photo = Attachment.objects.get()
        assert photo.file.read() == SAMPLE_JPEG  # the largest size of the photo, fetched with getFile
        assert photo.content_type == "image/jpeg" and photo.filename.endswith(".jpg")
        assert TelegramConnector().poll(connection, {}).events == []  # never both at once


@pytest.mark.parametrize("header", [None, "wrong"])
def test_the_webhook_refuses_a_missing_or_wrong_secret(tenant_a, telegram, settings, client, header):
    connection = connect(tenant_a, settings, "https://tsunagu.example")
    headers = {} if header is None else {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": header}
    update = {"update_id": 1, "message": {"message_id": 1, "date": 1, "chat": {"id": 5, "type": "private"}}}
    response = client.post(
        f"/webhooks/telegram/{connection.uuid}/", data=json.dumps(update), content_type="application/json", **headers
    )
    assert response.status_code == 403
    with tenant_a.scope():
        assert not InboundEvent.objects.filter(connection=connection).exists()


def test_connecting_again_switches_between_webhook_and_polling(tenant_a, telegram, settings):
    connection = connect(tenant_a, settings, "http://localhost:8000")
    assert telegram.webhook == {}
    connection = connect(tenant_a, settings, "https://tsunagu.example")  # the app got a public HTTPS address
    assert connection.config["mode"] == "webhook" and telegram.webhook["url"].startswith("https://tsunagu.example/")
    assert TelegramConnector().poll(connection, {}).events == []
    connection = connect(tenant_a, settings, "http://localhost:8000")
    assert connection.config["mode"] == "polling" and telegram.webhook == {}  # deleteWebhook: getUpdates works again
    telegram.customer_message(text="また来ました")
    assert poll(tenant_a, connection) == 1


def test_a_group_threads_per_chat_with_each_member_as_author(tenant_a, telegram, settings):
    from tickets.models import ContactIdentity, Message, Ticket

    connection = connect(tenant_a, settings, "http://localhost:8000")
    group = (-100123, "Tsunagu users")
    telegram.customer_message(chat_id=501, first_name="Aki", text="/help@tsunagu_demo_bot", group=group)
    telegram.customer_message(chat_id=502, first_name="Ben", username="ben_k", text="同じ質問です", group=group)
    telegram.customer_message(chat_id=501, first_name="Aki", text="/start")  # privately: its own conversation
    assert poll(tenant_a, connection) == 3
    with tenant_a.scope():
        tickets = {t.messages.first().text: t for t in Ticket.objects.all()}
        assert set(tickets) == {"/help", "/start"}
        in_group = list(Message.objects.filter(ticket=tickets["/help"]).order_by("pk"))
        assert [m.text for m in in_group] == ["/help", "同じ質問です"]
        names = dict(ContactIdentity.objects.values_list("external_id", "contact__name"))
        assert names == {"501": "Aki", "502": "Ben"}
        assert ContactIdentity.objects.get(external_id="502").handle == "ben_k"


def test_the_profile_lookup_names_a_customer_with_getchat(tenant_a, telegram, settings):
    connection = connect(tenant_a, settings, "http://localhost:8000")
    telegram.customer_message(chat_id=777, first_name="Yuki", last_name="Mori", username="yuki_m", text="hi")
    profile = TelegramConnector().author_profiles(connection, ["777", "999"])
    assert profile["777"].name == "Yuki Mori" and profile["777"].handle == "yuki_m"
    assert profile["777"].avatar_url == ""  # a Telegram picture URL would carry the bot token
    assert "999" not in profile


def reply(tenant, text: str, capture, **kwargs):
    from tickets.models import Ticket
    from tickets.services import replies

    with tenant.scope():
        with capture(execute=True):
            message = replies.message_reply(
                organization=tenant.organization,
                actor=tenant.users["owner"],
                ticket=Ticket.objects.get(),
                text=text,
                **kwargs,
            )
        message.refresh_from_db()
        return message


def test_a_reply_goes_through_the_send_task_once(tenant_a, telegram, settings, django_capture_on_commit_callbacks):
    from tickets.models import DeliveryState

    connection = connect(tenant_a, settings, "http://localhost:8000")
    telegram.customer_message(text="在庫はありますか？", first_name="花子")
    poll(tenant_a, connection)
    message = reply(tenant_a, "ございます！", django_capture_on_commit_callbacks)
    assert message.delivery_state == DeliveryState.SENT
    [sent] = telegram.sent
    assert sent["text"] == "ございます！" and sent["chat"]["id"] == 1111111
    assert sent["reply_parameters"] == {"message_id": 1, "allow_sending_without_reply": True}
    assert message.platform_message_id == f"1111111:{sent['message_id']}"


def test_a_reply_with_a_photo_and_a_document_uploads_them(
    tenant_a, telegram, settings, django_capture_on_commit_callbacks
):
    from tickets.models import DeliveryState

    connection = connect(tenant_a, settings, "http://localhost:8000")
    telegram.customer_message(text="写真をください")
    poll(tenant_a, connection)
    files = [
        SimpleUploadedFile("商品.jpg", SAMPLE_JPEG, content_type="image/jpeg"),
        SimpleUploadedFile("manual.pdf", b"%PDF-1.4 manual", content_type="application/pdf"),
    ]
    message = reply(tenant_a, "こちらです", django_capture_on_commit_callbacks, files=files)
    assert message.delivery_state == DeliveryState.SENT, message.delivery_error
    photo, document = telegram.sent
    assert photo["caption"] == "こちらです" and photo["content"] == SAMPLE_JPEG and "photo" in photo
    assert document["document"]["file_name"] == "manual.pdf" and document["content"] == b"%PDF-1.4 manual"
    assert "caption" not in document
    assert message.platform_message_id == f"1111111:{photo['message_id']}"


def test_429_retry_after_is_honoured_by_the_send_task(
    tenant_a, telegram, settings, django_capture_on_commit_callbacks, monkeypatch
):
    from core.models import Attempt
    from tickets import tasks
    from tickets.models import DeliveryState

    connection = connect(tenant_a, settings, "http://localhost:8000")
    telegram.customer_message(text="急ぎです")
    poll(tenant_a, connection)
    telegram.throttle["sendMessage"] = 900
    retries = []
    first_send = tasks.send_message.apply_async

    def queue(**kwargs):  # the reply's first send runs (eagerly); the retry it asks for is only recorded
        return retries.append(kwargs) if "countdown" in kwargs else first_send(**kwargs)

    monkeypatch.setattr(tasks.send_message, "apply_async", queue)
    message = reply(tenant_a, "少々お待ちください", django_capture_on_commit_callbacks)
    assert message.delivery_state == DeliveryState.QUEUED and telegram.sent == []
    assert [r["countdown"] for r in retries] == [900]  # Telegram's retry_after, not the policy's first 30 s
    # The retry the task queued sends it, once
    with tenant_a.scope():
        tasks.send_message(organization_id=tenant_a.organization.pk, message_id=message.pk)
        message.refresh_from_db()
        assert message.delivery_state == DeliveryState.SENT
        assert Attempt.objects.filter(subject_type__model="message", subject_id=message.pk).count() == 2
    assert [s["text"] for s in telegram.sent] == ["少々お待ちください"]


def test_a_blocked_bot_fails_the_reply_with_a_clear_sentence(
    tenant_a, telegram, settings, django_capture_on_commit_callbacks
):
    from tickets.models import DeliveryState

    connection = connect(tenant_a, settings, "http://localhost:8000")
    telegram.customer_message(text="もういいです")
    poll(tenant_a, connection)
    telegram.blocked.add("1111111")
    message = reply(tenant_a, "失礼しました", django_capture_on_commit_callbacks)
    assert message.delivery_state == DeliveryState.FAILED
    with translation.override(tenant_a.organization.default_language):  # stored in the organization's language
        expected = gettext("The customer has blocked the bot or never started it; Telegram will not deliver the reply.")
    assert message.delivery_error == expected
    assert telegram.sent == []


def test_a_revoked_token_fails_the_reply_and_flags_the_channel(
    tenant_a, telegram, settings, django_capture_on_commit_callbacks
):
    from tickets.models import DeliveryState

    connection = connect(tenant_a, settings, "http://localhost:8000")
    telegram.customer_message(text="返品したいです")
    poll(tenant_a, connection)
    telegram.revoked = True  # the owner revoked the token in @BotFather
    message = reply(tenant_a, "承知しました", django_capture_on_commit_callbacks)
    with tenant_a.scope():
        connection.refresh_from_db()
    assert message.delivery_state == DeliveryState.FAILED and "Unauthorized" in message.delivery_error
    assert connection.status == "needs_reauth"
    assert telegram.sent == []


def test_a_revoked_token_found_while_polling_is_never_silent(tenant_a, telegram, settings):
    connection = connect(tenant_a, settings, "http://localhost:8000")
    telegram.revoked = True
    assert poll(tenant_a, connection) == 0
    with tenant_a.scope():
        connection.refresh_from_db()
    assert connection.status == "needs_reauth"


def test_the_connector_send_maps_429_and_403(tenant_a, telegram, settings):
    connection = connect(tenant_a, settings, "http://localhost:8000")
    out = OutboundMessage(text="ありがとうございます", recipient_id="1111111", thread_key="chat:1111111", kind="direct")
    result = TelegramConnector().send(connection, out)
    assert result.platform_message_id == "1111111:1" and len(telegram.sent) == 1
    telegram.throttle["sendMessage"] = 42
    with pytest.raises(RateLimited) as caught:
        TelegramConnector().send(connection, out)
    assert caught.value.retry_after == 42 and len(telegram.sent) == 1
    telegram.blocked.add("1111111")
    with pytest.raises(SendRejected) as blocked:
        TelegramConnector().send(connection, out)
    assert blocked.value.code == "403" and len(telegram.sent) == 1


def test_the_operator_page_drives_the_customer_and_the_errors(tenant_a, telegram, settings):
    import requests

    connection = connect(tenant_a, settings, "http://localhost:8000")
    base = telegram.sim.base_url
    page = requests.get(f"{base}/_sim/", timeout=5).text
    for action in ("message", "edit", "throttle", "block", "revoke"):
        assert f'action="/_sim/telegram/{action}"' in page
    requests.post(f"{base}/_sim/telegram/message", data={"text": "写真です", "attach": "photo"}, timeout=5)
    requests.post(
        f"{base}/_sim/telegram/message",
        files={"file": ("見積.pdf", b"%PDF-1.4 q", "application/pdf")},
        data={"text": ""},
        timeout=5,
    )
    requests.post(f"{base}/_sim/telegram/edit", data={"message_id": "1", "text": "写真です（訂正）"}, timeout=5)
    assert poll(tenant_a, connection) == 3
    with tenant_a.scope():
        from tickets.models import Attachment, Message

        assert sorted(Attachment.objects.values_list("content_type", flat=True)) == ["application/pdf", "image/jpeg"]
        assert Message.objects.filter(text="写真です（訂正）").exists()
    requests.post(f"{base}/_sim/telegram/throttle", data={"method": "sendMessage", "retry_after": "7"}, timeout=5)
    assert telegram.throttle == {"sendMessage": 7}
    requests.post(f"{base}/_sim/telegram/block", data={"chat_id": "1111111"}, timeout=5)
    assert telegram.blocked == {"1111111"}
    assert requests.post(f"{base}/_sim/telegram/edit", data={"message_id": "x"}, timeout=5).status_code == 400


def test_the_demo_connection_polls_the_simulators_bot(db, telegram, settings, tmp_path):
    from django.core.management import call_command

    from conftest import make_org, make_user

    owner = make_user("owner@demo.tsunagu.example")
    demo = make_org("demo", owner)
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"base_url": telegram.sim.base_url}))
    call_command("connect_demo_channels", simulator_state=str(state))
    with scopes_disabled():
        connection = ChannelConnection.objects.get(organization=demo, platform="telegram")
    assert connection.config["mode"] == "polling" and connection.display_name == "@tsunagu_demo_bot"
    telegram.customer_message(text="デモです")
    with scopes_disabled():
        assert services.connection_poll(organization=demo, connection_id=connection.pk) == 1


def test_the_agent_sees_the_photo_and_telegrams_rules_in_the_reply_box(tenant_a, telegram, settings, login):
    from django.utils.formats import number_format

    from tickets.models import Attachment, Ticket

    connection = connect(tenant_a, settings, "http://localhost:8000")
    telegram.customer_message(text="箱が潰れていました", photo=SAMPLE_JPEG, first_name="花子")
    poll(tenant_a, connection)
    with tenant_a.scope():
        ticket, photo = Ticket.objects.get(), Attachment.objects.get()
    client = login(tenant_a.users["owner"])
    response = client.get(f"/{tenant_a.slug}/inbox/tickets/{ticket.pk}/conversation/")
    page = response.content.decode()
    assert response.status_code == 200 and "箱が潰れていました" in page
    assert photo.filename in page or photo.file.url in page
    assert "4,096" in page or number_format(4096, force_grouping=True) in page  # the reply box's Telegram notes
    assert BOT_TOKEN not in page


def test_an_admin_connects_the_bot_from_the_channels_page(
    tenant_a, telegram, settings, login, django_assert_max_num_queries
):
    settings.SITE_URL = "https://tsunagu.example"
    client = login(tenant_a.users["owner"])
    channels = client.get(f"/{tenant_a.slug}/settings/channels/").content.decode()
    assert f"/{tenant_a.slug}/settings/channels/telegram/" in channels
    with django_assert_max_num_queries(12):
        assert client.get(f"/{tenant_a.slug}/settings/channels/telegram/").status_code == 200
    refused = client.post(f"/{tenant_a.slug}/settings/channels/telegram/", {"token": "123:not-a-token"})
    assert refused.status_code == 400
    telegram.revoked = True  # a well-formed token Telegram does not accept
    refused = client.post(f"/{tenant_a.slug}/settings/channels/telegram/", {"token": BOT_TOKEN})
    assert refused.status_code == 400
    telegram.revoked = False
    done = client.post(f"/{tenant_a.slug}/settings/channels/telegram/", {"token": BOT_TOKEN})
    assert done.status_code == 200 and BOT_TOKEN not in done.content.decode()
    with tenant_a.scope():
        connection = ChannelConnection.objects.get(platform="telegram")
    assert connection.display_name == "@tsunagu_demo_bot" and connection.config["mode"] == "webhook"
    assert telegram.webhook["url"] == f"https://tsunagu.example/webhooks/telegram/{connection.uuid}/"
