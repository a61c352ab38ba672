"""Inbound email sender authentication in automation: a mail that fails DMARC gets no automatic reply (neither the
channel's auto-response nor a rule's), the result shows on the message, and rules can ask for it. The mails are
signed for real with dkimpy; only DNS is a table."""

import base64
from email.message import EmailMessage

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.urls import reverse
from django.utils import translation

from automation.models import AutoResponse, Rule, RuleRun, RuleTrigger
from automation.rules.describe import Names, describe_condition
from automation.rules.engine import rules_dry_run
from automation.rules.schema import validate_rule
from channels_integrations.models import ChannelConnection
from channels_integrations.providers.email import authentication
from channels_integrations.providers.email.connector import EmailConnector
from tickets.models import CannedResponse, CannedResponseVariant, Message
from tickets.services.ingest import message_ingest

pytestmark = pytest.mark.django_db

SUPPORT = "support@tsunagu.example"
FAILED = "fail"


@pytest.fixture(scope="module")
def dns():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    records = {
        "s1._domainkey.shop.example": f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}",
        "s1._domainkey.attacker.example": f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}",
        "_dmarc.shop.example": "v=DMARC1; p=reject",
        "_dmarc.bank.example": "v=DMARC1; p=reject",
    }
    return pem, lambda name: [records[name]] if name in records else []


def _mail(pem: bytes, sender: str, signer: str, number: int, text: str) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = SUPPORT
    message["Subject"] = "お問い合わせ"
    message["Message-ID"] = f"<m{number}@{signer}>"
    message.set_content(text)
    raw = message.as_bytes().replace(b"\n", b"\r\n")
    return dkim.sign(raw, b"s1", signer.encode(), pem, include_headers=[b"from", b"to", b"subject"]) + raw


def receive(tenant, conn, dns, *, sender: str, signer: str, number: int, text: str = "注文について質問です。"):
    """A mail as the poller stores it (checked and stamped), parsed by the connector and ingested."""
    pem, resolve = dns
    payload = authentication.stamp(_mail(pem, sender, signer, number, text), resolver=resolve)
    (item,) = EmailConnector().parse_event(payload, account_id=SUPPORT)
    with tenant.scope():
        stored, _created = message_ingest(organization=tenant.organization, connection=conn, inbound=item)
        return Message.objects.get(pk=stored.pk)


def mailbox(tenant) -> ChannelConnection:
    with tenant.scope():
        return ChannelConnection.objects.create(
            organization=tenant.organization,
            platform="email",
            display_name="Support",
            external_account_id=SUPPORT,
            config={"address": SUPPORT, "smtp_host": "127.0.0.1", "smtp_port": 1, "smtp_security": "none"},
        )


def canned(tenant, text: str) -> CannedResponse:
    with tenant.scope():
        response = CannedResponse.objects.create(organization=tenant.organization, title=text, shortcut=text[:10])
        CannedResponseVariant.objects.create(
            organization=tenant.organization, response=response, language="ja", body=text
        )
        return response


def automatic_replies(tenant) -> list[str]:
    with tenant.scope():
        return list(Message.objects.filter(automated=True).order_by("pk").values_list("text", flat=True))


def test_a_mail_failing_dmarc_gets_no_auto_response_and_a_verified_one_does(tenant_a, dns):
    conn = mailbox(tenant_a)
    ack = canned(tenant_a, "受け付けました。")
    with tenant_a.scope():
        AutoResponse.objects.create(
            organization=tenant_a.organization, connection=conn, kind="first_contact", response=ack, window_hours=24
        )
    spoofed = receive(tenant_a, conn, dns, sender="ceo@bank.example", signer="attacker.example", number=1)
    assert spoofed.sender_authentication["verdict"] == FAILED
    assert spoofed.sender_authentication["policy"] == "reject"
    assert automatic_replies(tenant_a) == []
    verified = receive(tenant_a, conn, dns, sender="taro@shop.example", signer="shop.example", number=2)
    assert verified.sender_authentication["verdict"] == "pass"
    assert automatic_replies(tenant_a) == ["受け付けました。"]


