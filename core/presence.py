"""Presence, ephemeral in Redis with expiry — never a database write per keystroke or heartbeat.

Two kinds:
- who is viewing or typing in a ticket (a hash per ticket, shown next to the conversation);
- who is online in an organization: a sorted set per organization whose members are `<user id>:<connection>`
  (one per open WebSocket, so a second tab is its own entry and closing it leaves the user online) scored with the
  time of that connection's last heartbeat. An entry older than ONLINE_TTL is gone: a browser that crashed or lost
  its network disappears without a disconnect. Automatic assignment reads it (`online_user_ids`) from workers.
"""

import json
import time

import redis
import redis.asyncio as aioredis
from django.conf import settings

from core.redis_client import redis_client

VIEW_TTL = 60  # seconds without a heartbeat before a viewer disappears
TYPING_TTL = 6
# The inbox pings every 20 s; browsers throttle timers in background tabs to about once a minute, so 90 s keeps a
# background tab online while a dead one drops out within a minute and a half.
ONLINE_TTL = 90


def _key(organization_id: int, ticket_id: int) -> str:
    return f"tsunagu:presence:{organization_id}:{ticket_id}"


def _online_key(organization_id: int) -> str:
    return f"tsunagu:online:{int(organization_id)}"


def _online_member(user_id: int, connection_id: str) -> str:
    return f"{int(user_id)}:{connection_id}"


def _user_of(member: bytes | str) -> int:
    text = member.decode() if isinstance(member, bytes) else member
    return int(text.split(":", 1)[0])


def _queue_online_touch(pipe, organization_id: int, user_id: int, connection_id: str, now: float) -> None:
    """The commands of one heartbeat, queued on a MULTI pipeline (sync or asyncio): drop expired entries, read who
    is left (before this entry is written), write this connection's entry, keep the key alive as long as needed."""
    key = _online_key(organization_id)
    pipe.zremrangebyscore(key, "-inf", now - ONLINE_TTL)
    pipe.zrange(key, 0, -1)
    pipe.zadd(key, {_online_member(user_id, connection_id): now})
    pipe.expire(key, ONLINE_TTL * 2)


def _came_online(results: list, user_id: int) -> bool:
    """From the pipeline's results: did the user have no live connection before this heartbeat?"""
    before = results[1]
    return not any(_user_of(member) == user_id for member in before)


def _redis() -> redis.Redis:
    return redis_client()


# --- online members: synchronous helpers for views, services and workers ---------------------------------------


def online_user_ids(organization_id: int, *, now: float | None = None) -> set[int]:
    """Users of the organization with at least one live connection (a heartbeat within ONLINE_TTL)."""
    now = time.time() if now is None else now
    members = _redis().zrangebyscore(_online_key(organization_id), now - ONLINE_TTL, "+inf")
    return {_user_of(member) for member in members}


def online_touch(organization_id: int, user_id: int, connection_id: str, *, now: float | None = None) -> bool:
    """Record a heartbeat of one connection. Returns True when this made the user online (their first live
    connection). The same as `Presence.online_touch`, for synchronous callers (tests, benchmarks, tools)."""
    now = time.time() if now is None else now
    pipe = _redis().pipeline(transaction=True)
    _queue_online_touch(pipe, organization_id, user_id, connection_id, now)
    return _came_online(pipe.execute(), user_id)


def online_leave(organization_id: int, user_id: int, connection_id: str) -> None:
    _redis().zrem(_online_key(organization_id), _online_member(user_id, connection_id))


# --- the WebSocket consumer's asynchronous side ----------------------------------------------------------------


class Presence:
    def __init__(self):
        self._redis = aioredis.Redis.from_url(settings.REDIS_URL)

    async def close(self) -> None:
        await self._redis.aclose()

    async def touch(self, organization_id: int, ticket_id: int, user_id: int, name: str, typing: bool = False) -> None:
        now = time.time()
        entry = {"user_id": user_id, "name": name, "seen": now, "typing_until": now + TYPING_TTL if typing else 0}
        key = _key(organization_id, ticket_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, str(user_id), json.dumps(entry))
            pipe.expire(key, VIEW_TTL)
            await pipe.execute()

    async def leave(self, organization_id: int, ticket_id: int, user_id: int) -> None:
        await self._redis.hdel(_key(organization_id, ticket_id), str(user_id))

    async def viewers(self, organization_id: int, ticket_id: int) -> list[dict]:
        now = time.time()
        raw = await self._redis.hgetall(_key(organization_id, ticket_id))
        result = []
        for value in raw.values():
            entry = json.loads(value)
            if now - entry["seen"] <= VIEW_TTL:
                result.append(
                    {"user_id": entry["user_id"], "name": entry["name"], "typing": entry["typing_until"] > now}
                )
        return sorted(result, key=lambda e: e["user_id"])

    async def online_touch(self, organization_id: int, user_id: int, connection_id: str) -> bool:
        """A connection opened or sent its heartbeat. True when the user just came online (also after an expiry:
        a laptop waking from sleep comes back online with its next ping)."""
        async with self._redis.pipeline(transaction=True) as pipe:
            _queue_online_touch(pipe, organization_id, user_id, connection_id, time.time())
            return _came_online(await pipe.execute(), user_id)

    async def online_leave(self, organization_id: int, user_id: int, connection_id: str) -> None:
        await self._redis.zrem(_online_key(organization_id), _online_member(user_id, connection_id))
