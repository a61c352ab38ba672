"""Parsing Meta webhook payloads (Messenger, Page feed, Instagram) into normalized inbound items. Pure functions.

Units differ: Messenger `timestamp` is milliseconds, feed `created_time` seconds (PROTOCOLS.md §1.5)."""

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

logger = logging.getLogger("tsunagu.meta")

OBJECT_PLATFORM = {"page": "facebook", "instagram": "instagram"}
LOCAL_REF_PREFIX = "tsunagu:"
ATTACHMENT_TYPES = {"image": "image/*", "video": "video/*", "audio": "audio/*", "file": "application/octet-stream"}


def _time(value, *, millis: bool) -> datetime | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(number / 1000 if millis else number, tz=UTC)


def webhook_object(body: bytes) -> str:
    """The envelope's `object` ("page", "instagram", …): which connector of the shared endpoint takes the body."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise MalformedPayload("the body is not JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("object"), str):
        raise MalformedPayload('expected {"object": …, "entry": [...]}')
    return data["object"]


def split(body: bytes) -> list[WebhookDelivery]:
    """One delivery per `entry[]` item, keyed by a hash of its canonical JSON (a redelivery hashes the same)."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise MalformedPayload("the body is not JSON") from exc
    if (
        not isinstance(data, dict)
        or data.get("object") not in OBJECT_PLATFORM
        or not isinstance(data.get("entry"), list)
    ):
        raise MalformedPayload('expected {"object": "page"|"instagram", "entry": [...]}')
    platform = OBJECT_PLATFORM[data["object"]]
    deliveries = []
    for entry in data["entry"]:
        if not isinstance(entry, dict) or "id" not in entry:
            raise MalformedPayload("every entry needs an id")
        canonical = json.dumps(entry, sort_keys=True, separators=(",", ":"))
        payload = json.dumps({"object": data["object"], "entry": [entry]}).encode()
        deliveries.append(
            WebhookDelivery(
                account_id=str(entry["id"]),
                event_key="sha256:" + hashlib.sha256(canonical.encode()).hexdigest(),
                payload=payload,
                platform=platform,
            )
        )
    return deliveries


def parse(payload: bytes, *, account_id: str) -> list[InboundItem]:
    try:
        data = json.loads(payload)
        entries = data["entry"]
        is_instagram = data.get("object") == "instagram"
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedPayload("not a Meta webhook envelope") from exc
    items: list[InboundItem] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise MalformedPayload("entry is not an object")
        for key in ("messaging", "standby"):
            events = entry.get(key, [])
            if not isinstance(events, list):
                raise MalformedPayload(f"entry.{key} is not a list")
            for event in events:
                items.extend(_messaging(event, account_id, is_instagram))
        changes = entry.get("changes", [])
        if not isinstance(changes, list):
            raise MalformedPayload("entry.changes is not a list")
        if "field" in entry and "value" in entry:  # Instagram Business Login shape: field/value on the entry
            changes = [*changes, {"field": entry["field"], "value": entry["value"]}]
        for change in changes:
            items.extend(_change(change, account_id, is_instagram))
    return items


