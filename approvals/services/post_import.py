"""CSV bulk import of posts: read, check every row, show the preview, and create nothing until the user confirms;
then every valid row becomes a post submitted to the normal approval flow (post_save(submit=True)).

Columns (first row = header; names in English or Japanese, any order; unknown columns are an error):
- `text` / `本文` (required): the shared text.
- `channels` / `チャネル` (required): channels by name or id, separated by `;` `,` `|` or `、`.
- `scheduled_at` / `予約日時`: `YYYY-MM-DD HH:MM` (or `/` between date parts, seconds optional) in the
  organization's time zone, or ISO 8601 with an offset. Empty with `publish_when_approved` = yes.
- `publish_when_approved` / `承認後すぐ公開`: yes/no (1/0, true/false, はい/いいえ).
- `campaign` / `キャンペーン`: campaign tags, separated like channels.
- `title` / `タイトル`, `link` / `リンク`.
- `variant:<channel name or id>` / `バリエーション:<…>`: that channel's own text.

Encodings: UTF-8 with or without BOM, and Shift_JIS/CP932 as Excel saves "CSV" on Japanese Windows.

The state between upload, preview and confirmation lives in the cache (Redis) under an import id, with progress, so
a large file is checked and imported by a Celery task while the page polls (approvals/tasks_import.py)."""

import csv
import io
import re
import uuid
import zoneinfo
from dataclasses import asdict, dataclass, field
from datetime import datetime

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from accounts.models import Organization, User
from approvals.services import posts as post_services
from core.errors import DomainError

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 20000
STATE_SECONDS = 6 * 3600
PROGRESS_EVERY = 200

COLUMNS = {
    "text": "text",
    "本文": "text",
    "channels": "channels",
    "チャネル": "channels",
    "scheduled_at": "scheduled_at",
    "予約日時": "scheduled_at",
    "publish_when_approved": "publish_when_approved",
    "承認後すぐ公開": "publish_when_approved",
    "campaign": "campaign",
    "キャンペーン": "campaign",
    "title": "title",
    "タイトル": "title",
    "link": "link",
    "リンク": "link",
}
VARIANT_PREFIXES = ("variant:", "バリエーション:")
YES = {"yes", "y", "1", "true", "はい", "○", "on"}
NO = {"", "no", "n", "0", "false", "いいえ", "×", "off"}
SPLIT = re.compile(r"[;,|、]")


@dataclass
class RowResult:
    line: int  # the file's line number (the header is line 1)
    values: dict = field(default_factory=dict)  # the cleaned values post_save takes
    errors: list = field(default_factory=list)  # [column, message] pairs
    text: str = ""  # for the preview

    @property
    def valid(self) -> bool:
        return not self.errors


