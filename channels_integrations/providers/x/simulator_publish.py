"""Publishing in X's part of the simulator: the media upload endpoint (`POST /2/media/upload`, multipart `media`),
posts of the account's own with `media.media_ids` (through `POST /2/tweets`), and the account's timeline
(`GET /2/users/:id/tweets?start_time=`), which Tsunagu searches to reconcile an interrupted publish. Every post is
recorded in `posts` (and `state()["posts"]`). Never imports Django."""

from __future__ import annotations

import html
import time
from datetime import UTC, datetime

from channels_integrations.simulator.core import Request, Response

IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
IMAGE_BYTES = 5 * 1024 * 1024


class XPublishing:
    """Mixed into XSimulator (which provides `sim`, `_id`, `problem` answers and the `_api` wrapper)."""

    def reset_publishing(self) -> None:
        self.uploads: dict[str, dict] = {}  # media id -> upload (owner, type, size), usable once
        self.posts: list[dict] = []  # the account's own posts, oldest first

    def published(self) -> list[dict]:
        with self.sim.lock:
            return [dict(p) for p in self.posts]

    def published_html(self) -> str:
        """The latest posts Tsunagu published here, for the operator page (the demo shows them arriving)."""
        rows = "".join(
            f"<li>{html.escape((p.get('text') or _first_text(p))[:80])}</li>" for p in reversed(self.published()[-5:])
        )
        return f"<p>{len(self.posts)} posts published</p><ul>{rows}</ul>" if rows else "<p>No posts published yet</p>"

    def _problem(self, status: int, title: str, detail: str) -> Response:
        return Response(status, {"title": title, "detail": detail, "type": "about:blank", "status": status})

    def _media_upload(self, r: Request, m, user) -> Response:
        files = r.files()
        if "media" not in files:
            return self._problem(400, "Invalid Request", "The media parameter is missing.")
        filename, content_type, content = files["media"]
        declared = r.form().get("media_type") or content_type
        if declared not in IMAGE_TYPES:
            return self._problem(400, "Invalid Request", f"media type {declared} is not supported")
        if len(content) > IMAGE_BYTES:
            return self._problem(400, "Invalid Request", "File size exceeds 5242880 bytes.")
        media_id = self._id()
        with self.sim.lock:
            self.uploads[media_id] = {"owner": user, "type": declared, "size": len(content), "filename": filename}
        return Response(
            200,
            {
                "data": {
                    "id": media_id,
                    "media_key": f"3_{media_id}",
                    "size": len(content),
                    "expires_after_secs": 86400,
                    "image": {"image_type": declared},
                }
            },
        )

    def check_media_ids(self, media_ids: list[str], user: str) -> Response | None:
        if len(media_ids) > 4:
            return self._problem(400, "Invalid Request", "A post may have at most 4 images.")
        for media_id in media_ids:
            upload = self.uploads.get(media_id)
            if upload is None or upload["owner"] != user:
                return self._problem(400, "Invalid Request", f"Your media IDs are invalid: {media_id}")
        return None

    def record_post(self, tweet_id: str, text: str, media_ids: list[str], user: str) -> Response:
        with self.sim.lock:
            media = [self.uploads.pop(i) for i in media_ids]
            post = {"id": tweet_id, "text": text, "author_id": user, "media": media, "time": time.time()}
            self.posts.append(post)
            self.sent.append({"kind": "post", "id": tweet_id, "text": text, "author_id": user})
        shown = text + "".join(f" https://t.co/{tweet_id[-10:]}{i}" for i in range(1 if media else 0))
        return Response(201, {"data": {"id": tweet_id, "text": shown, "edit_history_tweet_ids": [tweet_id]}})

    def _timeline(self, r: Request, m, user) -> Response:
        start = r.arg("start_time")
        since = 0.0
        if start:
            try:
                since = datetime.strptime(start, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
            except ValueError:
                return self._problem(400, "Invalid Request", "Invalid start_time")
        posts = [p for p in reversed(self.published()) if p["author_id"] == m["id"] and p["time"] >= since]
        size = min(int(r.arg("max_results") or 10), 100)
        data = [
            {
                "id": p["id"],
                # As X shows it: a post with media ends with the media's t.co link.
                "text": p["text"] + (f" https://t.co/{p['id'][-10:]}0" if p["media"] else ""),
                "created_at": datetime.fromtimestamp(p["time"], UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "edit_history_tweet_ids": [p["id"]],
            }
            for p in posts[:size]
        ]
        meta = {"result_count": len(data)}
        if data:
            meta |= {"newest_id": data[0]["id"], "oldest_id": data[-1]["id"]}
        return Response(200, {"data": data, "meta": meta} if data else {"meta": meta})


def _first_text(post: dict) -> str:
    for message in post.get("messages") or []:
        if message.get("type") == "text":
            return message.get("text", "")
    return ""
