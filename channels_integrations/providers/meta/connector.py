"""Facebook pages (Messenger + comments on the page's posts) and Instagram professional accounts (DMs + comments),
through Meta's app-level webhook `/webhooks/meta/` and the Graph API.

Instagram uses the Facebook Login flavour of the API: the Instagram account is reached through its linked page, so
sends go to graph.facebook.com `/{page_id}/messages` with the page token, and webhooks arrive with object
"instagram" and the Instagram account id in `entry.id`."""

import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.http import HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels_integrations.connector import (
    AccountChoice,
    AuthFailed,
    Connector,
    OAuthSettings,
    OutboundMessage,
    PostContent,
    PublishLimits,
    PublishResult,
    ReplyContext,
    ReplyLimits,
    SendRejected,
    SendResult,
    WebhookRejected,
)
from channels_integrations.inbound import AuthorProfile
from channels_integrations.providers.meta import client, listening, publish, schemas

logger = logging.getLogger("tsunagu.meta")

WINDOW = timedelta(hours=24)
PRIVATE_REPLY_WINDOW = timedelta(days=7)
MULTI_ID_LIMIT = 50  # ids per multiple-id read
MB = 1024 * 1024
# Instagram DMs (instagram-messaging/features/send-message): images png/jpeg up to 8 MB; video mp4/ogg/avi/mov/webm
# and audio aac/m4a/wav/mp4 up to 25 MB.
INSTAGRAM_IMAGE_TYPES = ("image/png", "image/jpeg")
INSTAGRAM_DM_TYPES = (
    *INSTAGRAM_IMAGE_TYPES,
    "video/mp4",
    "video/ogg",
    "video/x-msvideo",
    "video/avi",
    "video/quicktime",
    "video/webm",
    "audio/aac",
    "audio/x-aac",
    "audio/mp4",
    "audio/x-m4a",
    "audio/m4a",
    "audio/wav",
    "audio/x-wav",
    "audio/wave",
)
INSTAGRAM_IMAGE_BYTES = 8 * MB
INSTAGRAM_MEDIA_BYTES = 25 * MB
SCOPES = (
    "pages_show_list",
    "pages_messaging",
    "pages_manage_metadata",
    "pages_read_engagement",
    "pages_manage_engagement",
    "instagram_basic",
    "instagram_manage_messages",
    "instagram_manage_comments",
    "pages_manage_posts",  # publishing on the page
    "instagram_content_publish",  # publishing on Instagram
)


