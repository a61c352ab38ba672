"""The fake platforms' connectors: only what the framework needs from a platform."""

import hashlib
import hmac
import json

import requests
from django.conf import settings

from channels_integrations.connector import (
    Connector,
    MalformedPayload,
    OutboundMessage,
    ReplyContext,
    ReplyLimits,
    SendRejected,
    SendResult,
    WebhookDelivery,
    WebhookRejected,
)
from channels_integrations.inbound import InboundMessage

SIGNATURE = "X-FakeChat-Signature"


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class FakeChatConnector(Connector):
    platform = "fakechat"
    label = "FakeChat"
    receives_webhooks = True
    connect_form = "channels_integrations.tests.fake_provider.connect.FakeChatForm"
    connect_label = "Connect FakeChat"

    def verify_webhook(self, request, connection):
        secret = connection.credentials.get("secret", "")
        given = request.headers.get(SIGNATURE, "")
        if not given:
            raise WebhookRejected(f"{SIGNATURE} is missing", status=401)
        if not hmac.compare_digest(sign(secret, request.body), given):
            raise WebhookRejected("signature mismatch", status=403)

    def split_webhook(self, body):
        try:
            events = json.loads(body)["events"]
        except (ValueError, KeyError, TypeError) as exc:
            raise MalformedPayload('expected {"events": [...]}') from exc
        return [WebhookDelivery(account_id="", event_key=e["id"], payload=json.dumps(e).encode()) for e in events]

    def parse_event(self, payload, *, account_id):
        event = json.loads(payload)
        return [
            InboundMessage(
                platform_message_id=event["id"],
                thread_key=f"dm:{event['from']}",
                kind="direct",
                author_id=event["from"],
                author_name=event.get("name", ""),
                text=event["text"],
            )
        ]

    def reply_limits(self, connection, context: ReplyContext) -> ReplyLimits:
        return ReplyLimits(max_length=500)

    def send(self, connection, outbound: OutboundMessage) -> SendResult:
        answer = requests.post(
            f"{settings.FAKECHAT_URL}/fakechat/send",
            json={"to": outbound.recipient_id, "text": outbound.text, "ref": outbound.idempotency_key},
            timeout=5,
        )
        if answer.status_code != 200:
            raise SendRejected(answer.text)
        return SendResult(platform_message_id=answer.json()["id"])


class FakeWhatsAppConnector(Connector):
    """Takes Meta's `whatsapp_business_account` payloads at `/webhooks/meta/` (one entry per business account)."""

    platform = "fakewa"
    label = "FakeWA"
    receives_webhooks = True
    app_level_webhook = "meta"
    webhook_objects = ("whatsapp_business_account",)

    def split_webhook(self, body):
        data = json.loads(body)
        return [
            WebhookDelivery(
                account_id=str(entry["id"]), event_key=f"wa:{entry['id']}", payload=json.dumps(entry).encode()
            )
            for entry in data["entry"]
        ]

    def parse_event(self, payload, *, account_id):
        entry = json.loads(payload)
        return [
            InboundMessage(
                platform_message_id=message["id"],
                thread_key=f"wa:{message['from']}",
                kind="direct",
                author_id=message["from"],
                text=message["text"]["body"],
            )
            for change in entry["changes"]
            for message in change["value"].get("messages", [])
        ]
