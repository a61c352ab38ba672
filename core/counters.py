"""Counting events inside a time window in the shared cache (Redis): sign-in failures, sign-up requests, rejected
webhook requests."""

from django.core.cache import cache


def count_in_window(key: str, window: int) -> int:
    """Count one event against `key` and return the count so far. The window starts at the first event and the
    count is forgotten `window` seconds later."""
    cache.add(key, 0, timeout=window)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window)
        return 1
