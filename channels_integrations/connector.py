"""The one connector interface. Each platform package under `providers/` implements `Connector` and registers it in
`registry.py`; the framework (webhook views, ingest and poll tasks, the send task, the connect flow) only ever talks
to platforms through these methods. A connector never writes tickets: it verifies, parses, polls and sends.

Errors a connector raises are the classes below; the framework maps them to HTTP answers, retries, connection
states and user messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from channels_integrations.inbound import AuthorProfile, InboundAttachment, InboundItem
from channels_integrations.models import ChannelConnection

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse


# --- errors -----------------------------------------------------------------------------------------------------


class ConnectorError(Exception):
    """Base of everything a connector raises. `message` is safe to show to an admin."""

    def __init__(self, message: str = "", *, code: str = ""):
        super().__init__(message)
        self.message = message
        self.code = code


class WebhookRejected(ConnectorError):
    """A webhook request failed verification (bad or missing signature, wrong verify token). `status` is the HTTP
    answer: 401 for a missing credential, 403 for a wrong one, 400 for a malformed handshake."""

    def __init__(self, message: str, *, status: int = 403, code: str = ""):
        super().__init__(message, code=code)
        self.status = status


class MalformedPayload(ConnectorError):
    """The body (verified) cannot be parsed as the platform's documented shape."""


class TransientError(ConnectorError):
    """Try again later (5xx, timeouts, Graph codes 1/2). `retry_after` seconds when the platform said."""

    def __init__(self, message: str = "", *, retry_after: float | None = None, code: str = ""):
        super().__init__(message, code=code)
        self.retry_after = retry_after


class RateLimited(TransientError):
    """429 or a platform rate-limit code; `retry_after` from Retry-After or the usage headers."""


class AuthFailed(ConnectorError):
    """The credentials are permanently bad (revoked, expired beyond refresh): the connection needs re-authorization."""


class ListeningUnsupported(ConnectorError):
    """The platform offers no search of public posts (email; X and LINE until their connectors do)."""


class SendRejected(ConnectorError):
    """The platform refused this message for good (outside the reply window, user unavailable, too long...)."""


# --- data crossing the interface --------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookDelivery:
    """One unit of a verified webhook body to store as an `InboundEvent`. Platforms that batch several accounts in
    one POST (Meta's `entry[]`) split it so each account's part lands on its own connection.

    `account_id` selects the connection on app-level endpoints ("" on per-connection endpoints); `event_key` is the
    platform's event id or a content hash, unique per connection, so a redelivery is stored once."""

    account_id: str
    event_key: str
    payload: bytes
    platform: str = ""  # on shared endpoints, which platform's connection (Meta: "facebook" or "instagram")


@dataclass(frozen=True)
class PolledEvent:
    """One raw item fetched by a poller (an email's MIME bytes, a tweet's JSON), stored like a webhook delivery."""

    event_key: str
    payload: bytes


@dataclass(frozen=True)
class PollResult:
    events: list[PolledEvent]
    cursor: dict  # saved in the same transaction as the messages the events become
    more: bool = False  # another page is waiting: poll again soon instead of at the normal interval


@dataclass(frozen=True)
class FoundPost:
    """A public post a platform's search found (social listening): someone else's post naming or tagging us.
    Counts are as the platform gave them; `reach` and `followers` only where it gives them (None otherwise)."""

    external_id: str
    text: str
    posted_at: datetime
    source: str  # how it was found: "hashtag" or "tagged"
    url: str = ""
    author_handle: str = ""
    author_name: str = ""
    likes: int = 0
    comments: int = 0
    shares: int = 0
    reach: int | None = None
    followers: int | None = None


@dataclass(frozen=True)
class MentionPage:
    """What one listening call brought: the posts, the cursor to save with them, and the hashtag ids it looked up
    (hashtag -> platform id), which the caller records (Instagram counts each new hashtag against a weekly limit)."""

    posts: list[FoundPost]
    cursor: dict
    hashtag_ids: dict[str, str] = field(default_factory=dict)
    more: bool = False


@dataclass(frozen=True)
class OutboundFile:
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class ReplyTemplate:
    """A message template the platform approved in advance (WhatsApp): the only kind of message it delivers outside
    the customer-service window. `body` shows the placeholders {{1}}, {{2}}... that `parameters` values fill."""

    name: str
    language: str
    body: str
    parameters: int = 0  # how many body placeholders
    category: str = ""  # MARKETING, UTILITY, AUTHENTICATION


