"""Publishing on a Facebook page and an Instagram professional account through the Graph API (page access token;
Instagram through its linked page, Facebook Login flavour, on graph.facebook.com).

Facebook: text and link → `POST /{page-id}/feed` (`message`, `link`); one image → `POST /{page-id}/photos` (the file
as `source`, the text as `caption`); several → each `POST /{page-id}/photos` with `published=false`, then one
`/feed` post with `attached_media[i]={"media_fbid": id}`.

Instagram, the container flow: `POST /{ig-user-id}/media` (`image_url`, `caption`; carousel children with
`is_carousel_item=true`, then a `media_type=CAROUSEL` container with `children`), `GET /{container-id}?fields=
status_code` until FINISHED (ERROR / EXPIRED refuse), `POST /{ig-user-id}/media_publish` with `creation_id`. Meta
fetches the image from `image_url` itself, so the caller passes public, expiring URLs (`PostContent.media_urls`).
An account may publish a limited number of posts in a moving 24 hours: `GET /{ig-user-id}/content_publishing_limit`
is asked first, and a spent quota is a rate limit (retried later), not a failure.

Finding an interrupted post again (`find_published`): the page's `/feed` or the account's `/media`, newest first,
for a post created since the attempt whose text is the post's text."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime

from django.core.cache import cache
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from channels_integrations.connector import (
    LINK_FIELD,
    LINK_NOT_CLICKABLE,
    ConnectorError,
    PostContent,
    PublishLimits,
    PublishResult,
    RateLimited,
    SendRejected,
    TransientError,
)
from channels_integrations.providers.meta import client

logger = logging.getLogger("tsunagu.meta")

MB = 1024 * 1024
FACEBOOK_MAX_LENGTH = 63_206  # a page post's message
FACEBOOK_MAX_MEDIA = 10
FACEBOOK_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/bmp", "image/tiff")
FACEBOOK_IMAGE_BYTES = 10 * MB
INSTAGRAM_CAPTION = 2200
INSTAGRAM_HASHTAGS = 30
INSTAGRAM_CAROUSEL = 10
INSTAGRAM_IMAGE_TYPES = ("image/jpeg",)  # the content publishing API takes JPEG images only
INSTAGRAM_IMAGE_BYTES = 8 * MB
# Waits between container status checks (seconds): images are usually ready at once; give up after about a minute
# (the container stays valid 24 hours, a retry makes a fresh one).
CONTAINER_WAITS = (0.5, 1, 2, 3, 5, 8, 10, 15, 15)
LIMIT_CACHE_SECONDS = 60
LOOKUP_PAGES = 3  # pages of 25 posts searched when reconciling
# Graph error subcodes of a publish Meta refuses for good (media type, aspect ratio, size, too many hashtags...).
QUOTA_SUBCODE = 2207042  # "reached the maximum number of posts" (content publishing limit)


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def facebook_limits() -> PublishLimits:
    return PublishLimits(
        max_length=FACEBOOK_MAX_LENGTH,
        max_media=FACEBOOK_MAX_MEDIA,
        media_types=FACEBOOK_IMAGE_TYPES,
        max_media_bytes=FACEBOOK_IMAGE_BYTES,
        link_handling=LINK_FIELD,
        notes=(
            _("Facebook page post: text, a link shown as a preview card, and up to %(max)d images (JPEG, PNG, GIF).")
            % {"max": FACEBOOK_MAX_MEDIA},
            _("A post with images shows the images instead of the link's card; the link stays in the text."),
        ),
    )


def instagram_limits() -> PublishLimits:
    return PublishLimits(
        max_length=INSTAGRAM_CAPTION,
        max_media=INSTAGRAM_CAROUSEL,
        media_types=INSTAGRAM_IMAGE_TYPES,
        max_media_bytes=INSTAGRAM_IMAGE_BYTES,
        requires_media=True,
        link_handling=LINK_NOT_CLICKABLE,
        notes=(
            _(
                "Instagram post: one JPEG image, or a carousel of up to %(max)d, with a caption of up to %(length)s "
                "characters and at most %(tags)d hashtags."
            )
            % {"max": INSTAGRAM_CAROUSEL, "length": f"{INSTAGRAM_CAPTION:,}", "tags": INSTAGRAM_HASHTAGS},
            _("Links in a caption cannot be tapped on Instagram."),
        ),
    )


def instagram_problems(text: str) -> list[str]:
    hashtags = sum(1 for word in text.split() if word.startswith(("#", "＃")))
    if hashtags > INSTAGRAM_HASHTAGS:
        return [
            _("Instagram allows at most %(max)d hashtags in a caption; this one has %(count)d.")
            % {"max": INSTAGRAM_HASHTAGS, "count": hashtags}
        ]
    return []


def _rejected(exc: SendRejected, platform: str) -> SendRejected:
    return SendRejected(
        _("%(platform)s refused the post: %(error)s") % {"platform": platform, "error": exc.message}, code=exc.code
    )


# --- Facebook ---------------------------------------------------------------------------------------------------


def publish_facebook(connection, post: PostContent) -> PublishResult:
    token = connection.credentials.get("access_token", "")
    page = connection.external_account_id
    text = post.text
    try:
        if len(post.media) == 1:
            file = post.media[0]
            body = client.call(
                "POST",
                client.graph_url(f"{page}/photos"),
                token=token,
                data={"caption": _with_link(text, post.link)},
                files={"source": (file.filename, file.content, file.content_type)},
            )
            post_id = str(body.get("post_id") or body.get("id") or "")
        else:
            data = {"message": text}
            if post.media:
                data["message"] = _with_link(text, post.link)
                for i, file in enumerate(post.media):
                    photo = client.call(
                        "POST",
                        client.graph_url(f"{page}/photos"),
                        token=token,
                        data={"published": "false"},
                        files={"source": (file.filename, file.content, file.content_type)},
                    )
                    data[f"attached_media[{i}]"] = json.dumps({"media_fbid": str(photo.get("id", ""))})
            elif post.link:
                data["link"] = post.link
            body = client.call("POST", client.graph_url(f"{page}/feed"), token=token, data=data)
            post_id = str(body.get("id") or "")
    except SendRejected as exc:
        raise _rejected(exc, "Facebook") from exc
    if not post_id:
        raise SendRejected(_("Facebook did not return the post's id."))
    return PublishResult(platform_post_id=post_id, url=_permalink(post_id, token, "permalink_url"))


def _with_link(text: str, link: str) -> str:
    """A photo post has no link card: the link goes at the end of the text."""
    if link and link not in text:
        return f"{text}\n{link}".strip()
    return text


def _permalink(object_id: str, token: str, field: str) -> str:
    """The post's public URL; a failed lookup does not undo a publish (the id is what matters)."""
    try:
        body = client.call("GET", client.graph_url(object_id), token=token, params={"fields": field})
    except ConnectorError as exc:
        logger.info("permalink of %s unknown: %s", object_id, exc.message or exc)
        return ""
    return str(body.get(field) or "")


