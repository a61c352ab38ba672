"""The WhatsApp connector end to end against the simulator's Cloud API over loopback: webhooks through
`/webhooks/meta/`, media downloads, replies through the real send task, statuses on the bubble, the 24-hour window
and templates, the Cloud API's errors, and the connect form."""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from channels_integrations.connector import (
    AuthFailed,
    OutboundMessage,
    RateLimited,
    SendRejected,
    TemplateChoice,
)
from channels_integrations.models import ChannelConnection, InboundEvent
from channels_integrations.providers.whatsapp import simulator as sim
from channels_integrations.providers.whatsapp.connect import WhatsAppConnectForm
from channels_integrations.providers.whatsapp.connector import WhatsAppConnector
from core.errors import DomainError

FIXTURES = Path(__file__).parent / "fixtures"
CUSTOMER = "819012345678"


@pytest.fixture
def wa(simulator):
    part = simulator.parts["whatsapp"]
    part.async_receipts = False  # the test thread delivers the statuses: wa.flush_receipts()
    return part


def wa_connection(tenant, *, phone_id: str = sim.PHONE_NUMBER_ID, token: str = sim.SYSTEM_TOKEN) -> ChannelConnection:
    with tenant.scope():
        connection = ChannelConnection(
            organization=tenant.organization,
            platform="whatsapp",
            display_name="Tsunagu Demo Store (+81 3-4567-8901)",
            external_account_id=phone_id,
            config={"waba_id": sim.WABA_ID},
        )
        connection.set_credentials({"access_token": token})
        connection.save()
        return connection


def text_out(text: str, to: str = CUSTOMER, **extra) -> OutboundMessage:
    return OutboundMessage(text=text, recipient_id=to, thread_key=f"dm:{to}", kind="direct", **extra)


def reply(tenant, ticket, text: str = "", **extra):
    from tickets.services import replies

    return replies.message_reply(
        organization=tenant.organization, actor=tenant.users["owner"], ticket=ticket, text=text, **extra
    )


# --- webhooks -------------------------------------------------------------------------------------------------------


def test_the_real_signed_delivery_is_stored_and_forged_or_unsigned_ones_are_not(tenant_a, settings):
    settings.META_APP_SECRET = "1222e786b144d0e85b9f365372d93676"
    wa_connection(tenant_a, phone_id="277321005464405")
    body = (FIXTURES / "signed_text_message.raw.json").read_bytes()
    header = "sha256=54edfa1d7259e0eb13c677cc7d73d1b5c86cfa12433d19156e058ab9251bc441"
    client = Client()

    def post(data: bytes, signature: str | None) -> int:
        headers = {"X-Hub-Signature-256": signature} if signature else {}
        return client.post("/webhooks/meta/", data=data, content_type="application/json", headers=headers).status_code

    assert post(body, "sha256=" + "0" * 64) == 403
    assert post(body, None) == 401
    assert post(body.replace(b"PyWa.", b"PyWa!"), header) == 403
    with tenant_a.scope():
        assert InboundEvent.objects.count() == 0
    assert post(body, header) == 200
    assert post(body, header) == 200  # Meta redelivers: stored once
    with tenant_a.scope():
        (event,) = InboundEvent.objects.all()
        assert event.event_key.startswith("wamid.HBgMOTcy")


def test_a_message_delivered_three_times_is_one_message_with_the_customers_name(
    tenant_a, wa, django_capture_on_commit_callbacks
):
    from tickets.models import Contact, Message, Ticket

    wa_connection(tenant_a)
    with django_capture_on_commit_callbacks(execute=True):
        wamid = wa.customer_message(CUSTOMER, "注文の配送状況を教えてください", name="中村 美咲", duplicates=3)
    with tenant_a.scope():
        (message,) = Message.objects.all()
        assert (message.platform_message_id, message.text) == (wamid, "注文の配送状況を教えてください")
        assert Ticket.objects.get().external_thread_key == f"dm:{CUSTOMER}"
        assert Contact.objects.get().name == "中村 美咲"  # the name arrives with the message: no lookup