@dataclass(frozen=True)
class TemplateChoice:
    """The template an agent picked in the reply box, with the values of its placeholders in order."""

    name: str
    language: str
    parameters: tuple[str, ...] = ()


@dataclass(frozen=True)
class OutboundMessage:
    """A reply as the send task hands it to a connector.

    `recipient_id` is the customer's platform id; `reply_to_platform_id` the message being answered (a comment to
    reply under, the email being answered); `references` the thread's earlier platform ids, oldest first (email
    References: the root and the latest). `local_ref` travels as metadata where the platform echoes it back;
    `idempotency_key` is stable across retries of the same message."""

    text: str
    recipient_id: str
    thread_key: str
    kind: str
    is_public: bool = False
    reply_to_platform_id: str = ""
    references: tuple[str, ...] = ()
    subject: str = ""
    recipient_email: str = ""
    recipient_name: str = ""
    sender_name: str = ""
    attachments: tuple[OutboundFile, ...] = ()
    local_ref: str = ""
    idempotency_key: str = ""
    automated: bool = False  # sent by a rule or an auto-response (email marks it Auto-Submitted, RFC 3834)
    template: TemplateChoice | None = None  # a pre-approved template instead of free text (WhatsApp outside 24 h)


@dataclass(frozen=True)
class SendResult:
    platform_message_id: str
    sent_at: datetime | None = None


@dataclass(frozen=True)
class PostContent:
    """An outgoing post (the approvals issue): text, an optional link and media files.

    `local_ref` is the post target's idempotency key (stable across retries): connectors send it where the platform
    keeps it (LINE's retry key) so `find_published` can recognise the post. `media_urls` are public, expiring URLs of
    the same files, in the same order, for platforms that fetch media themselves (Instagram, LINE). `audience`
    narrows who receives it where the platform can (LINE: a narrowcast's `recipient`, `filter` and `limit`; None
    broadcasts to every follower)."""

    text: str
    link: str = ""
    media: tuple[OutboundFile, ...] = ()
    local_ref: str = ""
    media_urls: tuple[str, ...] = ()
    audience: dict | None = None


@dataclass(frozen=True)
class PublishResult:
    platform_post_id: str
    url: str = ""


# How a platform treats a link in a post (PublishLimits.link_handling).
LINK_FIELD = "field"  # a separate link field the platform turns into a preview card (Facebook's `link`)
LINK_IN_TEXT = "in_text"  # the URL stays in the text (X counts each as 23 characters; LINE makes it tappable)
LINK_NOT_CLICKABLE = "not_clickable"  # the text may carry it but readers cannot tap it (Instagram captions)


@dataclass(frozen=True)
class PublishLimits:
    """What a post to one connection may hold, shown and checked by the composer before a post is submitted.

    `length_rule` counts `max_length` as ReplyLimits does ("" one per character, "x-weighted" as X counts a post);
    `media_types` are MIME patterns ("image/jpeg"); `notes` are translated sentences describing the rules."""

    max_length: int | None = None
    length_rule: str = ""
    max_media: int = 0
    media_types: tuple[str, ...] = ()
    link_handling: str = LINK_IN_TEXT
    notes: tuple[str, ...] = ()
    max_media_bytes: int | None = None
    requires_media: bool = False  # a post without media is refused (Instagram)


@dataclass(frozen=True)
class ReplyContext:
    """What platform rules about a reply depend on, gathered by the tickets service before queueing."""

    kind: str  # the kind of the message being answered (direct, comment, email...)
    is_public: bool  # the agent chose a public reply
    last_customer_message_at: datetime | None
    now: datetime
    already_replied_privately: bool = False  # a private reply to this comment was sent before


@dataclass(frozen=True)
class ReplyLimits:
    """Shown in the reply box before sending and enforced before queueing."""

    max_length: int | None
    attachment_types: tuple[str, ...] = ()  # MIME patterns, e.g. "image/*"
    max_attachment_bytes: int | None = None
    window_ends_at: datetime | None = None  # after this a reply is refused (Messenger's 24 hours)
    can_reply_publicly: bool = False
    can_reply_privately: bool = True
    notes: tuple[str, ...] = ()  # translated sentences describing the rules
    # Outside the window only a pre-approved template may be sent (WhatsApp): the reply box offers reply_templates().
    templates_only: bool = False
    # How `max_length` counts: "" one per character; "x-weighted" as X counts a post (CJK and emoji count two).
    length_rule: str = ""


