"""A Telegram bot (Bot API). With a public HTTPS `SITE_URL` the bot's updates are pushed to
`/webhooks/telegram/<connection uuid>/` (setWebhook with a generated `secret_token`, checked in constant time);
otherwise the webhook is deleted and the connection polls getUpdates with the offset rule. Never both: a
webhook-mode connection's poll does nothing, and connecting again (the connect form) switches the mode with
setWebhook or deleteWebhook.

Media arrive as file ids: `download_media` fetches them (getFile, then the file URL, which carries the token and is
therefore never stored). Replies are sendMessage, or sendPhoto / sendDocument uploads with the text as caption."""

import dataclasses
import hmac
import json
import logging
import time

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels_integrations.connector import (
    AuthFailed,
    Connector,
    ConnectorError,
    OutboundFile,
    OutboundMessage,
    PolledEvent,
    PollResult,
    RateLimited,
    ReplyContext,
    ReplyLimits,
    SendRejected,
    SendResult,
    TransientError,
    WebhookRejected,
)
from channels_integrations.inbound import AuthorProfile
from channels_integrations.providers.telegram import client, schemas

logger = logging.getLogger("tsunagu.telegram")

MB = 1024 * 1024
MAX_LENGTH = 4096  # sendMessage `text`: 1-4096 characters after entity parsing
CAPTION_LENGTH = 1024  # sendPhoto / sendDocument `caption`: 0-1024 characters
POLL_LIMIT = 100  # getUpdates `limit`: 1-100
# getUpdates long-polls up to `timeout` seconds, and the framework's connection_poll holds the connection's row lock
# for the whole call (one poller per connection). A short wait keeps that lock brief and the poll task cheap; an
# update arriving meanwhile is still answered at once, and the next poll follows after `poll_interval_seconds`.
POLL_TIMEOUT = 2
MAX_FILE_BYTES = 20 * MB  # getFile: "bots can download files of up to 20MB in size"
PHOTO_BYTES = 10 * MB  # sendPhoto: "The photo must be at most 10 MB in size"
UPLOAD_BYTES = 50 * MB  # other files sent by multipart upload: up to 50 MB
PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")
ATTACHMENT_TYPES = ("image/*", "video/*", "audio/*", "application/*", "text/*")  # sendDocument takes any file
WEBHOOK_CHECK = 10 * 60  # seconds between getWebhookInfo checks of a webhook-mode connection
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ["message", "edited_message"]


def webhook_mode() -> bool:
    return settings.SITE_URL.startswith("https://")


