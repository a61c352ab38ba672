"""Social listening through the Graph API: public posts that tag the account or carry a hashtag.

- Instagram media where the business account is tagged: `GET /{ig-user-id}/tags`.
- Instagram Hashtag Search: `GET /ig_hashtag_search?user_id=&q=` → the hashtag's id (static and global), then
  `GET /{ig-hashtag-id}/recent_media?user_id=&fields=…` (posts of the last 24 hours, at most 50 a page, paged with
  an `after` cursor that Meta documents as the same on every page). Hashtag media carry no `username`.
  An account may query 30 unique hashtags within a rolling 7 days: the caller decides which hashtags may be asked.
- Facebook posts that tag the page: `GET /{page-id}/tagged` (the author only when the page itself wrote it).

The cursor keeps, per call, the newest `timestamp` seen; a call pages back until it reaches it (or MAX_PAGES)."""

import re
from dataclasses import replace
from datetime import datetime

from channels_integrations.connector import FoundPost, MalformedPayload, MentionPage, SendRejected
from channels_integrations.providers.meta import client

MAX_PROFILE_LOOKUPS = 10  # Business Discovery calls per poll, for the followers of tagged media's authors
_USERNAME = re.compile(r"[A-Za-z0-9._]{1,30}")
MAX_PAGES = 3  # per call and poll: a backlog is read over the next polls rather than in one long one
PAGE_SIZE = 50  # recent_media's documented maximum
IG_FIELDS = "id,caption,media_type,permalink,timestamp,like_count,comments_count"
IG_TAG_FIELDS = IG_FIELDS + ",username"
FB_FIELDS = (
    "id,message,from,created_time,permalink_url,shares,reactions.summary(total_count),comments.summary(total_count)"
)


def _time(value) -> datetime:
    """Graph's timestamps: ISO 8601 with a +0000 offset ("2026-12-04T05:00:00+0000")."""
    try:
        return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        try:
            return datetime.fromisoformat(str(value))
        except ValueError as exc:
            raise MalformedPayload(f"unreadable Graph timestamp {value!r}") from exc


def _count(value) -> int:
    if isinstance(value, dict):  # {"summary": {"total_count": 3}} or {"count": 2}
        value = (value.get("summary") or {}).get("total_count", value.get("count"))
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def _ig_post(item: dict, source: str) -> FoundPost:
    handle = str(item.get("username") or "")
    return FoundPost(
        external_id=str(item["id"]),
        text=str(item.get("caption") or ""),
        posted_at=_time(item.get("timestamp")),
        source=source,
        url=str(item.get("permalink") or ""),
        author_handle=handle,
        author_name=handle,
        likes=_count(item.get("like_count")),
        comments=_count(item.get("comments_count")),
    )


def _fb_post(item: dict) -> FoundPost:
    author = item.get("from") if isinstance(item.get("from"), dict) else {}
    return FoundPost(
        external_id=str(item["id"]),
        text=str(item.get("message") or ""),
        posted_at=_time(item.get("created_time")),
        source="tagged",
        url=str(item.get("permalink_url") or ""),
        author_name=str(author.get("name") or ""),
        likes=_count(item.get("reactions")),
        comments=_count(item.get("comments")),
        shares=_count(item.get("shares")),
    )


def _read_edge(url: str, *, token: str, params: dict, since: str, parse) -> tuple[list[FoundPost], str]:
    """Page through one edge, newest first, until a post older than `since` (ISO) or MAX_PAGES; returns the
    posts from `since` on and the newest timestamp seen (the next `since`)."""
    watermark = datetime.fromisoformat(since) if since else None
    posts: list[FoundPost] = []
    newest = watermark
    after = ""
    for _page in range(MAX_PAGES):
        body = client.call("GET", url, token=token, params={**params, **({"after": after} if after else {})})
        data = body.get("data")
        if not isinstance(data, list):
            raise MalformedPayload("a Graph list answer without data[]")
        reached = False
        for item in data:
            if not isinstance(item, dict) or "id" not in item:
                continue
            post = parse(item)
            # Strictly older: a post in the watermark's own second may be new (the unique key drops a repeat).
            if watermark is not None and post.posted_at < watermark:
                reached = True
                continue
            posts.append(post)
            newest = post.posted_at if newest is None or post.posted_at > newest else newest
        paging = body.get("paging") if isinstance(body.get("paging"), dict) else {}
        next_after = (paging.get("cursors") or {}).get("after", "")
        if reached or not data or not paging.get("next") or not next_after:
            break
        after = next_after
    return posts, newest.isoformat() if newest else since


def search_instagram(connection, *, hashtags: dict[str, str], cursor: dict) -> MentionPage:
    token = connection.credentials.get("access_token", "")
    user_id = connection.external_account_id
    cursor = dict(cursor)
    posts, cursor["tags"] = _read_edge(
        client.graph_url(f"{user_id}/tags"),
        token=token,
        params={"fields": IG_TAG_FIELDS, "limit": PAGE_SIZE},
        since=cursor.get("tags", ""),
        parse=lambda item: _ig_post(item, "tagged"),
    )
    posts = _with_followers(posts, token=token, user_id=user_id)
    looked_up: dict[str, str] = {}
    for tag, tag_id in hashtags.items():
        if not tag_id:
            body = client.call(
                "GET", client.graph_url("ig_hashtag_search"), token=token, params={"user_id": user_id, "q": tag}
            )
            found = body.get("data") or []
            if not found or not isinstance(found[0], dict) or not found[0].get("id"):
                continue
            tag_id = looked_up[tag] = str(found[0]["id"])
        key = f"hashtag:{tag_id}"
        found_posts, cursor[key] = _read_edge(
            client.graph_url(f"{tag_id}/recent_media"),
            token=token,
            params={"user_id": user_id, "fields": IG_FIELDS, "limit": PAGE_SIZE},
            since=cursor.get(key, ""),
            parse=lambda item: _ig_post(item, "hashtag"),
        )
        posts += found_posts
    return MentionPage(posts=posts, cursor=cursor, hashtag_ids=looked_up)


def _with_followers(posts: list[FoundPost], *, token: str, user_id: str) -> list[FoundPost]:
    """The authors' follower counts, for the engagement rate: Business Discovery
    (`GET /{ig-user-id}?fields=business_discovery.username(x){followers_count}`) answers for business and creator
    accounts only; a personal account's refusal leaves its count unknown. At most MAX_PROFILE_LOOKUPS a poll."""
    followers: dict[str, int | None] = {}
    for post in posts:
        handle = post.author_handle
        if not handle or handle in followers or not _USERNAME.fullmatch(handle):
            continue
        if len(followers) >= MAX_PROFILE_LOOKUPS:
            break
        try:
            body = client.call(
                "GET",
                client.graph_url(user_id),
                token=token,
                params={"fields": f"business_discovery.username({handle}){{followers_count}}"},
            )
        except SendRejected:
            followers[handle] = None
            continue
        count = (body.get("business_discovery") or {}).get("followers_count")
        followers[handle] = int(count) if isinstance(count, int) and count >= 0 else None
    return [replace(p, followers=followers[p.author_handle]) if followers.get(p.author_handle) else p for p in posts]


def search_facebook(connection, *, cursor: dict) -> MentionPage:
    cursor = dict(cursor)
    posts, cursor["tagged"] = _read_edge(
        client.graph_url(f"{connection.external_account_id}/tagged"),
        token=connection.credentials.get("access_token", ""),
        params={"fields": FB_FIELDS, "limit": 25},
        since=cursor.get("tagged", ""),
        parse=_fb_post,
    )
    return MentionPage(posts=posts, cursor=cursor)
