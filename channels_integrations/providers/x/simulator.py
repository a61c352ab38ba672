"""X's part of the platform simulator (PROTOCOLS.md §2): the OAuth 2.0 dialog and token endpoint (PKCE S256 checked,
refresh tokens rotated), the v2 endpoints Tsunagu calls (users/me, users lookup, mentions with since_id and
pagination, dm_events with pagination, posting a reply, sending a DM, Account Activity subscriptions, DM media behind
the token) with X's error shapes and `x-rate-limit-*` headers, and customers who mention the account, DM it (with an
image) or delete a post: pushed as signed Account Activity webhooks to `/webhooks/x/` when the account is subscribed,
else waiting for the poller. The webhook registration's CRC call is made like X makes it. Never imports Django."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import threading
import time
from datetime import UTC, datetime
from urllib.parse import urlencode

import requests

from channels_integrations.providers.x.simulator_publish import XPublishing
from channels_integrations.simulator.core import Request, Response, SimulatorPart

ACCOUNT_ID = "1500000000000000001"
ACCOUNT_USERNAME = "tsunagu_demo"
CONSUMER_SECRET = "sim-x-consumer-secret"
CLIENT_ID = "sim-x-client-id"
CLIENT_SECRET = "sim-x-client-secret"
WEBHOOK_ID = "1600000000000000001"
WINDOW = 15 * 60
LIMITS = {"mentions": 300, "dm_events": 15, "tweets": 100, "dm_send": 15, "users": 300}
# A tiny valid PNG (1x1), the operator's default DM image.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def problem(status: int, title: str, detail: str, **extra) -> Response:
    """v2's error shape (RFC 7807 style)."""
    return Response(status, {"title": title, "detail": detail, "type": "about:blank", "status": status, **extra})