class TelegramConnector(Connector):
    platform = "telegram"
    label = "Telegram"
    receives_webhooks = True
    polls = True  # only connections in polling mode (no public HTTPS URL) do anything
    poll_interval_seconds = 5
    connect_form = "channels_integrations.providers.telegram.connect.BotTokenForm"
    connect_label = gettext_lazy("Connect a Telegram bot")
    idempotent_send = False  # sendMessage has no idempotency key: a retried send could post twice
    # A bot can write only to someone who has started it: an agent answers, never starts.
    can_initiate = False
    downloads_media = True
    max_media_bytes = MAX_FILE_BYTES
    fetches_profiles = True

    # --- webhooks -------------------------------------------------------------------------------------------------
    def verify_webhook(self, request, connection):
        expected = connection.credentials.get("webhook_secret", "") if connection else ""
        given = request.headers.get(SECRET_HEADER)
        if given is None:
            raise WebhookRejected("Request did not include the secret token", status=403)
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            raise WebhookRejected("Request had the wrong secret token", status=403)

    def split_webhook(self, body):
        return schemas.split(body)

    def parse_event(self, payload, *, account_id):
        return schemas.parse(payload)

    # --- polling --------------------------------------------------------------------------------------------------
    def poll(self, connection, cursor):
        if connection.config.get("mode") != "polling":
            return PollResult(events=[], cursor=self._check_webhook(connection, cursor))
        token = self._token(connection)
        params = {"limit": POLL_LIMIT, "timeout": POLL_TIMEOUT, "allowed_updates": ALLOWED_UPDATES}
        if cursor.get("offset"):
            # "Must be greater by one than the highest among the identifiers of previously received updates": the
            # updates before it are confirmed — only now, after the previous batch was stored with its cursor.
            params["offset"] = int(cursor["offset"])
        updates = client.call(token, "getUpdates", http_timeout=(5.0, POLL_TIMEOUT + 10.0), **params) or []
        events, offset = [], int(cursor.get("offset") or 0)
        for update in updates:
            if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
                continue
            # The update exactly as Telegram sent it (the webhook stores the same bytes' meaning): media are ids.
            events.append(PolledEvent(event_key=schemas.event_key(update), payload=_dumps(update)))
            offset = max(offset, update["update_id"] + 1)
        return PollResult(events=events, cursor={"offset": offset}, more=len(updates) >= POLL_LIMIT)

    def _check_webhook(self, connection, cursor: dict) -> dict:
        """A webhook-mode connection receives nothing when its token was revoked or its webhook removed, and would
        stay silent: every WEBHOOK_CHECK seconds getWebhookInfo proves the token (401 → AuthFailed → needs
        re-authorization) and the webhook is set again when it no longer points here. Never getUpdates."""
        now = time.time()
        if now - float(cursor.get("webhook_checked_at") or 0) < WEBHOOK_CHECK:
            return cursor
        try:
            info = client.call(self._token(connection), "getWebhookInfo")
            if isinstance(info, dict) and info.get("url") != self._webhook_url(connection) and webhook_mode():
                logger.warning(
                    "connection %s: the bot's webhook was changed or removed; setting it again", connection.pk
                )
                self.on_connect(connection)
        except SendRejected as exc:  # a refused setWebhook (the address changed): say so, try again next check
            logger.warning("connection %s: the webhook could not be set again: %s", connection.pk, exc.message)
        return {**cursor, "webhook_checked_at": int(now)}

    # --- media ----------------------------------------------------------------------------------------------------
    def download_media(self, connection, attachment):
        """getFile (the file's path, valid for an hour), then the download, capped at 20 MB as Telegram caps bots.
        The file URL holds the bot token: it is used once here and kept nowhere."""
        if attachment.size > MAX_FILE_BYTES:
            raise SendRejected(f"{attachment.filename} is over Telegram's 20 MB download limit for bots")
        token = self._token(connection)
        info = client.call(token, "getFile", file_id=attachment.media_id)
        path = info.get("file_path", "") if isinstance(info, dict) else ""
        if not path:
            raise SendRejected("getFile gave no file_path")
        content = client.download(token, path, max_bytes=MAX_FILE_BYTES)
        filename = attachment.filename
        if "." not in filename and "." in path.rsplit("/", 1)[-1]:
            filename += "." + path.rsplit(".", 1)[-1]
        return dataclasses.replace(attachment, content=content, size=len(content), filename=filename)

    # --- profiles -------------------------------------------------------------------------------------------------
    def author_profile(self, connection, author_id):
        """getChat on the customer's private chat: name and username. No picture: a Telegram photo is a file whose
        only URL carries the bot token, which must never reach a browser or the database."""
        try:
            chat = client.call(self._token(connection), "getChat", chat_id=author_id, http_timeout=(2.0, 4.0))
        except SendRejected as exc:  # "chat not found": one unknown customer must not leave the others nameless
            logger.info("no profile for %s: %s", author_id, exc.message)
            return None
        if not isinstance(chat, dict):
            return None
        name = " ".join(p for p in (chat.get("first_name"), chat.get("last_name")) if p) or chat.get("title", "")
        handle = chat.get("username", "")
        if not (name or handle):
            return None
        return AuthorProfile(name=name or handle, handle=handle)

    # --- replies --------------------------------------------------------------------------------------------------
    def reply_limits(self, connection, context: ReplyContext) -> ReplyLimits:
        return ReplyLimits(
            max_length=MAX_LENGTH,
            attachment_types=ATTACHMENT_TYPES,
            max_attachment_bytes=UPLOAD_BYTES,
            can_reply_publicly=False,
            notes=(
                _("Telegram: text replies up to %(max)s characters; the bot can only answer people who started it.")
                % {"max": f"{MAX_LENGTH:,}"},
                _(
                    "Files up to %(files)d MB; pictures up to %(photos)d MB are shown as photos, larger ones are sent "
                    "as files. A text of up to %(caption)s characters becomes the first file's caption."
                )
                % {"files": UPLOAD_BYTES // MB, "photos": PHOTO_BYTES // MB, "caption": f"{CAPTION_LENGTH:,}"},
            ),
        )

    def send(self, connection, outbound: OutboundMessage) -> SendResult:
        """sendMessage, or one upload per file (the text as the first one's caption when it fits, else a message
        first). Telegram has no idempotency key: once part of a reply went out, a failure of the rest is final
        (SendRejected) so that a retry cannot post the first part twice."""
        token = self._token(connection)
        # The chat the conversation is in (a group's, or the customer's private chat): never the author's own id,
        # which in a group would write to the member privately.
        chat_id = outbound.thread_key.removeprefix("chat:") if outbound.thread_key.startswith("chat:") else ""
        chat_id = chat_id or outbound.recipient_id
        reply = None
        if outbound.reply_to_platform_id.startswith(f"{chat_id}:"):
            reply = {
                "message_id": int(outbound.reply_to_platform_id.rsplit(":", 1)[1]),
                "allow_sending_without_reply": True,
            }
        files = list(outbound.attachments)
        as_caption = bool(files) and len(outbound.text) <= CAPTION_LENGTH
        sent: list[str] = []
        try:
            if outbound.text and not as_caption:
                sent.append(self._send_one(token, chat_id, "sendMessage", reply, text=outbound.text))
            for file in files:
                caption = outbound.text if as_caption and not sent else ""
                sent.append(self._send_file(token, chat_id, file, caption, None if sent else reply))
        except (TransientError, SendRejected) as exc:
            if not sent:
                raise
            raise SendRejected(
                _(
                    "Only part of the reply reached Telegram (%(sent)d of %(total)d messages): %(error)s. Check the "
                    "conversation before sending the rest again."
                )
                % {"sent": len(sent), "total": len(files) + (0 if as_caption else 1), "error": exc.message},
                code=exc.code,
            ) from None
        return SendResult(platform_message_id=sent[0])

    def _send_file(self, token: str, chat_id: str, file: OutboundFile, caption: str, reply) -> str:
        photo = file.content_type in PHOTO_TYPES and len(file.content) <= PHOTO_BYTES
        field = "photo" if photo else "document"
        return self._send_one(
            token,
            chat_id,
            "sendPhoto" if photo else "sendDocument",
            reply,
            files={field: (file.filename, file.content, file.content_type or "application/octet-stream")},
            caption=caption or None,
        )

    def _send_one(self, token: str, chat_id: str, method: str, reply, **params) -> str:
        if reply:
            params["reply_parameters"] = reply
        try:
            message = client.call(token, method, chat_id=chat_id, **params)
        except RateLimited:
            raise
        except SendRejected as exc:
            raise SendRejected(_refusal(exc), code=exc.code) from None
        if not isinstance(message, dict) or "message_id" not in message:
            raise SendRejected(_("Telegram did not return a message id."))
        return f"{chat_id}:{message['message_id']}"

    # --- connecting -----------------------------------------------------------------------------------------------
    def on_connect(self, connection) -> None:
        """Webhook mode: setWebhook with the connection's secret (pending updates are then pushed). Polling mode:
        deleteWebhook, since getUpdates does not work while a webhook is set (pending updates stay for the poller).
        Connecting again switches between the two."""
        token = self._token(connection)
        if connection.config.get("mode") == "webhook":
            client.call(
                token,
                "setWebhook",
                url=self._webhook_url(connection),
                secret_token=connection.credentials["webhook_secret"],
                allowed_updates=ALLOWED_UPDATES,
            )
        else:
            client.call(token, "deleteWebhook", drop_pending_updates=False)

    def _webhook_url(self, connection) -> str:
        return f"{settings.SITE_URL.rstrip('/')}/webhooks/telegram/{connection.uuid}/"

    def _token(self, connection) -> str:
        token = connection.credentials.get("bot_token", "")
        if not token:
            raise AuthFailed(_("No bot token is stored for this channel."))
        return token


def _refusal(exc: SendRejected) -> str:
    """Telegram's refusal as a sentence an agent understands (Telegram's own description is English jargon)."""
    description = exc.message.lower()
    if exc.code == "403":
        if "kicked" in description or "not a member" in description:
            return _("The bot is no longer a member of this group; Telegram will not deliver the reply.")
        if "deactivated" in description:
            return _("The customer's Telegram account was deleted; Telegram will not deliver the reply.")
        return _("The customer has blocked the bot or never started it; Telegram will not deliver the reply.")
    if "chat not found" in description:
        return _("Telegram does not know this chat any more; the reply was not delivered.")
    if "upgraded to a supergroup" in description or "migrate" in description:
        return _("This group became a supergroup on Telegram; answer the group's next message instead.")
    if "too long" in description or "too big" in description:
        return _("Telegram refused the reply as too long or too large.")
    return _("Telegram refused the reply: %(error)s") % {"error": exc.message}


def _dumps(update: dict) -> bytes:
    return json.dumps(update, ensure_ascii=False).encode()


def check_token(token: str) -> dict:
    """getMe: the bot behind a token, or ConnectorError."""
    bot = client.call(token, "getMe")
    if not isinstance(bot, dict) or not bot.get("is_bot", True) or "id" not in bot:
        raise ConnectorError("getMe did not describe a bot")
    return bot
