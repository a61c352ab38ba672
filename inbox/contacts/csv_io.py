"""CSV export and import of contacts.

Export: the filtered list as the member sees it, UTF-8 with a byte-order mark (Excel then opens Japanese text
correctly), streamed. Import: a file in UTF-8 (with or without BOM) or Shift_JIS/CP932 (what Excel saves in Japan) is
read, every row checked column by column and shown in a preview; nothing is written until the member confirms. The
confirmation re-sends the decoded text and every row is checked again (the data may have changed meanwhile), then
the valid rows are created or updated through the contact services in one transaction.

A row updates an existing contact when it names one by `id`, or when one of its email addresses or phone numbers
is a contact's (only contacts the member may see); otherwise it creates one. In an update, an empty cell leaves
the field as it is."""

import csv
import io
import re
import zoneinfo
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from django_scopes import scope

from accounts.models import Membership, Organization
from core.csv_safety import csv_safe, csv_unescaped
from core.errors import DomainError
from inbox.contacts.selectors import ATTR_PREFIX, visible_contacts
from tickets.models import Contact, ContactAttributeDefinition
from tickets.services.contacts import (
    ContactAttributeError,
    contact_attributes_clean,
    contact_create,
    contact_settings,
    contact_update,
    email_normalise,
    phone_normalise,
    reading_normalise,
)

MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5000
LIST_SEPARATORS = (";", "\n", "、", ",")
COLUMNS = (
    "id",
    "name",
    "reading",
    "emails",
    "phones",
    "company",
    "language",
    "timezone",
    "vip",
    "tags",
    "consent_marketing",
    "consent_survey",
    "notes",
)
EXPORT_ONLY = ("identities", "created_at", "last_seen_at")
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")  # as the contact services accept
_TRUE = {"1", "yes", "y", "true", "はい", "○", "◯", "vip"}
_FALSE = {"0", "no", "n", "false", "いいえ", "×", ""}


# --- export ----------------------------------------------------------------------------------------------------


class _Echo:
    def write(self, value):
        return value


def export_rows(organization: Organization, contacts, definitions):
    """The CSV lines (BOM first) of `contacts`, read in chunks so that memory stays flat whatever the count. The
    response streams after the view returned, outside the request's tenant scope: the rows are read in their own."""
    writer = csv.writer(_Echo())
    yield "\ufeff"
    yield writer.writerow([*COLUMNS, *EXPORT_ONLY, *(f"{ATTR_PREFIX}{d.key}" for d in definitions)])
    with scope(organization=organization):
        yield from _export_lines(writer, contacts, definitions)


def _export_lines(writer, contacts, definitions):
    for c in contacts.iterator(chunk_size=500):
        attributes = c.attributes or {}
        # Customers name themselves on the platforms: a name like =HYPERLINK(...) must stay text in a spreadsheet.
        row = [
            c.pk,
            c.name,
            c.reading,
            "; ".join(c.emails),
            "; ".join(c.phones),
            c.company,
            c.language,
            c.timezone,
            "1" if c.vip else "0",
            "; ".join(c.tags),
            "1" if c.consent_marketing else "0",
            "1" if c.consent_survey else "0",
            c.notes,
            "; ".join(f"{i.platform}:{i.handle or i.external_id}" for i in c.identities.all()),
            c.created_at.isoformat(),
            c.last_seen_at.isoformat() if c.last_seen_at else "",
            *(attributes.get(d.key, "") for d in definitions),
        ]
        yield writer.writerow([csv_safe(v) for v in row])


# --- import ----------------------------------------------------------------------------------------------------


class ImportFileError(DomainError):
    pass


def decode(data: bytes) -> tuple[str, str]:
    """The file's text and the encoding it was read in: UTF-8 (BOM or not) first, since Shift_JIS bytes are rarely
    valid UTF-8 while the opposite often decodes to nonsense; then CP932 (Shift_JIS with Windows' extensions)."""
    if len(data) > MAX_BYTES:
        raise ImportFileError(_("The file is larger than 2 MB: split it into several files."), field="file")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "UTF-8"
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932"), "Shift_JIS"
    except UnicodeDecodeError:
        raise ImportFileError(
            _("The file is neither UTF-8 nor Shift_JIS text. Save it as “CSV UTF-8” and try again."), field="file"
        ) from None


