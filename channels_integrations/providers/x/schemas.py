"""Parsing X payloads into normalized inbound items. Pure functions.

Two sources, one shape downstream:
- Account Activity webhooks (PROTOCOLS.md §2.3): `{"for_user_id", "tweet_create_events" | "direct_message_events" |
  "tweet_delete_events" | "direct_message_mark_read_events": [...], "users": {...}}`, tweets as v1.1 objects. `split`
  cuts a POST into one delivery per event, keyed by the tweet id / DM event id, so a redelivery is stored once.
- Polling (§2.4): the v2 mentions and dm_events answers; the poller stores each item as `{"x_poll": "mention" |
  "dm", "for_user_id", "item": {...}, "users": {id: user}, "media": {media_key: media}}`, keyed by the same ids.

Threads: a customer's DMs are `dm:<their id>`; their public mentions of the account `mentions:<their id>`, one ticket
per customer, each message remembering the post it answers."""

import json
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

ROUTE = "account_activity"  # the app-level endpoint's routing key (X payloads name no object)
EVENT_LISTS = ("tweet_create_events", "direct_message_events", "tweet_delete_events", "direct_message_mark_read_events")
PROFILE_URL = "https://x.com/"


def _load(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise MalformedPayload("the body is not JSON") from exc
    if not isinstance(data, dict):
        raise MalformedPayload("expected a JSON object")
    return data


def webhook_route(body: bytes) -> str:
    data = _load(body)
    if not isinstance(data.get("for_user_id"), str | int):
        raise MalformedPayload('expected {"for_user_id": …} (an Account Activity event)')
    return ROUTE


def event_key(kind: str, item: dict) -> str:
    """The post id or DM event id (the poller keys the same items alike, so a switch of mode stores nothing twice);
    a delete carries the deleted post's id and a read receipt none of its own: both are prefixed."""
    if kind == "tweet_create_events":
        return str(item.get("id_str") or item.get("id"))
    if kind == "direct_message_events":
        return str(item.get("id"))
    if kind == "tweet_delete_events":
        return f"delete:{(item.get('status') or {}).get('id')}"
    return f"read:{item.get('sender_id')}:{item.get('last_read_event_id')}"


def split(body: bytes) -> list[WebhookDelivery]:
    """One delivery per event of the POST (typing indicators, likes and follows are not conversations: dropped)."""
    data = _load(body)
    account_id = str(data.get("for_user_id", ""))
    if not account_id:
        raise MalformedPayload("for_user_id is missing")
    deliveries = []
    for kind in EVENT_LISTS:
        items = data.get(kind)
        if items is None:
            continue
        if not isinstance(items, list):
            raise MalformedPayload(f"{kind} must be a list")
        for item in items:
            if not isinstance(item, dict):
                raise MalformedPayload(f"{kind} items must be objects")
            payload = {"for_user_id": account_id, kind: [item]}
            if kind == "direct_message_events" and isinstance(data.get("users"), dict):
                payload["users"] = data["users"]
            deliveries.append(
                WebhookDelivery(
                    account_id=account_id, event_key=event_key(kind, item), payload=json.dumps(payload).encode()
                )
            )
    return deliveries


def _millis(value) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError):
        return None


def _iso(value) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _v1_time(value) -> datetime | None:
    try:
        return datetime.strptime(str(value), "%a %b %d %H:%M:%S %z %Y")
    except ValueError:
        return None


def parse(payload: bytes, *, account_id: str) -> list[InboundItem]:
    data = _load(payload)
    account_id = str(data.get("for_user_id") or account_id)
    try:
        if data.get("x_poll") == "mention":
            return _v2_tweet(data["item"], data.get("users") or {}, data.get("media") or {}, account_id)
        if data.get("x_poll") == "dm":
            return _v2_dm(data["item"], data.get("users") or {}, data.get("media") or {}, account_id)
        items: list[InboundItem] = []
        for tweet in data.get("tweet_create_events") or ():
            items.extend(_v1_tweet(tweet, account_id))
        for event in data.get("direct_message_events") or ():
            items.extend(_v1_dm(event, data.get("users") or {}, account_id))
        for deleted in data.get("tweet_delete_events") or ():
            items.append(
                InboundDelete(
                    platform_message_id=str(deleted["status"]["id"]), timestamp=_millis(deleted.get("timestamp_ms"))
                )
            )
        for read in data.get("direct_message_mark_read_events") or ():
            reader = str(read.get("sender_id", ""))
            if reader and reader != account_id:  # the customer read our messages up to then
                at = _millis(read.get("created_timestamp"))
                items.append(
                    DeliveryUpdate(
                        platform_message_id=str(read.get("last_read_event_id", "")),
                        state="read",
                        timestamp=at,
                        thread_key=f"dm:{reader}",
                        up_to=at,
                    )
                )
        return items
    except (KeyError, TypeError, AttributeError) as exc:
        raise MalformedPayload(f"unexpected X event shape: {exc!r}") from exc


