"""The API channel's connector: no inbound transport of its own (tickets come from the REST API, tickets/api), a send
that only records the reply (the integration reads it back through the API), and the worker's side of the
asynchronous intake (`intake_items`: a stored API request on any channel → the normalized message)."""

import json
import uuid
from collections.abc import Callable
from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels_integrations.connector import (
    Connector,
    MalformedPayload,
    OutboundMessage,
    ReplyContext,
    ReplyLimits,
    SendResult,
)
from channels_integrations.inbound import InboundMessage


class ApiConnector(Connector):
    platform = "api"
    label = gettext_lazy("API")
    connect_form = "channels_integrations.providers.api.connect.ApiConnectForm"
    connect_label = gettext_lazy("Add an API channel")
    # Nothing leaves the application: "sending" twice records the same id (the reply's own reference).
    idempotent_send = True
    can_initiate = True

    def reply_limits(self, connection, context: ReplyContext) -> ReplyLimits:
        return ReplyLimits(
            max_length=None,
            attachment_types=("*/*",),
            max_attachment_bytes=25 * 1024 * 1024,
            notes=(
                _(
                    "API channel: the reply is stored on the ticket for your system to read through the API; "
                    "nothing is sent to the customer from here."
                ),
            ),
        )

    def send(self, connection, outbound: OutboundMessage) -> SendResult:
        # Recorded, not delivered: the id is the reply's own reference, so a retried send gives the same one.
        reference = outbound.local_ref or outbound.idempotency_key or uuid.uuid4().hex
        return SendResult(platform_message_id=f"api-reply:{reference}", sent_at=timezone.now())


# --- asynchronous intake (`Prefer: respond-async`) ----------------------------------------------------------------
# The REST API stores the request as a raw InboundEvent of the target connection (any channel the caller may use, not
# only API channels) with this source; the worker turns it into the same InboundMessage the synchronous path builds.
API_EVENT_SOURCE = "api"
PAYLOAD_VERSION = 1

# Finds or creates the customers' contacts and returns their author ids on the connection's platform (the ingest's key
# to the contact), in order. Registered by the app that owns contacts (tickets), at startup: the gateway never imports
# it.
CustomerResolver = Callable[..., str]
_resolvers: list[CustomerResolver] = []


def register_customer_resolver(resolver: CustomerResolver) -> None:
    """Called once, at startup, by the app that owns contacts: `resolver(organization=, connection=, customers=[dict])`
    returns the customers' author ids."""
    _resolvers[:] = [resolver]


def intake_payload(*, customer: dict, text: str, subject: str, kind: str, received_at: datetime) -> bytes:
    """The raw event an asynchronous API request is stored as: what the request said, already validated."""
    body = {
        "v": PAYLOAD_VERSION,
        "customer": customer,
        "text": text,
        "subject": subject,
        "kind": kind,
        "received_at": received_at.isoformat(),
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def intake_message_id(event_key: str) -> str:
    """The stored message's platform id: the status resource finds the message by it."""
    return f"api:{event_key}"


def intake_items(*, organization, connection, events: list[tuple[str, bytes]]) -> list[InboundMessage]:
    """Stored API requests ((event key, payload), in order) as the normalized messages the synchronous path ingests
    (each a new conversation), their customers found or created first by the registered resolver (identity, email,
    phone: tickets.services.api_intake), all of a batch in one call."""
    bodies = []
    for _event_key, payload in events:
        try:
            body = json.loads(payload)
            if not isinstance(body["customer"], dict) or not isinstance(body["text"], str):
                raise TypeError("customer or text of the wrong type")
        except (ValueError, KeyError, TypeError) as exc:
            raise MalformedPayload(f"not an API intake request: {exc}") from exc
        bodies.append(body)
    if not _resolvers:
        raise RuntimeError("no customer resolver registered: the tickets app is not installed")
    authors = _resolvers[0](organization=organization, connection=connection, customers=[b["customer"] for b in bodies])
    items = []
    for (event_key, _payload), body, author_id in zip(events, bodies, authors, strict=True):
        received_at = body.get("received_at")
        message_id = intake_message_id(event_key)
        items.append(
            InboundMessage(
                platform_message_id=message_id,
                thread_key=message_id,  # a new conversation each time, as the synchronous path opens
                kind=body.get("kind") or "form",
                author_id=author_id,
                author_name=body["customer"].get("name", ""),
                author_email=body["customer"].get("email", ""),
                text=body["text"],
                subject=body.get("subject", ""),
                timestamp=datetime.fromisoformat(received_at) if received_at else timezone.now(),
            )
        )
    return items