class MetaConnector(Connector):
    receives_webhooks = True
    app_level_webhook = "meta"
    connects_with_oauth = True
    can_publish = True
    fetches_profiles = True
    # The Send API takes only a page-scoped id, which exists once the person has written to the page, and delivers a
    # message only within 24 hours of their last one (HUMAN_AGENT: 7 days, with Meta's permission); a comment gets
    # one private reply. All of those answer the customer's own message, in its ticket: nothing starts here.
    can_initiate = False
    dm_max_length = 2000
    comment_max_length = 8000
    image_bytes = 25 * 1024 * 1024
    instagram = False

    # --- webhooks -------------------------------------------------------------------------------------------------
    def handshake(self, request, connection):
        mode, token = request.GET.get("hub.mode"), request.GET.get("hub.verify_token")
        challenge = request.GET.get("hub.challenge")
        if not mode or token is None or challenge is None:
            raise WebhookRejected("hub.mode, hub.verify_token and hub.challenge are required", status=400)
        expected = settings.META_VERIFY_TOKEN
        if mode != "subscribe" or not expected or not hmac.compare_digest(token.encode(), expected.encode()):
            raise WebhookRejected("wrong verify token", status=403)
        return HttpResponse(challenge, content_type="text/plain")

    def verify_webhook(self, request, connection):
        header = request.headers.get("X-Hub-Signature-256", "")
        if not header:
            raise WebhookRejected("X-Hub-Signature-256 is missing", status=401)
        secret = settings.META_APP_SECRET
        if not secret:
            logger.error("META_APP_SECRET is not set: every Meta webhook is rejected")
            raise WebhookRejected("the app secret is not configured", status=403)
        expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, header.removeprefix("sha256=").strip().lower()):
            raise WebhookRejected("signature mismatch", status=403)

    def split_webhook(self, body):
        return schemas.split(body)

    def webhook_route(self, body):
        return schemas.webhook_object(body)

    def parse_event(self, payload, *, account_id):
        return schemas.parse(payload, account_id=account_id)

    # --- replies --------------------------------------------------------------------------------------------------
    def reply_limits(self, connection, context: ReplyContext) -> ReplyLimits:
        name = "Instagram" if self.instagram else "Messenger"
        if context.kind in ("comment", "mention"):
            private_ok = not context.already_replied_privately and (
                context.last_customer_message_at is None
                or context.now <= context.last_customer_message_at + PRIVATE_REPLY_WINDOW
            )
            max_length = 2200 if self.instagram else self.comment_max_length
            return ReplyLimits(
                max_length=max_length if context.is_public else self.dm_max_length,
                can_reply_publicly=True,
                can_reply_privately=private_ok,
                notes=(
                    _("A public reply appears under the comment for everyone (up to %(max)s characters).")
                    % {"max": f"{max_length:,}"},
                    _("A private reply is sent once per comment, within 7 days of it."),
                ),
            )
        window_ends = context.last_customer_message_at + WINDOW if context.last_customer_message_at else None
        return ReplyLimits(
            max_length=self.dm_max_length,
            attachment_types=INSTAGRAM_DM_TYPES
            if self.instagram
            else ("image/*", "video/*", "audio/*", "application/pdf"),
            max_attachment_bytes=INSTAGRAM_MEDIA_BYTES if self.instagram else self.image_bytes,
            window_ends_at=window_ends,
            can_reply_publicly=False,
            notes=(
                _("%(name)s: replies up to %(max)s characters, within 24 hours of the customer's last message.")
                % {"name": name, "max": f"{self.dm_max_length:,}"},
            ),
        )

    def check_reply(self, connection, context: ReplyContext, text: str, files: list) -> list[str]:
        problems = super().check_reply(connection, context, text, files)
        if self.instagram and context.kind not in ("comment", "mention"):
            for filename, content_type, size in files:  # images have a lower ceiling than video and audio
                if content_type in INSTAGRAM_IMAGE_TYPES and size > INSTAGRAM_IMAGE_BYTES:
                    problems.append(
                        _("%(name)s is larger than this channel accepts (%(max)d MB).")
                        % {"name": filename, "max": INSTAGRAM_IMAGE_BYTES // MB}
                    )
        return problems

    def _messages_url(self, connection) -> str:
        page_id = connection.credentials.get("page_id") or connection.external_account_id
        return client.graph_url(f"{page_id}/messages")

    def send(self, connection, outbound: OutboundMessage) -> SendResult:
        token = connection.credentials.get("access_token", "")
        if not token:
            raise AuthFailed(_("No access token is stored for this channel."))
        if outbound.kind in ("comment", "mention") and outbound.is_public:
            path = f"{outbound.reply_to_platform_id}/" + ("replies" if self.instagram else "comments")
            body = client.call("POST", client.graph_url(path), token=token, data={"message": outbound.text})
            return SendResult(platform_message_id=str(body.get("id", "")))
        if outbound.kind in ("comment", "mention"):
            recipient = {"comment_id": outbound.reply_to_platform_id}
        else:
            recipient = {"id": outbound.recipient_id or outbound.thread_key.removeprefix("dm:")}
        message_id = ""
        # Every message of the reply carries our reference: Meta echoes `metadata` back (message_echoes), so the
        # echo of an attachment is matched to the stored reply instead of becoming a second outbound message.
        metadata = schemas.LOCAL_REF_PREFIX + outbound.local_ref
        if outbound.text:
            body = client.call(
                "POST",
                self._messages_url(connection),
                token=token,
                json={
                    "recipient": recipient,
                    "messaging_type": "RESPONSE",
                    "message": {"text": outbound.text, "metadata": metadata},
                },
            )
            message_id = str(body.get("message_id", ""))
        for file in outbound.attachments:
            kind = file.content_type.split("/")[0]
            body = client.call(
                "POST",
                self._messages_url(connection),
                token=token,
                data={
                    "recipient": json.dumps(recipient),
                    "messaging_type": "RESPONSE",
                    "message": json.dumps(
                        {
                            "attachment": {
                                "type": kind if kind in ("image", "video", "audio") else "file",
                                "payload": {"is_reusable": False},
                            },
                            "metadata": metadata,
                        }
                    ),
                },
                files={"filedata": (file.filename, file.content, file.content_type)},
            )
            message_id = message_id or str(body.get("message_id", ""))
        if not message_id:
            raise SendRejected(_("Meta did not return a message id."))
        return SendResult(platform_message_id=message_id)

    # --- listening --------------------------------------------------------------------------------------------------
    listens = True

    def search_mentions(self, connection, *, hashtags, cursor):
        if self.instagram:
            return listening.search_instagram(connection, hashtags=hashtags, cursor=cursor)
        return listening.search_facebook(connection, cursor=cursor)  # Facebook has no public hashtag search

    # --- publishing (publish.py) -----------------------------------------------------------------------------------
    finds_published = True

    def publish(self, connection, post: PostContent) -> PublishResult:
        if self.instagram:
            return publish.publish_instagram(connection, post)
        return publish.publish_facebook(connection, post)

    def publish_limits(self, connection) -> PublishLimits:
        return publish.instagram_limits() if self.instagram else publish.facebook_limits()

    def check_post(self, connection, text: str, files: list, *, link: str = "") -> list[str]:
        problems = super().check_post(connection, text, files, link=link)
        return problems + (publish.instagram_problems(text) if self.instagram else [])

    def find_published(self, connection, local_ref, since, *, post=None) -> PublishResult | None:
        if self.instagram:
            return publish.find_instagram(connection, local_ref, since, post)
        return publish.find_facebook(connection, local_ref, since, post)

    def account_facts(self, connection):
        if not self.instagram:
            return []
        limit = publish.publishing_limit(connection, cached=True)
        if limit is None or not limit[1]:
            return [(_("Posts published in the last 24 hours"), _("Instagram did not answer; try again later."))]
        return [
            (
                _("Posts published in the last 24 hours"),
                _("%(used)d of %(limit)d (Instagram's limit)") % {"used": limit[0], "limit": limit[1]},
            )
        ]

    # --- OAuth ----------------------------------------------------------------------------------------------------
    def oauth_settings(self) -> OAuthSettings:
        version = settings.META_GRAPH_VERSION
        return OAuthSettings(
            authorization_url=f"{settings.META_DIALOG_URL.rstrip('/')}/{version}/dialog/oauth",
            token_url=client.graph_url("oauth/access_token"),
            scopes=SCOPES,
            client_id=settings.META_APP_ID,
            client_secret=settings.META_APP_SECRET,
        )

    def _long_lived(self, user_token: str) -> tuple[str, datetime | None]:
        body = client.call(
            "GET",
            client.graph_url("oauth/access_token"),
            token=user_token,
            params={
                "grant_type": "fb_exchange_token",
                "client_id": settings.META_APP_ID,
                "client_secret": settings.META_APP_SECRET,
                "fb_exchange_token": user_token,
            },
        )
        expires = body.get("expires_in")
        return body["access_token"], (datetime.now(UTC) + timedelta(seconds=int(expires))) if expires else None

    def oauth_accounts(self, token: dict) -> list[AccountChoice]:
        user_token, _expires = self._long_lived(token["access_token"])
        body = client.call(
            "GET",
            client.graph_url("me/accounts"),
            token=user_token,
            params={"fields": "id,name,access_token,instagram_business_account{id,username}"},
        )
        choices = []
        for page in body.get("data", []):
            choices.append(
                AccountChoice(
                    platform="facebook",
                    external_account_id=str(page["id"]),
                    display_name=page["name"],
                    credentials={"access_token": page["access_token"], "user_token": user_token},
                )
            )
            ig = page.get("instagram_business_account")
            if ig:
                choices.append(
                    AccountChoice(
                        platform="instagram",
                        external_account_id=str(ig["id"]),
                        display_name=f"@{ig.get('username', ig['id'])}",
                        credentials={"access_token": page["access_token"], "page_id": str(page["id"])},
                    )
                )
        return choices

    @property
    def _profile_fields(self) -> str:
        return "name,username,profile_pic" if self.instagram else "name,first_name,last_name,profile_pic"

    def author_profile(self, connection, author_id):
        # Messenger's User Profile API and Instagram's user profile, both read with the page token.
        body = client.call(
            "GET",
            client.graph_url(author_id),
            token=connection.credentials.get("access_token", ""),
            params={"fields": self._profile_fields},
            timeout=(2.0, 4.0),  # asked while ingesting a new customer's first message: a name is not worth a stall
        )
        return _profile(body)

    def author_profiles(self, connection, author_ids):
        """Graph's multiple-id read (`GET /?ids=a,b&fields=…`, at most 50 ids a call) answers {id: object} for a
        batch's new customers in one call. Graph refuses the whole call when one id cannot be read: then each is
        asked alone, so one unreadable customer does not leave the others nameless."""
        found = {}
        for start in range(0, len(author_ids), MULTI_ID_LIMIT):
            chunk = author_ids[start : start + MULTI_ID_LIMIT]
            if len(chunk) == 1:
                profiles = {chunk[0]: self.author_profile(connection, chunk[0])}
            else:
                try:
                    body = client.call(
                        "GET",
                        client.graph_url(""),
                        token=connection.credentials.get("access_token", ""),
                        params={"ids": ",".join(chunk), "fields": self._profile_fields},
                        timeout=(2.0, 4.0),
                    )
                    profiles = {i: _profile(body[i]) for i in chunk if isinstance(body.get(i), dict)}
                except SendRejected as exc:
                    logger.info("multiple-id profile read refused (%s); asking one by one", exc.message)
                    profiles = {}
                    for author_id in chunk:
                        try:
                            profiles[author_id] = self.author_profile(connection, author_id)
                        except SendRejected as one:
                            logger.info("no profile for %s: %s", author_id, one.message)
            found.update((i, p) for i, p in profiles.items() if p is not None)
        return found

    def on_connect(self, connection) -> None:
        # Instagram webhooks (Facebook Login) reach the app only when "the Page connected to the app user's account
        # [has] Page subscriptions enabled" (graph-api/webhooks/getting-started/webhooks-for-instagram): an Instagram
        # account connected without its page must still subscribe that page.
        page_id = connection.credentials.get("page_id") if self.instagram else connection.external_account_id
        if not page_id:
            return
        client.call(
            "POST",
            client.graph_url(f"{page_id}/subscribed_apps"),
            token=connection.credentials.get("access_token", ""),
            data={
                "subscribed_fields": "messages,message_echoes,message_edits,message_deliveries,messaging_postbacks,feed"
            },
        )

    def refresh_credentials(self, connection):
        if connection.token_expires_at is None or connection.token_expires_at > datetime.now(UTC) + timedelta(days=7):
            return None
        credentials = connection.credentials
        token, expires = self._long_lived(credentials.get("access_token", ""))
        return {**credentials, "access_token": token}, expires


class FacebookConnector(MetaConnector):
    platform = "facebook"
    label = "Facebook"
    webhook_objects = ("page",)
    connect_label = gettext_lazy("Connect Facebook pages and Instagram accounts")


class InstagramConnector(MetaConnector):
    platform = "instagram"
    label = "Instagram"
    webhook_objects = ("instagram",)
    instagram = True
    searches_hashtags = True
    dm_max_length = 1000


def _profile(body: dict) -> AuthorProfile | None:
    name = body.get("name") or " ".join(p for p in (body.get("first_name"), body.get("last_name")) if p)
    handle = body.get("username", "")
    if not (name or handle):
        return None
    return AuthorProfile(name=name or handle, handle=handle, avatar_url=body.get("profile_pic", ""))