def test_a_rule_auto_reply_to_a_failed_sender_is_not_sent_and_the_why_log_says_so(tenant_a, dns):
    conn = mailbox(tenant_a)
    response = canned(tenant_a, "ありがとうございます。")
    with tenant_a.scope():
        Rule.objects.create(
            organization=tenant_a.organization,
            name="reply to everyone",
            trigger=RuleTrigger.MESSAGE_RECEIVED,
            conditions={"all": []},
            actions=[{"type": "auto_reply", "response": response.pk}],
        )
    receive(tenant_a, conn, dns, sender="ceo@bank.example", signer="attacker.example", number=3)
    assert automatic_replies(tenant_a) == []
    with tenant_a.scope():
        (action,) = RuleRun.objects.get().actions
    assert action["ok"] is False and "DMARC" in action["error"]


def test_rules_can_ask_for_the_sender_verification(tenant_a, dns):
    conn = mailbox(tenant_a)
    condition = {"field": "message.email_authentication", "op": "in", "value": [FAILED]}
    conditions, actions = validate_rule(
        trigger=RuleTrigger.MESSAGE_RECEIVED,
        conditions={"all": [condition]},
        actions=[{"type": "add_tags", "tags": ["なりすまし"]}],
        refs=None,
    )
    with tenant_a.scope():
        Rule.objects.create(
            organization=tenant_a.organization,
            name="spoofing",
            trigger=RuleTrigger.MESSAGE_RECEIVED,
            conditions=conditions,
            actions=actions,
        )
    spoofed = receive(tenant_a, conn, dns, sender="ceo@bank.example", signer="attacker.example", number=4)
    verified = receive(tenant_a, conn, dns, sender="taro@shop.example", signer="shop.example", number=5)
    with tenant_a.scope():
        assert list(spoofed.ticket.tags.values_list("name", flat=True)) == ["なりすまし"]
        assert list(verified.ticket.tags.values_list("name", flat=True)) == []
        looked_at, matches = rules_dry_run(
            organization=tenant_a.organization,
            trigger=RuleTrigger.MESSAGE_RECEIVED,
            conditions={"all": [condition]},
            actions=actions,
        )
    assert looked_at == 2 and [m.ticket.pk for m in matches] == [spoofed.ticket_id]
    with translation.override("en"):
        text = describe_condition(condition, Names())
    assert text == "Email sender verification is not verified: DMARC failed"


def test_an_unknown_verdict_is_refused_when_the_rule_is_saved():
    with pytest.raises(Exception) as error:
        validate_rule(
            trigger=RuleTrigger.MESSAGE_RECEIVED,
            conditions={"all": [{"field": "message.email_authentication", "op": "in", "value": ["maybe"]}]},
            actions=[{"type": "add_tags", "tags": ["x"]}],
            refs=None,
        )
    assert "conditions.all.0.value" in error.value.errors


def test_the_conversation_shows_the_result_in_words_and_the_api_gives_it(tenant_a, dns, login, client, api_client_for):
    conn = mailbox(tenant_a)
    spoofed = receive(tenant_a, conn, dns, sender="ceo@bank.example", signer="attacker.example", number=6)
    verified = receive(tenant_a, conn, dns, sender="taro@shop.example", signer="shop.example", number=7, text="再送")
    owner = tenant_a.users["owner"]
    owner.language = "en"
    owner.save(update_fields=["language"])
    login(owner)
    slug = tenant_a.organization.slug
    pages = [
        client.get(reverse("org:ticket_conversation", args=[slug, m.ticket_id])).content.decode()
        for m in (spoofed, verified)
    ]
    assert "Sender not verified: DMARC failed" in pages[0] and 'data-sender-auth="fail"' in pages[0]
    assert "attacker.example" in pages[0] and "reject" in pages[0]
    assert "Verified sender" in pages[1] and "Sender not verified" not in pages[1]
    api = api_client_for(tenant_a)
    answer = api.get(f"/api/v1/orgs/{slug}/tickets/{spoofed.ticket_id}/messages/").json()
    (message,) = answer["results"] if isinstance(answer, dict) else answer
    assert message["sender_authentication"]["verdict"] == FAILED
    assert message["sender_authentication"]["dkim"] == [
        {"domain": "attacker.example", "selector": "s1", "result": "pass"}
    ]