def find_facebook(connection, local_ref: str, since: datetime, post: PostContent | None) -> PublishResult | None:
    if post is None:
        return None
    token = connection.credentials.get("access_token", "")
    wanted = {_norm(post.text), _norm(_with_link(post.text, post.link))}
    found = _search(
        client.graph_url(f"{connection.external_account_id}/feed"),
        token,
        {"fields": "id,message,created_time,permalink_url", "since": int(since.timestamp())},
        text_field="message",
        time_field="created_time",
        since=since,
        wanted=wanted,
    )
    if found is None:
        return None
    return PublishResult(platform_post_id=str(found["id"]), url=str(found.get("permalink_url") or ""))


# --- Instagram --------------------------------------------------------------------------------------------------


def publishing_limit(connection, *, cached: bool = False) -> tuple[int, int] | None:
    """(posts published in the moving 24 hours, the limit), or None when Meta cannot say now. `cached`: the channel
    page's figure may be a minute old (the page must not wait for Meta on every view); publishing asks afresh."""
    key = _limit_key(connection)
    if cached:
        held = cache.get(key)
        if held is not None:
            return tuple(held) if held != "unknown" else None
    value = _publishing_limit(connection)
    cache.set(key, list(value) if value is not None else "unknown", LIMIT_CACHE_SECONDS)
    return value


def _limit_key(connection) -> str:
    return f"meta:publishing-limit:{connection.uuid}"


def _publishing_limit(connection) -> tuple[int, int] | None:
    token = connection.credentials.get("access_token", "")
    try:
        body = client.call(
            "GET",
            client.graph_url(f"{connection.external_account_id}/content_publishing_limit"),
            token=token,
            params={"fields": "quota_usage,config"},
            timeout=(2.0, 4.0),
        )
    except ConnectorError as exc:
        logger.info("content publishing limit of %s unknown: %s", connection.pk, exc.message or exc)
        return None
    rows = body.get("data") or [{}]
    row = rows[0] if isinstance(rows, list) and rows and isinstance(rows[0], dict) else {}
    try:
        return int(row.get("quota_usage") or 0), int((row.get("config") or {}).get("quota_total") or 0)
    except (TypeError, ValueError):
        return None


