"""The organization's automation setup (rules, auto-responses with their canned responses, calendars, SLA policies,
automation settings) kept across ingest batches, per process, for as long as its fingerprint is unchanged: one query
per batch instead of one per kind of setup. Loading it took a quarter of a batch's fixed cost, and under load a
batch's fixed cost sets how long messages wait for the next batch. A named fast path of the ingest (README)."""

import threading
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

_kept: OrderedDict[Hashable, tuple[str, object]] = OrderedDict()
_kept_lock = threading.Lock()


def max_kept() -> int:
    return max(int(getattr(settings, "AUTOMATION_SETUP_CACHE_ENTRIES", _MAX_KEPT)), 1)


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
        with _kept_lock:
            _kept[full_key] = (fingerprint, value)
            _kept.move_to_end(full_key)
            limit = max_kept()
            while len(_kept) > limit:
                _kept.popitem(last=False)
        return value

    return cached(full_key, load_kept)
