"""The seam from the gateway to the app that turns normalized inbound items into conversations. The gateway sits
below `tickets` and never imports it: `tickets` registers its handler at startup (TicketsConfig.ready), and every
ingest batch hands it the batch's items in order, inside the batch's transaction."""

from collections.abc import Callable
from typing import Protocol

from channels_integrations.inbound import AuthorProfile, InboundItem

# Asks the platform about customers by their ids: id -> profile, the unknown left out.
ProfilesLookup = Callable[[list[str]], dict[str, AuthorProfile]]


class IngestHandler(Protocol):
    def __call__(
        self, *, organization, connection, items: list[InboundItem], lookup_profile: ProfilesLookup | None
    ) -> None: ...


_handlers: list[IngestHandler] = []


def register_ingest_handler(handler: IngestHandler) -> None:
    """Called once, at startup, by the app that owns conversations."""
    _handlers[:] = [handler]


def ingest_handler() -> IngestHandler:
    if not _handlers:
        raise RuntimeError("no ingest handler registered: the tickets app is not installed")
    return _handlers[0]