def test_edits_and_deletes_reach_the_stored_message(tenant_a, wa, django_capture_on_commit_callbacks):
    from tickets.models import Message

    wa_connection(tenant_a)
    with django_capture_on_commit_callbacks(execute=True):
        first = wa.customer_message(CUSTOMER, "注文番号は 1243 です", name="中村 美咲")
        second = wa.customer_message(CUSTOMER, "間違えました", name="中村 美咲")
        wa.customer_edit(CUSTOMER, first, "注文番号は 1234 です")
        wa.customer_delete(CUSTOMER, second)
    with tenant_a.scope():
        edited, deleted = Message.objects.order_by("pk")
        assert edited.text == "注文番号は 1234 です" and edited.edited_at is not None
        assert deleted.deleted_at is not None
        assert Message.objects.count() == 2


def test_an_image_is_downloaded_with_the_token_and_stored(tenant_a, wa, django_capture_on_commit_callbacks):
    from tickets.models import Attachment

    wa_connection(tenant_a)
    picture = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    with django_capture_on_commit_callbacks(execute=True):
        wa.customer_message(CUSTOMER, "届いた商品が破損していました", media=(picture, "image/png", "x.png"))
    with tenant_a.scope():
        attachment = Attachment.objects.get()
        assert attachment.message.text == "届いた商品が破損していました"  # the caption
        assert (attachment.content_type, attachment.size) == ("image/png", len(picture))
        assert attachment.file.read() == picture


def test_media_too_large_keeps_the_name_without_content(tenant_a, wa, monkeypatch, django_capture_on_commit_callbacks):
    from tickets.models import Attachment

    wa_connection(tenant_a)
    monkeypatch.setattr(WhatsAppConnector, "max_media_bytes", 100)
    with django_capture_on_commit_callbacks(execute=True):
        wa.customer_message(CUSTOMER, media=(b"%PDF" + b"0" * 500, "application/pdf", "見積書.pdf"))
    with tenant_a.scope():
        attachment = Attachment.objects.get()
        assert attachment.filename == "見積書.pdf" and not attachment.file


# --- replies through the send task, statuses on the bubble ---------------------------------------------------------


def customer_ticket(tenant, wa, capture, text: str = "返品できますか？"):
    from tickets.models import Ticket

    with capture(execute=True):
        wa.customer_message(CUSTOMER, text, name="中村 美咲")
    with tenant.scope():
        return Ticket.objects.get()


def test_a_reply_is_sent_once_and_its_statuses_move_the_bubble_to_read(
    tenant_a, wa, django_capture_on_commit_callbacks
):
    from tickets.models import DeliveryState

    wa_connection(tenant_a)
    ticket = customer_ticket(tenant_a, wa, django_capture_on_commit_callbacks)
    with tenant_a.scope(), django_capture_on_commit_callbacks(execute=True):
        message = reply(tenant_a, ticket, "はい、14日以内であれば返品できます。")
    (sent,) = wa.state()["sent"]
    assert sent["type"] == "text" and sent["to"] == CUSTOMER
    assert sent["text"] == {"body": "はい、14日以内であれば返品できます。", "preview_url": False}
    with tenant_a.scope():
        message.refresh_from_db()
        assert message.delivery_state == DeliveryState.SENT and message.platform_message_id == sent["id"]
    with django_capture_on_commit_callbacks(execute=True):
        assert wa.flush_receipts() == 3  # sent, delivered, read: three webhooks
    with tenant_a.scope():
        message.refresh_from_db()
        assert message.delivery_state == DeliveryState.READ
    assert len(wa.state()["sent"]) == 1


def test_a_failed_status_shows_the_code_and_the_reason(tenant_a, wa, django_capture_on_commit_callbacks):
    from tickets.models import DeliveryState

    wa_connection(tenant_a)
    ticket = customer_ticket(tenant_a, wa, django_capture_on_commit_callbacks)
    wa.fail_next_status(131026, "Message undeliverable", "Message Undeliverable.")
    with tenant_a.scope(), django_capture_on_commit_callbacks(execute=True):
        message = reply(tenant_a, ticket, "ご確認ください")
    with django_capture_on_commit_callbacks(execute=True):
        wa.flush_receipts()
    with tenant_a.scope():
        message.refresh_from_db()
        assert message.delivery_state == DeliveryState.FAILED
        assert message.delivery_error == "131026 Message undeliverable: Message Undeliverable."


