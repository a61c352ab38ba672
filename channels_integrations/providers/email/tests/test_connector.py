"""Email through the product: the raw-MIME inbound endpoint, threading of replies in both directions, auto-replies
and bounces, IMAP polling with its cursor, and an agent's reply going out over SMTP so the customer's mail client
threads it."""

import email
from email.header import Header
from email.mime.text import MIMEText
from email.policy import default as default_policy
from email.utils import formatdate, make_msgid

from accounts.models import AuditAction, AuditEntry
from channels_integrations import services
from channels_integrations.models import ChannelConnection, InboundEvent
from tickets.models import DeliveryState, Message, Ticket
from tickets.services import replies

MAILBOX = "support@shop.example.jp"
TOKEN = "inbound-token-0123456789"


def mailbox(tenant, *, imap_port: int = 1, smtp_port: int = 1) -> ChannelConnection:
    with tenant.scope():
        connection = ChannelConnection(
            organization=tenant.organization,
            platform="email",
            display_name=MAILBOX,
            external_account_id=MAILBOX,
            config={
                "address": MAILBOX,
                "from_name": "ショップ サポート",
                "username": MAILBOX,
                "imap_host": "127.0.0.1",
                "imap_port": imap_port,
                "imap_security": "none",
                "imap_folder": "INBOX",
                "smtp_host": "127.0.0.1",
                "smtp_port": smtp_port,
                "smtp_security": "none",
            },
        )
        connection.set_credentials({"password": "mail-password", "inbound_token": TOKEN})
        connection.save()
        return connection


def japanese_mail(subject: str, body: str, *, msgid: str, in_reply_to: str = "", references: str = "") -> bytes:
    message = MIMEText(body, "plain", "iso-2022-jp")
    message["Subject"] = Header(subject, "iso-2022-jp")
    message["From"] = "=?ISO-2022-JP?B?GyRCOzNFRBsoQiAbJEIyVkxKGyhC?= <hanako@example.jp>"
    message["To"] = MAILBOX
    message["Date"] = formatdate()
    message["Message-ID"] = msgid
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = references or in_reply_to
    return message.as_bytes()


def post_mime(client, connection: ChannelConnection, raw: bytes, token: str = TOKEN):
    return client.post(
        f"/webhooks/email/{connection.uuid}/",
        data=raw,
        content_type="message/rfc822",
        headers={"Authorization": f"Bearer {token}"},
    )


