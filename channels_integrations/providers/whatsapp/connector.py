"""WhatsApp Business (Cloud API): one business phone number per connection (`external_account_id` is its phone
number id), webhooks through Meta's app-level `/webhooks/meta/` (`object: whatsapp_business_account`; the same app,
verify token and `X-Hub-Signature-256` as Messenger), replies by the Graph API with a system-user token.

The customer-service window: free text only within 24 hours of the customer's last message; after it only an
approved template (listed from the WhatsApp Business account) is delivered."""

import dataclasses
import logging
import re
from datetime import timedelta

from django.core.cache import cache
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels_integrations.connector import (
    AuthFailed,
    Connector,
    ConnectorError,
    OutboundMessage,
    ReplyContext,
    ReplyLimits,
    ReplyTemplate,
    SendRejected,
    SendResult,
    check_against_limits,
)
from channels_integrations.providers.meta.connector import MetaConnector
from channels_integrations.providers.whatsapp import client, schemas

logger = logging.getLogger("tsunagu.whatsapp")

WINDOW = timedelta(hours=24)
MAX_TEXT = 4096
MB = 1024 * 1024
# Cloud API media (whatsapp/cloud-api/reference/media#supported-media-types): images 5 MB, audio and video 16 MB,
# documents 100 MB (we send at most the 16 MB every type accepts, images at most 5 MB).
IMAGE_TYPES = ("image/jpeg", "image/png")
SEND_TYPES = (
    *IMAGE_TYPES,
    "video/mp4",
    "video/3gpp",
    "audio/aac",
    "audio/amr",
    "audio/mpeg",
    "audio/mp4",
    "audio/ogg",
    "application/pdf",
    "text/plain",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
)
IMAGE_BYTES = 5 * MB
MEDIA_BYTES = 16 * MB
TEMPLATES_CACHE_SECONDS = 120
FACTS_CACHE_SECONDS = 300
PLACEHOLDER = re.compile(r"\{\{\s*([\w]+)\s*\}\}")