def _messaging(event: dict, account_id: str, is_instagram: bool) -> list[InboundItem]:
    if not isinstance(event, dict):
        raise MalformedPayload("a messaging event is not an object")
    sender = str((event.get("sender") or {}).get("id", ""))
    recipient = str((event.get("recipient") or {}).get("id", ""))
    when = _time(event.get("timestamp"), millis=True)
    if "message_edit" in event:
        edit = event["message_edit"]
        return [InboundEdit(platform_message_id=str(edit.get("mid", "")), text=edit.get("text", ""), timestamp=when)]
    if "delivery" in event or "read" in event:
        # Deliveries: `mids` "may not be present"; `watermark` (always present) means every message sent before it
        # was delivered. Reads: Instagram's `messaging_seen` names the message (`read.mid`), Messenger's
        # `message_reads` carries only the watermark; a message read was delivered.
        receipt = event.get("delivery") or event.get("read") or {}
        mids = receipt.get("mids") or ([receipt["mid"]] if receipt.get("mid") else [])
        updates = [DeliveryUpdate(platform_message_id=str(m), state="delivered", timestamp=when) for m in mids]
        watermark = _time(receipt.get("watermark"), millis=True) if receipt.get("watermark") else None
        if watermark is not None and not mids:
            updates.append(
                DeliveryUpdate(
                    platform_message_id="",
                    state="delivered",
                    timestamp=when,
                    thread_key=f"dm:{sender}",
                    up_to=watermark,
                )
            )
        return updates
    if "postback" in event:
        postback = event["postback"]
        mid = (
            postback.get("mid") or "postback:" + hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()
        )
        return [_dm(mid, sender, postback.get("title") or postback.get("payload", ""), when, is_instagram)]
    message = event.get("message")
    if not isinstance(message, dict) or not message.get("mid"):
        logger.debug("meta messaging event skipped: %s", sorted(event))
        return []
    mid = str(message["mid"])
    if message.get("is_deleted"):
        return [InboundDelete(platform_message_id=mid, timestamp=when)]
    attachments = tuple(
        InboundAttachment(
            filename=f"{a.get('type', 'file')}-{i + 1}",
            content_type=ATTACHMENT_TYPES.get(a.get("type", ""), "application/octet-stream"),
            url=str((a.get("payload") or {}).get("url", "")),
        )
        for i, a in enumerate(message.get("attachments") or [])
        if isinstance(a, dict)
    )
    if message.get("is_echo") or sender == account_id:
        metadata = str(message.get("metadata") or "")
        return [
            InboundMessage(
                platform_message_id=mid,
                thread_key=f"dm:{recipient}",
                kind="direct",
                author_id=recipient,
                text=message.get("text", ""),
                timestamp=when,
                attachments=attachments,
                direction="outbound",
                local_ref=metadata.removeprefix(LOCAL_REF_PREFIX) if metadata.startswith(LOCAL_REF_PREFIX) else "",
            )
        ]
    reply_to = str((message.get("reply_to") or {}).get("mid", ""))
    return [
        InboundMessage(
            platform_message_id=mid,
            thread_key=f"dm:{sender}",
            kind="direct",
            author_id=sender,
            text=message.get("text", ""),
            timestamp=when,
            reply_to_platform_id=reply_to,
            attachments=attachments,
        )
    ]


def _dm(mid: str, sender: str, text: str, when, is_instagram: bool) -> InboundMessage:
    return InboundMessage(
        platform_message_id=str(mid),
        thread_key=f"dm:{sender}",
        kind="direct",
        author_id=sender,
        text=text,
        timestamp=when,
    )


def _change(change: dict, account_id: str, is_instagram: bool) -> list[InboundItem]:
    if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
        raise MalformedPayload("a change has no value object")
    field, value = change.get("field"), change["value"]
    if field == "feed":
        if value.get("item") != "comment":
            return []
        author = value.get("from") or {}
        if str(author.get("id", "")) == account_id:
            return []  # the page's own comment: never a customer message (no echo loops)
        comment_id, post_id = str(value.get("comment_id", "")), str(value.get("post_id", ""))
        when = _time(value.get("created_time"), millis=False)
        verb = value.get("verb")
        if verb == "remove":
            return [InboundDelete(platform_message_id=comment_id, timestamp=when)]
        if verb == "edited":
            return [InboundEdit(platform_message_id=comment_id, text=value.get("message", ""), timestamp=when)]
        if verb != "add":
            return []
        parent = str(value.get("parent_id", ""))
        return [
            InboundMessage(
                platform_message_id=comment_id,
                thread_key=f"comment:{post_id}:{author.get('id', '')}",
                kind="comment",
                author_id=str(author.get("id", "")),
                author_name=author.get("name", ""),
                text=value.get("message", ""),
                timestamp=when,
                reply_to_platform_id=parent if parent and parent != post_id else "",
                is_public=True,
            )
        ]
    if field in ("comments", "live_comments", "mentions"):
        author = value.get("from") or {}
        if str(author.get("id", "")) == account_id:
            return []
        media = value.get("media") or {}
        return [
            InboundMessage(
                platform_message_id=str(value.get("id") or value.get("comment_id", "")),
                thread_key=f"comment:{media.get('id', value.get('media_id', ''))}:{author.get('id', '')}",
                kind="mention" if field == "mentions" else "comment",
                author_id=str(author.get("id", "")),
                author_handle=author.get("username", ""),
                author_name=author.get("username", ""),
                text=value.get("text", ""),
                reply_to_platform_id=str(value.get("parent_id", "")),
                is_public=True,
            )
        ]
    return []
