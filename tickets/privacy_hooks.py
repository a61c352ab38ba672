"""The seam through which apps above `tickets` (automation, approvals, analytics…) take part in a contact's privacy
requests: their tables hold copies of the contact's personal data (webhook payloads, held replies' first drafts,
listening mentions) that tickets may not import. Each registers, in its `AppConfig.ready`, an eraser (and, where it
holds data worth handing to the person, an exporter); tickets.services.privacy calls them inside its transaction.

An eraser says only which of its rows hold the data and what becomes of them (deleted, emptied, redacted); finding
rows that name the person (`containing`) and rewriting rows through a redaction (`redact_rows`) are here, shared
with tickets' own erasure."""

import dataclasses
import json
import re
from collections.abc import Callable

from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast

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


def containing(queryset: QuerySet, field: str, values: tuple[str, ...]) -> QuerySet:
    """Rows whose `field` (JSON or text), as text, contains one of the values (case-insensitively), as written or as
    JSON writes it when it escapes non-ASCII (\\u5c71…)."""
    if not values:
        return queryset.none()
    condition = Q()
    for value in values:
        condition |= Q(_as_text__icontains=value)
        escaped = json.dumps(value)[1:-1]
        if escaped != value:
            condition |= Q(_as_text__icontains=escaped)
    return queryset.annotate(_as_text=Cast(field, TextField())).filter(condition)


def redact_rows(queryset: QuerySet, redact: Callable, *fields: str) -> int:
    """Pass `fields` of each row of `queryset` through `redact` (e.g. `redact_free_text`, `Erasure.redact`) and write
    back the rows it changed, one UPDATE each (the new values differ row by row); returns how many changed."""
    changed = 0
    for row in queryset.only("pk", *fields):
        values = {name: redact(getattr(row, name)) for name in fields}
        if any(value != getattr(row, name) for name, value in values.items()):
            queryset.model._default_manager.filter(pk=row.pk).update(**values)
            changed += 1
    return changed


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
