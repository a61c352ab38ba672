"""Parsing WhatsApp Cloud API webhooks (`object: whatsapp_business_account`, PROTOCOLS.md §5) into normalized inbound
items. Pure functions.

`split` cuts a POST into one delivery per message or status, addressed to the business phone number
(`value.metadata.phone_number_id`, the connection's external account id) and keyed by the message id (`wamid…`) or
the status id and state, so a redelivery — whatever it is batched with — is stored once. Each delivery's payload is
the envelope reduced to that one item (with the `contacts` that name its sender).

Timestamps are strings of seconds. The sender's name arrives with the message (`contacts[].profile.name`), so no
profile lookup is needed; `wa_id` (the phone number, digits only) is the customer's id."""

import hashlib
import json
import logging
from datetime import UTC, datetime

from channels_integrations.connector import MalformedPayload, WebhookDelivery
from channels_integrations.inbound import (
    DeliveryUpdate,
    InboundAttachment,
    InboundDelete,
    InboundEdit,
    InboundItem,
    InboundMessage,
)

logger = logging.getLogger("tsunagu.whatsapp")

OBJECT = "whatsapp_business_account"
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker", "voice")
EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "video/mp4": "mp4",
    "video/3gpp": "3gp",
    "audio/ogg": "ogg",
    "audio/mpeg": "mp3",
    "audio/mp4": "m4a",
    "audio/aac": "aac",
    "audio/amr": "amr",
    "application/pdf": "pdf",
}
# Statuses of our own messages; "sent" only repeats what the Send API already answered, "played" is a voice message
# listened to (the read of audio).
STATUS_STATES = {"delivered": "delivered", "read": "read", "played": "read", "failed": "failed"}


