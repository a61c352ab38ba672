"""Sender authentication on the way in: the IMAP poll checks each mail once (DNS from a table here), records the
result as the stored mail's first header, believes only the hosts the mailbox names, and the message keeps it. The
inbound-parse endpoint does no DNS: its mail is stored marked unchecked, so a forged result header is never read."""

import pytest
from django.core.exceptions import ValidationError

from channels_integrations import services
from channels_integrations.models import InboundEvent
from channels_integrations.providers.email.connect import MailboxForm
from channels_integrations.providers.email.connector import EmailConnector
from channels_integrations.providers.email.tests.test_connector import MAILBOX, mailbox
from tickets.models import Message

pytestmark = pytest.mark.django_db

DNS = {"_dmarc.shop.example": "v=DMARC1; p=reject", "_dmarc.bank.example": "v=DMARC1; p=reject"}


def _mail(sender: str, number: int, result_header: str) -> bytes:
    return (
        f"Authentication-Results: {result_header}\r\n"
        f"Received: from sender.example by mx.shop.example.jp\r\n"
        f"From: {sender}\r\nTo: {MAILBOX}\r\nSubject: test {number}\r\n"
        f"Message-ID: <auth-{number}@example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"お問い合わせ {number}\r\n"
    ).encode()


def test_the_poll_checks_each_mail_and_trusts_only_the_mailboxs_hosts(tenant_a, simulator, monkeypatch):
    asked = []

    def table(name):
        asked.append(name)
        return [DNS[name]] if name in DNS else []

    monkeypatch.setattr(EmailConnector, "dns_txt", staticmethod(table))
    part = simulator.parts["email"]
    box = part.add_mailbox(MAILBOX, MAILBOX, "mail-password")
    connection = mailbox(tenant_a, imap_port=part.imap_port, smtp_port=part.smtp_port)
    with tenant_a.scope():
        connection.config["trusted_authserv_ids"] = ["mx.shop.example.jp"]
        connection.save(update_fields=["config"])
    # SPF passed at our own receiving host: believed. The same claim by a host nobody named: ignored.
    box.append(_mail("taro@shop.example", 1, "mx.shop.example.jp; spf=pass smtp.mailfrom=taro@shop.example"))
    box.append(_mail("ceo@bank.example", 2, "mx.evil.example; spf=pass smtp.mailfrom=bank.example; dmarc=pass"))
    with tenant_a.scope():
        assert services.connection_poll(organization=tenant_a.organization, connection_id=connection.pk) == 2
        verdicts = {
            m.sender_authentication["from_domain"]: m.sender_authentication["verdict"]
            for m in Message.objects.filter(kind="email")
        }
        payloads = [bytes(e.payload) for e in InboundEvent.objects.order_by("pk")]
    assert verdicts == {"shop.example": "pass", "bank.example": "fail"}
    assert all(p.startswith(b"Authentication-Results: tsunagu;") for p in payloads)
    assert asked == ["_dmarc.shop.example", "_dmarc.bank.example"]  # one lookup each, nothing else


def test_the_inbound_endpoint_stores_mail_unchecked_and_never_reads_a_forged_result():
    forged = _mail("ceo@bank.example", 3, "tsunagu; dmarc=pass header.from=bank.example").replace(
        b"Received: from sender.example by mx.shop.example.jp\r\n", b""
    )
    connector = EmailConnector()
    (delivery,) = connector.split_webhook(forged)
    (item,) = connector.parse_event(delivery.payload, account_id=MAILBOX)
    assert item.sender_authentication["verdict"] == "none"
    assert delivery.event_key == "msgid:<auth-3@example>"


def test_the_mailbox_form_takes_a_list_of_receiving_hosts(tenant_a):
    form = MailboxForm(organization=tenant_a.organization)
    form.cleaned_data = {"trusted_authserv_ids": "MX.Google.com., mx.shop.example.jp\nmx.google.com"}
    assert form.clean_trusted_authserv_ids() == ["mx.google.com", "mx.shop.example.jp"]
    for bad in ("tsunagu", "mx.example.jp; dkim=pass", "-bad-"):
        form.cleaned_data = {"trusted_authserv_ids": bad}
        with pytest.raises(ValidationError):
            form.clean_trusted_authserv_ids()