def _split(value: str) -> list[str]:
    parts = [value]
    for separator in LIST_SEPARATORS:
        parts = [piece for part in parts for piece in part.split(separator)]
    return [part.strip() for part in parts if part.strip()]


@dataclass
class ImportRow:
    number: int  # the line in the file (the header is line 1)
    values: dict  # the cells as given
    fields: dict = field(default_factory=dict)  # what the contact services receive
    errors: dict = field(default_factory=dict)  # column → message
    contact: Contact | None = None  # the contact it updates (None: a new one)

    @property
    def valid(self) -> bool:
        return not self.errors


@dataclass
class ImportPreview:
    encoding: str
    columns: list[str]
    ignored_columns: list[str]
    rows: list[ImportRow]

    @property
    def valid_rows(self) -> list[ImportRow]:
        return [row for row in self.rows if row.valid]

    @property
    def invalid_count(self) -> int:
        return len(self.rows) - len(self.valid_rows)

    @property
    def to_create(self) -> int:
        return sum(1 for row in self.valid_rows if row.contact is None)

    @property
    def to_update(self) -> int:
        return sum(1 for row in self.valid_rows if row.contact is not None)


def _flag(value: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(_("Enter 1 or 0 (yes or no)."))


def _clean_cell(name: str, value: str, region: str):
    """A cell in the form the services take; ValueError/DomainError with the message for the cell."""
    if name == "name":
        if len(value) > 200:
            raise ValueError(_("Enter at most 200 characters."))
        return " ".join(value.split())
    if name == "reading":
        return reading_normalise(value)
    if name == "emails":
        return [email_normalise(v) for v in _split(value)]
    if name == "phones":
        return [phone_normalise(v, region=region) for v in _split(value)]
    if name == "company":
        if len(value) > 200:
            raise ValueError(_("Enter at most 200 characters."))
        return value.strip()
    if name == "language":
        if not _LANGUAGE.fullmatch(value.strip()):
            raise ValueError(_("Enter a language code such as ja or en."))
        return value.strip()
    if name == "timezone":
        if value.strip() not in zoneinfo.available_timezones():
            raise ValueError(_("Enter a time zone such as Asia/Tokyo."))
        return value.strip()
    if name == "tags":
        return [tag[:60] for tag in _split(value)]
    if name in ("vip", "consent_marketing", "consent_survey"):
        return _flag(value)
    if name == "notes":
        return value.strip()[:10000]
    raise ValueError(name)


def preview(*, organization: Organization, membership: Membership, text: str, encoding: str) -> ImportPreview:
    """Every row of `text` checked; nothing is written."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError(_("The file is empty."), field="file") from None
    except csv.Error as exc:
        raise ImportFileError(_("The file is not CSV: %(error)s") % {"error": exc}, field="file") from None
    header = [h.strip().lstrip("\ufeff") for h in header]
    definitions = {d.key: d for d in ContactAttributeDefinition.objects.all()}
    known = set(COLUMNS) | {f"{ATTR_PREFIX}{key}" for key in definitions}
    columns = [h for h in header if h in known]
    ignored = [h for h in header if h and h not in known]
    if not ({"name", "emails", "phones", "id"} & set(columns)):
        raise ImportFileError(
            _("The first line must name the columns, with at least one of: name, emails, phones, id."), field="file"
        )
    region = contact_settings(organization).phone_region
    visible = visible_contacts(membership)
    rows: list[ImportRow] = []
    try:
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) >= MAX_ROWS:
                raise ImportFileError(
                    _("The file has more than %(max)d rows: split it into several files.") % {"max": MAX_ROWS},
                    field="file",
                )
            values = {h: csv_unescaped(cells[i] if i < len(cells) else "") for i, h in enumerate(header) if h in known}
            rows.append(_check_row(number, values, region))
    except csv.Error as exc:
        raise ImportFileError(_("The file is not CSV: %(error)s") % {"error": exc}, field="file") from None
    _match(organization, rows, visible)
    return ImportPreview(encoding=encoding, columns=columns, ignored_columns=ignored, rows=rows)


def _check_row(number: int, values: dict, region: str) -> ImportRow:
    row = ImportRow(number=number, values=values)
    for name, value in values.items():
        if name == "id" or name.startswith(ATTR_PREFIX) or not value.strip():
            continue
        try:
            row.fields[name] = _clean_cell(name, value, region)
        except (ValueError, DomainError) as exc:
            row.errors[name] = exc.message if isinstance(exc, DomainError) else str(exc)
    given_id = values.get("id", "").strip()
    if given_id and not given_id.isdigit():
        row.errors["id"] = _("Enter a contact number from an export, or leave it empty.")
    return row


def _match(organization: Organization, rows: list[ImportRow], visible) -> None:
    """Find the contact each row updates (one query per kind of key for the whole file), check custom attributes
    against it, and refuse two rows for one contact."""
    ids = {int(r.values["id"]) for r in rows if r.values.get("id", "").strip().isdigit()}
    emails = {e for r in rows for e in r.fields.get("emails", [])}
    phones = {p for r in rows for p in r.fields.get("phones", [])}
    by_id, by_email, by_phone = {}, {}, {}
    if ids or emails or phones:
        found = visible.filter(Q(pk__in=ids) | Q(emails__overlap=list(emails)) | Q(phones__overlap=list(phones)))
        for contact in found.defer("search_vector").order_by("pk"):
            by_id[contact.pk] = contact
            for email in contact.emails:
                by_email.setdefault(email, contact)
            for phone in contact.phones:
                by_phone.setdefault(phone, contact)
    seen: dict[int, int] = {}
    for row in rows:
        given_id = row.values.get("id", "").strip()
        if given_id.isdigit():
            row.contact = by_id.get(int(given_id))
            if row.contact is None:
                row.errors["id"] = _("There is no contact with this number.")
        else:
            keys = [by_email.get(e) for e in row.fields.get("emails", [])]
            keys += [by_phone.get(p) for p in row.fields.get("phones", [])]
            row.contact = next((c for c in keys if c is not None), None)
        if row.contact is not None:
            if row.contact.pk in seen:
                row.errors["id" if given_id else "emails"] = _("Line %(line)d is about the same contact.") % {
                    "line": seen[row.contact.pk]
                }
            seen.setdefault(row.contact.pk, row.number)
        attributes = {
            name[len(ATTR_PREFIX) :]: value
            for name, value in row.values.items()
            if name.startswith(ATTR_PREFIX) and value.strip()
        }
        current = row.contact.attributes if row.contact is not None else {}
        try:
            cleaned = contact_attributes_clean(organization=organization, values=attributes, current=current)
        except ContactAttributeError as exc:
            for key, message in exc.errors.items():
                row.errors[f"{ATTR_PREFIX}{key}"] = message
        else:
            if attributes or row.contact is None:
                row.fields["attributes"] = cleaned


@dataclass
class ImportResult:
    created: int
    updated: int
    skipped: int


@transaction.atomic
def run(*, organization: Organization, membership: Membership, actor, text: str, encoding: str) -> ImportResult:
    """Check the file again and write its valid rows (invalid ones are skipped and counted)."""
    result = preview(organization=organization, membership=membership, text=text, encoding=encoding)
    created = updated = 0
    for row in result.valid_rows:
        if row.contact is None:
            contact_create(organization=organization, actor=actor, **row.fields)
            created += 1
        else:
            fields = dict(row.fields)
            # Addresses and numbers are added to the contact's, not put in their place (a file rarely has them all).
            for name in ("emails", "phones"):
                if name in fields:
                    fields[name] = [*getattr(row.contact, name), *fields[name]]
            contact_update(organization=organization, contact=row.contact, actor=actor, **fields)
            updated += 1
    return ImportResult(created=created, updated=updated, skipped=result.invalid_count)