def test_an_attachment_is_uploaded_then_sent_by_its_media_id(tenant_a, wa, django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    wa_connection(tenant_a)
    ticket = customer_ticket(tenant_a, wa, django_capture_on_commit_callbacks)
    pdf = SimpleUploadedFile("返品手順.pdf", b"%PDF-1.4 test", content_type="application/pdf")
    with tenant_a.scope(), django_capture_on_commit_callbacks(execute=True):
        reply(tenant_a, ticket, "手順をお送りします", files=[pdf])
    state = wa.state()
    (upload,) = state["uploads"]
    assert (upload["filename"], upload["type"], upload["size"]) == ("返品手順.pdf", "application/pdf", 13)
    text, document = state["sent"]
    assert text["type"] == "text"
    assert document["document"] == {"id": upload["id"], "filename": "返品手順.pdf"}


def test_after_24_hours_free_text_is_refused_before_queueing(tenant_a, wa, django_capture_on_commit_callbacks):
    from tickets.models import Ticket
    from tickets.services.replies import reply_limits

    wa_connection(tenant_a)
    ticket = customer_ticket(tenant_a, wa, django_capture_on_commit_callbacks)
    with tenant_a.scope():
        Ticket.objects.update(last_customer_message_at=timezone.now() - timedelta(hours=25))
        ticket.refresh_from_db()
        limits = reply_limits(ticket)
        assert limits.templates_only and limits.window_ends_at < timezone.now()
        with pytest.raises(DomainError) as refused:
            reply(tenant_a, ticket, "遅くなりました")
        assert refused.value.code == "platform_rule" and "template" in refused.value.message
    assert wa.state()["sent"] == []


def test_after_24_hours_a_template_is_sent_once_with_its_values(tenant_a, wa, django_capture_on_commit_callbacks):
    from tickets.models import DeliveryState, Ticket

    wa_connection(tenant_a)
    ticket = customer_ticket(tenant_a, wa, django_capture_on_commit_callbacks)
    wa.age_window(CUSTOMER)
    with tenant_a.scope():
        Ticket.objects.update(last_customer_message_at=timezone.now() - timedelta(hours=25))
        ticket.refresh_from_db()
        with django_capture_on_commit_callbacks(execute=True):
            message = reply(
                tenant_a,
                ticket,
                template=TemplateChoice(name="order_update", language="ja", parameters=("中村", "A-1")),
            )
        message.refresh_from_db()
        assert message.delivery_state == DeliveryState.SENT
        assert message.text == "中村様、ご注文 A-1 について担当者からご連絡があります。"
        assert message.template == {"name": "order_update", "language": "ja", "parameters": ["中村", "A-1"]}
    (sent,) = wa.state()["sent"]
    assert sent["type"] == "template"
    assert sent["template"] == {
        "name": "order_update",
        "language": {"code": "ja"},
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "中村"}, {"type": "text", "text": "A-1"}]}
        ],
    }


@pytest.mark.parametrize(
    ("choice", "code"),
    [
        (TemplateChoice(name="order_update", language="ja", parameters=("中村",)), "template_parameters"),
        (TemplateChoice(name="order_update", language="ja", parameters=("中村", " ")), "template_parameters"),
        (TemplateChoice(name="spring_sale", language="ja"), "unknown_template"),  # pending, not approved
        (TemplateChoice(name="order_update", language="fr"), "unknown_template"),
    ],
)
def test_a_template_must_be_approved_and_filled(tenant_a, wa, django_capture_on_commit_callbacks, choice, code):
    wa_connection(tenant_a)
    ticket = customer_ticket(tenant_a, wa, django_capture_on_commit_callbacks)
    with tenant_a.scope(), pytest.raises(DomainError) as refused:
        reply(tenant_a, ticket, template=choice)
    assert refused.value.code == code
    assert wa.state()["sent"] == []


def test_no_approved_template_says_so(tenant_a, wa, django_capture_on_commit_callbacks):
    wa_connection(tenant_a)
    ticket = customer_ticket(tenant_a, wa, django_capture_on_commit_callbacks)
    wa.templates = [t for t in wa.templates if t["status"] != "APPROVED"]
    with tenant_a.scope(), pytest.raises(DomainError) as refused:
        reply(tenant_a, ticket, template=TemplateChoice(name="order_update", language="ja", parameters=("a", "b")))
    assert refused.value.code == "no_template"


