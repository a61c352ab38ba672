"""The LINE part of the platform simulator: the Messaging API endpoints Tsunagu calls, with LINE's error shapes
(PROTOCOLS.md §3.4: `{"message", "details"?}`) — reply (single-use reply tokens that expire), push with
`X-Line-Retry-Key` (409 "The retry key is already accepted" with `x-line-accepted-request-id` and the accepted
`sentMessages`), the monthly quota and its consumption, content downloads, profiles, bot info, the webhook endpoint
and stateless token issuance. A "customer" writes through `customer_*()` or the operator routes: the event is POSTed
to the registered webhook URL, signed with the channel secret. Every accepted reply and push is recorded in
`deliveries`, so tests can count them. Never imports Django."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import os
import secrets
import struct
import time
import uuid
import zlib

from channels_integrations.providers.line.simulator_publish import LinePublishing
from channels_integrations.simulator.core import Request, Response, SimulatorPart

CHANNEL_ID = "2000000001"
CHANNEL_SECRET = "0123456789abcdef0123456789abcdef"
ACCESS_TOKEN = "simulator-line-long-lived-channel-access-token"
BOT_USER_ID = "Ua0000000000000000000000000000001"
BASIC_ID = "@tsunagu-demo"
BOT_NAME = "つなぐデモ"
REPLY_TOKEN_SECONDS = 60  # LINE: use within one minute
DEFAULT_QUOTA = 200
DEMO_CUSTOMERS = {
    "U1111111111111111111111111111111a": "佐藤 花子",
    "U2222222222222222222222222222222b": "Ken Tanaka",
}
AUTH_MESSAGE = (
    "Authentication failed due to the following reason: invalid token. Confirm that the access token in the "
    "authorization header is valid."
)
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid() -> str:
    """A webhookEventId like LINE's: 48 bits of milliseconds and 80 random bits, Crockford base32."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def png(width: int = 8, height: int = 8, rgb: tuple[int, int, int] = (6, 199, 85)) -> bytes:
    """A small solid PNG (LINE green), made without any imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * width
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def _error(status: int, message: str, **extra) -> Response:
    return Response(status, {"message": message, **extra}, headers={"X-Line-Request-Id": str(uuid.uuid4())})


def _invalid(prop: str, message: str) -> Response:
    return _error(400, "The request body has 1 error(s)", details=[{"message": message, "property": prop}])


class LineSimulator(LinePublishing, SimulatorPart):
    name = "line"

    def __init__(self, sim):
        super().__init__(sim)
        self.reset()

    def reset(self) -> None:
        self.webhook_url = ""
        self.reply_tokens: dict[str, dict] = {}  # token -> {"to", "issued", "used"}
        self.deliveries: list[dict] = []  # every accepted reply and push
        self.retry_keys: dict[str, dict] = {}  # retry key -> {"request_id", "sentMessages"}
        self.quota_limit: int | None = DEFAULT_QUOTA
        self.quota_used = 0
        self.contents: dict[str, tuple[str, bytes]] = {}  # message id -> (content type, bytes)
        self.profiles: dict[str, dict] = {
            user_id: {"displayName": name, "pictureUrl": f"https://profile.line-scdn.net/sim/{user_id[-6:]}"}
            for user_id, name in DEMO_CUSTOMERS.items()
        }
        self.stateless_tokens: set[str] = set()
        self.revoked = False
        self.fail_next: list[str] = []  # "rate_limit", "lost_answer" (push), "lost_reply", "server_error"
        self.next_message_id = 600000000000000001
        self.followers: set[str] = set(DEMO_CUSTOMERS)
        self.loading: list[dict] = []
        self.read_marks: list[str] = []  # the users whose messages were marked read
        self.read_tokens: dict[str, str] = {}  # markAsReadToken -> user id
        self.reset_publishing()

    def state(self) -> dict:
        return {
            "webhook_url": self.webhook_url,
            "deliveries": self.deliveries,
            "quota": {"limit": self.quota_limit, "used": self.quota_used},
            "loading": self.loading,
            "read_marks": self.read_marks,
            "posts": self.published(),
        }

    def routes(self):
        return [
            ("POST", r"/v2/bot/message/reply", self._reply),
            ("POST", r"/v2/bot/message/push", self._push),
            *self.publishing_routes(),
            ("GET", r"/v2/bot/message/quota", self._quota),
            ("GET", r"/v2/bot/message/quota/consumption", self._consumption),
            ("GET", r"/v2/bot/message/(?P<id>\d+)/content", self._content),
            ("GET", r"/v2/bot/profile/(?P<user>U[0-9a-f]{32})", self._profile),
            ("GET", r"/v2/bot/info", self._info),
            ("PUT", r"/v2/bot/channel/webhook/endpoint", self._set_endpoint),
            ("GET", r"/v2/bot/channel/webhook/endpoint", self._get_endpoint),
            ("POST", r"/v2/bot/chat/loading/start", self._loading),
            ("POST", r"/v2/bot/chat/markAsRead", self._mark_read),
            ("POST", r"/oauth2/v3/token", self._issue_token),
            ("POST", r"/_sim/line/message", self._operator_message),
            ("POST", r"/_sim/line/unsend", self._operator_unsend),
            ("POST", r"/_sim/line/edit", self._operator_edit),
            ("POST", r"/_sim/line/fail", self._operator_fail),
            ("POST", r"/_sim/line/expire-reply-tokens", self._operator_expire),
            ("POST", r"/_sim/line/console/webhook", self._operator_console_webhook),
            ("POST", r"/_sim/line/quota", self._operator_quota),
        ]

    # --- the Messaging API ----------------------------------------------------------------------------------------
    def _authorized(self, request: Request) -> Response | None:
        token = request.bearer()
        if self.revoked or (token != ACCESS_TOKEN and token not in self.stateless_tokens):
            return _error(401, AUTH_MESSAGE)
        return None

    def _forced(self, kind: str) -> bool:
        if kind in self.fail_next:
            self.fail_next.remove(kind)
            return True
        return False

    def _messages_error(self, messages) -> Response | None:
        if not isinstance(messages, list) or not 1 <= len(messages) <= 5:
            return _invalid("messages", "Size must be between 1 and 5")
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("type") != "text":
                return _invalid(
                    f"messages[{index}].type",
                    "Must be one of the following values: [text, image, video, audio, location, sticker, richmessage, "
                    "template, imagemap]",
                )
            text = str(message.get("text") or "")
            if not text:
                return _invalid(f"messages[{index}].text", "May not be empty")
            if len(text) > 5000:
                return _invalid(f"messages[{index}].text", "Length must be between 0 and 5000")
        return None

    def _sent(self, messages) -> list[dict]:
        sent = []
        for _message in messages:
            sent.append({"id": str(self.next_message_id), "quoteToken": secrets.token_urlsafe(12)})
            self.next_message_id += 1
        return sent

    def _reply(self, request: Request, match) -> Response:
        with self.sim.lock:
            if (denied := self._authorized(request)) is not None:
                return denied
            if self._forced("rate_limit"):
                return _error(429, "Too Many Requests")
            data = request.json()
            if (invalid := self._messages_error(data.get("messages"))) is not None:
                return invalid
            token = self.reply_tokens.get(str(data.get("replyToken", "")))
            if token is None or token["used"] or time.time() - token["issued"] > REPLY_TOKEN_SECONDS:
                return _error(400, "Invalid reply token")
            token["used"] = True
            sent = self._sent(data["messages"])
            self.deliveries.append(
                {"kind": "reply", "to": token["to"], "messages": data["messages"], "sentMessages": sent}
            )
            if self._forced("lost_reply"):  # delivered, but the answer never reaches the caller
                return _error(500, "Internal server error")
            return Response(200, {"sentMessages": sent}, headers={"X-Line-Request-Id": str(uuid.uuid4())})

    def _push(self, request: Request, match) -> Response:
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
                        {"message": "The retry key is already accepted", "sentMessages": accepted["sentMessages"]},
                        headers={"x-line-accepted-request-id": accepted["request_id"]},
                    )
            if self._forced("rate_limit"):
                return _error(429, "Too Many Requests")
            if self._forced("server_error"):
                return _error(500, "Internal server error")
            data = request.json()
            if (invalid := self._messages_error(data.get("messages"))) is not None:
                return invalid
            to = str(data.get("to", ""))
            if not to:
                return _invalid("to", "May not be empty")
            if self.quota_limit is not None and self.quota_used + len(data["messages"]) > self.quota_limit:
                return _error(429, "You have reached your monthly limit.")
            if to.startswith("U") and to not in self.followers:
                return _error(400, "Failed to send messages")
            self.quota_used += len(data["messages"])
            sent = self._sent(data["messages"])
            request_id = str(uuid.uuid4())
            if retry_key:
                self.retry_keys[retry_key] = {"request_id": request_id, "sentMessages": sent}
            self.deliveries.append(
                {"kind": "push", "to": to, "messages": data["messages"], "sentMessages": sent, "retry_key": retry_key}
            )
            if self._forced("lost_answer"):  # accepted, but the answer never reaches the caller
                return _error(500, "Internal server error")
            return Response(200, {"sentMessages": sent}, headers={"X-Line-Request-Id": request_id})

    def _quota(self, request: Request, match) -> Response:
        if (denied := self._authorized(request)) is not None:
            return denied
        if self.quota_limit is None:
            return Response(200, {"type": "none"})
        return Response(200, {"type": "limited", "value": self.quota_limit})

    def _consumption(self, request: Request, match) -> Response:
        if (denied := self._authorized(request)) is not None:
            return denied
        return Response(200, {"totalUsage": self.quota_used})

    def _content(self, request: Request, match) -> Response:
        if (denied := self._authorized(request)) is not None:
            return denied
        if match["id"] not in self.contents:
            return _error(404, "Not found")
        content_type, content = self.contents[match["id"]]
        return Response(200, content, content_type=content_type)

    def _profile(self, request: Request, match) -> Response:
        if (denied := self._authorized(request)) is not None:
            return denied
        profile = self.profiles.get(match["user"])
        if profile is None or match["user"] not in self.followers:
            return _error(404, "Not found")
        return Response(200, {"userId": match["user"], "language": "ja", **profile})

    def _info(self, request: Request, match) -> Response:
        if (denied := self._authorized(request)) is not None:
            return denied
        return Response(
            200,
            {
                "userId": BOT_USER_ID,
                "basicId": BASIC_ID,
                "displayName": BOT_NAME,
                "pictureUrl": "https://profile.line-scdn.net/sim/bot",
                "chatMode": "chat",
                "markAsReadMode": "manual",
            },
        )

    def _set_endpoint(self, request: Request, match) -> Response:
        if (denied := self._authorized(request)) is not None:
            return denied
        endpoint = str(request.json().get("endpoint", ""))
        if not endpoint.startswith("https://") or len(endpoint) > 500:
            return _invalid("endpoint", "Must be an HTTPS URL")
        self.webhook_url = endpoint
        return Response(200, {})

    def _get_endpoint(self, request: Request, match) -> Response:
        if (denied := self._authorized(request)) is not None:
            return denied
        return Response(200, {"endpoint": self.webhook_url, "active": bool(self.webhook_url)})

    def _loading(self, request: Request, match) -> Response:
        if (denied := self._authorized(request)) is not None:
            return denied
        data = request.json()
        seconds = data.get("loadingSeconds", 20)
        if not isinstance(seconds, int) or seconds % 5 or not 5 <= seconds <= 60:
            return _invalid("loadingSeconds", "Must be a multiple of 5 between 5 and 60")
        if not str(data.get("chatId", "")).startswith("U"):
            return _invalid("chatId", "Only one-on-one chats with users can show the loading animation")
        self.loading.append(data)
        return Response(202, {})

    def _mark_read(self, request: Request, match) -> Response:
        if (denied := self._authorized(request)) is not None:
            return denied
        token = str(request.json().get("markAsReadToken", ""))
        if token not in self.read_tokens:
            return _invalid("markAsReadToken", "Invalid markAsReadToken")
        self.read_marks.append(self.read_tokens[token])
        return Response(200, {})

    def _issue_token(self, request: Request, match) -> Response:
        form = request.form()
        if form.get("grant_type") != "client_credentials":
            return Response(400, {"error": "unsupported_grant_type", "error_description": "unsupported grant_type"})
        if form.get("client_id") != CHANNEL_ID or form.get("client_secret") != CHANNEL_SECRET:
            return Response(400, {"error": "invalid_client", "error_description": "invalid client_id or secret"})
        token = "stateless-" + secrets.token_urlsafe(24)
        self.stateless_tokens.add(token)
        return Response(200, {"token_type": "Bearer", "access_token": token, "expires_in": 900, "key_id": "sim"})

    # --- customers ------------------------------------------------------------------------------------------------
    def _event(self, user_id: str, kind: str, *, reply_token: bool = True, **fields) -> dict:
        event = {
            "type": kind,
            "mode": "active",
            "timestamp": int(time.time() * 1000),
            "source": {"type": "user", "userId": user_id},
            "webhookEventId": ulid(),
            "deliveryContext": {"isRedelivery": False},
            **fields,
        }
        if reply_token:
            token = secrets.token_hex(16)
            self.reply_tokens[token] = {"to": user_id, "issued": time.time(), "used": False}
            event["replyToken"] = token
        return event

    def deliver(self, *events: dict, redelivery: bool = False) -> int:
        """POST events to the registered webhook URL as LINE does: signed with the channel secret."""
        if redelivery:
            events = tuple({**e, "deliveryContext": {"isRedelivery": True}} for e in events)
        body = json.dumps({"destination": BOT_USER_ID, "events": list(events)}, ensure_ascii=False).encode()
        digest = hmac.new(CHANNEL_SECRET.encode(), body, hashlib.sha256).digest()
        headers = {"Content-Type": "application/json", "x-line-signature": base64.b64encode(digest).decode()}
        url = self.webhook_url
        if not url:
            raise RuntimeError("no webhook URL is set for the LINE channel (console or PUT webhook/endpoint)")
        path = url.split("://", 1)[1]
        return self.sim.deliver(path[path.find("/") :], body, headers)

    def _new_message(self, user_id: str, message: dict) -> dict:
        with self.sim.lock:
            message_id = str(self.next_message_id)
            self.next_message_id += 1
            self.followers.add(user_id)
            read_token = secrets.token_urlsafe(16)
            self.read_tokens[read_token] = user_id
            return self._event(
                user_id,
                "message",
                message={
                    "id": message_id,
                    "quoteToken": secrets.token_urlsafe(12),
                    "markAsReadToken": read_token,
                    **message,
                },
            )

    def customer_text(self, user_id: str, text: str, *, name: str = "", deliveries: int = 1) -> dict:
        if name:
            self.profiles[user_id] = {"displayName": name, "pictureUrl": ""}
        event = self._new_message(user_id, {"type": "text", "text": text})
        self.deliver(event)
        for _again in range(deliveries - 1):
            self.deliver(event, redelivery=True)
        return event

    def customer_sticker(self, user_id: str, *, package_id: str = "446", sticker_id: str = "1988") -> dict:
        event = self._new_message(
            user_id,
            {
                "type": "sticker",
                "packageId": package_id,
                "stickerId": sticker_id,
                "stickerResourceType": "STATIC",
                "keywords": ["Thanks", "Happy"],
            },
        )
        self.deliver(event)
        return event

    def customer_media(
        self,
        user_id: str,
        kind: str = "image",
        *,
        content: bytes | None = None,
        content_type: str = "image/png",
        file_name: str = "",
    ) -> dict:
        content = png() if content is None else content
        message = {"type": kind, "contentProvider": {"type": "line"}}
        if kind == "file":
            message |= {"fileName": file_name or "document.pdf", "fileSize": len(content)}
        event = self._new_message(user_id, message)
        self.contents[event["message"]["id"]] = (content_type, content)
        self.deliver(event)
        return event

    def customer_unsend(self, user_id: str, message_id: str) -> dict:
        event = self._event(user_id, "unsend", reply_token=False, unsend={"messageId": message_id})
        self.deliver(event)
        return event

    def customer_edit(self, user_id: str, message_id: str, text: str) -> dict:
        event = self._event(
            user_id, "messageEdited", message={"id": message_id, "type": "text", "text": text, "quoteToken": "q"}
        )
        self.deliver(event)
        return event

    def customer_unfollow(self, user_id: str) -> dict:
        self.followers.discard(user_id)
        event = self._event(user_id, "unfollow", reply_token=False)
        self.deliver(event)
        return event

    def customer_follow(self, user_id: str) -> dict:
        self.followers.add(user_id)
        event = self._event(user_id, "follow", follow={"isUnblocked": True})
        self.deliver(event)
        return event

    def expire_reply_tokens(self) -> int:
        """Time travel: every reply token issued so far is now older than a minute."""
        with self.sim.lock:
            for token in self.reply_tokens.values():
                token["issued"] -= REPLY_TOKEN_SECONDS + 1
            return len(self.reply_tokens)

    # --- operator routes ------------------------------------------------------------------------------------------
    @staticmethod
    def _data(request: Request) -> dict:
        return request.json() or request.form()

    def _operator_message(self, request: Request, match) -> Response:
        data = self._data(request)
        user_id = data.get("user_id") or next(iter(DEMO_CUSTOMERS))
        kind = data.get("kind") or "text"
        if kind == "sticker":
            event = self.customer_sticker(user_id)
        elif kind == "image":
            event = self.customer_media(user_id, "image")
        elif kind == "file":
            event = self.customer_media(
                user_id,
                "file",
                content="請求書の控えです。\n".encode(),
                content_type="text/plain",
                file_name=data.get("file_name") or "invoice.txt",
            )
        else:
            event = self.customer_text(user_id, data.get("text") or "こんにちは")
        return Response(200, event)

    def _operator_unsend(self, request: Request, match) -> Response:
        data = self._data(request)
        return Response(
            200, self.customer_unsend(data.get("user_id") or next(iter(DEMO_CUSTOMERS)), data["message_id"])
        )

    def _operator_edit(self, request: Request, match) -> Response:
        data = self._data(request)
        user_id = data.get("user_id") or next(iter(DEMO_CUSTOMERS))
        return Response(200, self.customer_edit(user_id, data["message_id"], data.get("text") or ""))

    def _operator_fail(self, request: Request, match) -> Response:
        kind = self._data(request).get("kind", "")
        with self.sim.lock:
            if kind == "expired_token":
                self.revoked = True
            elif kind == "restore_token":
                self.revoked = False
            elif kind == "quota":
                self.quota_used = self.quota_limit or 0
            elif kind in ("rate_limit", "lost_answer", "lost_reply", "server_error"):
                self.fail_next.append(kind)
            else:
                return _error(400, f"unknown failure {kind!r}")
        return Response(200, {"ok": True, "kind": kind})

    def _operator_expire(self, request: Request, match) -> Response:
        return Response(200, {"expired": self.expire_reply_tokens()})

    def _operator_console_webhook(self, request: Request, match) -> Response:
        """What an admin does in the LINE Developers console: paste the webhook URL (any scheme here)."""
        self.webhook_url = str(self._data(request).get("url", ""))
        return Response(200, {"webhook_url": self.webhook_url})

    def _operator_quota(self, request: Request, match) -> Response:
        data = self._data(request)
        with self.sim.lock:
            limit = data.get("limit")
            self.quota_limit = None if limit in (None, "", "none") else int(limit)
            if "used" in data:
                self.quota_used = int(data["used"])
        return Response(200, {"limit": self.quota_limit, "used": self.quota_used})

    def operator_html(self) -> str:
        options = "".join(
            f'<option value="{u}">{html.escape(n)} ({u[:8]}…)</option>' for u, n in DEMO_CUSTOMERS.items()
        )
        customer = f'<label>Customer <select name="user_id">{options}</select></label>'
        return (
            f"<p>Bot {BOT_USER_ID} ({BASIC_ID}) · webhook: {html.escape(self.webhook_url) or '(not set)'} · "
            f"quota {self.quota_used}/{self.quota_limit if self.quota_limit is not None else '∞'} · "
            f"{len(self.deliveries)} deliveries</p>"
            f'<form method="post" action="/_sim/line/message">{customer}'
            '<label>Kind <select name="kind"><option>text</option><option>sticker</option><option>image</option>'
            "<option>file</option></select></label>"
            '<label>Text <input name="text" value="注文の配送状況を教えてください"></label>'
            "<button>Customer writes on LINE</button></form>"
            f'<form method="post" action="/_sim/line/edit">{customer}<label>Message id <input name="message_id">'
            '</label><label>New text <input name="text"></label><button>Customer edits</button></form>'
            f'<form method="post" action="/_sim/line/unsend">{customer}<label>Message id <input name="message_id">'
            "</label><button>Customer unsends</button></form>"
            '<form method="post" action="/_sim/line/fail"><label>Make LINE fail <select name="kind">'
            '<option value="expired_token">token expired/revoked (401)</option>'
            '<option value="restore_token">restore the token</option>'
            '<option value="rate_limit">next call 429</option>'
            '<option value="quota">monthly quota exhausted</option>'
            '<option value="lost_answer">next push accepted but answered 500</option>'
            "</select></label><button>Apply</button></form>"
            '<form method="post" action="/_sim/line/expire-reply-tokens"><button>Expire reply tokens (time travel a '
            "minute)</button></form>" + self.published_html()
        )

    def trickle(self, text: str, lang: str) -> None:
        if self.webhook_url:
            self.customer_text(list(DEMO_CUSTOMERS)[1 if lang == "en" else 0], text)