def test_iso_2022_jp_mail_becomes_a_ticket_and_a_reply_threads_into_it(
    client, tenant_a, django_capture_on_commit_callbacks
):
    connection = mailbox(tenant_a)
    first = japanese_mail("注文の件", "注文した商品がまだ届いていません。", msgid="<first@example.jp>")
    second = japanese_mail(
        "Re: 注文の件",
        "追加です。\n\n> 注文した商品がまだ届いていません。",
        msgid="<second@example.jp>",
        in_reply_to="<first@example.jp>",
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert post_mime(client, connection, first).status_code == 200
        assert post_mime(client, connection, second).status_code == 200
    with tenant_a.scope():
        ticket = Ticket.objects.get()
        assert ticket.subject == "注文の件"
        texts = list(ticket.messages.order_by("pk").values_list("text", flat=True))
        assert texts[0] == "注文した商品がまだ届いていません。"
        assert texts[1].startswith("追加です。")
        assert "> 注文した" not in texts[1]  # the quoted part is trimmed
        assert ticket.contact.email == "hanako@example.jp"


def test_wrong_token_is_rejected_and_audited(client, tenant_a):
    connection = mailbox(tenant_a)
    raw = japanese_mail("件名", "本文", msgid="<x@example.jp>")
    assert post_mime(client, connection, raw, token="wrong").status_code == 403
    assert (
        client.post(f"/webhooks/email/{connection.uuid}/", data=raw, content_type="message/rfc822").status_code == 401
    )
    with tenant_a.scope():
        assert InboundEvent.objects.count() == 0
        assert AuditEntry.objects.filter(action=AuditAction.WEBHOOK_REJECTED).count() == 2


def test_an_auto_reply_makes_no_ticket(client, tenant_a, django_capture_on_commit_callbacks):
    connection = mailbox(tenant_a)
    auto = MIMEText("I am out of the office until Monday.", "plain", "utf-8")
    auto["Subject"] = "Automatic reply: 注文の件"
    auto["From"] = "bob@example.com"
    auto["To"] = MAILBOX
    auto["Message-ID"] = make_msgid()
    auto["Auto-Submitted"] = "auto-replied"
    with django_capture_on_commit_callbacks(execute=True):
        assert post_mime(client, connection, auto.as_bytes()).status_code == 200
    with tenant_a.scope():
        assert InboundEvent.objects.count() == 1
        assert Ticket.objects.count() == 0


def test_agent_reply_goes_out_over_smtp_threaded_and_a_bounce_marks_it_failed(
    client, tenant_a, simulator, django_capture_on_commit_callbacks
):
    part = simulator.parts["email"]
    part.add_mailbox(MAILBOX, MAILBOX, "mail-password")
    connection = mailbox(tenant_a, imap_port=part.imap_port, smtp_port=part.smtp_port)
    with django_capture_on_commit_callbacks(execute=True):
        post_mime(client, connection, japanese_mail("返品について", "返品できますか？", msgid="<ask@example.jp>"))
    with tenant_a.scope():
        ticket = Ticket.objects.get()
        # When the agent replies
        with django_capture_on_commit_callbacks(execute=True):
            reply = replies.message_reply(
                organization=tenant_a.organization,
                actor=tenant_a.users["agent"],
                ticket=ticket,
                text="はい、30日以内であれば返品いただけます。",
            )
        reply.refresh_from_db()
        assert reply.delivery_state == DeliveryState.SENT
    # Then the customer's mail threads under their question, with a Japanese subject
    sent = part.sent()[-1]
    mail = email.message_from_bytes(sent["data"] if isinstance(sent, dict) else sent, policy=default_policy)
    assert mail["In-Reply-To"] == "<ask@example.jp>"
    assert "<ask@example.jp>" in mail["References"]
    assert mail["Subject"] == "Re: 返品について"
    assert mail["Message-ID"] == reply.platform_message_id
    assert "30日以内" in mail.get_body(("plain",)).get_content()
    # When the mail bounces, the reply shows as failed
    bounce = part.bounce(reply.platform_message_id, recipient="hanako@example.jp", to=MAILBOX)
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            post_mime(client, connection, bounce if isinstance(bounce, bytes) else bounce.as_bytes()).status_code == 200
        )
    with tenant_a.scope():
        reply.refresh_from_db()
        assert reply.delivery_state == DeliveryState.FAILED
        assert reply.delivery_error
        assert Ticket.objects.count() == 1  # the bounce made no ticket


def test_imap_polling_stores_new_mail_once_and_moves_the_cursor(tenant_a, simulator):
    part = simulator.parts["email"]
    part.add_mailbox(MAILBOX, MAILBOX, "mail-password")
    connection = mailbox(tenant_a, imap_port=part.imap_port, smtp_port=part.smtp_port)
    part.customer_email(
        to=MAILBOX,
        from_addr="taro@example.jp",
        from_name="山田 太郎",
        subject="在庫",
        text="在庫はありますか",
        deliver="imap",
    )
    part.customer_email(
        to=MAILBOX,
        from_addr="jiro@example.jp",
        from_name="佐藤 次郎",
        subject="配送",
        text="配送日を教えてください",
        charset="iso-2022-jp",
        deliver="imap",
    )
    with tenant_a.scope():
        assert services.connection_poll(organization=tenant_a.organization, connection_id=connection.pk) == 2
        assert sorted(Ticket.objects.values_list("subject", flat=True)) == ["在庫", "配送"]
        connection.refresh_from_db()
        assert connection.poll_cursor["last_uid"] >= 2
        # A second poll finds nothing new
        ChannelConnection.objects.filter(pk=connection.pk).update(next_poll_at=None)
        assert services.connection_poll(organization=tenant_a.organization, connection_id=connection.pk) == 0
        assert Message.objects.count() == 2


def test_a_mailbox_refusing_the_login_needs_reauthorization_and_admins_are_told(
    tenant_a, simulator, mailoutbox, django_capture_on_commit_callbacks
):
    part = simulator.parts["email"]
    part.add_mailbox(MAILBOX, MAILBOX, "mail-password")
    connection = mailbox(tenant_a, imap_port=part.imap_port, smtp_port=part.smtp_port)
    with tenant_a.scope():
        connection.set_credentials({"password": "wrong-password", "inbound_token": TOKEN})
        connection.save()
        with django_capture_on_commit_callbacks(execute=True):
            services.connection_poll(organization=tenant_a.organization, connection_id=connection.pk)
        connection.refresh_from_db()
        assert connection.status == "needs_reauth"
        assert AuditEntry.objects.filter(action=AuditAction.CHANNEL_NEEDS_REAUTH).count() == 1
    told = {address for mail in mailoutbox for address in mail.to}
    assert tenant_a.users["owner"].email in told and tenant_a.users["admin"].email in told
    assert tenant_a.users["agent"].email not in told


