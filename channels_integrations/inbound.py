"""What connectors produce: normalized inbound items, the boundary between the platforms and the app that turns them
into conversations.

A connector parses one raw platform event into a list of these; the gateway hands them, in order, to the ingest
handler that app registered (channels_integrations.handlers). Nothing platform-specific crosses this line."""

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class AuthorProfile:
    """What a platform says about a customer whose messages carry only an id (Messenger's PSID...)."""

    name: str
    handle: str = ""
    avatar_url: str = ""


@dataclass(frozen=True)
class InboundAttachment:
    """A file on a message: a platform URL (Meta CDN), the bytes themselves (email parts), or `media_id`, the
    platform's id of content that only an authorized call fetches (a LINE message id, a Telegram file_id, a WhatsApp
    media id): the gateway then asks the connector's `download_media` for the bytes before the message is stored."""

    filename: str
    content_type: str = ""
    url: str = ""
    size: int = 0
    content: bytes = b""
    media_id: str = ""


@dataclass(frozen=True)
class CallDetails:
    """A phone call as the telephony provider reported it. `outcome`: "answered", "missed", "voicemail", "busy",
    "failed" (tickets.models.CallOutcome). Numbers in E.164. A later callback for the same call (the recording, the
    transcription) arrives as another InboundMessage with the same `call_id`: the stored call is updated."""

    call_id: str
    direction: str  # "inbound" or "outbound"
    from_number: str
    to_number: str
    outcome: str
    duration_seconds: int = 0
    started_at: datetime | None = None
    recording_url: str = ""
    voicemail_url: str = ""
    transcription: str = ""


@dataclass(frozen=True)
class InboundMessage:
    """One message as a connector parsed it. `platform_message_id` is the duplicate guard; `thread_key` groups
    messages into one ticket (a DM conversation, a post's comments, an email thread).

    `author_id` is always the customer's platform id, also for `direction="outbound"`: an echo of a message the
    business sent from the platform's own app, stored in the customer's conversation. `local_ref` is what we sent
    as metadata with our own replies, so an echo that races our send task is matched to the stored reply.
    `thread_hints` are platform ids of earlier messages this one answers (email In-Reply-To/References): when one
    of them is stored, the message joins that ticket whatever its `thread_key`."""

    platform_message_id: str
    thread_key: str
    kind: str
    author_id: str
    author_name: str = ""
    author_handle: str = ""
    author_avatar_url: str = ""
    author_email: str = ""
    text: str = ""
    html: str = ""
    subject: str = ""
    timestamp: datetime | None = None
    reply_to_platform_id: str = ""
    is_public: bool = False
    attachments: tuple[InboundAttachment, ...] = field(default_factory=tuple)
    direction: str = "inbound"
    local_ref: str = ""
    thread_hints: tuple[str, ...] = ()
    sender_authentication: dict | None = None  # email: DKIM/SPF/DMARC as checked on receipt (Authentication.as_dict)
    call: CallDetails | None = None  # a phone call (the message is the call's entry in the ticket)


@dataclass(frozen=True)
class InboundEdit:
    """The customer edited a message we already have (Messenger `message_edit`, a comment `verb: edited`)."""

    platform_message_id: str
    text: str
    timestamp: datetime | None = None


@dataclass(frozen=True)
class InboundDelete:
    """The customer deleted or unsent a message (comment `verb: remove`, Instagram `is_deleted`)."""

    platform_message_id: str
    timestamp: datetime | None = None


@dataclass(frozen=True)
class DeliveryUpdate:
    """The platform reports on one of our outbound messages: delivered/read receipts, or a bounce (failed). A
    watermark receipt names no message: with `up_to`, every message we sent in the thread `thread_key` up to that
    time (Messenger's `delivery.watermark` and `read.watermark`)."""

    platform_message_id: str
    state: str  # "delivered", "read" or "failed" (the values of tickets.models.DeliveryState)
    error: str = ""
    timestamp: datetime | None = None
    thread_key: str = ""
    up_to: datetime | None = None


InboundItem = InboundMessage | InboundEdit | InboundDelete | DeliveryUpdate
