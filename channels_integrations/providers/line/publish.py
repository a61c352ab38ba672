"""Publishing to a LINE Official Account's friends: a broadcast to every friend (`POST /v2/bot/message/broadcast`) or,
when the post names an audience, a narrowcast (`POST /v2/bot/message/narrowcast` with `recipient` / `filter` /
`limit`; LINE answers 202 and delivers in the background). One request carries up to five message objects: the text,
then the images (`originalContentUrl` and `previewImageUrl`: LINE fetches them, so they are public, expiring URLs).

Both take `X-Line-Retry-Key` (PROTOCOLS.md §3.3): the post target's local reference (a UUID). A retry within 24
hours with the same key is refused with 409 "The retry key is already accepted" when LINE has the first one, so
resending after a timeout or a dead worker cannot post twice: `find_published` only has to say it cannot tell once
the key has expired. Every friend reached counts against the monthly message quota (shown by `account_facts`)."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

from django.core.cache import cache
from django.utils.translation import gettext as _

from channels_integrations.connector import (
    LINK_IN_TEXT,
    AuthFailed,
    ConnectorError,
    PostContent,
    PublishLimits,
    PublishResult,
    SendRejected,
)
from channels_integrations.providers.line import client

logger = logging.getLogger("tsunagu.line")

MAX_LENGTH = 5000
MAX_MESSAGES = 5  # message objects per request: the text and up to four images
IMAGE_TYPES = ("image/jpeg", "image/png")
IMAGE_BYTES = 10 * 1024 * 1024
RETRY_KEY_LIFETIME = timedelta(hours=24)
RETRY_KEY_MARGIN = timedelta(hours=1)  # clocks and queues: do not lean on the key's last hour


def limits(quota: tuple[int, int | None] | None) -> PublishLimits:
    notes = [
        _(
            "LINE: a message to every friend of the account (or to an audience), with text up to %(max)s characters "
            "and up to %(images)d images (JPEG or PNG)."
        )
        % {"max": f"{MAX_LENGTH:,}", "images": MAX_MESSAGES - 1},
        _("Each friend it reaches counts against the account's monthly message quota."),
    ]
    if quota is not None and quota[1] is not None:
        notes.append(_("Sent this month: %(used)s of %(limit)s.") % {"used": f"{quota[0]:,}", "limit": f"{quota[1]:,}"})
    return PublishLimits(
        max_length=MAX_LENGTH,
        max_media=MAX_MESSAGES - 1,
        media_types=IMAGE_TYPES,
        max_media_bytes=IMAGE_BYTES,
        link_handling=LINK_IN_TEXT,
        notes=tuple(notes),
    )


def messages_for(post: PostContent) -> list[dict]:
    text = post.text
    if post.link and post.link not in text:
        text = f"{text}\n{post.link}".strip()
    messages: list[dict] = [{"type": "text", "text": text}] if text.strip() else []
    for url in post.media_urls:
        messages.append({"type": "image", "originalContentUrl": url, "previewImageUrl": url})
    if not messages:
        raise SendRejected(_("Write the post's text or add an image."))
    if len(messages) > MAX_MESSAGES:
        raise SendRejected(
            _("LINE sends at most %(max)d images with a message.") % {"max": MAX_MESSAGES - 1}, code="too_many"
        )
    return messages


def publish(connector, connection, post: PostContent) -> PublishResult:
    """Broadcast or narrowcast `post` with its retry key; `connector` is the LineConnector (tokens, quota)."""
    messages = messages_for(post)
    try:
        retry_key = str(uuid.UUID(post.local_ref))
    except ValueError as exc:
        # Without a key a retry could deliver twice: refuse rather than risk it.
        raise SendRejected(_("This post has no valid reference to send it safely."), code="no_retry_key") from exc
    body: dict = {"messages": messages}
    path = "v2/bot/message/broadcast"
    if post.audience:
        path = "v2/bot/message/narrowcast"
        body |= {k: v for k, v in post.audience.items() if k in ("recipient", "filter", "limit")}
    try:
        status, answer, headers = connector._call(
            connection,
            "POST",
            client.api_url(path),
            json=body,
            headers={"X-Line-Retry-Key": retry_key},
            accept=(409,),
        )
    except client.QuotaExhausted as exc:
        raise SendRejected(
            _(
                "This LINE account has used its monthly message quota: LINE will not send this post until next month "
                "or until the plan is raised."
            ),
            code="quota",
        ) from exc
    except AuthFailed as exc:
        raise AuthFailed(
            _("LINE refused the channel access token (expired or revoked): %(error)s") % {"error": exc.message},
            code=exc.code,
        ) from exc
    except SendRejected as exc:
        raise SendRejected(_("LINE refused the post: %(error)s") % {"error": exc.message}, code=exc.code) from exc
    cache.delete(f"line:quota:{connection.uuid}")  # the quota figure is stale now
    if status == 409:
        # "The retry key is already accepted": an earlier attempt of this very post reached LINE.
        logger.info("LINE %s with retry key %s was already accepted", path, retry_key)
        request_id = headers.get("x-line-accepted-request-id", "")
    else:
        request_id = headers.get("x-line-request-id", "")
    return PublishResult(platform_post_id=request_id or retry_key)


def find(connection, local_ref: str, since: datetime) -> PublishResult | None:
    """LINE lists no broadcasts: within the retry key's lifetime, publishing again with the same key is the lookup
    (409 when LINE has it), so None; later LINE cannot tell, and that is said rather than risking a second post."""
    if datetime.now(UTC) - since > RETRY_KEY_LIFETIME - RETRY_KEY_MARGIN:
        raise ConnectorError(
            _("LINE keeps the post's retry key for 24 hours only; whether it was sent can no longer be checked."),
            code="retry_key_expired",
        )
    return None
