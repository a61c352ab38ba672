"""Work an ingest batch leaves for right after its transaction: what must not hold a lock for the whole batch (a
routing decision locks its team until its transaction ends; inside the batch that is until the last of its events
is processed, and every other batch routing to that team waits). The ingest opens `after_batch()` around its
transaction; code inside calls `defer(work)` and, when the block has ended without an error, each piece of work runs
in turn, in the same worker, synchronously — not as an on_commit callback, so that a caller of the ingest service
sees the work done when the service returns (and inside an outer transaction, e.g. a test's, it still runs).
Nested blocks leave the work to the outermost one. A failing piece is logged and the others still run: each owner
must say what happens to its work if it never runs (the worker died after the commit)."""

import contextlib
import contextvars
import logging
from collections.abc import Callable

logger = logging.getLogger("tsunagu.ingest")

_pending: contextvars.ContextVar[list | None] = contextvars.ContextVar("after_batch", default=None)


class Deferred:
    """The outermost block's list of work; `discard()` drops it (the batch was rolled back)."""

    def __init__(self) -> None:
        self.work: list[Callable[[], None]] = []

    def discard(self) -> None:
        self.work.clear()


@contextlib.contextmanager
def after_batch():
    """Collect the work `defer`red inside the block and run it when the block ends without an error."""
    if _pending.get() is not None:  # nested: the outermost block runs the work
        yield _pending.get()
        return
    deferred = Deferred()
    token = _pending.set(deferred)
    try:
        yield deferred
    finally:
        _pending.reset(token)
    # Reached only when the block raised nothing (an error propagates past this point and drops the work).
    while deferred.work:
        work = deferred.work.pop(0)
        try:
            work()
        except Exception:
            logger.exception("work deferred after an ingest batch failed")


def defer(work: Callable[[], None]) -> bool:
    """Leave `work` for the end of the enclosing `after_batch()` block. False when there is none: do it now."""
    deferred = _pending.get()
    if deferred is None:
        return False
    deferred.work.append(work)
    return True
