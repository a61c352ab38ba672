"""Reads that hold for one ingest batch. A batch of messages asks the same questions once per message — the rule
set, the SLA policy of a priority, the channel's auto-responses, the automation settings — and none of the answers
can change while the batch's transaction runs (nothing in an ingest edits rules, policies or settings).
Inside `batch_reads()` each answer is loaded once; outside it, `cached` simply loads. (A named fast path of the
ingest: automation.setup_cache keeps the setup across batches on top of this.)"""

import contextlib
import contextvars
from collections.abc import Callable, Hashable
from typing import TypeVar

T = TypeVar("T")

_answers: contextvars.ContextVar[dict | None] = contextvars.ContextVar("tickets_batch_reads", default=None)


@contextlib.contextmanager
def batch_reads():
    if _answers.get() is not None:  # nested: the outer batch keeps the answers
        yield
        return
    token = _answers.set({})
    try:
        yield
    finally:
        _answers.reset(token)


def remember(key: Hashable, value) -> None:
    """Keep an answer found out along the way (only inside a batch)."""
    answers = _answers.get()
    if answers is not None:
        answers[key] = value


def recall(key: Hashable):
    """What `remember` kept in this batch; None outside one or when nothing was kept."""
    answers = _answers.get()
    return None if answers is None else answers.get(key)


def cached(key: Hashable, load: Callable[[], T]) -> T:
    answers = _answers.get()
    if answers is None:
        return load()
    if key not in answers:
        answers[key] = load()
    return answers[key]
