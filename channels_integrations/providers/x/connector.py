"""X (formerly Twitter): public mentions of the account and its direct messages.

Two ways in, never both for one account (`mode`):
- "webhook": the Account Activity API pushes the account's events to the app-level `/webhooks/x/` (the app's webhook,
  `X_WEBHOOK_ID`, with the account subscribed on connect). X checks the endpoint with a CRC GET, and signs each POST
  with `x-twitter-webhooks-signature`, both HMAC-SHA256 under the consumer secret (PROTOCOLS.md §2.1-2.2).
- "polling" (the default, and the only way without Account Activity access): `GET /2/users/:id/mentions` after
  `since_id`, and `GET /2/dm_events` newest first, following `pagination_token` down to the last event seen (§2.4).
  The rate-limit headers pause an endpoint until its window resets.

Connected with OAuth 2.0 Authorization Code + PKCE; access tokens last two hours and are refreshed with the rotating
refresh token (`offline.access`). Replies: a public reply under the customer's post (`POST /2/tweets`) or a direct
message (`POST /2/dm_conversations/with/:id/messages`), chosen in the reply box; posts count as X counts
(twittertext.py)."""

import base64
import dataclasses
import hashlib
import hmac
import json
import logging
import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.http import JsonResponse
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels_integrations.connector import (
    AccountChoice,
    AuthFailed,
    Connector,
    OAuthSettings,
    OutboundMessage,
    PolledEvent,
    PollResult,
    PostContent,
    PublishLimits,
    PublishResult,
    RateLimited,
    ReplyContext,
    ReplyLimits,
    SendRejected,
    SendResult,
    WebhookRejected,
    check_against_limits,
)
from channels_integrations.inbound import AuthorProfile
from channels_integrations.providers.x import client, publish, schemas
from channels_integrations.providers.x.twittertext import MAX_WEIGHTED_LENGTH, weighted_length

logger = logging.getLogger("tsunagu.x")

SIGNATURE_HEADER = "x-twitter-webhooks-signature"
SCOPES = ("tweet.read", "tweet.write", "users.read", "dm.read", "dm.write", "offline.access", "media.write")
DM_MAX_LENGTH = 10_000
PAGE_SIZE = 100  # max_results: mentions 5-100, dm_events 1-100
USERS_PER_LOOKUP = 100  # GET /2/users?ids= takes up to 100 ids
# The beat refreshes tokens hourly; X's last two hours: refreshing within 90 minutes of expiry leaves a full beat of
# slack.
REFRESH_AHEAD = timedelta(minutes=90)
USER_FIELDS = "name,username,profile_image_url"
MENTION_PARAMS = {
    "max_results": PAGE_SIZE,
    "expansions": "author_id,attachments.media_keys",
    "tweet.fields": (
        "created_at,author_id,conversation_id,referenced_tweets,edit_history_tweet_ids,note_tweet,attachments"
    ),
    "user.fields": USER_FIELDS,
    "media.fields": "media_key,type,url,preview_image_url",
}
DM_PARAMS = {
    "max_results": PAGE_SIZE,
    "event_types": "MessageCreate",
    "dm_event.fields": "id,text,event_type,created_at,dm_conversation_id,sender_id,attachments",
    "expansions": "sender_id,attachments.media_keys",
    "user.fields": USER_FIELDS,
    "media.fields": "media_key,type,url,preview_image_url",
}


def signature(secret: str, message: bytes) -> str:
    """`sha256=` + base64(HMAC-SHA256(consumer secret, message)): the CRC answer and the POST signature alike."""
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def mode(connection) -> str:
    """How the account's events arrive, fixed when it was connected: "webhook" when the app had a registered Account
    Activity webhook then, else "polling". Setting X_WEBHOOK_ID later does not stop polling accounts that were never
    subscribed; connecting them again subscribes them."""
    return connection.config.get("mode") or "polling"