def decode(data: bytes) -> tuple[str, str]:
    """The text of the file and the encoding it was in: UTF-8 (BOM or not), else CP932 (Excel's Shift_JIS)."""
    if not data:
        raise DomainError(_("The file is empty."), field="file")
    if len(data) > MAX_BYTES:
        raise DomainError(_("The file is larger than %(max)d MB.") % {"max": MAX_BYTES // (1024 * 1024)}, field="file")
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932"), "shift_jis"
    except UnicodeDecodeError as exc:
        raise DomainError(
            _("The file is neither UTF-8 nor Shift_JIS; save it from Excel as “CSV UTF-8” and try again."),
            field="file",
        ) from exc


def _yes(value: str) -> bool | None:
    value = value.strip().casefold()
    if value in YES:
        return True
    if value in NO:
        return False
    return None


def _parse_time(value: str, zone: zoneinfo.ZoneInfo) -> datetime | None:
    value = value.strip().replace("/", "-")
    if not value:
        return None
    if re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2} \d{1,2}:\d{2}(:\d{2})?", value):
        date, time = value.split(" ")
        y, m, d = date.split("-")
        value = f"{y}-{int(m):02d}-{int(d):02d}T{int(time.split(':')[0]):02d}:{time.split(':', 1)[1]}"
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValueError(value)
    return parsed.replace(tzinfo=zone) if timezone.is_naive(parsed) else parsed


class _Checker:
    """Row checks against the member's channels (by id or name, case-insensitive) and each platform's rules."""

    def __init__(self, organization: Organization, actor: User):
        self.organization = organization
        membership = post_services.membership_of(organization, actor)
        if not post_services.may_compose(membership):
            raise DomainError(_("You may not write posts."), code="permission_denied")
        self.connections = post_services.publishable_connections(membership)
        self.by_key = {}
        for connection in self.connections:
            self.by_key[str(connection.pk)] = connection
            self.by_key.setdefault(connection.display_name.strip().casefold(), connection)
        self.zone = zoneinfo.ZoneInfo(organization.timezone or "UTC")
        self.now = timezone.now()

    def connection(self, key: str):
        return self.by_key.get(key.strip().casefold())

    def row(self, line: int, raw: dict, variant_columns: dict) -> RowResult:
        result = RowResult(line=line)
        errors = result.errors
        text = (raw.get("text") or "").strip()
        result.text = text[:120]
        if len(text) > post_services.MAX_TEXT:
            errors.append(["text", _("The text is too long.")])
        names = [n for n in SPLIT.split(raw.get("channels") or "") if n.strip()]
        connections = []
        for name in names:
            connection = self.connection(name)
            if connection is None:
                errors.append(["channels", _("Unknown channel, or one you may not post to: %(name)s") % {"name": name}])
            elif connection not in connections:
                connections.append(connection)
        if not names:
            errors.append(["channels", _("Name at least one channel.")])
        when_now = _yes(raw.get("publish_when_approved") or "")
        if when_now is None:
            errors.append(["publish_when_approved", _("Write yes or no.")])
            when_now = False
        scheduled_at = None
        try:
            scheduled_at = _parse_time(raw.get("scheduled_at") or "", self.zone)
        except ValueError:
            errors.append(["scheduled_at", _("Write the time as 2026-04-01 09:30.")])
        else:
            if scheduled_at is None and not when_now:
                errors.append(["scheduled_at", _("Give a time, or yes in publish_when_approved.")])
            elif scheduled_at is not None and scheduled_at < self.now:
                errors.append(["scheduled_at", _("The time is in the past.")])
        try:
            tags = post_services._clean_tags(SPLIT.split(raw.get("campaign") or ""))
        except DomainError as exc:
            errors.append(["campaign", str(exc.message)])
            tags = []
        link = (raw.get("link") or "").strip()
        if link and not re.match(r"https?://\S+$", link):
            errors.append(["link", _("Enter a web address starting with https://.")])
        variants = {}
        for column, connection in variant_columns.items():
            value = (raw.get(column) or "").strip()
            if value:
                if connection not in connections:
                    errors.append([column, _("This channel is not among the row's channels.")])
                else:
                    variants[str(connection.pk)] = value
        if connections and not any(e[0] == "text" for e in errors):
            if not text and not link:
                errors.append(["text", _("Write the post's text.")])
            else:
                problems = post_services.post_problems(
                    connections=connections, text=text, variants=variants, link=link, versions=[]
                )
                for connection in connections:
                    for problem in problems[connection.pk]:
                        column = next((c for c, conn in variant_columns.items() if conn == connection), "text")
                        if str(connection.pk) not in variants:
                            column = "text"
                        errors.append([column, f"{connection.display_name}: {problem}"])
        result.values = {
            "title": (raw.get("title") or "").strip()[:200],
            "text": text,
            "link": link,
            "variants": variants,
            "connection_ids": [c.pk for c in connections],
            "scheduled_at": scheduled_at.isoformat() if scheduled_at else None,
            "publish_when_approved": when_now,
            "campaign_tags": tags,
        }
        return result


def import_check(*, organization: Organization, actor: User, data: bytes, progress=None) -> dict:
    """Read and check the whole file; creates nothing. Returns {"encoding", "columns", "rows": [RowResult as dict],
    "valid", "invalid"}. A problem with the file itself (encoding, header) raises DomainError. `progress(done, total)`
    is called every few hundred rows."""
    text, encoding = decode(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration as exc:
        raise DomainError(_("The file is empty."), field="file") from exc
    except csv.Error as exc:
        raise DomainError(_("The file is not a valid CSV file: %(error)s") % {"error": exc}, field="file") from exc
    checker = _Checker(organization, actor)
    columns: list[str] = []
    variant_columns = {}
    for name in header:
        clean = name.strip().lstrip("\ufeff")
        key = COLUMNS.get(clean.casefold()) or COLUMNS.get(clean)
        prefix = next((p for p in VARIANT_PREFIXES if clean.casefold().startswith(p)), None)
        if key:
            columns.append(key)
        elif prefix:
            connection = checker.connection(clean[len(prefix) :])
            if connection is None:
                raise DomainError(
                    _("The column “%(column)s” names a channel you may not post to.") % {"column": clean},
                    field="file",
                )
            columns.append(clean)
            variant_columns[clean] = connection
        else:
            raise DomainError(_("Unknown column “%(column)s”.") % {"column": clean}, field="file")
    if "text" not in columns or "channels" not in columns:
        raise DomainError(_("The file needs the columns text and channels."), field="file")
    try:
        lines = list(reader)
    except csv.Error as exc:
        raise DomainError(_("The file is not a valid CSV file: %(error)s") % {"error": exc}, field="file") from exc
    lines = [line for line in lines if any(cell.strip() for cell in line)]
    if len(lines) > MAX_ROWS:
        raise DomainError(_("The file has more than %(max)d rows; split it.") % {"max": MAX_ROWS}, field="file")
    rows = []
    for index, cells in enumerate(lines):
        line = index + 2
        if len(cells) > len(columns):
            result = RowResult(line=line, errors=[["", _("The row has more cells than the header.")]])
        else:
            # Excel keeps a cell's line breaks as CRLF: posts use plain newlines.
            raw = {k: v.replace("\r\n", "\n").replace("\r", "\n") for k, v in zip(columns, cells, strict=False)}
            result = checker.row(line, raw, variant_columns)
        rows.append(asdict(result) | {"valid": result.valid})
        if progress is not None and index % PROGRESS_EVERY == 0:
            progress(index, len(lines))
    valid = sum(1 for r in rows if r["valid"])
    return {"encoding": encoding, "columns": columns, "rows": rows, "valid": valid, "invalid": len(rows) - valid}


def import_create(*, organization: Organization, actor: User, rows: list[dict], progress=None) -> list[int]:
    """Create the valid rows as posts, each submitted to the approval flow (one transaction per row: a row the rules
    refuse now — a channel revoked meanwhile — is skipped, not the whole import). Returns the new posts' ids."""
    created = []
    valid = [r for r in rows if r.get("valid")]
    for index, row in enumerate(valid):
        values = dict(row["values"])
        values["scheduled_at"] = datetime.fromisoformat(values["scheduled_at"]) if values["scheduled_at"] else None
        try:
            with transaction.atomic():
                post = post_services.post_save(
                    organization=organization, actor=actor, submit=True, imported=True, **values
                )
        except DomainError:
            continue
        created.append(post.pk)
        if progress is not None and index % 50 == 0:
            progress(index, len(valid))
    return created


# --- state between requests -------------------------------------------------------------------------------------


def _key(organization: Organization, import_id: str) -> str:
    return f"post_import:{organization.pk}:{import_id}"


def state_get(organization: Organization, import_id: str, user: User) -> dict | None:
    """The import's state, if it exists and is this user's (an id from someone else is as good as a missing one)."""
    state = cache.get(_key(organization, import_id))
    if not state or state.get("user_id") != user.pk:
        return None
    return state


def state_set(organization: Organization, import_id: str, state: dict) -> None:
    cache.set(_key(organization, import_id), state, STATE_SECONDS)


def state_update(organization: Organization, import_id: str, **changes) -> None:
    state = cache.get(_key(organization, import_id)) or {}
    state.update(changes)
    cache.set(_key(organization, import_id), state, STATE_SECONDS)


def import_start(*, organization: Organization, actor: User, data: bytes) -> str:
    """Store an uploaded file for checking (the task checks it); returns the import id. Decoding is checked at once
    so a wrong file gets its error on the upload page."""
    decode(data)
    import_id = uuid.uuid4().hex
    state_set(
        organization,
        import_id,
        {"user_id": actor.pk, "phase": "checking", "done": 0, "total": 0, "data": data, "result": None},
    )
    return import_id
