"""The one event bus. Domain code calls `publish()` inside its transaction; after commit the event is stored (its id
is the browsers' resume cursor) and sent to the Channels group. Groups, and so who receives what:

- `org.<org>.queue.<connection>`: every member allowed to see that connection's tickets (the consumer subscribes
  each member to exactly the connections `channels_integrations.permissions.connections_visible_to` returns);
- `org.<org>.user.<user>`: one member (notifications, their own access changes);
- `org.<org>.ticket.<ticket>`: the members currently viewing that ticket, for presence and typing — joined only after
  the same permission check. Ticket and message events go to the queue group only: every viewer is in it;
- `user.<user>.sessions`: all of one user's sockets, for the `session.check` control message (`sessions_check`).
"""

import contextlib
import logging
import threading
from datetime import timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from core.db import commit_without_flush, copy_insert
from core.models import RealtimeEvent

logger = logging.getLogger("tsunagu.realtime")


def queue_group(organization_id: int, connection_id: int) -> str:
    return f"org.{organization_id}.queue.{connection_id}"


def user_group(organization_id: int, user_id: int) -> str:
    return f"org.{organization_id}.user.{user_id}"


def ticket_group(organization_id: int, ticket_id: int) -> str:
    return f"org.{organization_id}.ticket.{ticket_id}"


def session_group(user_id: int) -> str:
    """Every open socket of one user, in any organization: told to re-check its session (sign-out, new password)."""
    return f"user.{user_id}.sessions"


def sessions_check(user_id: int) -> None:
    """Ask the user's open sockets to check that the session that opened each is still valid (those that are not
    close), once the current transaction commits. A control message, not an event: nothing to store or replay (a
    socket that reconnects is authenticated afresh)."""

    def send() -> None:
        try:
            async_to_sync(get_channel_layer().group_send)(session_group(user_id), {"type": "session.check"})
        except Exception:  # the sockets' periodic check closes them anyway
            logger.exception("could not ask the sockets of user %s to check their session", user_id)

    transaction.on_commit(send)


def publish(*, organization, type: str, payload: dict, groups: list[str]) -> None:
    """Send an event to groups once the current transaction commits (immediately when there is none). Inside
    `batched()`, committed events wait for the end of the block and go out together."""
    transaction.on_commit(lambda: _committed(organization, type, payload, groups))


_batch = threading.local()


@contextlib.contextmanager
def batched():
    """Collect the events of the transactions inside the block and deliver them together when it ends: one insert
    and one pass over the channel layer instead of one of each per event (the ingest of a batch of messages).
    Rolled-back transactions contribute nothing: their on_commit callbacks never run."""
    if getattr(_batch, "pending", None) is not None:  # nested: the outer block delivers
        yield
        return
    _batch.pending = []
    try:
        yield
    finally:
        pending, _batch.pending = _batch.pending, None
        if pending:
            _deliver(pending)


def _committed(organization, type: str, payload: dict, groups: list[str]) -> None:
    pending = getattr(_batch, "pending", None)
    if pending is not None:
        pending.append((organization, type, payload, groups))
    else:
        _deliver([(organization, type, payload, groups)])


def _deliver(events: list[tuple]) -> None:
    """Store the events (their ids are the browsers' resume cursors), then send each to its groups."""

    rows = [
        RealtimeEvent(organization_id=organization.pk, group=group, type=type, payload=payload)
        for organization, type, payload, groups in events
        for group in dict.fromkeys(groups)
    ]
    # Each row names its own organization (a batch holds one organization's events, but nothing here relies on it).
    with scopes_disabled(), transaction.atomic():
        commit_without_flush()  # stored events only serve resumes
        rows = copy_insert(rows)
    try:
        async_to_sync(_send_all)(rows)
    except Exception:  # the stored events are replayed on the browsers' next resume
        logger.exception("group_send failed for events %s", [row.id for row in rows])


async def _send_all(rows) -> None:
    """One channel-layer message per group, carrying that group's events in order: a batch of twenty messages is two
    or three `group_send`s instead of forty, and each browser's consumer wakes once for them, not forty times."""
    by_group: dict[str, list[dict]] = {}
    for row in rows:
        by_group.setdefault(row.group, []).append(
            {"id": row.id, "type": row.type, "payload": row.payload, "at": row.created_at.isoformat()}
        )
    layer = get_channel_layer()
    for group, events in by_group.items():
        await layer.group_send(group, {"type": "bus.events", "events": events})


PRUNED_KEY = "realtime:pruned-up-to"


def events_after(*, organization, groups: list[str], last_id: int, limit: int = 500) -> tuple[list[dict], bool]:
    """Stored events for these groups after `last_id`, oldest first, and whether the browser must reload instead
    (it is older than what is retained, or more than `limit` events behind)."""
    from django.core.cache import cache

    if last_id < (cache.get(PRUNED_KEY) or 0):
        return [], True
    with scope(organization=organization):
        # Ids are allocated before commit, so a slightly earlier id can become visible after a later one: look back
        # a little; the browser drops the ids it has already seen.
        rows = list(
            RealtimeEvent.objects.filter(group__in=groups, id__gt=max(0, last_id - 50)).order_by("id")[: limit + 1]
        )
    events = [{"id": r.id, "type": r.type, "payload": r.payload, "at": r.created_at.isoformat()} for r in rows]
    return events[:limit], len(events) > limit


def prune_events() -> int:
    """Forget events older than the retention window (all organizations: a periodic operator task)."""
    from django.core.cache import cache

    cutoff = timezone.now() - timedelta(seconds=settings.REALTIME_EVENT_RETENTION_SECONDS)
    with scopes_disabled():
        old = RealtimeEvent.objects.filter(created_at__lt=cutoff)
        newest_old = old.order_by("-id").values_list("id", flat=True).first()
        if newest_old is None:
            return 0
        deleted, _ = RealtimeEvent.objects.filter(id__lte=newest_old).delete()
    cache.set(PRUNED_KEY, newest_old, timeout=None)
    return deleted