# --- v1.1 (Account Activity) ------------------------------------------------------------------------------------


def _v1_tweet(tweet: dict, account_id: str) -> list[InboundItem]:
    user = tweet.get("user") or {}
    author = str(user.get("id_str") or user.get("id") or "")
    tweet_id = str(tweet.get("id_str") or tweet["id"])
    text = ((tweet.get("extended_tweet") or {}).get("full_text") if tweet.get("truncated") else None) or tweet.get(
        "text", ""
    )
    in_reply_to = str(tweet.get("in_reply_to_status_id_str") or "")
    when = _millis(tweet.get("timestamp_ms")) or _v1_time(tweet.get("created_at"))
    if author == account_id:
        # The account's own post: a reply made on X itself lands in the customer's thread; other posts are not
        # conversations. Our replies sent from Tsunagu come back here too and match by their id.
        customer = str(tweet.get("in_reply_to_user_id_str") or "")
        if not in_reply_to or not customer or customer == account_id:
            return []
        return [
            InboundMessage(
                platform_message_id=tweet_id,
                thread_key=f"mentions:{customer}",
                kind="mention",
                author_id=customer,
                author_handle=str(tweet.get("in_reply_to_screen_name") or ""),
                text=text,
                timestamp=when,
                reply_to_platform_id=in_reply_to,
                is_public=True,
                direction="outbound",
            )
        ]
    if "retweeted_status" in tweet:  # a repost carries the original's mention; not someone writing to us
        return []
    edits = (tweet.get("edit_history") or {}).get("edit_tweet_ids") or []
    if len(edits) > 1 and str(edits[0]) != tweet_id:
        return [InboundEdit(platform_message_id=str(edits[0]), text=text, timestamp=when)]
    return [
        InboundMessage(
            platform_message_id=tweet_id,
            thread_key=f"mentions:{author}",
            kind="mention",
            author_id=author,
            author_name=user.get("name", ""),
            author_handle=user.get("screen_name", ""),
            author_avatar_url=user.get("profile_image_url_https", ""),
            text=text,
            timestamp=when,
            reply_to_platform_id=in_reply_to,
            is_public=True,
            thread_hints=(in_reply_to,) if in_reply_to else (),
            attachments=_v1_media(tweet),
        )
    ]


def _v1_media(message: dict) -> tuple[InboundAttachment, ...]:
    media = (message.get("extended_entities") or {}).get("media") or (message.get("entities") or {}).get("media") or []
    return tuple(
        InboundAttachment(
            filename=str(m.get("media_url_https", "")).rsplit("/", 1)[-1] or f"{m.get('id_str', 'media')}.jpg",
            content_type="image/jpeg" if m.get("type") == "photo" else "",
            url=m.get("media_url_https", ""),
        )
        for m in media
        if isinstance(m, dict)
    )


def _v1_dm(event: dict, users: dict, account_id: str) -> list[InboundItem]:
    if event.get("type") != "message_create":
        return []
    create = event["message_create"]
    sender = str(create["sender_id"])
    recipient = str((create.get("target") or {}).get("recipient_id", ""))
    outbound = sender == account_id
    customer = recipient if outbound else sender
    profile = users.get(customer) or {}
    data = create.get("message_data") or {}
    attachments: tuple[InboundAttachment, ...] = ()
    attachment = data.get("attachment") or {}
    if attachment.get("type") == "media" and isinstance(attachment.get("media"), dict):
        media = attachment["media"]
        url = media.get("media_url_https", "")
        attachments = (
            InboundAttachment(
                filename=url.rsplit("/", 1)[-1].split("?")[0] or f"{media.get('id_str', 'media')}.jpg",
                content_type="image/jpeg" if media.get("type") == "photo" else "",
                media_id=url,  # DM media is fetched with the user's token (download_media)
            ),
        )
    text = data.get("text", "")
    for url in (data.get("entities") or {}).get("urls") or ():  # the media's t.co link is not the customer's text
        if attachments and url.get("url") and url.get("expanded_url", "").find("/messages/media/") >= 0:
            text = text.replace(url["url"], "").strip()
    return [
        InboundMessage(
            platform_message_id=str(event["id"]),
            thread_key=f"dm:{customer}",
            kind="direct",
            author_id=customer,
            author_name="" if outbound else profile.get("name", ""),
            author_handle="" if outbound else profile.get("screen_name", ""),
            author_avatar_url="" if outbound else profile.get("profile_image_url_https", ""),
            text=text,
            timestamp=_millis(event.get("created_timestamp")),
            attachments=attachments,
            direction="outbound" if outbound else "inbound",
        )
    ]


