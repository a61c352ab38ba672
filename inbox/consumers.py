"""The browser's WebSocket: `/ws/orgs/<slug>/`. Authenticated by the session; joins only the groups the member may
see (core.realtime); replays stored events after the last id the browser saw; carries presence and typing.

An open socket also makes its member *online* in the organization (core.presence): marked on connect, refreshed by
the browser's `ping` (inbox.js sends one every 20 s), removed on disconnect, expired when the pings stop. When a
member comes online, the queues of their teams are drained (automatic assignment) by a Celery task. A socket opened
with `?observe=1` (the live panel) receives the same events but never makes its member online: watching the numbers
is not being at work in the inbox, and must not draw automatic assignments."""

import logging
import time
from importlib import import_module
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.utils.crypto import constant_time_compare
from django_otp import DEVICE_ID_SESSION_KEY
from django_scopes import scope

from accounts.models import Membership, Organization, User
from automation.routing.assignment import agent_queues_drain_later
from channels_integrations import tasks as channel_tasks
from channels_integrations.permissions import connections_visible_to
from channels_integrations.registry import connector_for, has_connector
from core import realtime
from core.presence import Presence
from tickets.models import Ticket

logger = logging.getLogger("tsunagu.ws")

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
# Besides the pushed `session.check`, a ping re-checks the session at most this often (a session deleted from the
# store directly, or expired, closes the socket within about a minute).
SESSION_RECHECK_SECONDS = 60


class InboxConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope["user"]
        if not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        access = await database_sync_to_async(self._access)(user, self.scope["url_route"]["kwargs"]["org_slug"])
        if access is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.organization, self.membership, self.connection_ids = access
        if self.organization.require_two_factor and not self.scope["session"].get(DEVICE_ID_SESSION_KEY):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.user = user
        self.groups_joined: set[str] = set()
        self.viewing: set[int] = set()
        self.presence = Presence()
        self.session_checked = time.monotonic()
        self.observer = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get("observe") == ["1"]
        # ticket -> (connection, thread key) where the platform shows agent activity to the customer, else None
        self.activity_targets: dict[int, tuple[int, str] | None] = {}
        await self._join(self._base_groups())
        await self.accept()
        await self.send_json({"type": "hello", "organization": self.organization.slug})
        await self._heartbeat()

    def _access(self, user, slug: str):
        organization = Organization.objects.filter(slug=slug).first()
        if organization is None:
            return None
        with scope(organization=organization):
            membership = Membership.objects.select_related("role", "user").filter(user=user).first()
            if membership is None:
                return None
            connection_ids = set(connections_visible_to(membership).values_list("pk", flat=True))
        return organization, membership, connection_ids

    def _base_groups(self) -> set[str]:
        org_id = self.organization.pk
        return {realtime.user_group(org_id, self.user.pk), realtime.session_group(self.user.pk)} | {
            realtime.queue_group(org_id, cid) for cid in self.connection_ids
        }

    async def _join(self, groups: set[str]) -> None:
        for group in groups - self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined |= groups

    async def _leave(self, groups: set[str]) -> None:
        for group in groups & self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined -= groups

    async def disconnect(self, code):
        if not hasattr(self, "groups_joined"):
            return
        for ticket_id in list(self.viewing):
            await self._stop_viewing(ticket_id)
        await self._leave(set(self.groups_joined))
        if not self.observer:
            await self.presence.online_leave(self.organization.pk, self.user.pk, self.channel_name)
        await self.presence.close()

    # --- from the browser -------------------------------------------------------------------------------------

    async def receive_json(self, content, **kwargs):
        kind = content.get("type") if isinstance(content, dict) else None
        try:
            if kind == "resume":
                await self._resume(int(content.get("last_id") or 0))
            elif kind == "view":
                await self._view(int(content["ticket_id"]))
            elif kind == "leave":
                await self._stop_viewing(int(content["ticket_id"]))
            elif kind == "typing":
                await self._typing(int(content["ticket_id"]))
            elif kind == "ping":
                if time.monotonic() - self.session_checked > SESSION_RECHECK_SECONDS:
                    if not await self._check_session():
                        return
                for ticket_id in self.viewing:
                    await self.presence.touch(self.organization.pk, ticket_id, self.user.pk, str(self.user))
                await self._heartbeat()
                await self.send_json({"type": "pong"})
            else:
                await self.send_json({"type": "error", "message": "unknown message type"})
        except (KeyError, TypeError, ValueError):
            await self.send_json({"type": "error", "message": "malformed message"})

    async def _heartbeat(self) -> None:
        """Keep this connection's online entry fresh; the member's first live connection (or the first ping after
        their entries expired) may let automatic assignment give them waiting tickets."""
        if self.observer:
            return
        # The channel name is unique per connection: each tab is its own entry.
        if await self.presence.online_touch(self.organization.pk, self.user.pk, self.channel_name):
            await database_sync_to_async(self._came_online)()

    def _came_online(self) -> None:
        try:
            with scope(organization=self.organization):
                agent_queues_drain_later(organization=self.organization, user=self.user)
        except Exception:
            # Best effort: the beat's periodic drain assigns the waiting tickets anyway; the socket must stay up.
            logger.exception("could not queue the team drains of user %s", self.user.pk)

    async def _resume(self, last_id: int) -> None:
        events, reload = await database_sync_to_async(realtime.events_after)(
            organization=self.organization, groups=sorted(self.groups_joined), last_id=last_id
        )
        await self.send_json({"type": "replay", "events": events, "reload": reload})

    async def _view(self, ticket_id: int) -> None:
        if not await database_sync_to_async(self._may_see_ticket)(ticket_id):
            await self.send_json({"type": "error", "message": "not found", "ticket_id": ticket_id})
            return
        self.viewing.add(ticket_id)
        await self._join({realtime.ticket_group(self.organization.pk, ticket_id)})
        await self.presence.touch(self.organization.pk, ticket_id, self.user.pk, str(self.user))
        await self._broadcast_presence(ticket_id)
        await database_sync_to_async(self._agent_activity)(ticket_id, "read")

    async def _typing(self, ticket_id: int) -> None:
        if ticket_id in self.viewing:
            await self.presence.touch(self.organization.pk, ticket_id, self.user.pk, str(self.user), typing=True)
            await self._broadcast_presence(ticket_id)
            await database_sync_to_async(self._agent_activity)(ticket_id, "typing")

    def _agent_activity(self, ticket_id: int, activity: str) -> None:
        """Let the platform show the customer that an agent read (opened) or is answering the conversation, where it
        can (Connector.agent_activity: LINE's read marks and loading animation), in a task, off the socket. An
        observing socket shows nothing."""
        if self.observer:
            return
        targets = self.activity_targets
        if ticket_id not in targets:
            with scope(organization=self.organization):
                row = (
                    Ticket.objects.filter(pk=ticket_id)
                    .values_list("connection_id", "connection__platform", "external_thread_key")
                    .first()
                )
            shows = row is not None and has_connector(row[1]) and connector_for(row[1]).shows_agent_activity
            targets[ticket_id] = (row[0], row[2]) if shows else None
        target = targets[ticket_id]
        if target is None:
            return
        try:
            channel_tasks.agent_activity.delay(
                organization_id=self.organization.pk, connection_id=target[0], thread_key=target[1], activity=activity
            )
        except Exception:  # a courtesy to the customer must never break the agent's socket
            logger.exception("could not queue agent activity on ticket %s", ticket_id)

    async def _stop_viewing(self, ticket_id: int) -> None:
        if ticket_id not in self.viewing:
            return
        self.viewing.discard(ticket_id)
        await self.presence.leave(self.organization.pk, ticket_id, self.user.pk)
        await self._broadcast_presence(ticket_id)
        await self._leave({realtime.ticket_group(self.organization.pk, ticket_id)})

    async def _check_session(self) -> bool:
        """Close the socket when the session that opened it is gone (signed out, expired, revoked) or no longer
        valid (the password changed, the account was deactivated). True while it is valid."""
        self.session_checked = time.monotonic()
        if await database_sync_to_async(self._session_valid)():
            return True
        logger.info("closing the socket of user %s: its session ended", self.user.pk)
        await self.close(code=CLOSE_UNAUTHENTICATED)
        return False

    def _session_valid(self) -> bool:
        key = self.scope["session"].session_key
        store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=key)
        if not key or not store.exists(key):
            return False
        data = store.load()
        user = User.objects.filter(pk=self.user.pk, is_active=True).first()
        if user is None or str(data.get(SESSION_KEY)) != str(user.pk):
            return False
        return constant_time_compare(data.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash())

    def _visible_among(self, ticket_ids: set[int]) -> set[int]:
        with scope(organization=self.organization):
            return set(
                Ticket.objects.filter(pk__in=ticket_ids, connection_id__in=self.connection_ids).values_list(
                    "pk", flat=True
                )
            )

    def _may_see_ticket(self, ticket_id: int) -> bool:
        with scope(organization=self.organization):
            return Ticket.objects.filter(pk=ticket_id, connection_id__in=self.connection_ids).exists()

    async def _broadcast_presence(self, ticket_id: int) -> None:
        viewers = await self.presence.viewers(self.organization.pk, ticket_id)
        await self.channel_layer.group_send(
            realtime.ticket_group(self.organization.pk, ticket_id),
            {"type": "presence.update", "ticket_id": ticket_id, "viewers": viewers},
        )

    # --- from the bus -----------------------------------------------------------------------------------------

    async def bus_events(self, message):
        """Events of one group, in order (`core.realtime` sends a batch together); each goes out as its own frame."""
        for event in message["events"]:
            if event["type"] == "access.changed":
                await self._refresh_access()
            await self.send_json(event)

    async def session_check(self, message):
        await self._check_session()

    async def presence_update(self, message):
        await self.send_json({"type": "presence", "ticket_id": message["ticket_id"], "viewers": message["viewers"]})

    async def _refresh_access(self) -> None:
        access = await database_sync_to_async(self._access)(self.user, self.organization.slug)
        if access is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.organization, self.membership, self.connection_ids = access
        # Tickets being viewed whose channel the member may no longer see are left, with their presence.
        still_visible = await database_sync_to_async(self._visible_among)(set(self.viewing))
        for ticket_id in self.viewing - still_visible:
            await self._stop_viewing(ticket_id)
        wanted = self._base_groups() | {realtime.ticket_group(self.organization.pk, t) for t in self.viewing}
        await self._leave(self.groups_joined - wanted)
        await self._join(wanted)
