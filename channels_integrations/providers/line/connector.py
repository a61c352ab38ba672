"""A LINE Official Account through the Messaging API (PROTOCOLS.md §3).

Webhooks arrive on `/webhooks/line/<connection uuid>/`, signed with `x-line-signature` (base64 HMAC-SHA256 of the
raw body under the channel secret). Replies use the event's reply token while it is valid (single use, about a
minute: we keep it 50 s, in Redis, taken with GETDEL so it is used once) and are free; otherwise they are pushed with
`X-Line-Retry-Key` = the reply's idempotency key, so a retried push is delivered once (409 = already accepted), and
count against the monthly message quota shown on the channel's page."""

import base64
import hashlib
import hmac
import json
import logging
import mimetypes
import time
import uuid
from dataclasses import replace

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from redis.exceptions import RedisError

from channels_integrations.connector import (
    AuthFailed,
    Connector,
    ConnectorError,
    OutboundMessage,
    PostContent,
    PublishLimits,
    PublishResult,
    RateLimited,
    ReplyContext,
    ReplyLimits,
    SendRejected,
    SendResult,
    TransientError,
    WebhookRejected,
    check_against_limits,
)
from channels_integrations.inbound import AuthorProfile
from channels_integrations.providers.line import client, publish, schemas
from core.redis_client import redis_client

logger = logging.getLogger("tsunagu.line")

MAX_LENGTH = 5000  # a text message object: at most 5000 characters
# "Use the reply token within one minute of receiving the webhook; beyond that, it is not guaranteed to work": keep
# a margin for the send task's queueing and the request itself.
REPLY_TOKEN_SECONDS = 50
QUOTA_CACHE_SECONDS = 60
BLOCKED_SECONDS = 400 * 24 * 3600  # a block outlives any conversation; a follow (unblock) clears it
SIGNATURE_HEADER = "x-line-signature"
READ_TOKEN_SECONDS = 7 * 24 * 3600  # marking the latest message read marks the earlier ones too
LOADING_SECONDS = 20  # the loading animation: 5-60 s in steps of 5; it stops by itself when our message arrives


def _reply_key(account_id: str, chat_id: str) -> str:
    return f"line:reply-token:{account_id}:{chat_id}"


def _read_key(account_id: str, chat_id: str) -> str:
    return f"line:read-token:{account_id}:{chat_id}"


def _blocked_key(account_id: str, user_id: str) -> str:
    return f"line:blocked:{account_id}:{user_id}"


def _quota_key(connection) -> str:
    return f"line:quota:{connection.uuid}"


def webhook_url(connection) -> str:
    return f"{settings.SITE_URL}/webhooks/line/{connection.uuid}/"


def signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class LineConnector(Connector):
    platform = "line"
    label = "LINE"
    receives_webhooks = True
    connect_form = "channels_integrations.providers.line.connect.LineChannelForm"
    connect_label = gettext_lazy("Connect a LINE Official Account")
    # A reply (reply token) cannot carry a retry key: resending after an interrupted attempt could deliver twice.
    idempotent_send = False
    fetches_profiles = True
    downloads_media = True
    shows_agent_activity = True  # read marks when an agent opens the conversation, the loading animation as they type
    max_media_bytes = 25 * 1024 * 1024  # what we store per attachment (LINE files may be larger: kept by name)
    # Push reaches only people who added the account as a friend (and group members): agents answer, never start.
    can_initiate = False
    can_publish = True  # broadcast / narrowcast to the account's friends (publish.py)
    finds_published = True  # the post's retry key: publishing again within 24 hours cannot deliver twice

    # --- webhooks -------------------------------------------------------------------------------------------------
    def verify_webhook(self, request, connection):
        given = request.headers.get(SIGNATURE_HEADER)
        if not given:
            raise WebhookRejected("x-line-signature is missing", status=401)
        secret = connection.credentials.get("channel_secret", "") if connection else ""
        if not secret:
            raise WebhookRejected("no channel secret is stored for this channel", status=403)
        if not hmac.compare_digest(given.strip().encode(), signature(secret, request.body).encode()):
            raise WebhookRejected("signature mismatch", status=403)

    def split_webhook(self, body):
        deliveries = schemas.split(body)
        # Called after verify_webhook: the body is LINE's. Reply tokens and blocks are noted at receipt, since a
        # reply token is worth something only within a minute of the event.
        try:
            self._note_receipt(json.loads(body))
        except RedisError:
            logger.exception("could not note LINE reply tokens")
        return deliveries

    def _note_receipt(self, data: dict) -> None:
        account_id = str(data.get("destination") or "")
        if not account_id:
            return
        r = redis_client()
        now_ms = time.time() * 1000
        for event in data["events"]:
            source = event.get("source") if isinstance(event.get("source"), dict) else {}
            try:
                _thread, chat_id = schemas.chat_of(source)
            except ConnectorError:
                continue
            if event.get("type") == "unfollow" and source.get("userId"):
                r.set(_blocked_key(account_id, source["userId"]), 1, ex=BLOCKED_SECONDS)
            elif event.get("type") == "follow" and source.get("userId"):
                r.delete(_blocked_key(account_id, source["userId"]))
            message = event.get("message") if isinstance(event.get("message"), dict) else {}
            if event.get("type") == "message" and message.get("markAsReadToken") and source.get("type") == "user":
                r.set(_read_key(account_id, chat_id), str(message["markAsReadToken"]), ex=READ_TOKEN_SECONDS)
            token, stamp = event.get("replyToken"), event.get("timestamp")
            if not isinstance(token, str) or not token or not isinstance(stamp, int):
                continue
            left_ms = int(REPLY_TOKEN_SECONDS * 1000 - max(0.0, now_ms - stamp))
            if left_ms <= 0:
                continue  # a redelivery, or late: LINE would refuse it
            key = _reply_key(account_id, chat_id)
            held = r.get(key)
            if held is not None and json.loads(held).get("ts", 0) > stamp:
                continue  # keep the latest event's token
            r.set(key, json.dumps({"token": token, "ts": stamp}), px=left_ms)

    def parse_event(self, payload, *, account_id):
        return schemas.parse(payload)

    # --- tokens ---------------------------------------------------------------------------------------------------
    def _token(self, connection, *, fresh: bool = False) -> str:
        credentials = connection.credentials
        if credentials.get("access_token"):
            return credentials["access_token"]
        channel_id, secret = credentials.get("channel_id", ""), credentials.get("channel_secret", "")
        if not channel_id or not secret:
            raise AuthFailed(_("No LINE channel access token is stored for this channel."))
        # Stateless tokens live 15 minutes and cannot be stored usefully: issued on demand, kept in Redis meanwhile.
        key = f"line:token:{connection.uuid}"
        r = redis_client()
        if not fresh:
            held = r.get(key)
            if held:
                return held.decode()
        token, expires_in = client.issue_stateless_token(channel_id, secret)
        r.set(key, token, ex=max(60, expires_in - 60))
        return token

    def _call(self, connection, method: str, url: str, **kwargs):
        token = self._token(connection)
        try:
            return client.call(method, url, token=token, **kwargs)
        except AuthFailed:
            if connection.credentials.get("access_token"):
                raise
            # A stateless token we held may have been issued by a secret since reissued: one fresh try.
            return client.call(method, url, token=self._token(connection, fresh=True), **kwargs)

    # --- quota ----------------------------------------------------------------------------------------------------
    def quota(self, connection) -> tuple[int, int | None] | None:
        """(messages used this month, the monthly limit or None when unlimited), cached briefly; None when LINE
        cannot say right now."""
        held = cache.get(_quota_key(connection))
        if held == "unknown":
            return None
        if held is not None:
            return tuple(held)
        try:
            _s, limit, _h = self._call(connection, "GET", client.api_url("v2/bot/message/quota"), timeout=(2.0, 4.0))
            _s, used, _h = self._call(
                connection, "GET", client.api_url("v2/bot/message/quota/consumption"), timeout=(2.0, 4.0)
            )
        except ConnectorError as exc:
            logger.info("quota of LINE connection %s unknown: %s", connection.pk, exc.message or exc)
            # Remembered too: while LINE does not answer, the reply box must not wait for it on every page.
            cache.set(_quota_key(connection), "unknown", QUOTA_CACHE_SECONDS)
            return None
        value = (int(used.get("totalUsage") or 0), int(limit["value"]) if limit.get("type") == "limited" else None)
        cache.set(_quota_key(connection), list(value), QUOTA_CACHE_SECONDS)
        return value

    def account_facts(self, connection):
        facts = []
        if connection.config.get("basic_id"):
            facts.append((_("LINE ID"), connection.config["basic_id"]))
        quota = self.quota(connection)
        if quota is None:
            facts.append((_("Messages pushed this month"), _("LINE did not answer; try again later.")))
        elif quota[1] is None:
            used = _("%(used)s (no monthly limit)") % {"used": f"{quota[0]:,}"}
            facts.append((_("Messages pushed this month"), used))
        else:
            facts.append(
                (
                    _("Messages pushed this month"),
                    _("%(used)s of %(limit)s (monthly limit)") % {"used": f"{quota[0]:,}", "limit": f"{quota[1]:,}"},
                )
            )
        return facts

    # --- replies --------------------------------------------------------------------------------------------------
    @staticmethod
    def _token_likely(context: ReplyContext) -> bool:
        last = context.last_customer_message_at
        return last is not None and (context.now - last).total_seconds() < REPLY_TOKEN_SECONDS

    def reply_limits(self, connection, context: ReplyContext) -> ReplyLimits:
        notes = [
            _(
                "LINE: text replies up to %(max)s characters. Files cannot be sent from here: LINE needs a public "
                "link to them."
            )
            % {"max": f"{MAX_LENGTH:,}"},
            _(
                "Within a minute of the customer's message the reply is free; later it is pushed and counts "
                "against the account's monthly message quota."
            ),
        ]
        quota = self.quota(connection)
        if quota is not None and quota[1] is not None:
            notes.append(
                _("Pushed this month: %(used)s of %(limit)s.") % {"used": f"{quota[0]:,}", "limit": f"{quota[1]:,}"}
            )
        return ReplyLimits(max_length=MAX_LENGTH, can_reply_publicly=False, notes=tuple(notes))

    def check_reply(self, connection, context: ReplyContext, text: str, files: list) -> list[str]:
        limits = self.reply_limits(connection, context)
        problems = check_against_limits(limits, context, text, files)
        quota = self.quota(connection)
        if quota is not None and quota[1] is not None and quota[0] >= quota[1] and not self._token_likely(context):
            problems.append(quota_sentence())
        return problems

    def send(self, connection, outbound: OutboundMessage) -> SendResult:
        if outbound.attachments:
            raise SendRejected(_("LINE replies from here are text only; files cannot be sent."))
        if not outbound.text.strip():
            raise SendRejected(_("Write a reply or attach a file."))
        account_id = connection.external_account_id
        chat_id = _chat_id(outbound)
        if outbound.thread_key.startswith("user:") and redis_client().exists(_blocked_key(account_id, chat_id)):
            raise SendRejected(
                _("The customer has blocked this LINE account; LINE will not deliver the reply."), code="blocked"
            )
        messages = [{"type": "text", "text": outbound.text}]
        reply_token = _take_reply_token(account_id, chat_id)
        if reply_token:
            result = self._reply(connection, reply_token, messages, account_id=account_id, chat_id=chat_id)
            if result is not None:
                return result
        return self._push(connection, chat_id, messages, outbound.idempotency_key)

    def _reply(self, connection, reply_token: dict, messages, *, account_id, chat_id) -> SendResult | None:
        """The reply with the token; None when LINE no longer takes the token (then we push)."""
        try:
            _s, body, _h = self._call(
                connection,
                "POST",
                client.api_url("v2/bot/message/reply"),
                json={"replyToken": reply_token["token"], "messages": messages},
            )
        except RateLimited:
            _give_back(account_id, chat_id, reply_token)  # refused, so unused: the retry may still take it
            raise
        except AuthFailed as exc:
            raise AuthFailed(auth_sentence(exc.message), code=exc.code) from exc
        except TransientError as exc:
            if exc.code == "unsent":
                _give_back(account_id, chat_id, reply_token)
                raise
            # The reply may have been delivered, and a reply carries no retry key: resending could post it twice.
            raise SendRejected(
                _(
                    "LINE did not confirm the reply (%(error)s); it may or may not have reached the customer. Check "
                    "the conversation in LINE before sending it again."
                )
                % {"error": exc.message},
                code="uncertain",
            ) from exc
        except SendRejected as exc:
            if "reply token" in (exc.message or "").lower():
                logger.info("LINE refused the reply token of %s; pushing instead", chat_id)
                return None
            raise _rejected(exc) from exc
        return SendResult(platform_message_id=_sent_id(body))

    def _push(self, connection, chat_id: str, messages, idempotency_key: str) -> SendResult:
        headers = {}
        try:
            headers["X-Line-Retry-Key"] = str(uuid.UUID(idempotency_key))
        except ValueError:
            logger.warning("push without a retry key: %r is not a UUID", idempotency_key)
        try:
            status, body, answer = self._call(
                connection,
                "POST",
                client.api_url("v2/bot/message/push"),
                json={"to": chat_id, "messages": messages},
                headers=headers,
                accept=(409,) if headers else (),
            )
        except client.QuotaExhausted as exc:
            quota = self.quota(connection)
            if quota is not None and quota[1] is not None:
                cache.set(_quota_key(connection), [max(quota[0], quota[1]), quota[1]], QUOTA_CACHE_SECONDS)
            raise SendRejected(quota_sentence(), code="quota") from exc
        except AuthFailed as exc:
            raise AuthFailed(auth_sentence(exc.message), code=exc.code) from exc
        except SendRejected as exc:
            raise _rejected(exc) from exc
        cache.delete(_quota_key(connection))  # one more pushed: the page's figure is stale
        if status == 409:
            # "The retry key is already accepted": an earlier attempt of this very reply was delivered.
            logger.info("LINE push with retry key %s was already accepted", headers["X-Line-Retry-Key"])
            message_id = _sent_id(body) or answer.get("x-line-accepted-request-id", "")
            return SendResult(platform_message_id=message_id or headers["X-Line-Retry-Key"])
        return SendResult(platform_message_id=_sent_id(body) or answer.get("x-line-request-id", ""))

    # --- publishing (publish.py) ------------------------------------------------------------------------------
    def publish(self, connection, post: PostContent) -> PublishResult:
        return publish.publish(self, connection, post)

    def publish_limits(self, connection) -> PublishLimits:
        return publish.limits(self.quota(connection))

    def check_post(self, connection, text: str, files: list, *, link: str = "") -> list[str]:
        problems = super().check_post(connection, text, files, link=link)
        quota = self.quota(connection)
        if quota is not None and quota[1] is not None and quota[0] >= quota[1]:
            problems.append(
                _("This LINE account has used its monthly message quota: LINE will not send posts until next month.")
            )
        return problems

    def find_published(self, connection, local_ref, since, *, post=None) -> PublishResult | None:
        return publish.find(connection, local_ref, since)

    # --- agent activity ---------------------------------------------------------------------------------------------
    def agent_activity(self, connection, thread_key: str, activity: str) -> None:
        """LINE shows both in one-on-one chats only: "read" marks the customer's messages read up to the latest
        (`POST /v2/bot/chat/markAsRead` with its markAsReadToken, once); "typing" starts the loading animation
        (`POST /v2/bot/chat/loading/start`), at most once per animation."""
        if not thread_key.startswith("user:"):
            return
        chat_id = thread_key.removeprefix("user:")
        r = redis_client()
        if activity == "read":
            token = r.getdel(_read_key(connection.external_account_id, chat_id))
            if token:
                self._call(
                    connection,
                    "POST",
                    client.api_url("v2/bot/chat/markAsRead"),
                    json={"markAsReadToken": token.decode()},
                    timeout=(2.0, 4.0),
                )
        elif activity == "typing":
            if r.set(f"line:loading:{connection.uuid}:{chat_id}", 1, nx=True, ex=LOADING_SECONDS):
                self._call(
                    connection,
                    "POST",
                    client.api_url("v2/bot/chat/loading/start"),
                    json={"chatId": chat_id, "loadingSeconds": LOADING_SECONDS},
                    timeout=(2.0, 4.0),
                )

    # --- media and profiles ---------------------------------------------------------------------------------------
    def download_media(self, connection, attachment):
        content, content_type = client.download(
            client.data_url(f"v2/bot/message/{attachment.media_id}/content"),
            token=self._token(connection),
            max_bytes=self.max_media_bytes,
        )
        content_type = content_type or attachment.content_type
        filename = attachment.filename
        extension = mimetypes.guess_extension(content_type) if content_type else None
        if extension and not filename.lower().endswith(extension) and filename.startswith(("image-", "video-")):
            filename = filename.rsplit(".", 1)[0] + extension
        return replace(attachment, content=content, content_type=content_type, size=len(content), filename=filename)

    def author_profile(self, connection, author_id):
        if not author_id.startswith("U"):
            return None  # a group or room without the member's id
        try:
            _s, body, _h = self._call(
                connection, "GET", client.api_url(f"v2/bot/profile/{author_id}"), timeout=(2.0, 4.0)
            )
        except SendRejected as exc:
            if exc.code == "404":  # not a friend of the account (a group member who did not add it)
                return None
            raise
        name = str(body.get("displayName") or "")
        if not name:
            return None
        return AuthorProfile(name=name, avatar_url=str(body.get("pictureUrl") or ""))

    # --- connecting -----------------------------------------------------------------------------------------------
    def on_connect(self, connection) -> None:
        # LINE takes only a public HTTPS endpoint; otherwise the admin pastes it in the console (the done page).
        if settings.SITE_URL.startswith("https://"):
            self._call(
                connection,
                "PUT",
                client.api_url("v2/bot/channel/webhook/endpoint"),
                json={"endpoint": webhook_url(connection)},
            )