class XConnector(Connector):
    platform = "x"
    label = "X"
    receives_webhooks = True
    app_level_webhook = "x"
    webhook_objects = (schemas.ROUTE,)
    polls = True  # only connections in polling mode call the API
    # dm_events allows 15 calls per 15 minutes per user: one poll a minute at most; the headers pause it earlier.
    poll_interval_seconds = 60
    connects_with_oauth = True
    connect_label = gettext_lazy("Connect an X account")
    idempotent_send = False  # neither POST /2/tweets nor the DM endpoint takes an idempotency key
    fetches_profiles = True
    downloads_media = True
    # A DM reaches only people who accept messages from the account; a public post to a stranger is not a reply.
    can_initiate = False
    can_publish = True
    finds_published = True  # the account's timeline since the attempt, matched by text (publish.py)

    # --- webhooks -------------------------------------------------------------------------------------------------
    def _consumer_secret(self) -> str:
        secret = settings.X_CONSUMER_SECRET
        if not secret:
            logger.error("X_CONSUMER_SECRET is not set: X webhooks cannot be verified")
            raise WebhookRejected("the consumer secret is not configured", status=403)
        return secret

    def handshake(self, request, connection):
        token = request.GET.get("crc_token")
        if not token:
            raise WebhookRejected("crc_token is required", status=400)
        return JsonResponse({"response_token": signature(self._consumer_secret(), token.encode())})

    def verify_webhook(self, request, connection):
        given = request.headers.get(SIGNATURE_HEADER, "").strip()
        if not given:
            raise WebhookRejected(f"{SIGNATURE_HEADER} is missing", status=401)
        expected = signature(self._consumer_secret(), request.body)
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise WebhookRejected("signature mismatch", status=403)

    def webhook_route(self, body):
        return schemas.webhook_route(body)

    def split_webhook(self, body):
        return schemas.split(body)

    def parse_event(self, payload, *, account_id):
        return schemas.parse(payload, account_id=account_id)

    # --- polling --------------------------------------------------------------------------------------------------
    def poll(self, connection, cursor):
        if mode(connection) != "polling":
            return PollResult(events=[], cursor=cursor)
        token = self._token(connection)
        now = time.time()
        paused = {k: v for k, v in (cursor.get("paused") or {}).items() if v > now}
        cursor = {**cursor, "paused": paused}
        events: list[PolledEvent] = []
        more = False
        waits = []
        for name, step in (("mentions", self._poll_mentions), ("dm", self._poll_dms)):
            if name in paused:
                waits.append(paused[name] - now)
                continue
            try:
                found, cursor[name], again, answer = step(connection, token, dict(cursor.get(name) or {}))
            except RateLimited as exc:
                paused[name] = now + (exc.retry_after or 900)
                waits.append(paused[name] - now)
                continue
            events.extend(found)
            if answer.remaining == 0 and answer.reset:  # the window is spent: wait for its reset, not for a 429
                paused[name] = float(answer.reset)
            else:
                more = more or again  # another page waits, and the window allows reading it soon
        if len(waits) == 2:
            raise RateLimited("X rate limit: both mentions and direct messages wait", retry_after=min(waits))
        return PollResult(events=events, cursor=cursor, more=more)

    def _poll_mentions(self, connection, token, state):
        user_id = connection.external_account_id
        params = dict(MENTION_PARAMS)
        if state.get("since_id"):
            params["since_id"] = state["since_id"]
        if state.get("next_token"):
            params["pagination_token"] = state["next_token"]
        answer = client.call("GET", f"2/users/{user_id}/mentions", token=token, params=params)
        body = answer.body
        includes = body.get("includes") or {}
        users = {str(u["id"]): u for u in includes.get("users") or () if "id" in u}
        media = {m["media_key"]: m for m in includes.get("media") or () if "media_key" in m}
        events = []
        for tweet in reversed(body.get("data") or []):  # newest first: stored oldest first
            author = str(tweet.get("author_id", ""))
            keys = (tweet.get("attachments") or {}).get("media_keys") or ()
            payload = {
                "x_poll": "mention",
                "for_user_id": user_id,
                "item": tweet,
                "users": _only(users, author),
                "media": {k: media[k] for k in keys if k in media},
            }
            events.append(PolledEvent(event_key=str(tweet["id"]), payload=json.dumps(payload).encode()))
        meta = body.get("meta") or {}
        newest = state.get("newest") or meta.get("newest_id") or state.get("since_id") or ""
        # The first poll reads one page (the latest); later ones follow the pages down to since_id. An empty
        # since_id says the first poll happened (and found nothing).
        if "since_id" in state and meta.get("next_token"):
            cursor = {"since_id": state["since_id"], "next_token": meta["next_token"], "newest": newest}
            return events, cursor, True, answer
        return events, {"since_id": newest}, False, answer

    def _poll_dms(self, connection, token, state):
        user_id = connection.external_account_id
        params = dict(DM_PARAMS)
        if state.get("next_token"):
            params["pagination_token"] = state["next_token"]
        answer = client.call("GET", "2/dm_events", token=token, params=params)
        body = answer.body
        includes = body.get("includes") or {}
        users = {str(u["id"]): u for u in includes.get("users") or () if "id" in u}
        media = {m["media_key"]: m for m in includes.get("media") or () if "media_key" in m}
        last = int(state.get("last") or 0)
        page = body.get("data") or []
        fresh = [e for e in page if int(e.get("id", 0)) > last]
        events = []
        for event in reversed(fresh):
            keys = (event.get("attachments") or {}).get("media_keys") or ()
            payload = {
                "x_poll": "dm",
                "for_user_id": user_id,
                "item": event,
                "users": _only(users, str(event.get("sender_id", ""))),
                "media": {k: media[k] for k in keys if k in media},
            }
            events.append(PolledEvent(event_key=str(event["id"]), payload=json.dumps(payload).encode()))
        newest = state.get("newest") or (str(page[0]["id"]) if page else state.get("last", ""))
        next_token = (body.get("meta") or {}).get("next_token")
        # Older pages matter only while this one held nothing already seen, and not on the very first poll (which
        # starts from the latest page; "last" present, even empty, says it happened).
        if "last" in state and next_token and len(fresh) == len(page):
            return events, {"last": str(last or ""), "next_token": next_token, "newest": newest}, True, answer
        return events, {"last": str(max(int(newest or 0), last) or "")}, False, answer

    def account_facts(self, connection):
        """How events arrive, and a polled endpoint waiting for its rate-limit window (read from the cursor: no
        API call, which would spend the window it reports on)."""
        if mode(connection) == "webhook":
            facts = [(_("Receives"), _("Account Activity webhooks (pushed as they happen)"))]
        else:
            facts = [(_("Receives"), _("Polling every minute (mentions and direct messages)"))]
        names = {"mentions": _("Mentions"), "dm": _("Direct messages")}
        for name, until in sorted((connection.poll_cursor.get("paused") or {}).items()):
            moment = datetime.fromtimestamp(until, tz=UTC)
            if name in names and moment > datetime.now(UTC):
                facts.append(
                    (
                        names[name],
                        _("Rate limit reached; checked again at %(time)s")
                        % {"time": date_format(localtime(moment), "SHORT_DATETIME_FORMAT")},
                    )
                )
        return facts

    # --- media and profiles ---------------------------------------------------------------------------------------
    def download_media(self, connection, attachment):
        content, content_type = client.download(
            attachment.media_id, token=self._token(connection), max_bytes=self.max_media_bytes
        )
        return dataclasses.replace(
            attachment, content=content, content_type=content_type or attachment.content_type, size=len(content)
        )

    def author_profile(self, connection, author_id):
        answer = client.call(
            "GET",
            f"2/users/{author_id}",
            token=self._token(connection),
            params={"user.fields": USER_FIELDS},
            timeout=(2.0, 4.0),  # asked while ingesting: a name is not worth a stall
        )
        data = answer.body.get("data")
        return _profile(data) if isinstance(data, dict) else None

    def author_profiles(self, connection, author_ids):
        found = {}
        for start in range(0, len(author_ids), USERS_PER_LOOKUP):
            chunk = author_ids[start : start + USERS_PER_LOOKUP]
            answer = client.call(
                "GET",
                "2/users",
                token=self._token(connection),
                params={"ids": ",".join(chunk), "user.fields": USER_FIELDS},
                timeout=(2.0, 4.0),
            )
            for user in answer.body.get("data") or ():  # unknown or suspended ids come back under "errors"
                profile = _profile(user)
                if profile is not None and str(user.get("id")) in chunk:
                    found[str(user["id"])] = profile
        return found

    # --- replies --------------------------------------------------------------------------------------------------
    def reply_limits(self, connection, context: ReplyContext) -> ReplyLimits:
        if context.kind in ("mention", "comment"):
            return ReplyLimits(
                # The box counts as a post counts; a direct message instead is checked against its own 10,000.
                max_length=MAX_WEIGHTED_LENGTH,
                length_rule="x-weighted",
                can_reply_publicly=True,
                can_reply_privately=True,
                notes=(
                    _(
                        "A public reply appears under the customer's post for everyone: at most %(max)d characters "
                        "as X counts them (Japanese, Chinese and Korean characters and emoji count as two, a link "
                        "as 23)."
                    )
                    % {"max": MAX_WEIGHTED_LENGTH},
                    _(
                        "A direct message (up to %(max)s characters) reaches the customer only if they accept "
                        "messages from this account."
                    )
                    % {"max": f"{DM_MAX_LENGTH:,}"},
                ),
            )
        return ReplyLimits(
            max_length=DM_MAX_LENGTH,
            can_reply_publicly=False,
            notes=(
                _("X direct message: text up to %(max)s characters; files cannot be sent from here yet.")
                % {"max": f"{DM_MAX_LENGTH:,}"},
            ),
        )

    def check_reply(self, connection, context: ReplyContext, text: str, files: list) -> list[str]:
        limits = self.reply_limits(connection, context)
        # The generic check counts characters one by one: the length is checked here, the way X counts.
        problems = check_against_limits(dataclasses.replace(limits, max_length=None), context, text, files)
        if context.is_public:
            length = weighted_length(text)
            if length > MAX_WEIGHTED_LENGTH:
                problems.append(
                    _(
                        "X counts this reply as %(length)d characters (Japanese, Chinese and Korean characters and "
                        "emoji count as two, a link as 23); a post may have at most %(max)d."
                    )
                    % {"length": length, "max": MAX_WEIGHTED_LENGTH}
                )
        elif len(text) > DM_MAX_LENGTH:
            problems.append(
                _("The reply is %(length)d characters long; this channel accepts at most %(max)d.")
                % {"length": len(text), "max": DM_MAX_LENGTH}
            )
        return problems

    def send(self, connection, outbound: OutboundMessage) -> SendResult:
        token = self._token(connection)
        public = outbound.is_public and outbound.kind in ("mention", "comment")
        if public and not outbound.reply_to_platform_id:  # without it X would publish a post to every follower
            raise SendRejected(_("A public reply needs the customer's post to answer; none is known here."))
        try:
            if public:
                answer = client.call(
                    "POST",
                    "2/tweets",
                    token=token,
                    json={"text": outbound.text, "reply": {"in_reply_to_tweet_id": outbound.reply_to_platform_id}},
                )
                sent_id = str((answer.body.get("data") or {}).get("id", ""))
            else:
                participant = outbound.recipient_id or outbound.thread_key.split(":", 1)[-1]
                answer = client.call(
                    "POST",
                    f"2/dm_conversations/with/{participant}/messages",
                    token=token,
                    json={"text": outbound.text},
                )
                sent_id = str((answer.body.get("data") or {}).get("dm_event_id", ""))
        except AuthFailed as exc:
            raise AuthFailed(
                _("X no longer accepts this account's authorization (%(reason)s); connect the account again.")
                % {"reason": exc.message},
                code=exc.code,
            ) from exc
        except SendRejected as exc:
            raise SendRejected(_rejection(exc.message, public=public), code=exc.code) from exc
        if not sent_id:
            raise SendRejected(_("X did not return the id of the message it posted."))
        return SendResult(platform_message_id=sent_id)

    # --- publishing (publish.py) ------------------------------------------------------------------------------
    def publish(self, connection, post: PostContent) -> PublishResult:
        return publish.publish(connection, post)

    def publish_limits(self, connection) -> PublishLimits:
        return publish.limits()

    def check_post(self, connection, text: str, files: list, *, link: str = "") -> list[str]:
        return publish.check(text, files, link=link)

    def find_published(self, connection, local_ref, since, *, post=None) -> PublishResult | None:
        return publish.find(connection, local_ref, since, post)

    # --- connecting -----------------------------------------------------------------------------------------------
    def oauth_settings(self) -> OAuthSettings:
        return OAuthSettings(
            authorization_url=settings.X_AUTHORIZE_URL,
            token_url=client.token_url(),
            scopes=SCOPES,
            client_id=settings.X_CLIENT_ID,
            client_secret=settings.X_CLIENT_SECRET,
            scope_separator=" ",
            pkce=True,
            client_auth_basic=bool(settings.X_CLIENT_SECRET),  # a confidential client (a web app) uses HTTP Basic
        )

    def oauth_accounts(self, token: dict) -> list[AccountChoice]:
        answer = client.call("GET", "2/users/me", token=token["access_token"], params={"user.fields": USER_FIELDS})
        user = answer.body.get("data") or {}
        if not user.get("id"):
            raise AuthFailed(_("X did not say which account signed in."))
        if not token.get("refresh_token"):
            logger.warning("X granted no refresh token (offline.access missing?): the connection lasts two hours")
        return [
            AccountChoice(
                platform=self.platform,
                external_account_id=str(user["id"]),
                display_name=f"@{user.get('username') or user['id']}",
                credentials={"access_token": token["access_token"], "refresh_token": token.get("refresh_token", "")},
                token_expires_at=_expiry(token.get("expires_in")),
                config={"mode": "webhook" if settings.X_WEBHOOK_ID else "polling"},
            )
        ]

    def on_connect(self, connection) -> None:
        if mode(connection) != "webhook":
            return
        # Account Activity: subscribe the account to the app's registered webhook, with the account's own token.
        client.call(
            "POST",
            f"2/account_activity/webhooks/{settings.X_WEBHOOK_ID}/subscriptions/all",
            token=self._token(connection),
        )

    def refresh_credentials(self, connection):
        expires = connection.token_expires_at
        if expires is None or expires > datetime.now(UTC) + REFRESH_AHEAD:
            return None
        refresh_token = connection.credentials.get("refresh_token", "")
        if not refresh_token:
            raise AuthFailed(_("X gave no refresh token for this account; connect it again."))
        body = client.token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})
        # Refresh tokens rotate: the one just used is spent, the new one must replace it.
        credentials = {
            **connection.credentials,
            "access_token": body["access_token"],
            "refresh_token": body.get("refresh_token") or refresh_token,
        }
        return credentials, _expiry(body.get("expires_in"))

    def _token(self, connection) -> str:
        token = connection.credentials.get("access_token", "")
        if not token:
            raise AuthFailed(_("No access token is stored for this channel."))
        return token


