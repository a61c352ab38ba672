"""Parsing LINE webhook bodies (PROTOCOLS.md §3.1: `{"destination", "events": [...]}`) into normalized inbound
items. Pure functions.

A body is split into one stored event per LINE event, keyed by its `webhookEventId` (a ULID), so a redelivery
(`deliveryContext.isRedelivery: true`, same id) is stored once. Each stored payload keeps the envelope's shape with a
single event. Conversations: one per user (`user:<userId>`), group (`group:<groupId>`) or room (`room:<roomId>`);
in groups and rooms the author is the member's userId."""

import hashlib
import json
import logging
from datetime import UTC, datetime
from urllib.parse import quote

from channels_integrations.connector import MalformedPayload, WebhookDelivery
from channels_integrations.inbound import InboundAttachment, InboundDelete, InboundEdit, InboundItem, InboundMessage

logger = logging.getLogger("tsunagu.line")

MEDIA_TYPES = {"image": "image/jpeg", "video": "video/mp4", "audio": "audio/m4a", "file": "application/octet-stream"}
EXTENSIONS = {"image": "jpg", "video": "mp4", "audio": "m4a"}
# Sticker images are served from LINE's public sticker CDN under this (widely used, not formally documented)
# pattern; kept as a link, never fetched.
STICKER_URL = "https://stickershop.line-scdn.net/stickershop/v1/sticker/{id}/android/sticker.png"
IGNORED = {
    "follow",
    "unfollow",
    "join",
    "leave",
    "memberJoined",
    "memberLeft",
    "membership",
    "beacon",
    "accountLink",
    "videoPlayComplete",
    "things",
    "module",
    "activated",
    "deactivated",
    "botSuspended",
    "botResumed",
    "delivery",
}


def load(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise MalformedPayload("the body is not JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise MalformedPayload('expected {"destination": …, "events": [...]}')
    if not all(isinstance(e, dict) for e in data["events"]):
        raise MalformedPayload("every event must be an object")
    return data


def event_key(event: dict) -> str:
    event_id = event.get("webhookEventId")
    if isinstance(event_id, str) and event_id:
        return event_id  # a ULID: never contains the ":" of the fallback below
    # Older or unusual events without an id: their content is their identity.
    return "sha256:" + hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()


def split(body: bytes) -> list[WebhookDelivery]:
    """One delivery per event; an empty `events` (the console's Verify button) gives none."""
    data = load(body)
    destination = str(data.get("destination") or "")
    return [
        WebhookDelivery(
            account_id="",
            event_key=event_key(event),
            payload=json.dumps({"destination": destination, "events": [event]}, ensure_ascii=False).encode(),
        )
        for event in data["events"]
    ]


def timestamp(event: dict) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(event["timestamp"]) / 1000, tz=UTC)
    except (KeyError, TypeError, ValueError):
        return None


def chat_of(source: dict) -> tuple[str, str]:
    """(thread key, the id to push to) of an event's source."""
    kind = source.get("type")
    if kind == "group" and source.get("groupId"):
        return f"group:{source['groupId']}", str(source["groupId"])
    if kind == "room" and source.get("roomId"):
        return f"room:{source['roomId']}", str(source["roomId"])
    if source.get("userId"):
        return f"user:{source['userId']}", str(source["userId"])
    raise MalformedPayload("the event's source names no user, group or room")


def parse(payload: bytes) -> list[InboundItem]:
    data = load(payload)
    items: list[InboundItem] = []
    for event in data["events"]:
        try:
            items.extend(_event(event))
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise MalformedPayload(f"unexpected {event.get('type')!r} event shape: {exc}") from exc
    return items


def _event(event: dict) -> list[InboundItem]:
    kind = event.get("type")
    when = timestamp(event)
    if kind == "message":
        return [_message(event, when)]
    if kind == "messageEdited":
        message = event["message"]
        return [InboundEdit(platform_message_id=str(message["id"]), text=_text_of(message), timestamp=when)]
    if kind == "unsend":
        return [InboundDelete(platform_message_id=str(event["unsend"]["messageId"]), timestamp=when)]
    if kind == "postback":
        source = event["source"]
        thread_key, _to = chat_of(source)
        postback = event["postback"]
        params = postback.get("params") if isinstance(postback.get("params"), dict) else {}
        text = str(postback.get("data", ""))
        if params:
            text += " (" + ", ".join(f"{k}: {v}" for k, v in sorted(params.items())) + ")"
        return [
            InboundMessage(
                platform_message_id=f"postback:{event.get('webhookEventId') or event_key(event)}",
                thread_key=thread_key,
                kind="direct",
                author_id=str(source.get("userId") or _to),
                text=text,
                timestamp=when,
            )
        ]
    if kind in IGNORED:
        # Friendship and membership changes carry no message; the connector notes blocks (unfollow) for sends.
        logger.info("line %s event noted (no message)", kind)
        return []
    logger.info("line event of unknown type %r ignored", kind)
    return []


def _text_of(message: dict) -> str:
    # LINE emoji arrive inside `text` as "$" placeholders described by `emojis`; the text is kept as sent.
    return str(message.get("text") or "")


def _message(event: dict, when: datetime | None) -> InboundMessage:
    source = event["source"]
    thread_key, chat_id = chat_of(source)
    message = event["message"]
    message_id = str(message["id"])
    mtype = message.get("type")
    text, attachments = "", ()
    if mtype == "text":
        text = _text_of(message)
    elif mtype == "sticker":
        words = message.get("keywords") if isinstance(message.get("keywords"), list) else []
        label = message.get("text") or ", ".join(str(w) for w in words[:3])
        text = f"[sticker] {label}".strip() if label else "[sticker]"
        sticker_id = str(message.get("stickerId", ""))
        if sticker_id.isdigit():
            attachments = (
                InboundAttachment(
                    filename=f"sticker-{sticker_id}.png",
                    content_type="image/png",
                    url=STICKER_URL.format(id=quote(sticker_id)),
                ),
            )
    elif mtype in MEDIA_TYPES:
        provider = message.get("contentProvider") if isinstance(message.get("contentProvider"), dict) else {}
        name = str(message.get("fileName") or f"{mtype}-{message_id}.{EXTENSIONS.get(mtype, 'bin')}")
        if provider.get("type") == "external":
            # Sent through the business's own server (originalContentUrl): a plain link, no LINE call needed.
            attachment = InboundAttachment(
                filename=name, content_type=MEDIA_TYPES[mtype], url=str(provider.get("originalContentUrl", ""))
            )
        else:
            attachment = InboundAttachment(
                filename=name,
                content_type=MEDIA_TYPES[mtype],
                size=int(message.get("fileSize") or 0),
                media_id=message_id,
            )
        attachments = (attachment,)
    elif mtype == "location":
        lat, lng = message.get("latitude"), message.get("longitude")
        lines = [str(message.get(k)) for k in ("title", "address") if message.get(k)]
        if lat is not None and lng is not None:
            lines.append(f"https://www.google.com/maps/search/?api=1&query={float(lat)},{float(lng)}")
        text = "\n".join(lines) or "[location]"
    else:
        text = f"[{mtype}]"
    return InboundMessage(
        platform_message_id=message_id,
        thread_key=thread_key,
        kind="direct",
        author_id=str(source.get("userId") or chat_id),
        text=text,
        timestamp=when,
        reply_to_platform_id=str(message.get("quotedMessageId") or ""),
        attachments=attachments,
    )
