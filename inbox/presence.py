"""Who is viewing or typing in a ticket: ephemeral, in Redis with expiry — never a database write per keystroke."""

import json
import time

import redis.asyncio as aioredis
from django.conf import settings

VIEW_TTL = 60  # seconds without a heartbeat before a viewer disappears
TYPING_TTL = 6


def _key(organization_id: int, ticket_id: int) -> str:
    return f"tsunagu:presence:{organization_id}:{ticket_id}"


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
