"""Rejected webhook requests: counted per connection (or per platform when no connection is known), shown on the
channel's page, and written to the audit log at most once per connection, reason and window.

Anyone can send a request to a webhook URL; without a limit, each forged one would add an audit row (an
unauthenticated write amplifier). The counters live in Redis, which also forgets them after RETAIN seconds."""

import time

from django.conf import settings
from django.core.cache import cache

from core.counters import count_in_window

RETAIN = 30 * 24 * 3600


def _key(connection_id: int | None, platform: str) -> str:
    return f"webhooks:rejected:{connection_id}" if connection_id else f"webhooks:rejected:platform:{platform}"


def rejection_count(*, connection_id: int | None, platform: str, reason: str) -> bool:
    """Count one rejection. True when it is the first of this reason in the window: the caller audits it."""
    key = _key(connection_id, platform)
    count_in_window(key, RETAIN)
    cache.set(f"{key}:last", time.time(), timeout=RETAIN)
    return cache.add(f"{key}:audited:{reason}", 1, timeout=settings.WEBHOOK_REJECTION_AUDIT_SECONDS)


def rejections_of(connection_id: int) -> tuple[int, float | None]:
    """(rejections counted in the last RETAIN seconds, when the last one came as a Unix time or None)."""
    key = _key(connection_id, "")
    values = cache.get_many([key, f"{key}:last"])
    return int(values.get(key) or 0), values.get(f"{key}:last")
