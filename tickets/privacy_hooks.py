"""The seam through which apps above `tickets` (automation, approvals, analytics…) take part in a contact's privacy
requests: their tables hold copies of the contact's personal data (webhook payloads, held replies' first drafts,
listening mentions) that tickets may not import. Each registers, in its `AppConfig.ready`, an eraser (and, where it
holds data worth handing to the person, an exporter); tickets.services.privacy calls them inside its transaction."""

import dataclasses
import re
from collections.abc import Callable

from accounts.models import Organization

REDACTED = "[erased]"


@dataclasses.dataclass(frozen=True)
class Erasure:
    """What is being erased: the contacts (the one asked for and those merged into it), their tickets and those
    tickets' messages, their identities as (platform, external id, handle), and `values`, the identifying strings
    (names, readings, addresses, numbers, handles, platform ids) that must not survive anywhere."""

    contact_ids: tuple[int, ...]
    ticket_ids: tuple[int, ...]
    message_ids: tuple[int, ...]
    identities: tuple[tuple[str, str, str], ...]
    values: tuple[str, ...]

    def redact(self, value):
        """`value` (a JSON-like structure) with every string that contains one of `values` replaced by REDACTED."""
        if isinstance(value, str):
            folded = value.casefold()
            return REDACTED if any(v.casefold() in folded for v in self.values) else value
        if isinstance(value, list):
            return [self.redact(item) for item in value]
        if isinstance(value, dict):
            return {key: self.redact(item) for key, item in value.items()}
        return value


_CODE = re.compile(r"[a-z0-9_.:-]{1,40}")


def redact_free_text(value):
    """`value` with every string that is not a code (a status, a key, a date) replaced by REDACTED: for JSON that
    belongs to an erased ticket and may quote its subject or messages (a ticket's history)."""
    if isinstance(value, str):
        return value if _CODE.fullmatch(value) else REDACTED
    if isinstance(value, list):
        return [redact_free_text(item) for item in value]
    if isinstance(value, dict):
        return {key: redact_free_text(item) for key, item in value.items()}
    return value


Eraser = Callable[..., None]  # (*, organization: Organization, erasure: Erasure) -> None
Exporter = Callable[..., dict]  # (*, organization: Organization, contact_ids, ticket_ids) -> {section: JSON}

_erasers: dict[str, Eraser] = {}
_exporters: dict[str, Exporter] = {}


def register(name: str, *, eraser: Eraser | None = None, exporter: Exporter | None = None) -> None:
    """Register an app's part (by name: registering twice, as tests that reload apps do, replaces it)."""
    if eraser is not None:
        _erasers[name] = eraser
    if exporter is not None:
        _exporters[name] = exporter


def run_erasers(*, organization: Organization, erasure: Erasure) -> None:
    for eraser in _erasers.values():
        eraser(organization=organization, erasure=erasure)


def run_exporters(*, organization: Organization, contact_ids: list[int], ticket_ids: list[int]) -> dict:
    sections: dict = {}
    for exporter in _exporters.values():
        sections.update(exporter(organization=organization, contact_ids=contact_ids, ticket_ids=ticket_ids))
    return sections
