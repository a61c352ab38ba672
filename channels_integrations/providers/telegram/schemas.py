"""Parsing Telegram Bot API updates (PROTOCOLS.md §4) into normalized inbound items. Pure functions.

One update per webhook request and per getUpdates item; `update_id` is the event key, so a redelivered update is
stored once. `date` and `edit_date` are Unix seconds. Media arrive as `file_id`s only: an attachment carries the
file_id as its `media_id` and the gateway has the connector fetch the bytes (getFile + the download) before the
message is stored — in webhook and polling mode alike, and nothing but ids is kept in the stored update.

Private chats and groups both thread per chat (`chat:<chat id>`, which is where a reply goes); the author is the
sender (`from`), so in a group each member is their own contact."""

import json
from datetime import UTC, datetime

from channels_integrations.connector import MalformedPayload, WebhookDelivery
from channels_integrations.inbound import InboundAttachment, InboundEdit, InboundItem, InboundMessage

MEDIA = ("photo", "document", "voice", "video", "audio", "video_note", "animation", "sticker")
DEFAULT_TYPES = {
    "photo": "image/jpeg",
    "voice": "audio/ogg",
    "video": "video/mp4",
    "video_note": "video/mp4",
    "audio": "audio/mpeg",
    "animation": "video/mp4",
    "document": "application/octet-stream",
    "sticker": "image/webp",
}
EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "audio/ogg": ".ogg",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "audio/mpeg": ".mp3",
    "application/x-tgsticker": ".tgs",
}
CHATS = ("private", "group", "supergroup")  # channels (broadcast posts) are not conversations with customers


def _time(value) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def load(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise MalformedPayload("the body is not JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        raise MalformedPayload('expected an Update: {"update_id": <integer>, …}')
    return data


def event_key(update: dict) -> str:
    return f"update:{update['update_id']}"


def split(body: bytes) -> list[WebhookDelivery]:
    update = load(body)
    return [WebhookDelivery(account_id="", event_key=event_key(update), payload=body)]


def media_file(message: dict) -> tuple[str, dict] | None:
    """(kind, the file object) of a message's media; a photo is its largest size."""
    for kind in MEDIA:
        value = message.get(kind)
        if kind == "photo" and isinstance(value, list) and value:
            return kind, max(value, key=lambda p: (p.get("width", 0) * p.get("height", 0), p.get("file_size", 0)))
        if isinstance(value, dict) and value.get("file_id"):
            return kind, value
    return None


def _content_type(kind: str, file: dict) -> str:
    if kind == "sticker":  # animated stickers are Lottie (.tgs), video stickers WebM, the others WebP
        if file.get("is_animated"):
            return "application/x-tgsticker"
        return "video/webm" if file.get("is_video") else "image/webp"
    return file.get("mime_type") or DEFAULT_TYPES[kind]


def attachment(kind: str, file: dict) -> InboundAttachment:
    """The file's id to fetch later, with the name and type Telegram gave (a photo or voice note has no name)."""
    content_type = _content_type(kind, file)
    unique = file.get("file_unique_id") or str(file.get("file_id", ""))[-12:]
    filename = file.get("file_name") or f"{kind}-{unique}{EXTENSIONS.get(content_type, '')}"
    return InboundAttachment(
        filename=filename, content_type=content_type, size=int(file.get("file_size") or 0), media_id=file["file_id"]
    )


def _author(message: dict) -> tuple[str, str, str]:
    sender = message.get("from") if isinstance(message.get("from"), dict) else message.get("chat", {})
    name = " ".join(p for p in (sender.get("first_name"), sender.get("last_name")) if p) or sender.get("title", "")
    return str(sender.get("id", "")), name, sender.get("username", "")


def _text(message: dict) -> str:
    text = message.get("text") or message.get("caption") or ""
    if text.startswith("/") and message.get("chat", {}).get("type") != "private":
        # In a group a command names its bot (/help@our_bot): the agent reads the command, not the address.
        command, _space, rest = text.partition(" ")
        text = command.split("@", 1)[0] + (f" {rest}" if rest else "")
    if not text and isinstance(message.get("location"), dict):
        location = message["location"]
        text = f"📍 {location.get('latitude')}, {location.get('longitude')}"
    if not text and isinstance(message.get("contact"), dict):
        contact = message["contact"]
        name = " ".join(p for p in (contact.get("first_name"), contact.get("last_name")) if p)
        text = f"👤 {name} {contact.get('phone_number', '')}".strip()
    return text


def parse(payload: bytes) -> list[InboundItem]:
    update = load(payload)
    try:
        if isinstance(update.get("edited_message"), dict):
            message = update["edited_message"]
            return [
                InboundEdit(
                    platform_message_id=_message_id(message),
                    text=_text(message),
                    timestamp=_time(message.get("edit_date") or message.get("date")),
                )
            ]
        message = update.get("message")
        if not isinstance(message, dict):
            return []  # callback queries, member updates, channel posts: nothing for the inbox
        chat = message["chat"]
        if chat.get("type") not in CHATS:
            return []
        media = media_file(message)
        text = _text(message)
        if not text and media is None:
            return []  # service messages (members joined, the title changed, a pinned message): no conversation
        author_id, name, handle = _author(message)
        reply_to = message.get("reply_to_message")
        return [
            InboundMessage(
                platform_message_id=_message_id(message),
                thread_key=f"chat:{chat['id']}",
                kind="direct",
                author_id=author_id,
                author_name=name or handle,
                author_handle=handle,
                text=text,
                timestamp=_time(message.get("date")),
                reply_to_platform_id=_message_id(reply_to) if isinstance(reply_to, dict) else "",
                attachments=(attachment(*media),) if media else (),
            )
        ]
    except (KeyError, TypeError, AttributeError) as exc:
        raise MalformedPayload(f"unexpected update shape: {exc}") from exc


def _message_id(message: dict) -> str:
    """Telegram message ids are unique per chat only: the chat id makes them unique per bot."""
    return f"{message['chat']['id']}:{message['message_id']}"