def sign(secret: str, message: bytes) -> str:
    return "sha256=" + base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class XSimulator(XPublishing, SimulatorPart):
    name = "x"
    environment = ("X_CONSUMER_SECRET", "X_CLIENT_ID", "X_CLIENT_SECRET", "X_WEBHOOK_ID")

    def __init__(self, sim):
        super().__init__(sim)
        # Tests (and `python -m channels_integrations.simulator`) may set their own app credentials.
        self.consumer_secret = sim.config.get("x_consumer_secret") or CONSUMER_SECRET
        self.client_id = sim.config.get("x_client_id") or CLIENT_ID
        self.client_secret = sim.config.get("x_client_secret") or CLIENT_SECRET
        self.http_get = lambda url: requests.get(url, timeout=10)  # the CRC call (tests route it to Django)
        # The account's own events (echoes of what Tsunagu posts) are pushed after the API call answered, from a
        # timer thread; tests that post through Django's test client (one thread, one transaction) set it False and
        # call flush_echoes().
        self.async_echoes = True
        self.reset()

    def reset(self) -> None:
        self.snowflake = 1700000000000000000
        self.users: dict[str, dict] = {
            ACCOUNT_ID: {"id": ACCOUNT_ID, "name": "Tsunagu Demo", "username": ACCOUNT_USERNAME},
        }
        self.codes: dict[str, dict] = {}  # code -> {challenge, redirect_uri, user}
        self.access: dict[str, tuple[str, float]] = {}  # access token -> (user id, expires at)
        self.refresh: dict[str, str] = {}  # live refresh token -> user id
        self.used_refresh: set[str] = set()
        self.tweets: list[dict] = []  # v2 tweets, oldest first
        self.dm_events: list[dict] = []  # v2 dm events, oldest first (the account's DMs, both directions)
        self.media: dict[str, tuple[str, bytes]] = {}  # path -> (content type, bytes)
        self.sent: list[dict] = []  # what Tsunagu posted: {"kind": "reply"|"dm", ...}
        self.subscriptions: set[str] = set()  # user ids subscribed to the webhook
        self.webhook_url = ""
        self.webhook_valid = False
        self.calls: list[dict] = []  # every API call: method, path, params
        self.fail_next: dict[str, tuple[int, dict]] = {}  # endpoint -> forced error (429, 401, 403)
        self.used: dict[str, list[float]] = {}  # endpoint -> window start, calls used
        self.dm_closed: set[str] = set()  # customers who do not accept DMs from the account
        self.page_size_cap = 100
        self.pending_echoes: list[tuple[str, dict]] = []
        self.reset_publishing()

    def state(self) -> dict:
        return {
            "sent": list(self.sent),
            "subscriptions": sorted(self.subscriptions),
            "webhook": {"url": self.webhook_url, "valid": self.webhook_valid},
            "pending_mentions": len(self.tweets),
            "dm_events": len(self.dm_events),
            "posts": [dict(p) for p in self.posts],
        }

    def _id(self) -> str:
        self.snowflake += 1000 + secrets.randbelow(1000)
        return str(self.snowflake)

    # --- routes ---------------------------------------------------------------------------------------------------
    def routes(self):
        return [
            ("GET", r"/i/oauth2/authorize", self._authorize),
            ("POST", r"/2/oauth2/token", self._token),
            ("GET", r"/2/users/me", self._api(self._me, "users")),
            ("GET", r"/2/users", self._api(self._users, "users")),
            ("GET", r"/2/users/(?P<id>\d+)/mentions", self._api(self._mentions, "mentions")),
            ("GET", r"/2/users/(?P<id>\d+)", self._api(self._user, "users")),
            ("GET", r"/2/dm_events", self._api(self._dm_events, "dm_events")),
            ("POST", r"/2/tweets", self._api(self._post_tweet, "tweets")),
            ("POST", r"/2/media/upload", self._api(self._media_upload, "media_upload")),
            ("GET", r"/2/users/(?P<id>\d+)/tweets", self._api(self._timeline, "timeline")),
            ("POST", r"/2/dm_conversations/with/(?P<id>\d+)/messages", self._api(self._send_dm, "dm_send")),
            (
                "POST",
                r"/2/account_activity/webhooks/(?P<webhook>\d+)/subscriptions/all",
                self._api(self._subscribe, "users"),
            ),
            ("GET", r"/dm_media/(?P<path>.+)", self._api(self._media, "media")),
            ("POST", r"/_sim/x/mention", self._op_mention),
            ("POST", r"/_sim/x/dm", self._op_dm),
            ("POST", r"/_sim/x/delete", self._op_delete),
            ("POST", r"/_sim/x/fail", self._op_fail),
            ("POST", r"/_sim/x/webhook", self._op_webhook),
            ("POST", r"/_sim/x/grant", lambda r, m: Response(body=self.grant_token())),
        ]

    def _api(self, handler, endpoint: str):
        """Token check, forced errors and the rate-limit window around an endpoint (x-rate-limit-* on every answer)."""

        def wrapped(request: Request, match) -> Response:
            with self.sim.lock:
                self.calls.append({"method": request.method, "path": request.path, "params": request.query})
                limit = LIMITS.get(endpoint, 900)
                now = time.time()
                start, used = self.used.get(endpoint, [now, 0])
                if now - start >= WINDOW:
                    start, used = now, 0
                reset = int(start + WINDOW)
                headers = {"x-rate-limit-limit": str(limit), "x-rate-limit-reset": str(reset)}
                forced = self.fail_next.pop(endpoint, None) or self.fail_next.pop("*", None)
                if forced:
                    status, body = forced
                    if status == 429:
                        headers["x-rate-limit-remaining"] = "0"
                    return Response(status, body, headers=headers)
                user = self._bearer_user(request)
                if user is None:
                    return Response(
                        401, {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
                    )
                if used >= limit:
                    headers["x-rate-limit-remaining"] = "0"
                    limited = problem(429, "Too Many Requests", "Too Many Requests")
                    limited.headers.update(headers)
                    return limited
                used += 1
                self.used[endpoint] = [start, used]
                headers["x-rate-limit-remaining"] = str(limit - used)
                response = handler(request, match, user)
                response.headers.update(headers)
                return response

        return wrapped

    def _bearer_user(self, request: Request) -> str | None:
        token = request.bearer()
        found = self.access.get(token)
        if found is None or found[1] < time.time():
            return None
        return found[0]

    # --- OAuth 2.0 ------------------------------------------------------------------------------------------------
    def _authorize(self, r: Request, m) -> Response:
        if r.arg("client_id") != self.client_id:
            return Response(400, "<h1>Something went wrong</h1><p>You weren't able to give access to the App.</p>")
        if r.arg("code_challenge_method") != "S256" or not r.arg("code_challenge"):
            return Response(400, "<h1>Something went wrong</h1><p>PKCE (S256) is required.</p>")
        scopes = set(r.arg("scope").split())
        code = secrets.token_urlsafe(24)
        with self.sim.lock:
            self.codes[code] = {
                "challenge": r.arg("code_challenge"),
                "redirect_uri": r.arg("redirect_uri"),
                "user": ACCOUNT_ID,
                "offline": "offline.access" in scopes,
                "scope": " ".join(sorted(scopes)),
            }
        back = r.arg("redirect_uri") + "?" + urlencode({"state": r.arg("state"), "code": code})
        denied = r.arg("redirect_uri") + "?" + urlencode({"error": "access_denied", "state": r.arg("state")})
        return Response(
            body="<!doctype html><meta charset=utf-8><title>Authorize app - X</title>"
            f"<p>Tsunagu wants to access your X account @{ACCOUNT_USERNAME}.</p>"
            f'<a id="continue" href="{html.escape(back)}">Authorize app</a> '
            f'<a id="cancel" href="{html.escape(denied)}">Cancel</a>'
        )

    def _client_ok(self, r: Request) -> bool:
        auth = r.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                given = base64.b64decode(auth[6:]).decode()
            except ValueError:
                return False
            return given == f"{self.client_id}:{self.client_secret}"
        return r.form().get("client_id") == self.client_id  # a public client

    def _token(self, r: Request, m) -> Response:
        form = r.form()
        if not self._client_ok(r):
            return Response(
                401, {"error": "unauthorized_client", "error_description": "Missing valid authorization header"}
            )
        with self.sim.lock:
            if form.get("grant_type") == "authorization_code":
                grant = self.codes.pop(form.get("code", ""), None)
                if grant is None:
                    return Response(
                        400,
                        {
                            "error": "invalid_request",
                            "error_description": "Value passed for the authorization code was invalid.",
                        },
                    )
                if form.get("redirect_uri") != grant["redirect_uri"]:
                    return Response(
                        400,
                        {
                            "error": "invalid_request",
                            "error_description": "Value passed for the redirect uri did not match the uri of the "
                            "authorization code.",
                        },
                    )
                if s256(form.get("code_verifier", "")) != grant["challenge"]:
                    return Response(
                        400,
                        {
                            "error": "invalid_request",
                            "error_description": "Value passed for the code verifier did not match the code challenge.",
                        },
                    )
                return Response(body=self._issue(grant["user"], grant["offline"], grant["scope"]))
            if form.get("grant_type") == "refresh_token":
                token = form.get("refresh_token", "")
                user = self.refresh.pop(token, None)
                if user is None:
                    return Response(
                        400,
                        {"error": "invalid_request", "error_description": "Value passed for the token was invalid."},
                    )
                self.used_refresh.add(token)
                return Response(
                    body=self._issue(
                        user,
                        True,
                        " ".join(
                            sorted(["tweet.read", "tweet.write", "users.read", "dm.read", "dm.write", "offline.access"])
                        ),
                    )
                )
        return Response(400, {"error": "unsupported_grant_type", "error_description": "Grant type is not supported."})

    def _issue(self, user: str, offline: bool, scope: str) -> dict:
        access = secrets.token_urlsafe(32)
        self.access[access] = (user, time.time() + 7200)
        body = {"token_type": "bearer", "expires_in": 7200, "access_token": access, "scope": scope}
        if offline:
            refresh = secrets.token_urlsafe(32)
            self.refresh[refresh] = user
            body["refresh_token"] = refresh
        return body

    def grant_token(self, user: str = ACCOUNT_ID, *, expires_in: int = 7200) -> dict:
        """Tokens as if the OAuth dialog had just run (the demo connection, tests)."""
        with self.sim.lock:
            body = self._issue(user, True, "tweet.read tweet.write users.read dm.read dm.write offline.access")
            self.access[body["access_token"]] = (user, time.time() + expires_in)
            return body

    def revoke(self, token: str) -> None:
        with self.sim.lock:
            self.access.pop(token, None)

    # --- v2 endpoints ---------------------------------------------------------------------------------------------
    def _me(self, r, m, user) -> Response:
        return Response(body={"data": self._user_object(user)})

    def _user_object(self, user_id: str) -> dict:
        user = self.users.get(user_id) or {"id": user_id, "name": "", "username": f"user{user_id[-4:]}"}
        return {**user, "profile_image_url": f"https://pbs.twimg.com/profile_images/{user_id}/avatar_normal.jpg"}

    def _user(self, r, m, user) -> Response:
        if m["id"] not in self.users:
            return Response(
                200,
                {
                    "errors": [
                        {
                            "value": m["id"],
                            "detail": f"Could not find user with id: [{m['id']}].",
                            "title": "Not Found Error",
                            "resource_type": "user",
                            "parameter": "id",
                            "resource_id": m["id"],
                            "type": "https://api.twitter.com/2/problems/resource-not-found",
                        }
                    ]
                },
            )
        return Response(body={"data": self._user_object(m["id"])})

    def _users(self, r, m, user) -> Response:
        ids = [i for i in r.arg("ids").split(",") if i]
        if not ids or len(ids) > 100:
            return problem(400, "Invalid Request", "The `ids` query parameter value [] is not between 1 and 100")
        body: dict = {"data": [self._user_object(i) for i in ids if i in self.users]}
        missing = [i for i in ids if i not in self.users]
        if missing:
            body["errors"] = [
                {"value": i, "detail": f"Could not find user with ids: [{i}].", "title": "Not Found Error"}
                for i in missing
            ]
        return Response(body=body)

    @staticmethod
    def _page(items: list[dict], r: Request, cap: int) -> tuple[list[dict], str]:
        """Newest first, `max_results` per page; the token is the index of the next page's first item."""
        size = min(int(r.arg("max_results") or 10), cap)
        offset = int(r.arg("pagination_token") or 0) if r.arg("pagination_token").isdigit() else 0
        page = items[offset : offset + size]
        return page, (str(offset + size) if offset + size < len(items) else "")

    def _mentions(self, r, m, user) -> Response:
        if m["id"] != user:
            return problem(403, "Forbidden", "You are not permitted to read this user's mentions.")
        since = int(r.arg("since_id") or 0)
        mentions = [
            t for t in reversed(self.tweets) if t["mentions"] == user and int(t["id"]) > since and not t.get("deleted")
        ]
        page, next_token = self._page(mentions, r, self.page_size_cap)
        fields = set((r.arg("tweet.fields") or r.arg("post.fields")).split(","))
        data = [
            {
                "id": t["id"],
                "text": t["text"],
                "edit_history_tweet_ids": t["edit_history_tweet_ids"],
                **{
                    k: t[k]
                    for k in ("author_id", "created_at", "conversation_id", "referenced_tweets")
                    if k in fields and k in t
                },
            }
            for t in page
        ]
        body: dict = {"meta": {"result_count": len(data)}}
        if data:
            body["data"] = data
            body["meta"] |= {"newest_id": data[0]["id"], "oldest_id": data[-1]["id"]}
            if "author_id" in r.arg("expansions"):
                authors = {t["author_id"] for t in page}
                body["includes"] = {"users": [self._user_object(a) for a in sorted(authors)]}
        if next_token:
            body["meta"]["next_token"] = next_token
        return Response(body=body)

    def _dm_events(self, r, m, user) -> Response:
        events = [e for e in reversed(self.dm_events) if user in e["dm_conversation_id"].split("-")]
        page, next_token = self._page(events, r, self.page_size_cap)
        body: dict = {"meta": {"result_count": len(page)}}
        if page:
            body["data"] = [{k: v for k, v in e.items() if not k.startswith("_")} for e in page]
            includes: dict = {}
            if "sender_id" in r.arg("expansions"):
                includes["users"] = [self._user_object(s) for s in sorted({e["sender_id"] for e in page})]
            keys = [k for e in page for k in (e.get("attachments") or {}).get("media_keys", ())]
            if keys and "attachments.media_keys" in r.arg("expansions"):
                includes["media"] = [self._media_object(k) for k in keys]
            if includes:
                body["includes"] = includes
        if next_token:
            body["meta"]["next_token"] = next_token
        return Response(body=body)

    def _media_object(self, key: str) -> dict:
        return {"media_key": key, "type": "photo", "url": f"{self.sim.base_url}/dm_media/{key}/image.png"}

    def _post_tweet(self, r, m, user) -> Response:
        data = r.json()
        text = str(data.get("text") or "")
        reply_to = str((data.get("reply") or {}).get("in_reply_to_tweet_id") or "")
        media_ids = [str(i) for i in (data.get("media") or {}).get("media_ids") or []]
        if not text and not media_ids:
            return problem(400, "Invalid Request", "One or more parameters to your request was invalid.")
        refused = self.check_media_ids(media_ids, user)
        if refused:
            return refused
        if any(
            t["author_id"] == user and t["text"] == text
            for t in self.tweets + [s for s in self.sent if s["kind"] in ("reply", "post")]
        ):
            return problem(403, "Forbidden", "You are not allowed to create a Tweet with duplicate content.")
        original = next((t for t in self.tweets if t["id"] == reply_to), None)
        if reply_to and (original is None or original.get("deleted")):
            return problem(403, "Forbidden", "You attempted to reply to a Tweet that is deleted or not visible to you.")
        if _x_length(text) > 280:
            return problem(403, "Forbidden", "Your Tweet text is too long.")
        tweet_id = self._id()
        if not reply_to:  # a post of the account's own (publishing), on its timeline
            return self.record_post(tweet_id, text, media_ids, user)
        self.sent.append({"kind": "reply", "id": tweet_id, "text": text, "in_reply_to": reply_to, "author_id": user})
        if original is not None and user in self.subscriptions:  # the account's own post comes back as an event
            self._echo(user, {"tweet_create_events": [self._v1_tweet(tweet_id, user, text, reply_to=original)]})
        return Response(201, {"data": {"id": tweet_id, "text": text, "edit_history_tweet_ids": [tweet_id]}})

    def _send_dm(self, r, m, user) -> Response:
        participant = m["id"]
        text = str(r.json().get("text") or "")
        if participant in self.dm_closed:
            return problem(403, "Forbidden", "You are not permitted to send Direct Messages to this user.")
        if not text:
            return problem(400, "Invalid Request", "One or more parameters to your request was invalid.")
        if len(text) > 10000:
            return problem(400, "Invalid Request", "The text of your direct message is over the max character limit.")
        event = self._dm_event(user, participant, text)
        self.sent.append({"kind": "dm", "id": event["id"], "text": text, "to": participant})
        if user in self.subscriptions:  # the sender's own DM is an event too (an echo)
            self._echo(
                user, {"direct_message_events": [self._v1_dm(event)], "users": self._v1_users(user, participant)}
            )
        return Response(201, {"data": {"dm_conversation_id": event["dm_conversation_id"], "dm_event_id": event["id"]}})

    def _subscribe(self, r, m, user) -> Response:
        if m["webhook"] != (self.sim.config.get("x_webhook_id") or WEBHOOK_ID):
            return problem(404, "Not Found Error", "Could not find webhook.")
        self.subscriptions.add(user)
        return Response(200, {"data": {"subscribed": True}})

    def _media(self, r, m, user) -> Response:
        key = m["path"].split("/", 1)[0]
        if key not in self.media:
            return problem(404, "Not Found Error", "Could not find media.")
        content_type, content = self.media[key]
        return Response(200, content, content_type=content_type)

    # --- customers ------------------------------------------------------------------------------------------------
    def customer(self, user_id: str, name: str, username: str) -> None:
        with self.sim.lock:
            self.users[user_id] = {"id": user_id, "name": name, "username": username}

    def mention(
        self,
        *,
        author_id: str = "2000000000000000001",
        name: str = "山田 花子",
        username: str = "hanako_y",
        text: str = "",
        reply_to: str = "",
        account: str = ACCOUNT_ID,
    ) -> dict:
        """A customer posts mentioning the account (or replies to `reply_to`)."""
        with self.sim.lock:
            self.users.setdefault(author_id, {"id": author_id, "name": name, "username": username})
            handle = self.users[account]["username"]
            text = text or f"@{handle} 注文した商品がまだ届きません"
            if f"@{handle}" not in text:
                text = f"@{handle} {text}"
            tweet_id = self._id()
            tweet = {
                "id": tweet_id,
                "text": text,
                "author_id": author_id,
                "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "conversation_id": reply_to or tweet_id,
                "edit_history_tweet_ids": [tweet_id],
                "mentions": account,
            }
            if reply_to:
                tweet["referenced_tweets"] = [{"type": "replied_to", "id": reply_to}]
            self.tweets.append(tweet)
            pushed = account in self.subscriptions
        if pushed:
            self._push(
                account, {"user_has_blocked": False, "tweet_create_events": [self._v1_tweet(tweet_id, author_id, text)]}
            )
        return tweet

    def dm(
        self,
        *,
        sender_id: str = "2000000000000000001",
        name: str = "山田 花子",
        username: str = "hanako_y",
        text: str = "",
        image: bytes | None = None,
        account: str = ACCOUNT_ID,
    ) -> dict:
        """A customer sends the account a direct message, with an image when given."""
        with self.sim.lock:
            self.users.setdefault(sender_id, {"id": sender_id, "name": name, "username": username})
            event = self._dm_event(sender_id, account, text, image=image)
            pushed = account in self.subscriptions
        if pushed:
            self._push(
                account, {"direct_message_events": [self._v1_dm(event)], "users": self._v1_users(sender_id, account)}
            )
        return event

    def delete(self, tweet_id: str) -> None:
        """The customer deletes their post."""
        with self.sim.lock:
            tweet = next(t for t in self.tweets if t["id"] == tweet_id)
            tweet["deleted"] = True
            account = tweet["mentions"]
            pushed = account in self.subscriptions
        if pushed:
            self._push(
                account,
                {
                    "tweet_delete_events": [
                        {
                            "status": {"id": tweet_id, "user_id": tweet["author_id"]},
                            "timestamp_ms": str(int(time.time() * 1000)),
                        }
                    ]
                },
            )

    def _dm_event(self, sender: str, recipient: str, text: str, *, image: bytes | None = None) -> dict:
        event_id = self._id()
        low, high = sorted((sender, recipient), key=int)
        event = {
            "id": event_id,
            "event_type": "MessageCreate",
            "text": text,
            "sender_id": sender,
            "dm_conversation_id": f"{low}-{high}",
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "_recipient": recipient,
        }
        if image is not None:
            key = f"3_{event_id}"
            self.media[key] = ("image/png", image)
            event["attachments"] = {"media_keys": [key]}
        self.dm_events.append(event)
        return event

    # --- Account Activity -----------------------------------------------------------------------------------------
    def _v1_tweet(self, tweet_id: str, author: str, text: str, *, reply_to: dict | None = None) -> dict:
        user = self.users.get(author) or {"id": author, "name": "", "username": ""}
        tweet = {
            "created_at": datetime.now(UTC).strftime("%a %b %d %H:%M:%S +0000 %Y"),
            "id": int(tweet_id),
            "id_str": tweet_id,
            "text": text,
            "truncated": False,
            "in_reply_to_status_id_str": reply_to["id"] if reply_to else None,
            "in_reply_to_user_id_str": reply_to["author_id"] if reply_to else None,
            "in_reply_to_screen_name": (self.users.get(reply_to["author_id"]) or {}).get("username")
            if reply_to
            else None,
            "user": {
                "id": int(author),
                "id_str": author,
                "name": user["name"],
                "screen_name": user["username"],
                "profile_image_url_https": f"https://pbs.twimg.com/profile_images/{author}/avatar_normal.jpg",
            },
            "entities": {"hashtags": [], "urls": [], "user_mentions": [], "symbols": []},
            "timestamp_ms": str(int(time.time() * 1000)),
        }
        return tweet

    def _v1_dm(self, event: dict) -> dict:
        data: dict = {
            "text": event["text"],
            "entities": {"hashtags": [], "symbols": [], "user_mentions": [], "urls": []},
        }
        keys = (event.get("attachments") or {}).get("media_keys") or []
        if keys:
            media = self._media_object(keys[0])
            data["attachment"] = {
                "type": "media",
                "media": {"id_str": keys[0].split("_", 1)[1], "media_url_https": media["url"], "type": "photo"},
            }
        return {
            "type": "message_create",
            "id": event["id"],
            "created_timestamp": str(int(time.time() * 1000)),
            "message_create": {
                "target": {"recipient_id": event["_recipient"]},
                "sender_id": event["sender_id"],
                "message_data": data,
            },
        }

    def _v1_users(self, *ids: str) -> dict:
        return {
            i: {
                "id": i,
                "name": (self.users.get(i) or {}).get("name", ""),
                "screen_name": (self.users.get(i) or {}).get("username", ""),
                "profile_image_url_https": f"https://pbs.twimg.com/profile_images/{i}/avatar_normal.jpg",
            }
            for i in ids
        }

    def _push(self, account: str, events: dict) -> int:
        """POST an Account Activity event to the registered webhook, signed like X signs it."""
        body = json.dumps({"for_user_id": account, **events}, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "x-twitter-webhooks-signature": sign(self.consumer_secret, body)}
        return self.sim.deliver("/webhooks/x/", body, headers)

    def _echo(self, account: str, events: dict) -> None:
        if self.async_echoes:
            threading.Timer(0.05, self._push, args=(account, events)).start()
        else:
            self.pending_echoes.append((account, events))

    def flush_echoes(self) -> int:
        with self.sim.lock:
            pending, self.pending_echoes = self.pending_echoes, []
        for account, events in pending:
            self._push(account, events)
        return len(pending)

    def register_webhook(self, url: str = "") -> bool:
        """POST /2/webhooks as X runs it: a CRC GET to the URL, whose answer must be the HMAC of the token."""
        url = url or f"{self.sim.webhook_base}/webhooks/x/"
        token = secrets.token_urlsafe(24)
        try:
            answer = self.http_get(f"{url}?{urlencode({'crc_token': token})}")
            given = answer.json().get("response_token", "") if answer.status_code == 200 else ""
        except (requests.RequestException, ValueError, AttributeError):
            given = ""
        with self.sim.lock:
            self.webhook_url = url
            self.webhook_valid = hmac.compare_digest(given, sign(self.consumer_secret, token.encode()))
            return self.webhook_valid

    def force(self, endpoint: str, status: int) -> None:
        """The next call to `endpoint` ("*" any) fails like X fails: 429 with the window spent, 401, 403."""
        bodies = {
            429: {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429},
            401: {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"},
            403: {
                "title": "Forbidden",
                "type": "about:blank",
                "status": 403,
                "detail": "You are not allowed to create a Tweet with duplicate content.",
            },
        }
        with self.sim.lock:
            self.fail_next[endpoint] = (status, bodies[status])

    # --- operator -------------------------------------------------------------------------------------------------
    def _form(self, r: Request) -> dict:
        return r.json() or r.form()

    def _op_mention(self, r: Request, m) -> Response:
        f = self._form(r)
        return Response(
            body=self.mention(
                text=f.get("text", ""),
                name=f.get("name") or "山田 花子",
                username=f.get("username") or "hanako_y",
                author_id=f.get("author_id") or "2000000000000000001",
            )
        )

    def _op_dm(self, r: Request, m) -> Response:
        f = self._form(r)
        files = r.files() if "multipart" in r.headers.get("content-type", "") else {}
        image = (
            files["image"][2] if files.get("image") and files["image"][2] else (PIXEL if f.get("with_image") else None)
        )
        event = self.dm(
            text=f.get("text", ""),
            image=image,
            name=f.get("name") or "山田 花子",
            username=f.get("username") or "hanako_y",
            sender_id=f.get("author_id") or "2000000000000000001",
        )
        return Response(body={k: v for k, v in event.items() if not k.startswith("_")})

    def _op_delete(self, r: Request, m) -> Response:
        f = self._form(r)
        tweet_id = f.get("tweet_id") or next((t["id"] for t in reversed(self.tweets) if not t.get("deleted")), "")
        if not tweet_id:
            return Response(404, {"error": "no post to delete"})
        self.delete(tweet_id)
        return Response(body={"deleted": tweet_id})

    def _op_fail(self, r: Request, m) -> Response:
        f = self._form(r)
        self.force(f.get("endpoint") or "*", int(f.get("status") or 429))
        return Response(body={"ok": True})

    def _op_webhook(self, r: Request, m) -> Response:
        f = self._form(r)
        if f.get("subscribe"):
            with self.sim.lock:
                self.subscriptions.add(f.get("user") or ACCOUNT_ID)
        return Response(body={"valid": self.register_webhook(f.get("url", ""))})

    def operator_html(self) -> str:
        latest = "".join(
            f'<option value="{html.escape(t["id"])}">{html.escape(t["text"][:40])}</option>'
            for t in reversed(self.tweets[-10:])
            if not t.get("deleted")
        )
        return (
            '<form method="post" action="/_sim/x/mention"><label>Customer name <input name="name" value="山田 花子">'
            '</label><label>Handle <input name="username" value="hanako_y"></label>'
            f'<label>Post <textarea name="text">@{ACCOUNT_USERNAME} 注文した商品がまだ届きません</textarea></label>'
            "<button>Mention the account</button></form>"
            '<form method="post" action="/_sim/x/dm" enctype="multipart/form-data"><label>Customer name '
            '<input name="name" value="山田 花子"></label>'
            '<label>Handle <input name="username" value="hanako_y"></label>'
            '<label>Direct message <textarea name="text">写真を送ります</textarea></label>'
            '<label>Image <input type="file" name="image" accept="image/*"></label>'
            '<label><input type="checkbox" name="with_image" value="1"> attach a sample image</label>'
            "<button>Send a DM</button></form>"
            f'<form method="post" action="/_sim/x/delete"><label>Post <select name="tweet_id">{latest}</select></label>'
            "<button>Delete the post</button></form>"
            '<form method="post" action="/_sim/x/fail"><label>Endpoint <select name="endpoint">'
            '<option value="*">next call</option><option value="mentions">mentions</option>'
            '<option value="dm_events">dm_events</option><option value="tweets">post a reply</option>'
            '<option value="dm_send">send a DM</option></select></label><label>Error <select name="status">'
            '<option value="429">429 rate limit</option><option value="401">401 expired token</option>'
            '<option value="403">403 refused</option></select></label><button>Fail the next call</button></form>'
            '<form method="post" action="/_sim/x/webhook"><label>Webhook URL <input name="url" size="50" '
            f'value="{html.escape(self.sim.webhook_base)}/webhooks/x/"></label>'
            '<label><input type="checkbox" name="subscribe" value="1"> subscribe the account (events are pushed, '
            "not polled)</label><button>Register the webhook (CRC check)</button></form>"
            f"<p>Webhook: {html.escape(self.webhook_url or 'not registered')}"
            f"{' (valid)' if self.webhook_valid else ''}</p>" + self.published_html()
        )

    def trickle(self, text: str, lang: str) -> None:
        self.mention(author_id="2000000000000000002", name="Demo", username="demo_customer", text=text)


def _x_length(text: str) -> int:
    """A rough weighted length (CJK counts two) for the simulator's own check; the product has the exact one."""
    return sum(1 if ord(c) <= 4351 else 2 for c in text)