def _only(users: dict, user_id: str) -> dict:
    return {user_id: users[user_id]} if user_id in users else {}


def _expiry(expires_in) -> datetime | None:
    try:
        return datetime.now(UTC) + timedelta(seconds=int(expires_in))
    except (TypeError, ValueError):
        return None


def _profile(user: dict) -> AuthorProfile | None:
    name, handle = user.get("name", ""), user.get("username", "")
    if not (name or handle):
        return None
    return AuthorProfile(name=name or handle, handle=handle, avatar_url=user.get("profile_image_url", ""))


def _rejection(reason: str, *, public: bool) -> str:
    """X's 403 reasons as sentences an agent can act on."""
    lowered = reason.lower()
    if "duplicate" in lowered:
        return _("X refuses a post identical to one this account already posted; change the wording and send again.")
    if not public and ("direct message" in lowered or "not permitted" in lowered or "cannot send" in lowered):
        return _(
            "X will not deliver this direct message: the customer does not accept messages from this account or has "
            "blocked it. Reply publicly instead."
        )
    if public and ("not allowed" in lowered or "blocked" in lowered or "protected" in lowered):
        return _("X does not allow this account to reply to that post (%(reason)s).") % {"reason": reason}
    return _("X refused the reply: %(reason)s") % {"reason": reason}