@dataclass(frozen=True)
class AccountChoice:
    """An account the OAuth user may connect (a Facebook page, an Instagram professional account)."""

    platform: str
    external_account_id: str
    display_name: str
    credentials: dict
    token_expires_at: datetime | None = None
    config: dict = field(default_factory=dict)


@dataclass(frozen=True)
class OAuthSettings:
    """What requests-oauthlib needs for the authorization-code flow, built from settings at call time (base URLs
    point at the simulator in development)."""

    authorization_url: str
    token_url: str
    scopes: tuple[str, ...]
    client_id: str
    client_secret: str
    extra_authorization_params: dict = field(default_factory=dict)
    scope_separator: str = ","
    # RFC 7636 PKCE with S256 (X requires it): the flow sends a code challenge and, at the token exchange, its
    # verifier, kept in the admin's session in between.
    pkce: bool = False
    # The token endpoint takes the client's credentials as HTTP Basic (RFC 6749 §2.3.1; X's confidential clients)
    # instead of client_id and client_secret in the body.
    client_auth_basic: bool = False


# --- the interface ----------------------------------------------------------------------------------------------


class Connector:
    """Base class with the framework's defaults. Platforms override what they support; a capability a platform
    lacks raises `NotImplementedError` and the framework never calls it (see the class flags)."""

    platform: ClassVar[str]
    label: ClassVar[str] = ""  # the platform's name as people read it ("Facebook", a translated "Email")
    receives_webhooks: ClassVar[bool] = False
    app_level_webhook: ClassVar[str] = ""  # e.g. "meta": shares /webhooks/meta/ with other platforms
    # On a shared endpoint: the values of the payload's routing key (`webhook_route`) this connector takes
    # (Meta's `object`: "page", "instagram", "whatsapp_business_account").
    webhook_objects: ClassVar[tuple[str, ...]] = ()
    polls: ClassVar[bool] = False
    poll_interval_seconds: ClassVar[int] = 60
    can_publish: ClassVar[bool] = False
    connects_with_oauth: ClassVar[bool] = False  # else the admin fills `connect_form` (email: server settings)
    connect_form: ClassVar[str] = ""  # dotted path of its ConnectForm (channels_integrations.connect)
    # The Channels page's button; "" when accounts come through another platform's flow (Instagram: Facebook Login).
    connect_label: ClassVar[str] = ""
    idempotent_send: ClassVar[bool] = False  # sending the same OutboundMessage twice cannot duplicate it
    fetches_profiles: ClassVar[bool] = False  # author_profile() names customers whose messages carry only an id
    # The business may write first (an agent starts a new conversation, tickets.services.start): True only where the
    # platform delivers a message to someone who has not written to us — email does; Messenger and Instagram refuse
    # a message outside the 24-hour window the customer's own message opens.
    can_initiate: ClassVar[bool] = False
    # search_mentions() finds public posts that tag the account or use a hashtag (social listening).
    listens: ClassVar[bool] = False
    searches_hashtags: ClassVar[bool] = False  # search_mentions() also takes hashtags (Instagram's Hashtag Search)

    # Webhooks. `connection` is None on app-level endpoints.
    def handshake(self, request: HttpRequest, connection: ChannelConnection | None) -> HttpResponse:
        raise NotImplementedError

    def verify_webhook(self, request: HttpRequest, connection: ChannelConnection | None) -> None:
        raise NotImplementedError

    def split_webhook(self, body: bytes) -> list[WebhookDelivery]:
        raise NotImplementedError

    def webhook_reply(self, request: HttpRequest, connection: ChannelConnection | None) -> HttpResponse | None:
        """The answer to a verified webhook POST once its events are stored, when the platform expects content back
        (Twilio's voice URL wants TwiML); None for the framework's JSON receipt."""
        return None

    def webhook_route(self, body: bytes) -> str:
        """On a shared endpoint (after the signature was verified): the payload's routing key, which selects the
        connector whose `webhook_objects` holds it. Raises MalformedPayload."""
        raise NotImplementedError

    # Parsing is pure: the same payload always gives the same items. `account_id` is the connection's own
    # platform id, to tell the business's echoes from the customer's messages.
    def parse_event(self, payload: bytes, *, account_id: str) -> list[InboundItem]:
        raise NotImplementedError

    def poll(self, connection: ChannelConnection, cursor: dict) -> PollResult:
        raise NotImplementedError

    def search_mentions(self, connection: ChannelConnection, *, hashtags: dict[str, str], cursor: dict) -> MentionPage:
        """Public posts that tag the account, and (where the platform searches hashtags) posts with `hashtags`
        (hashtag -> its platform id, "" when not looked up yet), newer than `cursor` says. Raises ConnectorError;
        a platform that cannot search says so with ListeningUnsupported."""
        raise ListeningUnsupported(f"{self.label or self.platform} cannot search public posts")

    def reply_limits(self, connection: ChannelConnection, context: ReplyContext) -> ReplyLimits:
        raise NotImplementedError

    def check_reply(self, connection: ChannelConnection, context: ReplyContext, text: str, files: list) -> list[str]:
        """Platform rules broken by this reply, as translated sentences (empty when it may be queued). `files`
        are (filename, content_type, size) tuples."""
        limits = self.reply_limits(connection, context)
        return check_against_limits(limits, context, text, files)

    def send(self, connection: ChannelConnection, outbound: OutboundMessage) -> SendResult:
        raise NotImplementedError

    def publish(self, connection: ChannelConnection, post: PostContent) -> PublishResult:
        """Publish `post` on the connection's account. `local_ref` (the post target's idempotency key) travels where
        the platform keeps it (LINE's retry key) so `find_published` can find the post again. Raises
        TransientError (retried), SendRejected (failed for good) or AuthFailed."""
        raise NotImplementedError

    def publish_limits(self, connection: ChannelConnection) -> PublishLimits:
        """The platform's rules for a post to this connection (length, media count and types, links)."""
        return PublishLimits()

    def check_post(self, connection: ChannelConnection, text: str, files: list, *, link: str = "") -> list[str]:
        """Platform rules broken by this post, as translated sentences (empty when it may be submitted). `files`
        are (filename, content_type, size) tuples."""
        return check_against_publish_limits(self.publish_limits(connection), text, files, link=link)

    # find_published() can tell whether an interrupted publish reached the platform (the outbound helper then
    # records the post instead of failing it, or publishes it when the platform has no trace of it).
    finds_published: ClassVar[bool] = False

    def find_published(
        self, connection: ChannelConnection, local_ref: str, since: datetime, *, post: PostContent | None = None
    ) -> PublishResult | None:
        """The post published with `local_ref` at or after `since`, or None when the platform has no such post (then
        it is published). Platforms that keep no reference of ours recognise it by `post`'s text; LINE's retry key
        makes a second publish itself harmless. Raises ConnectorError (TransientError when it cannot tell now)."""
        raise NotImplementedError

    # OAuth: the flow's endpoints, the accounts a freshly authorized user may connect, refreshing a token.
    def oauth_settings(self) -> OAuthSettings:
        raise NotImplementedError

    def oauth_accounts(self, token: dict) -> list[AccountChoice]:
        raise NotImplementedError

    def author_profile(self, connection: ChannelConnection, author_id: str) -> AuthorProfile | None:
        """The name (and picture) of a customer whose messages arrive without one; None when the platform has no
        such lookup. Called while ingesting a message from a customer whose contact has no name yet. Raises
        ConnectorError."""
        return None

    def author_profiles(self, connection: ChannelConnection, author_ids: list[str]) -> dict[str, AuthorProfile]:
        """`author_profile` for several customers (an ingest batch's new ones): id -> profile, the unknown left out.
        Platforms with a multi-object read override it; by default, one call each. Raises ConnectorError."""
        found = {}
        for author_id in author_ids:
            profile = self.author_profile(connection, author_id)
            if profile is not None:
                found[author_id] = profile
        return found

    # Content only an authorized call fetches (InboundAttachment.media_id): LINE, Telegram, WhatsApp.
    downloads_media: ClassVar[bool] = False
    max_media_bytes: ClassVar[int] = 25 * 1024 * 1024

    def download_media(self, connection: ChannelConnection, attachment: InboundAttachment) -> InboundAttachment:
        """The attachment with its `content` (and the content type and size the platform gave). Called by the
        gateway after parsing, before the message is stored. Raises TransientError (the event is retried) or
        another ConnectorError (the message is stored with the attachment's name only)."""
        raise NotImplementedError

    def account_facts(self, connection: ChannelConnection) -> list[tuple[str, str]]:
        """(label, value) pairs the platform reports about the account, translated, shown on the channel's page
        (LINE: this month's message quota and how much is used). Raises ConnectorError."""
        return []

    # Signs to the customer that an agent is on the conversation (LINE: read marks, the loading animation). The inbox
    # calls agent_activity() (in a task) only for connectors that set this.
    shows_agent_activity: ClassVar[bool] = False

    def agent_activity(self, connection: ChannelConnection, thread_key: str, activity: str) -> None:
        """An agent opened the conversation (`activity` "read": mark the customer's messages read) or is writing a
        reply ("typing"). Best effort, throttled by the connector; raises ConnectorError, which is only logged."""

    def reply_templates(self, connection: ChannelConnection) -> list[ReplyTemplate]:
        """The approved templates the account may send (WhatsApp). Raises ConnectorError."""
        return []

    def on_connect(self, connection: ChannelConnection) -> None:
        """After an account is connected (subscribe the app to the page's webhooks...). Raises ConnectorError."""

    def refresh_credentials(self, connection: ChannelConnection) -> tuple[dict, datetime | None] | None:
        """New (credentials, expires_at) when the token is near expiry and can be refreshed; None when nothing to
        do. Raises AuthFailed when it cannot be refreshed."""
        return None