# --- v2 (polling) -----------------------------------------------------------------------------------------------


def _v2_tweet(tweet: dict, users: dict, media: dict, account_id: str) -> list[InboundItem]:
    tweet_id = str(tweet["id"])
    author = str(tweet.get("author_id", ""))
    if not author or author == account_id:
        return []
    edits = [str(i) for i in tweet.get("edit_history_tweet_ids") or ()]
    when = _iso(tweet.get("created_at")) if tweet.get("created_at") else None
    text = (tweet.get("note_tweet") or {}).get("text") or tweet.get("text", "")
    if len(edits) > 1 and edits[0] != tweet_id:
        return [InboundEdit(platform_message_id=edits[0], text=text, timestamp=when)]
    replied = next((str(r["id"]) for r in tweet.get("referenced_tweets") or () if r.get("type") == "replied_to"), "")
    user = users.get(author) or {}
    return [
        InboundMessage(
            platform_message_id=tweet_id,
            thread_key=f"mentions:{author}",
            kind="mention",
            author_id=author,
            author_name=user.get("name", ""),
            author_handle=user.get("username", ""),
            author_avatar_url=user.get("profile_image_url", ""),
            text=text,
            timestamp=when,
            reply_to_platform_id=replied,
            is_public=True,
            thread_hints=(replied,) if replied else (),
            attachments=_public_media(tweet, media),
        )
    ]


def _public_media(tweet: dict, media: dict) -> tuple[InboundAttachment, ...]:
    """A post's photos and video previews: public (pbs.twimg.com), stored from their URL."""
    found = []
    for key in (tweet.get("attachments") or {}).get("media_keys") or ():
        item = media.get(key) or {}
        url = item.get("url") or item.get("preview_image_url") or ""
        if url:
            found.append(
                InboundAttachment(
                    filename=url.rsplit("/", 1)[-1].split("?")[0],
                    content_type="image/jpeg" if item.get("type") == "photo" else "",
                    url=url,
                )
            )
    return tuple(found)


def _v2_dm(event: dict, users: dict, media: dict, account_id: str) -> list[InboundItem]:
    if event.get("event_type") != "MessageCreate":
        return []
    sender = str(event.get("sender_id", ""))
    participants = [p for p in str(event.get("dm_conversation_id", "")).split("-") if p]
    outbound = sender == account_id
    customer = next((p for p in participants if p != account_id), "") if outbound else sender
    if not customer:
        return []
    user = users.get(customer) or {}
    attachments = []
    for key in (event.get("attachments") or {}).get("media_keys") or ():
        item = media.get(key) or {}
        url = item.get("url") or item.get("preview_image_url") or ""
        if url:
            attachments.append(
                InboundAttachment(
                    filename=url.rsplit("/", 1)[-1].split("?")[0] or f"{key}.jpg",
                    content_type="image/jpeg" if item.get("type") == "photo" else "",
                    media_id=url,
                )
            )
    return [
        InboundMessage(
            platform_message_id=str(event["id"]),
            thread_key=f"dm:{customer}",
            kind="direct",
            author_id=customer,
            author_name="" if outbound else user.get("name", ""),
            author_handle="" if outbound else user.get("username", ""),
            author_avatar_url="" if outbound else user.get("profile_image_url", ""),
            text=event.get("text", ""),
            timestamp=_iso(event["created_at"]) if event.get("created_at") else None,
            attachments=tuple(attachments),
            direction="outbound" if outbound else "inbound",
        )
    ]