def publish_instagram(connection, post: PostContent) -> PublishResult:
    if not post.media_urls:
        raise SendRejected(_("Instagram publishes only posts with an image."))
    problems = instagram_problems(post.text)
    if problems:
        raise SendRejected(problems[0])
    token = connection.credentials.get("access_token", "")
    account = connection.external_account_id
    limit = publishing_limit(connection)
    if limit is not None and limit[1] and limit[0] >= limit[1]:
        raise RateLimited(
            _("This Instagram account has published its %(max)d posts of the last 24 hours; it will be tried later.")
            % {"max": limit[1]},
            retry_after=3600,
            code="quota",
        )
    media_url = client.graph_url(f"{account}/media")
    caption = _with_link(post.text, post.link)
    try:
        if len(post.media_urls) == 1:
            body = client.call(
                "POST", media_url, token=token, data={"image_url": post.media_urls[0], "caption": caption}
            )
            container = str(body.get("id") or "")
        else:
            children = []
            for url in post.media_urls:
                body = client.call("POST", media_url, token=token, data={"image_url": url, "is_carousel_item": "true"})
                children.append(str(body.get("id") or ""))
            for child in children:
                _wait_for_container(child, token)
            body = client.call(
                "POST",
                media_url,
                token=token,
                data={"media_type": "CAROUSEL", "children": ",".join(children), "caption": caption},
            )
            container = str(body.get("id") or "")
        if not container:
            raise SendRejected(_("Instagram did not return a media container."))
        _wait_for_container(container, token)
        body = client.call(
            "POST", client.graph_url(f"{account}/media_publish"), token=token, data={"creation_id": container}
        )
    except RateLimited:
        raise
    except SendRejected as exc:
        if exc.code == "9" or str(QUOTA_SUBCODE) in (exc.message or ""):
            raise RateLimited(exc.message, retry_after=3600, code="quota") from exc
        raise _rejected(exc, "Instagram") from exc
    media_id = str(body.get("id") or "")
    if not media_id:
        raise SendRejected(_("Instagram did not return the post's id."))
    cache.delete(_limit_key(connection))  # one more published: the channel page's figure is stale
    return PublishResult(platform_post_id=media_id, url=_permalink(media_id, token, "permalink"))


def _wait_for_container(container: str, token: str) -> None:
    """Until Meta has fetched and processed the media: FINISHED returns; ERROR and EXPIRED refuse; still
    IN_PROGRESS after the last wait is a transient failure (a retry starts over with a new container)."""
    for wait in (0, *CONTAINER_WAITS):
        if wait:
            _sleep(wait)
        body = client.call("GET", client.graph_url(container), token=token, params={"fields": "status_code,status"})
        status = str(body.get("status_code") or "")
        if status in ("FINISHED", "PUBLISHED"):
            return
        if status == "ERROR":
            raise SendRejected(
                _("Instagram could not process the image: %(error)s") % {"error": body.get("status") or status},
                code="container",
            )
        if status == "EXPIRED":
            raise SendRejected(_("Instagram's media container expired before it was published."), code="container")
    raise TransientError("Instagram is still processing the media", code="container")


def find_instagram(connection, local_ref: str, since: datetime, post: PostContent | None) -> PublishResult | None:
    if post is None:
        return None
    token = connection.credentials.get("access_token", "")
    found = _search(
        client.graph_url(f"{connection.external_account_id}/media"),
        token,
        {"fields": "id,caption,timestamp,permalink"},
        text_field="caption",
        time_field="timestamp",
        since=since,
        wanted={_norm(_with_link(post.text, post.link)), _norm(post.text)},
    )
    if found is None:
        return None
    return PublishResult(platform_post_id=str(found["id"]), url=str(found.get("permalink") or ""))


# --- both -------------------------------------------------------------------------------------------------------


def _norm(text: str) -> str:
    return " ".join((text or "").split())


def _search(
    url: str, token: str, params: dict, *, text_field: str, time_field: str, since: datetime, wanted: set[str]
) -> dict | None:
    """The newest post at or after `since` whose text is one of `wanted`, following `paging.next` a few pages (newest
    first: once a page reaches past `since`, nothing older can match)."""
    for _page in range(LOOKUP_PAGES):
        body = client.call("GET", url, token=token, params=params)
        rows = body.get("data") if isinstance(body.get("data"), list) else []
        older = False
        for row in rows:
            created = parse_datetime(str(row.get(time_field) or "").replace("+0000", "+00:00"))
            if created is not None and created < since:
                older = True
                continue
            if _norm(str(row.get(text_field) or "")) in wanted:
                return row
        after = ((body.get("paging") or {}).get("cursors") or {}).get("after")
        if older or not after or not (body.get("paging") or {}).get("next"):
            return None
        params = {**params, "after": after}
    return None