def _time(value) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _load(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise MalformedPayload("the body is not JSON") from exc
    if not isinstance(data, dict) or data.get("object") != OBJECT or not isinstance(data.get("entry"), list):
        raise MalformedPayload('expected {"object": "whatsapp_business_account", "entry": [...]}')
    return data


def _key(prefix: str, obj) -> str:
    return prefix + hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def split(body: bytes) -> list[WebhookDelivery]:
    data = _load(body)
    deliveries = []
    for entry in data["entry"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("changes", []), list):
            raise MalformedPayload("every entry needs a list of changes")
        for change in entry.get("changes", []):
            value = change.get("value") if isinstance(change, dict) else None
            if not isinstance(value, dict):
                raise MalformedPayload("a change has no value object")
            phone_number_id = str((value.get("metadata") or {}).get("phone_number_id", ""))
            if not phone_number_id:
                logger.info("whatsapp change %r without a phone number id skipped", change.get("field"))
                continue
            base = {k: v for k, v in value.items() if k not in ("messages", "statuses", "message_echoes")}
            items = [
                (name, item)
                for name in ("messages", "statuses", "message_echoes")
                for item in (value.get(name) or [])
                if isinstance(item, dict)
            ]
            for name, item in items:
                if name == "statuses":
                    key = f"status:{item.get('id', '')}:{item.get('status', '')}"
                else:
                    key = str(item.get("id") or "") or _key("sha256:", item)
                one = {**base, name: [item]}
                deliveries.append(_delivery(entry, change, one, phone_number_id, key))
            if not items:  # account-level notices (value.errors…): kept, keyed by their content
                deliveries.append(_delivery(entry, change, value, phone_number_id, _key("change:", change)))
    return deliveries


def _delivery(entry: dict, change: dict, value: dict, account_id: str, key: str) -> WebhookDelivery:
    payload = {"object": OBJECT, "entry": [{"id": entry.get("id"), "changes": [{**change, "value": value}]}]}
    return WebhookDelivery(
        account_id=account_id, event_key=key[:255], payload=json.dumps(payload).encode(), platform="whatsapp"
    )


def parse(payload: bytes, *, account_id: str) -> list[InboundItem]:
    data = _load(payload)
    items: list[InboundItem] = []
    for entry in data["entry"]:
        for change in entry.get("changes", []) if isinstance(entry, dict) else []:
            value = change.get("value") if isinstance(change, dict) else None
            if not isinstance(value, dict):
                raise MalformedPayload("a change has no value object")
            names = {
                str(c.get("wa_id", "")): str((c.get("profile") or {}).get("name", ""))
                for c in value.get("contacts") or []
                if isinstance(c, dict)
            }
            for error in value.get("errors") or []:
                logger.warning("whatsapp account error on %s: %s", account_id, error)
            for message in value.get("messages") or []:
                items.extend(_message(message, names))
            for echo in value.get("message_echoes") or []:
                items.extend(_echo(echo))
            for status in value.get("statuses") or []:
                items.extend(_status(status))
    return items


def _attachment(kind: str, media: dict) -> InboundAttachment:
    content_type = str(media.get("mime_type") or "application/octet-stream")
    media_id = str(media.get("id") or "")
    extension = EXTENSIONS.get(content_type.split(";")[0].strip(), "bin")
    return InboundAttachment(
        filename=str(media.get("filename") or f"{kind}-{media_id or 'file'}.{extension}")[:255],
        content_type=content_type.split(";")[0].strip(),
        media_id=media_id,
    )


def _location_text(location: dict) -> str:
    lat, lng = location.get("latitude"), location.get("longitude")
    lines = [str(location[k]) for k in ("name", "address") if location.get(k)]
    if lat is not None and lng is not None:
        lines.append(f"📍 https://www.google.com/maps?q={lat},{lng}")
    return "\n".join(lines)


def _contacts_text(contacts: list) -> str:
    cards = []
    for card in contacts:
        if not isinstance(card, dict):
            continue
        name = card.get("name") or {}
        parts = [
            str(name.get("formatted_name") or " ".join(filter(None, (name.get("first_name"), name.get("last_name")))))
        ]
        parts += [f"☎ {p.get('phone')}" for p in card.get("phones") or [] if p.get("phone")]
        parts += [f"✉ {e.get('email')}" for e in card.get("emails") or [] if e.get("email")]
        org = (card.get("org") or {}).get("company")
        if org:
            parts.append(str(org))
        cards.append(" · ".join(p for p in parts if p))
    return "\n".join(f"👤 {c}" for c in cards if c)


def _order_text(order: dict) -> str:
    lines = [
        f"🛒 {i.get('product_retailer_id', '?')} × {i.get('quantity', 1)}" for i in order.get("product_items") or []
    ]
    if order.get("text"):
        lines.append(str(order["text"]))
    return "\n".join(lines)


def _content(message: dict) -> tuple[str, tuple[InboundAttachment, ...]]:
    """The readable text and the files of one message object (also an edit's new version)."""
    kind = message.get("type", "")
    body = message.get(kind) if isinstance(message.get(kind), dict) else {}
    if kind == "text":
        text = str(body.get("body", ""))
        referral = message.get("referral") or {}
        if referral.get("headline") or referral.get("source_url"):
            text += f"\n↪ {referral.get('headline') or ''} {referral.get('source_url') or ''}".rstrip()
        return text, ()
    if kind in MEDIA_TYPES:
        media_kind = "audio" if kind == "voice" else kind
        return str(body.get("caption", "")), (_attachment(media_kind, body),)
    if kind == "location":
        return _location_text(message.get("location") or {}), ()
    if kind == "contacts":
        return _contacts_text(message.get("contacts") or []), ()
    if kind == "interactive":
        reply = body.get(body.get("type", ""), {}) if body else {}
        if not isinstance(reply, dict):
            return "", ()
        if body.get("type") == "nfm_reply":  # a WhatsApp Flow's answer
            return str(reply.get("body") or reply.get("response_json") or ""), ()
        title = str(reply.get("title", ""))
        return title + (f"\n{reply['description']}" if reply.get("description") else ""), ()
    if kind == "button":  # a template's quick-reply button
        return str(body.get("text") or body.get("payload") or ""), ()
    if kind == "order":
        return _order_text(message.get("order") or {}), ()
    if kind == "unsupported":
        what = (message.get("unsupported") or {}).get("type") or "?"
        return f"⚠ [{what}]", ()
    return "", ()


def _message(message: dict, names: dict[str, str]) -> list[InboundItem]:
    if not isinstance(message, dict) or not message.get("id"):
        return []
    kind = message.get("type", "")
    wamid, sender = str(message["id"]), str(message.get("from", ""))
    when = _time(message.get("timestamp"))
    if kind == "system" or kind == "ephemeral":
        logger.info("whatsapp system message skipped: %s", (message.get("system") or {}).get("type"))
        return []
    if kind == "revoke":
        original = str((message.get("revoke") or {}).get("original_message_id", ""))
        return [InboundDelete(platform_message_id=original, timestamp=when)] if original else []
    if kind == "edit":
        edit = message.get("edit") or {}
        original = str(edit.get("original_message_id", ""))
        text, _files = _content(edit.get("message") or {})
        return [InboundEdit(platform_message_id=original, text=text, timestamp=when)] if original else []
    reply_to = ""
    if kind == "reaction":
        reaction = message.get("reaction") or {}
        if not reaction.get("emoji"):
            return []  # the customer took the reaction back: nothing to show
        text, files, reply_to = str(reaction["emoji"]), (), str(reaction.get("message_id", ""))
    else:
        text, files = _content(message)
    if not text and not files:
        for error in message.get("errors") or []:
            logger.info("whatsapp message %s carries error %s", wamid, error.get("code"))
        if kind != "unsupported":
            logger.info("whatsapp %s message %s has nothing to show", kind, wamid)
            return []
    context = message.get("context") or {}
    reply_to = reply_to or str(context.get("id", ""))
    return [
        InboundMessage(
            platform_message_id=wamid,
            thread_key=f"dm:{sender}",
            kind="direct",
            author_id=sender,
            author_name=names.get(sender, ""),
            author_handle=f"+{sender}" if sender.isdigit() else "",
            text=text,
            timestamp=when,
            reply_to_platform_id=reply_to,
            attachments=files,
        )
    ]


def _echo(echo: dict) -> list[InboundItem]:
    """A message the business sent from the WhatsApp Business app (a coexistence number): shown in the customer's
    conversation as ours."""
    if not isinstance(echo, dict) or not echo.get("id"):
        return []
    kind, when = echo.get("type", ""), _time(echo.get("timestamp"))
    if kind == "revoke":
        original = str((echo.get("revoke") or {}).get("original_message_id", ""))
        return [InboundDelete(platform_message_id=original, timestamp=when)] if original else []
    if kind == "edit":
        edit = echo.get("edit") or {}
        text, _files = _content(edit.get("message") or {})
        original = str(edit.get("original_message_id", ""))
        return [InboundEdit(platform_message_id=original, text=text, timestamp=when)] if original else []
    customer = str(echo.get("to", ""))
    text, files = _content(echo)
    return [
        InboundMessage(
            platform_message_id=str(echo["id"]),
            thread_key=f"dm:{customer}",
            kind="direct",
            author_id=customer,
            text=text,
            timestamp=when,
            attachments=files,
            direction="outbound",
        )
    ]


def status_error(errors: list) -> str:
    """A failed status's errors as one line an agent can read: "131047 Re-engagement message: <details>"."""
    lines = []
    for error in errors or []:
        if not isinstance(error, dict):
            continue
        details = (error.get("error_data") or {}).get("details") or ""
        title = error.get("title") or error.get("message") or ""
        lines.append(f"{error.get('code', '')} {title}".strip() + (f": {details}" if details else ""))
    return "; ".join(lines)


def _status(status: dict) -> list[InboundItem]:
    if not isinstance(status, dict) or not status.get("id"):
        return []
    state = STATUS_STATES.get(str(status.get("status", "")))
    if state is None:
        return []
    return [
        DeliveryUpdate(
            platform_message_id=str(status["id"]),
            state=state,
            error=status_error(status.get("errors") or []) if state == "failed" else "",
            timestamp=_time(status.get("timestamp")),
            thread_key=f"dm:{status.get('recipient_id', '')}",
        )
    ]
