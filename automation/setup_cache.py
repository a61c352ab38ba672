"""The organization's automation setup (rules, auto-responses with their canned responses, calendars, SLA policies,
automation settings) kept across ingest batches, per process, for as long as its fingerprint is unchanged: one query
per batch instead of one per kind of setup. Loading it took a quarter of a batch's fixed cost, and under load a
batch's fixed cost sets how long messages wait for the next batch. A named fast path of the ingest (README)."""

import gc
import sys
import threading
import types
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

from django.conf import settings
from django.db import connection

from core.batch_reads import cached

T = TypeVar("T")

# The tables an organization's automation setup is read from, with the condition naming its rows. A change to any of
# them (insert, update, delete, a bulk update that skips signals and updated_at alike) changes the fingerprint.
_SETUP_ROWS = (
    ("tickets_rule", "organization_id = %(org)s"),
    ("tickets_autoresponse", "organization_id = %(org)s"),
    # Auto-responses read their canned responses; the organization's other canned responses play no part.
    ("tickets_cannedresponse", "id IN (SELECT response_id FROM tickets_autoresponse WHERE organization_id = %(org)s)"),
    (
        "tickets_cannedresponsevariant",
        "response_id IN (SELECT response_id FROM tickets_autoresponse WHERE organization_id = %(org)s)",
    ),
    ("tickets_businesscalendar", "organization_id = %(org)s"),
    ("tickets_businessclosure", "organization_id = %(org)s"),
    ("tickets_slapolicy", "organization_id = %(org)s"),
    ("tickets_automationsettings", "organization_id = %(org)s"),
    ("accounts_organization", "id = %(org)s"),  # its time zone shapes the business-hours calendars
)
# Every row version has its own (ctid, xmin): an update writes a new version at a new ctid (even within the
# transaction that created the row, where xmin stays the same), a delete drops one, an insert adds one.
_VERSIONS = "coalesce((SELECT md5(string_agg(ctid::text || xmin::text, ',' ORDER BY ctid)) FROM {} WHERE {}), '-')"
_FINGERPRINT_SQL = "SELECT concat_ws('|', {})".format(
    ", ".join(_VERSIONS.format(table, where) for table, where in _SETUP_ROWS)
)
# Entries (organizations × kinds of setup) one process keeps, least recently used dropped first: memory does not
# grow with the number of organizations a worker serves. AUTOMATION_SETUP_CACHE_ENTRIES overrides it.
_MAX_KEPT = 2000
# And the bytes they may hold: entries differ a thousandfold in size (a bare organization's compiled rules take 2 KB,
# 200 rules with keyword sets 1.2 MB), so a count alone let 2,000 entries reach hundreds of MB in each worker
# process. AUTOMATION_SETUP_CACHE_MB overrides it.
_MAX_MB = 32

_kept: OrderedDict[Hashable, tuple[str, object, int]] = OrderedDict()  # key -> (fingerprint, value, bytes)
_kept_bytes = 0
_kept_lock = threading.Lock()


def max_kept() -> int:
    return max(int(getattr(settings, "AUTOMATION_SETUP_CACHE_ENTRIES", _MAX_KEPT)), 1)


def max_kept_bytes() -> int:
    return max(int(float(getattr(settings, "AUTOMATION_SETUP_CACHE_MB", _MAX_MB)) * 2**20), 0)


def kept_bytes() -> int:
    """What the kept setups hold, as `size_of` estimated each when it was loaded."""
    return _kept_bytes


# Shared by every value rather than held by one: modules, classes, code. A function counts only what it closes over
# (its globals are its module's).
_SHARED = (types.ModuleType, type, types.CodeType, types.FrameType)
# Past this many objects a value is taken to be as large as the budget: it is not kept.
_SIZE_WALK_LIMIT = 500_000


def size_of(value: object) -> int:
    """An estimate of the bytes `value` holds (sys.getsizeof over everything it references, once each), taken once
    per load, so the budget is in bytes. Objects outside the value that it references (a setting, an enum member)
    count too: the estimate errs on the large side."""
    seen: set[int] = set()
    stack = [value]
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, _SHARED):
            continue
        seen.add(id(obj))
        if len(seen) > _SIZE_WALK_LIMIT:
            return sys.maxsize
        total += sys.getsizeof(obj)
        if isinstance(obj, types.FunctionType):
            stack.extend(cell.cell_contents for cell in obj.__closure__ or () if _filled(cell))
            stack.extend(obj.__defaults__ or ())
            stack.extend((obj.__kwdefaults__ or {}).values())
        elif not isinstance(obj, types.BuiltinFunctionType):  # (a builtin's referent is its module)
            stack.extend(gc.get_referents(obj))
    return total


def _filled(cell) -> bool:
    try:
        cell.cell_contents  # noqa: B018 (an empty cell raises)
    except ValueError:
        return False
    return True


def _keep(full_key: Hashable, fingerprint: str, value: object, size: int) -> None:
    """Keep an entry (replacing the key's older one), then drop the least recently used until both the count and
    the bytes are within their settings. One larger than the whole budget is not kept."""
    global _kept_bytes
    with _kept_lock:
        old = _kept.pop(full_key, None)
        if old is not None:
            _kept_bytes -= old[2]
        if size > max_kept_bytes():
            return
        _kept[full_key] = (fingerprint, value, size)
        _kept_bytes += size
        limit, budget = max_kept(), max_kept_bytes()
        while len(_kept) > limit or _kept_bytes > budget:
            _key, (_fingerprint, _value, dropped) = _kept.popitem(last=False)
            _kept_bytes -= dropped


def forget_all() -> None:
    """Drop every kept setup (tests)."""
    global _kept_bytes
    with _kept_lock:
        _kept.clear()
        _kept_bytes = 0


def setup_fingerprint(organization_id: int) -> str:
    """The fingerprint of the organization's automation setup as this transaction sees it (once per batch)."""

    def load() -> str:
        with connection.cursor() as cursor:
            cursor.execute(_FINGERPRINT_SQL, {"org": organization_id})
            return cursor.fetchone()[0]

    return cached(("setup_fingerprint", organization_id), load)


def cached_setup(organization_id: int, key: Hashable, load: Callable[[], T]) -> T:
    """`cached` for a part of the organization's automation setup: what this process loaded earlier is reused while
    the setup's fingerprint is the same. The fingerprint is read before loading, so a change made meanwhile is
    loaded again next time rather than missed. Values are shared: callers must not modify them."""
    full_key = (organization_id, key)

    def load_kept() -> T:
        fingerprint = setup_fingerprint(organization_id)
        with _kept_lock:
            held = _kept.get(full_key)
            if held is not None and held[0] == fingerprint:
                _kept.move_to_end(full_key)
                return held[1]
        value = load()
        _keep(full_key, fingerprint, value, size_of(value))
        return value

    return cached(full_key, load_kept)
