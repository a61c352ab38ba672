"""Publishing a post on X: images first through the media upload endpoint (`POST /2/media/upload`, multipart `media`
with `media_category=tweet_image`, scope `media.write`), then `POST /2/tweets` with `text` and `media.media_ids`.
Length counts as X counts (twittertext.py: 280, CJK and emoji two, a link 23). X refuses a post identical to one the
account already posted (403 "duplicate content"): a refusal, never retried.

Finding an interrupted post again (`find_published`): the account's own timeline since the attempt
(`GET /2/users/:id/tweets?start_time=`), matched by text (X shortens links to t.co and appends a media link, so
links are left out of the comparison)."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

from django.utils.translation import gettext as _

from channels_integrations.connector import (
    LINK_IN_TEXT,
    AuthFailed,
    PostContent,
    PublishLimits,
    PublishResult,
    SendRejected,
    check_against_publish_limits,
)
from channels_integrations.providers.x import client
from channels_integrations.providers.x.twittertext import MAX_WEIGHTED_LENGTH, weighted_length

logger = logging.getLogger("tsunagu.x")

MB = 1024 * 1024
MAX_IMAGES = 4
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
IMAGE_BYTES = 5 * MB
TIMELINE_PAGE = 100
_URL = re.compile(r"https?://\S+")


def limits() -> PublishLimits:
    return PublishLimits(
        max_length=MAX_WEIGHTED_LENGTH,
        length_rule="x-weighted",
        max_media=MAX_IMAGES,
        media_types=IMAGE_TYPES,
        max_media_bytes=IMAGE_BYTES,
        link_handling=LINK_IN_TEXT,
        notes=(
            _(
                "X post: at most %(max)d characters as X counts them (Japanese, Chinese and Korean characters and "
                "emoji count as two, a link as 23), and up to %(images)d images (JPEG, PNG, GIF, WebP, 5 MB each)."
            )
            % {"max": MAX_WEIGHTED_LENGTH, "images": MAX_IMAGES},
            _("X refuses a post identical to one the account already posted."),
        ),
    )


def check(text: str, files: list, *, link: str = "") -> list[str]:
    full = _with_link(text, link)
    return check_against_publish_limits(limits(), full, files, link=link, length=weighted_length(full))


def _with_link(text: str, link: str) -> str:
    if link and link not in text:
        return f"{text}\n{link}".strip()
    return text


def _token(connection) -> str:
    token = connection.credentials.get("access_token", "")
    if not token:
        raise AuthFailed(_("No access token is stored for this channel."))
    return token


def publish(connection, post: PostContent) -> PublishResult:
    token = _token(connection)
    text = _with_link(post.text, post.link)
    try:
        media_ids = []
        for file in post.media:
            answer = client.call(
                "POST",
                "2/media/upload",
                token=token,
                data={"media_category": "tweet_image", "media_type": file.content_type},
                files={"media": (file.filename, file.content, file.content_type)},
            )
            media_id = str((answer.body.get("data") or {}).get("id") or "")
            if not media_id:
                raise SendRejected(_("X did not return the id of an uploaded image."))
            media_ids.append(media_id)
        body: dict = {"text": text}
        if media_ids:
            body["media"] = {"media_ids": media_ids}
        answer = client.call("POST", "2/tweets", token=token, json=body)
    except AuthFailed as exc:
        raise AuthFailed(
            _("X no longer accepts this account's authorization (%(reason)s); connect the account again.")
            % {"reason": exc.message},
            code=exc.code,
        ) from exc
    except SendRejected as exc:
        raise SendRejected(_rejection(exc.message), code=exc.code) from exc
    post_id = str((answer.body.get("data") or {}).get("id") or "")
    if not post_id:
        raise SendRejected(_("X did not return the id of the post."))
    return PublishResult(platform_post_id=post_id, url=permalink(connection, post_id))


def permalink(connection, post_id: str) -> str:
    handle = (connection.display_name or "").lstrip("@") or "i"
    return f"https://x.com/{handle}/status/{post_id}"


def _rejection(reason: str) -> str:
    if "duplicate" in reason.lower():
        return _("X refuses a post identical to one this account already posted; change the wording.")
    return _("X refused the post: %(reason)s") % {"reason": reason}


def _norm(text: str) -> str:
    return " ".join(_URL.sub(" ", text or "").split())


def find(connection, local_ref: str, since: datetime, post: PostContent | None) -> PublishResult | None:
    if post is None:
        return None
    wanted = _norm(_with_link(post.text, post.link))
    params = {
        "start_time": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "max_results": str(TIMELINE_PAGE),
        "tweet.fields": "created_at",
    }
    answer = client.call(
        "GET", f"2/users/{connection.external_account_id}/tweets", token=_token(connection), params=params
    )
    for tweet in answer.body.get("data") or []:
        if isinstance(tweet, dict) and _norm(str(tweet.get("text") or "")) == wanted:
            return PublishResult(platform_post_id=str(tweet["id"]), url=permalink(connection, str(tweet["id"])))
    return None
