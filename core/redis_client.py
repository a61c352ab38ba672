"""The process's synchronous Redis client for the application's own keys (presence, ingest wake-ups): one client and
connection pool per process (thread-safe). Not Django's cache for these: under ASGI the cache handler builds a new
client, and so a new connection, for every request context."""

import functools

import redis
from django.conf import settings


@functools.lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def redis_client() -> redis.Redis:
    return _client(settings.REDIS_URL)