class WhatsAppConnector(Connector):
    platform = "whatsapp"
    label = "WhatsApp"
    receives_webhooks = True
    app_level_webhook = "meta"
    webhook_objects = (schemas.OBJECT,)
    connects_with_oauth = False
    connect_form = "channels_integrations.providers.whatsapp.connect.WhatsAppConnectForm"
    connect_label = gettext_lazy("Connect a WhatsApp number")
    # No idempotency key on the Send API: a send interrupted mid-call is marked failed, never repeated.
    idempotent_send = False
    # The sender's name arrives with every message (contacts[].profile.name): no lookup to make.
    fetches_profiles = False
    downloads_media = True

    # --- webhooks: Meta's, shared by every connector of /webhooks/meta/ (one app, one secret, one verify token) ----
    handshake = MetaConnector.handshake
    verify_webhook = MetaConnector.verify_webhook

    def webhook_route(self, body):
        return schemas.webhook_object(body)

    def split_webhook(self, body):
        return schemas.split(body)

    def parse_event(self, payload, *, account_id):
        return schemas.parse(payload, account_id=account_id)

    # --- media ----------------------------------------------------------------------------------------------------
    def download_media(self, connection, attachment):
        token = _token(connection)
        # GET /{media-id} gives a short-lived URL (and the type and size), which the same token downloads.
        info = client.call("GET", client.graph_url(attachment.media_id), token=token)
        if int(info.get("file_size") or 0) > self.max_media_bytes:
            raise ConnectorError(f"the media file is larger than {self.max_media_bytes} bytes", code="too_large")
        if not info.get("url"):
            raise ConnectorError("WhatsApp gave no URL for the media file")
        content, content_type = client.download(info["url"], token=token, max_bytes=self.max_media_bytes)
        return dataclasses.replace(
            attachment,
            content=content,
            content_type=str(info.get("mime_type") or content_type or attachment.content_type).split(";")[0].strip(),
            size=len(content),
        )

    # --- replies --------------------------------------------------------------------------------------------------
    def reply_limits(self, connection, context: ReplyContext) -> ReplyLimits:
        last = context.last_customer_message_at
        window_ends = last + WINDOW if last else None
        closed = window_ends is None or context.now > window_ends
        notes = [
            _("WhatsApp: free replies up to %(max)s characters within 24 hours of the customer's last message.")
            % {"max": f"{MAX_TEXT:,}"},
        ]
        if closed:
            notes.append(
                _("The 24 hours have passed: only an approved message template can be sent until the customer writes.")
            )
        return ReplyLimits(
            max_length=MAX_TEXT,
            attachment_types=() if closed else SEND_TYPES,
            max_attachment_bytes=MEDIA_BYTES,
            window_ends_at=window_ends,
            can_reply_publicly=False,
            notes=tuple(notes),
            templates_only=closed,
        )

    def check_reply(self, connection, context: ReplyContext, text: str, files: list) -> list[str]:
        limits = self.reply_limits(connection, context)
        if limits.templates_only:
            return [
                _(
                    "More than 24 hours have passed since the customer's last message: WhatsApp delivers only an "
                    "approved template now. Choose a template instead of writing a reply."
                )
            ]
        problems = check_against_limits(limits, context, text, files)
        for filename, content_type, size in files:  # images have a lower ceiling than audio and video
            if content_type in IMAGE_TYPES and size > IMAGE_BYTES:
                problems.append(
                    _("%(name)s is larger than this channel accepts (%(max)d MB).")
                    % {"name": filename, "max": IMAGE_BYTES // MB}
                )
        return problems

    def reply_templates(self, connection) -> list[ReplyTemplate]:
        """The account's APPROVED templates whose variables are all in the body (a header with an image or a
        variable, or buttons with variables, need values the reply box does not ask for). Remembered briefly: the
        reply box asks on every conversation opened."""
        key = f"whatsapp:templates:{connection.pk}:{connection.config.get('waba_id', '')}"
        cached = cache.get(key)
        if cached is not None:
            return [ReplyTemplate(**t) for t in cached]
        waba_id = connection.config.get("waba_id", "")
        if not waba_id:
            raise ConnectorError(_("This WhatsApp connection has no WhatsApp Business account id."))
        templates, after = [], ""
        for _page in range(10):  # 100 a page; an account has at most a few hundred
            params = {"fields": "name,language,status,category,components", "limit": 100}
            if after:
                params["after"] = after
            body = client.call(
                "GET", client.graph_url(f"{waba_id}/message_templates"), token=_token(connection), params=params
            )
            templates.extend(t for t in (_template(raw) for raw in body.get("data", [])) if t is not None)
            after = ((body.get("paging") or {}).get("cursors") or {}).get("after", "")
            if not (body.get("paging") or {}).get("next") or not after:
                break
        templates.sort(key=lambda t: (t.name, t.language))
        cache.set(key, [dataclasses.asdict(t) for t in templates], TEMPLATES_CACHE_SECONDS)
        return templates

    def send(self, connection, outbound: OutboundMessage) -> SendResult:
        token = _token(connection)
        url = client.graph_url(f"{connection.external_account_id}/messages")
        to = outbound.recipient_id or outbound.thread_key.removeprefix("dm:")
        base = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
        message_ids = []
        if outbound.template is not None:
            template: dict = {"name": outbound.template.name, "language": {"code": outbound.template.language}}
            if outbound.template.parameters:
                template["components"] = [
                    {"type": "body", "parameters": [{"type": "text", "text": p} for p in outbound.template.parameters]}
                ]
            body = client.call("POST", url, token=token, json={**base, "type": "template", "template": template})
            message_ids.append(_message_id(body))
        elif outbound.text:
            body = client.call(
                "POST",
                url,
                token=token,
                json={**base, "type": "text", "text": {"body": outbound.text, "preview_url": "http" in outbound.text}},
            )
            message_ids.append(_message_id(body))
        for file in outbound.attachments:
            # Upload first (POST /{phone-number-id}/media), then send the media by its id.
            uploaded = client.call(
                "POST",
                client.graph_url(f"{connection.external_account_id}/media"),
                token=token,
                data={"messaging_product": "whatsapp", "type": file.content_type},
                files={"file": (file.filename, file.content, file.content_type)},
            )
            kind = _media_kind(file.content_type)
            media: dict = {"id": str(uploaded.get("id", ""))}
            if kind == "document":
                media["filename"] = file.filename
            body = client.call("POST", url, token=token, json={**base, "type": kind, kind: media})
            message_ids.append(_message_id(body))
        if not message_ids or not message_ids[0]:
            raise SendRejected(_("WhatsApp did not return a message id."))
        return SendResult(platform_message_id=message_ids[0])

    # --- the account ----------------------------------------------------------------------------------------------
    def account_facts(self, connection) -> list[tuple[str, str]]:
        # Remembered briefly: the channel's page asks on every view, and Meta changes these rarely.
        key = f"whatsapp:facts:{connection.pk}:{connection.external_account_id}"
        body = cache.get(key)
        if body is None:
            body = client.call(
                "GET",
                client.graph_url(connection.external_account_id),
                token=_token(connection),
                params={"fields": "display_phone_number,verified_name,quality_rating,messaging_limit_tier"},
            )
            cache.set(key, body, FACTS_CACHE_SECONDS)
        facts = [
            (_("Phone number"), str(body.get("display_phone_number", ""))),
            (_("Display name"), str(body.get("verified_name", ""))),
        ]
        if body.get("quality_rating"):
            facts.append((_("Quality rating"), str(body["quality_rating"])))
        if body.get("messaging_limit_tier"):
            facts.append((_("Messaging limit"), str(body["messaging_limit_tier"])))
        return [(label, value) for label, value in facts if value]

    def on_connect(self, connection) -> None:
        # The app receives the account's webhooks only once it is subscribed to the WhatsApp Business account.
        waba_id = connection.config.get("waba_id", "")
        if waba_id:
            client.call("POST", client.graph_url(f"{waba_id}/subscribed_apps"), token=_token(connection))

    def refresh_credentials(self, connection):
        # A system user's token does not expire; a revoked one answers 190 on the next call, which marks the
        # connection for re-authorization (AuthFailed) and tells the admins.
        return None


def _token(connection) -> str:
    token = connection.credentials.get("access_token", "")
    if not token:
        raise AuthFailed(_("No access token is stored for this channel."))
    return token


def _message_id(body: dict) -> str:
    messages = body.get("messages") or []
    return str(messages[0].get("id", "")) if messages and isinstance(messages[0], dict) else ""


def _media_kind(content_type: str) -> str:
    major = content_type.split("/")[0]
    return major if major in ("image", "video", "audio") else "document"


def _template(raw: dict) -> ReplyTemplate | None:
    if not isinstance(raw, dict) or raw.get("status") != "APPROVED" or not raw.get("name"):
        return None
    body, other_variables = "", False
    for component in raw.get("components") or []:
        kind = str(component.get("type", "")).upper()
        if kind == "BODY":
            body = str(component.get("text", ""))
        elif kind == "HEADER" and (
            component.get("format", "TEXT") != "TEXT" or PLACEHOLDER.search(component.get("text", ""))
        ):
            other_variables = True
        elif kind == "BUTTONS" and any(
            PLACEHOLDER.search(str(b.get("url", ""))) for b in component.get("buttons") or []
        ):
            other_variables = True
    if other_variables:
        return None
    names = list(dict.fromkeys(PLACEHOLDER.findall(body)))
    if not all(n.isdigit() for n in names):
        return None  # named parameters ({{order_id}}) are sent with their names, which the reply box does not know
    return ReplyTemplate(
        name=str(raw["name"]),
        language=str(raw.get("language", "")),
        body=body,
        parameters=len(names),
        category=str(raw.get("category", "")),
    )
