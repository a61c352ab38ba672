"""Publishing in LINE's part of the simulator: broadcast (`POST /v2/bot/message/broadcast`, 200) and narrowcast
(`POST /v2/bot/message/narrowcast`, 202, then `GET /v2/bot/message/progress/narrowcast?requestId=`), text and image
messages, `X-Line-Retry-Key` (409 "The retry key is already accepted" with `x-line-accepted-request-id`), and the
monthly quota (each friend reached counts one). Every accepted post is recorded in `posts` (and
`state()["posts"]`). Never imports Django."""

from __future__ import annotations

import html
import time
import uuid

from channels_integrations.simulator.core import Request, Response


def _error(status: int, message: str, **extra) -> Response:
    return Response(status, {"message": message, **extra})


def _invalid(prop: str, message: str) -> Response:
    return _error(400, "The request body has 1 error(s)", details=[{"message": message, "property": prop}])


class LinePublishing:
    """Mixed into LineSimulator (which provides `sim`, `_authorized`, `_forced`, `retry_keys`, `followers`,
    `quota_limit` / `quota_used`)."""

    def reset_publishing(self) -> None:
        self.posts: list[dict] = []  # kind (broadcast | narrowcast), messages, recipients, retry_key, request_id
        self.audiences: dict[int, set[str]] = {}  # audience group id -> user ids

    def published(self) -> list[dict]:
        with self.sim.lock:
            return [dict(p) for p in self.posts]

    def published_html(self) -> str:
        """The latest posts Tsunagu published here, for the operator page (the demo shows them arriving)."""
        rows = "".join(
            f"<li>{html.escape((p.get('text') or _first_text(p))[:80])}</li>" for p in reversed(self.published()[-5:])
        )
        return f"<p>{len(self.posts)} posts published</p><ul>{rows}</ul>" if rows else "<p>No posts published yet</p>"

    def publishing_routes(self):
        return [
            ("POST", r"/v2/bot/message/broadcast", lambda r, m: self._multicast(r, "broadcast")),
            ("POST", r"/v2/bot/message/narrowcast", lambda r, m: self._multicast(r, "narrowcast")),
            ("GET", r"/v2/bot/message/progress/narrowcast", self._progress),
        ]

    def _publish_messages_error(self, messages) -> Response | None:
        if not isinstance(messages, list) or not 1 <= len(messages) <= 5:
            return _invalid("messages", "Size must be between 1 and 5")
        for index, message in enumerate(messages):
            kind = message.get("type") if isinstance(message, dict) else None
            if kind == "text":
                text = str(message.get("text") or "")
                if not text:
                    return _invalid(f"messages[{index}].text", "May not be empty")
                if len(text) > 5000:
                    return _invalid(f"messages[{index}].text", "Length must be between 0 and 5000")
            elif kind == "image":
                for field in ("originalContentUrl", "previewImageUrl"):
                    url = str(message.get(field) or "")
                    if not url.startswith(("https://", "http://")) or len(url) > 2000:
                        return _invalid(f"messages[{index}].{field}", "Must be a URL of at most 2000 characters")
            else:
                return _invalid(f"messages[{index}].type", "Must be one of the following values: [text, image, ...]")
        return None

    def _recipients(self, data: dict) -> set[str] | Response:
        recipient = data.get("recipient")
        if not recipient:
            return set(self.followers)
        if recipient.get("type") == "audience":
            group = recipient.get("audienceGroupId")
            if group not in self.audiences:
                return _invalid("recipient.audienceGroupId", "audience group not found")
            return self.audiences[group] & self.followers
        return _invalid("recipient.type", "Must be one of the following values: [audience, operator, redelivery]")

    def _multicast(self, request: Request, kind: str) -> Response:
        with self.sim.lock:
            if (denied := self._authorized(request)) is not None:
                return denied
            retry_key = request.headers.get("x-line-retry-key", "")
            if retry_key:
                try:
                    uuid.UUID(retry_key)
                except ValueError:
                    return _error(400, "The value of the X-Line-Retry-Key header is invalid")
                if retry_key in self.retry_keys:
                    accepted = self.retry_keys[retry_key]
                    return Response(
                        409,
                        {"message": "The retry key is already accepted"},
                        headers={"x-line-accepted-request-id": accepted["request_id"]},
                    )
            if self._forced("rate_limit"):
                return _error(429, "Too Many Requests")
            if self._forced("server_error"):
                return _error(500, "Internal server error")
            data = request.json()
            if (invalid := self._publish_messages_error(data.get("messages"))) is not None:
                return invalid
            recipients = self._recipients(data) if kind == "narrowcast" else set(self.followers)
            if isinstance(recipients, Response):
                return recipients
            limit = (data.get("limit") or {}).get("max") if kind == "narrowcast" else None
            reached = min(len(recipients), int(limit)) if limit else len(recipients)
            if self.quota_limit is not None and self.quota_used + reached > self.quota_limit:
                return _error(429, "You have reached your monthly limit.")
            self.quota_used += reached
            request_id = str(uuid.uuid4())
            if retry_key:
                self.retry_keys[retry_key] = {"request_id": request_id, "sentMessages": []}
            self.posts.append(
                {
                    "kind": kind,
                    "messages": data["messages"],
                    "recipients": reached,
                    "retry_key": retry_key,
                    "request_id": request_id,
                    "time": time.time(),
                }
            )
            if self._forced("lost_answer"):  # accepted, but the answer never reaches the caller
                return _error(500, "Internal server error")
            status = 202 if kind == "narrowcast" else 200
            return Response(status, {}, headers={"X-Line-Request-Id": request_id})

    def _progress(self, request: Request, match) -> Response:
        if (denied := self._authorized(request)) is not None:
            return denied
        request_id = request.arg("requestId")
        post = next((p for p in self.published() if p["request_id"] == request_id), None)
        if post is None or post["kind"] != "narrowcast":
            return _error(404, "Not found")
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(post["time"]))
        return Response(
            200,
            {
                "phase": "succeeded",
                "successCount": post["recipients"],
                "failureCount": 0,
                "targetCount": post["recipients"],
                "acceptedTime": stamp,
                "completedTime": stamp,
            },
        )


def _first_text(post: dict) -> str:
    for message in post.get("messages") or []:
        if message.get("type") == "text":
            return message.get("text", "")
    return ""