def bot_info(token: str) -> dict:
    """`GET /v2/bot/info`: userId (the webhooks' `destination`), basicId, displayName, pictureUrl."""
    _s, body, _h = client.call("GET", client.api_url("v2/bot/info"), token=token)
    if not body.get("userId"):
        raise ConnectorError("LINE did not describe the bot")
    return body


def quota_sentence() -> str:
    return _(
        "This LINE account has used its monthly message quota: LINE will not deliver pushed messages until next "
        "month or until the plan is raised. A reply within a minute of the customer's message is still free."
    )


def auth_sentence(detail: str) -> str:
    return _("LINE refused the channel access token (expired or revoked): %(error)s") % {"error": detail}


def _rejected(exc: SendRejected) -> SendRejected:
    if exc.code == "403":
        sentence = _("LINE does not allow this account to send this message: %(error)s")
    else:
        sentence = _("LINE refused the message: %(error)s")
    return SendRejected(sentence % {"error": exc.message}, code=exc.code)


def _chat_id(outbound: OutboundMessage) -> str:
    for prefix in ("user:", "group:", "room:"):
        if outbound.thread_key.startswith(prefix):
            return outbound.thread_key.removeprefix(prefix)
    return outbound.recipient_id


def _sent_id(body: dict) -> str:
    sent = body.get("sentMessages")
    if isinstance(sent, list) and sent and isinstance(sent[0], dict):
        return str(sent[0].get("id") or "")
    return ""


def _take_reply_token(account_id: str, chat_id: str) -> dict | None:
    """The latest reply token of this chat, removed as it is read (GETDEL), so it is used once; None when expired."""
    held = redis_client().getdel(_reply_key(account_id, chat_id))
    if held is None:
        return None
    token = json.loads(held)
    if time.time() * 1000 - token.get("ts", 0) >= REPLY_TOKEN_SECONDS * 1000:
        return None
    return token


def _give_back(account_id: str, chat_id: str, token: dict) -> None:
    left_ms = int(REPLY_TOKEN_SECONDS * 1000 - (time.time() * 1000 - token.get("ts", 0)))
    if left_ms > 0:
        redis_client().set(_reply_key(account_id, chat_id), json.dumps(token), px=left_ms, nx=True)