def test_templates_are_listed_approved_with_body_placeholders_across_pages(tenant_a, wa):
    connection = wa_connection(tenant_a)
    wa.templates += [
        {
            "name": f"notice_{i:03d}",
            "language": "ja",
            "status": "APPROVED",
            "category": "UTILITY",
            "components": [{"type": "BODY", "text": "お知らせ {{1}}"}],
        }
        for i in range(120)
    ]
    with tenant_a.scope():
        templates = WhatsAppConnector().reply_templates(connection)
    names = [(t.name, t.language, t.parameters) for t in templates]
    assert ("order_update", "ja", 2) in names and ("order_update", "en_US", 2) in names
    assert ("follow_up", "ja", 0) in names
    assert not any(n in ("spring_sale", "receipt_image") for n, _l, _p in names)  # pending; image header
    assert len(templates) == 3 + 120  # two pages of 100


# --- the Cloud API's errors -----------------------------------------------------------------------------------------


def test_the_cloud_api_errors_become_the_connector_errors(tenant_a, wa):
    connection = wa_connection(tenant_a)
    connector = WhatsAppConnector()
    error = json.loads((FIXTURES / "error_131047_reengagement.json").read_text())["error"]
    with tenant_a.scope():
        # No customer message yet: the simulator applies the 24-hour rule itself (131047).
        with pytest.raises(SendRejected) as window:
            connector.send(connection, text_out("こんにちは", to="819000000000"))
        assert window.value.code == "131047" and "template" in window.value.message
        wa.fail_next(error["code"], error["title"], error["error_data"]["details"])
        with pytest.raises(SendRejected):
            connector.send(connection, text_out("hello"))
        wa.fail_next(130429, "Rate limit hit", "Cloud API message throughput has been reached.")
        with pytest.raises(RateLimited) as limited:
            connector.send(connection, text_out("hello"))
        assert limited.value.retry_after == 5
        wa.fail_next(131056, "(Business Account, Consumer Account) pair rate limit hit")
        with pytest.raises(RateLimited):
            connector.send(connection, text_out("hello"))
        wa.fail_next(190, "Error validating access token: Session has expired", status=401)
        with pytest.raises(AuthFailed):
            connector.send(connection, text_out("hello"))
        wa.fail_next(132001, "Template name does not exist in the translation")
        with pytest.raises(SendRejected) as missing:
            connector.send(connection, text_out("", template=TemplateChoice(name="gone", language="ja")))
        assert "not approved" in missing.value.message


def test_an_expired_token_fails_the_reply_and_flags_the_channel(tenant_a, wa, django_capture_on_commit_callbacks):
    from tickets.models import DeliveryState

    connection = wa_connection(tenant_a)
    ticket = customer_ticket(tenant_a, wa, django_capture_on_commit_callbacks)
    wa.fail_next(190, "Error validating access token: Session has expired on Friday", status=401)
    with tenant_a.scope(), django_capture_on_commit_callbacks(execute=True):
        message = reply(tenant_a, ticket, "承知しました")
    with tenant_a.scope():
        message.refresh_from_db()
        connection.refresh_from_db()
        assert message.delivery_state == DeliveryState.FAILED and "access token" in message.delivery_error
        assert connection.status == "needs_reauth"
    assert wa.state()["sent"] == []


# --- connect --------------------------------------------------------------------------------------------------------


def form(tenant, **data):
    values = {"waba_id": sim.WABA_ID, "phone_number_id": sim.PHONE_NUMBER_ID, "access_token": sim.SYSTEM_TOKEN}
    return WhatsAppConnectForm(data=values | data, organization=tenant.organization)


def test_the_connect_form_checks_the_number_and_subscribes_the_app(tenant_a, wa):
    from channels_integrations.services import connection_connect

    filled = form(tenant_a)
    assert filled.is_valid(), filled.errors
    choice = filled.account_choice()
    assert (choice.external_account_id, choice.display_name) == (
        sim.PHONE_NUMBER_ID,
        "Tsunagu Demo Store (+81 3-4567-8901)",
    )
    with tenant_a.scope():
        connection = connection_connect(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], choice=choice
        )
        assert connection.credentials["access_token"] == sim.SYSTEM_TOKEN
        assert connection.config["waba_id"] == sim.WABA_ID
    assert wa.state()["subscriptions"] == [sim.WABA_ID]


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"access_token": "EAAWnotTheRightOne"}, "__all__", "does not accept this access token"),
        ({"waba_id": "300000000000999"}, "__all__", "refused the check"),
        ({"phone_number_id": "abc"}, "phone_number_id", "number of digits"),
    ],
)
def test_the_connect_form_refuses_what_the_api_refuses(tenant_a, wa, data, field, words):
    filled = form(tenant_a, **data)
    assert not filled.is_valid()
    assert words in " ".join(filled.errors[field])


