"""Read-only work on a PostgreSQL replica: the dashboards' and reports' heavy reads.

With `DATABASE_REPLICA_URL` set, settings add a `replica` database. Code that only reads and tolerates a replica's
lag of a few seconds (the analytics pages, report rendering) runs inside `replica_reads()` or under the
`reads_from_replica` view decorator; the router then sends that code's reads to the replica. Everything else, and
every write, stays on `default`: a page that just saved something never reads its own write from a lagging copy.
Without the setting the router answers nothing and Django uses `default`, so one code path serves both setups.
"""

from __future__ import annotations

import contextlib
import functools
from contextvars import ContextVar

from django.db import connections

REPLICA = "replica"
_reading: ContextVar[bool] = ContextVar("tsunagu_replica_reads", default=False)


def replica_configured() -> bool:
    return REPLICA in connections.settings


@contextlib.contextmanager
def replica_reads():
    """Send this block's reads to the replica, when one is configured."""
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


def reads_from_replica(view):
    """View decorator: a GET or HEAD request's reads go to the replica (a POST's do not: it may read what it wrote)."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.method not in ("GET", "HEAD"):
            return view(request, *args, **kwargs)
        with replica_reads():
            return view(request, *args, **kwargs)

    return wrapped


class ReplicaRouter:
    """Reads inside `replica_reads()` go to the replica; writes, migrations and all other reads to `default`."""

    def db_for_read(self, model, **hints):
        if _reading.get() and replica_configured():
            return REPLICA
        return None

    def db_for_write(self, model, **hints):
        return None

    def allow_relation(self, obj1, obj2, **hints):
        # The replica is a copy of `default`: an object read there may be related to one read from `default`.
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db != REPLICA  # a streaming replica receives the schema from its primary