def check_against_publish_limits(
    limits: PublishLimits, text: str, files: list, *, link: str = "", length: int | None = None
) -> list[str]:
    """Platform rules a post breaks, as translated sentences (see `Connector.check_post`). `length` is the text's
    length as the platform counts it (a connector with a `length_rule` measures it); one per character by default."""
    from fnmatch import fnmatch

    from django.utils.translation import gettext as _

    problems: list[str] = []
    if not text.strip() and not files and not link:
        problems.append(_("Write the post's text or add an image."))
    if limits.max_length is not None:
        length = len(text) if length is None else length
        if length > limits.max_length:
            problems.append(
                _("The post is %(length)d characters long; this channel accepts at most %(max)d.")
                % {"length": length, "max": limits.max_length}
            )
    if limits.requires_media and not files:
        problems.append(_("This channel publishes only posts with an image."))
    if len(files) > limits.max_media:
        if limits.max_media == 0:
            problems.append(_("This channel cannot publish images or other files with a post."))
        else:
            problems.append(
                _("This channel publishes at most %(max)d files with a post; this one has %(count)d.")
                % {"max": limits.max_media, "count": len(files)}
            )
    for filename, content_type, size in files:
        if limits.media_types and not any(fnmatch(content_type, p) for p in limits.media_types):
            problems.append(
                _("This channel cannot publish %(name)s (%(type)s).") % {"name": filename, "type": content_type}
            )
        elif limits.max_media_bytes is not None and size > limits.max_media_bytes:
            problems.append(
                _("%(name)s is larger than this channel accepts (%(max)d MB).")
                % {"name": filename, "max": limits.max_media_bytes // (1024 * 1024)}
            )
    return problems


def check_against_limits(limits: ReplyLimits, context: ReplyContext, text: str, files: list) -> list[str]:
    from fnmatch import fnmatch

    from django.utils.translation import gettext as _

    problems: list[str] = []
    if not text.strip() and not files:
        problems.append(_("Write a reply or attach a file."))
    if limits.max_length is not None and len(text) > limits.max_length:
        problems.append(
            _("The reply is %(length)d characters long; this channel accepts at most %(max)d.")
            % {"length": len(text), "max": limits.max_length}
        )
    if limits.window_ends_at is not None and context.now > limits.window_ends_at:
        problems.append(_("The reply window for this conversation has closed; the platform will not deliver it."))
    if context.is_public and not limits.can_reply_publicly:
        problems.append(_("This channel does not allow a public reply here."))
    if not context.is_public and not limits.can_reply_privately:
        problems.append(_("This channel does not allow a private reply here."))
    for filename, content_type, size in files:
        if not limits.attachment_types or not any(fnmatch(content_type, p) for p in limits.attachment_types):
            problems.append(
                _("This channel cannot send %(name)s (%(type)s).") % {"name": filename, "type": content_type}
            )
        elif limits.max_attachment_bytes is not None and size > limits.max_attachment_bytes:
            problems.append(
                _("%(name)s is larger than this channel accepts (%(max)d MB).")
                % {"name": filename, "max": limits.max_attachment_bytes // (1024 * 1024)}
            )
    return problems