def test_a_uidvalidity_change_rereads_the_mailbox_without_duplicating_anything(tenant_a, simulator):
    part = simulator.parts["email"]
    part.add_mailbox(MAILBOX, MAILBOX, "mail-password")
    connection = mailbox(tenant_a, imap_port=part.imap_port, smtp_port=part.smtp_port)
    for n in range(2):
        part.customer_email(
            to=MAILBOX, from_addr=f"c{n}@example.jp", from_name="", subject=f"件名{n}", text="本文", deliver="imap"
        )
    with tenant_a.scope():
        services.connection_poll(organization=tenant_a.organization, connection_id=connection.pk)
        connection.refresh_from_db()
        old_validity = connection.poll_cursor["uidvalidity"]
    # When the server renumbers the mailbox (a restore, a migrated account) and new mail arrives
    part.bump_uidvalidity(MAILBOX)
    part.customer_email(
        to=MAILBOX, from_addr="c9@example.jp", from_name="", subject="新しい件名", text="本文", deliver="imap"
    )
    with tenant_a.scope():
        ChannelConnection.objects.filter(pk=connection.pk).update(next_poll_at=None)
        services.connection_poll(organization=tenant_a.organization, connection_id=connection.pk)
        connection.refresh_from_db()
        # Then every UID is read again under the new validity, and the known mails are recognised by Message-ID
        assert connection.poll_cursor["uidvalidity"] != old_validity
        assert connection.poll_cursor["last_uid"] == 3
        assert sorted(Ticket.objects.values_list("subject", flat=True)) == ["件名0", "件名1", "新しい件名"]
        assert Message.objects.count() == 3


def test_the_inbound_endpoint_takes_only_post_and_says_so(client, tenant_a):
    connection = mailbox(tenant_a)
    answer = client.get(f"/webhooks/email/{connection.uuid}/")
    assert answer.status_code == 405 and answer["Allow"] == "POST"


def test_check_now_fetches_new_mail_before_the_next_interval(
    tenant_a, simulator, login, django_capture_on_commit_callbacks
):
    part = simulator.parts["email"]
    part.add_mailbox(MAILBOX, MAILBOX, "mail-password")
    connection = mailbox(tenant_a, imap_port=part.imap_port, smtp_port=part.smtp_port)
    with tenant_a.scope():
        services.connection_poll(organization=tenant_a.organization, connection_id=connection.pk)  # the last check
        connection.refresh_from_db()
        assert connection.next_poll_at is not None  # the next one is a minute away
    part.customer_email(
        to=MAILBOX, from_addr="hanako@example.jp", from_name="鈴木 花子", subject="至急", text="至急", deliver="imap"
    )
    client = login(tenant_a.users["admin"])
    page = client.get(f"/{tenant_a.slug}/settings/channels/{connection.pk}/").content.decode()
    assert 'id="check-now"' in page
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(f"/{tenant_a.slug}/settings/channels/{connection.pk}/poll/")
    assert answer.status_code == 302
    with tenant_a.scope():
        assert list(Ticket.objects.values_list("subject", flat=True)) == ["至急"]


def test_a_reply_from_a_mailbox_without_an_outgoing_server_fails_saying_so(
    client, tenant_a, django_capture_on_commit_callbacks
):
    # A connection stored without its SMTP settings (through the API, say): the reply fails with words an admin can
    # act on, not an internal KeyError.
    connection = mailbox(tenant_a)
    with tenant_a.scope():
        connection.config = {k: v for k, v in connection.config.items() if not k.startswith("smtp_")}
        connection.save()
    with django_capture_on_commit_callbacks(execute=True):
        post_mime(client, connection, japanese_mail("請求書", "請求書をください", msgid="<bill@example.jp>"))
    with tenant_a.scope():
        ticket = Ticket.objects.get()
        with django_capture_on_commit_callbacks(execute=True):
            reply = replies.message_reply(
                organization=tenant_a.organization, actor=tenant_a.users["agent"], ticket=ticket, text="お送りします。"
            )
        reply.refresh_from_db()
    assert reply.delivery_state == DeliveryState.FAILED
    assert "SMTP" in reply.delivery_error and "KeyError" not in reply.delivery_error