def test_a_number_of_another_account_is_refused(tenant_a, wa):
    wa.accounts["300000000000002"] = {"id": "300000000000002", "name": "Other"}
    filled = form(tenant_a, waba_id="300000000000002")
    assert not filled.is_valid()
    assert "does not belong" in " ".join(filled.errors["phone_number_id"])


def test_account_facts_show_the_number_and_its_quality(tenant_a, wa):
    connection = wa_connection(tenant_a)
    with tenant_a.scope():
        facts = dict(WhatsAppConnector().account_facts(connection))
    assert facts["Phone number"] == "+81 3-4567-8901" and facts["Quality rating"] == "GREEN"


def test_meta_pages_still_reach_the_meta_part_on_the_shared_graph_url(tenant_a, simulator):
    """The WhatsApp part answers first on `/{id}/messages` and leaves a page's ids to Meta's part."""
    from channels_integrations.providers.meta.connector import FacebookConnector

    page = simulator.parts["meta"].provision()["pages"][0]
    simulator.parts["meta"].register_customer(page["id"], "PSID-1")
    with tenant_a.scope():
        connection = ChannelConnection(
            organization=tenant_a.organization, platform="facebook", display_name="p", external_account_id=page["id"]
        )
        connection.set_credentials({"access_token": page["access_token"]})
        connection.save()
        result = FacebookConnector().send(
            connection, OutboundMessage(text="hi", recipient_id="PSID-1", thread_key="dm:PSID-1", kind="direct")
        )
    assert result.platform_message_id.startswith("m_")


def test_an_admin_connects_the_number_from_the_channels_page(tenant_a, wa, login):
    from django.urls import reverse

    client = login(tenant_a.users["owner"])
    channels = client.get(reverse("org:channels", args=[tenant_a.slug])).content.decode()
    assert 'id="connect-whatsapp"' in channels
    url = reverse("org:channel_connect_form", args=[tenant_a.slug, "whatsapp"])
    assert 'name="phone_number_id"' in client.get(url).content.decode()
    refused = client.post(
        url, {"waba_id": sim.WABA_ID, "phone_number_id": sim.PHONE_NUMBER_ID, "access_token": "EAAWwrong"}
    )
    assert refused.status_code == 400 and "does not accept this access token" in refused.content.decode()
    done = client.post(
        url, {"waba_id": sim.WABA_ID, "phone_number_id": sim.PHONE_NUMBER_ID, "access_token": sim.SYSTEM_TOKEN}
    )
    assert done.status_code == 200
    with tenant_a.scope():
        connection = ChannelConnection.objects.get(platform="whatsapp")
    assert sim.SYSTEM_TOKEN not in done.content.decode()  # the token is never shown again
    detail = client.get(reverse("org:channel_detail", args=[tenant_a.slug, connection.pk])).content.decode()
    assert "+81 3-4567-8901" in detail and "GREEN" in detail


def test_the_api_sends_a_template_and_refuses_free_text_after_24_hours(
    tenant_a, wa, api_client_for, django_capture_on_commit_callbacks
):
    from tickets.models import Ticket

    wa_connection(tenant_a)
    ticket = customer_ticket(tenant_a, wa, django_capture_on_commit_callbacks)
    wa.age_window(CUSTOMER)
    with tenant_a.scope():
        Ticket.objects.update(last_customer_message_at=timezone.now() - timedelta(hours=25))
    api = api_client_for(tenant_a)
    url = f"/api/v1/orgs/{tenant_a.slug}/tickets/{ticket.pk}/replies/"
    refused = api.post(url, {"text": "遅くなりました"}, format="json")
    assert refused.status_code == 400 and "template" in refused.json()["error"]["message"]
    wrong = api.post(url, {"template": {"name": "order_update", "language": "ja", "parameters": ["x"]}}, format="json")
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "template_parameters"
    with django_capture_on_commit_callbacks(execute=True):
        sent = api.post(
            url, {"template": {"name": "order_update", "language": "ja", "parameters": ["中村", "A-1"]}}, format="json"
        )
    assert sent.status_code == 201, sent.content
    assert sent.json()["text"] == "中村様、ご注文 A-1 について担当者からご連絡があります。"
    assert [s["type"] for s in wa.state()["sent"]] == ["template"]
