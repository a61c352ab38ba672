"""The normalized inbound message every connector produces (the boundary between platforms and tickets)."""

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class InboundAttachment:
    filename: str
    content_type: str = ""
    url: str = ""
    size: int = 0


@dataclass(frozen=True)
class InboundMessage:
    """One customer message as a connector parsed it. `platform_message_id` is the duplicate guard;
    `thread_key` groups messages into one ticket (a DM conversation, a post's comments, an email thread)."""

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
