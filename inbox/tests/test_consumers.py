"""Who is online in an organization: one entry per open connection in Redis, expiring without heartbeats; the
WebSocket marks it, its pings refresh it, closing it removes it, and coming online drains the member's team queues."""

import time

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django_scopes import scope

from accounts import services as account_services
from accounts.models import Availability, Membership, Team
from config.asgi import application
from core import presence
from tickets.models import Ticket
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

ORG, OTHER_ORG = 101, 102


def test_a_connection_makes_its_user_online_and_a_second_tab_is_counted_apart():
    assert presence.online_touch(ORG, 7, "tab-1") is True  # came online
    assert presence.online_touch(ORG, 7, "tab-2") is False  # already online
    assert presence.online_touch(ORG, 8, "tab-3") is True
    assert presence.online_user_ids(ORG) == {7, 8}
    assert presence.online_user_ids(OTHER_ORG) == set()

    presence.online_leave(ORG, 7, "tab-1")
    assert presence.online_user_ids(ORG) == {7, 8}  # the other tab is still open
    presence.online_leave(ORG, 7, "tab-2")
    assert presence.online_user_ids(ORG) == {8}


def test_an_entry_expires_without_heartbeats_and_the_next_one_brings_the_user_back():
    long_ago = time.time() - presence.ONLINE_TTL - 1
    assert presence.online_touch(ORG, 7, "tab", now=long_ago) is True
    assert presence.online_user_ids(ORG) == set()
    assert presence.online_user_ids(ORG, now=long_ago + 1) == {7}  # it was online then
    # A heartbeat after the expiry (a laptop waking up) counts as coming online again.
    assert presence.online_touch(ORG, 7, "tab") is True
    assert presence.online_touch(ORG, 7, "tab") is False
    assert presence.online_user_ids(ORG) == {7}


# --- through the WebSocket ----------------------------------------------------------------------------------------


def _socket(slug: str, user, query: str = "") -> WebsocketCommunicator:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    return WebsocketCommunicator(
        application, f"/ws/orgs/{slug}/{query}", headers=[(b"origin", b"http://testserver"), (b"cookie", cookie)]
    )


@pytest.mark.django_db(transaction=True)
def test_the_socket_marks_its_member_online_until_the_last_tab_closes(tenant_a):
    agent = tenant_a.users["agent"]
    org_id = tenant_a.organization.pk

    async def run():
        first = await sync_to_async(_socket)(tenant_a.slug, agent)
        second = await sync_to_async(_socket)(tenant_a.slug, agent)
        seen = []
        for socket in (first, second):
            assert (await socket.connect())[0]
            await socket.receive_json_from()  # hello
        seen.append(presence.online_user_ids(org_id))
        await first.send_json_to({"type": "ping"})
        assert (await first.receive_json_from())["type"] == "pong"
        await first.disconnect()
        seen.append(presence.online_user_ids(org_id))
        await second.disconnect()
        seen.append(presence.online_user_ids(org_id))
        return seen

    assert async_to_sync(run)() == [{agent.pk}, {agent.pk}, set()]


@pytest.mark.django_db(transaction=True)
def test_an_observing_socket_gets_events_but_never_makes_its_member_online(tenant_a):
    # The live panel watches with ?observe=1: a manager reading the numbers is not at work in the inbox, and must
    # neither count among the agents online nor draw automatic assignments.
    manager = tenant_a.users["manager"]
    org_id = tenant_a.organization.pk

    async def run():
        socket = await sync_to_async(_socket)(tenant_a.slug, manager, "?observe=1")
        assert (await socket.connect())[0]
        assert (await socket.receive_json_from())["type"] == "hello"
        await socket.send_json_to({"type": "ping"})
        assert (await socket.receive_json_from())["type"] == "pong"
        online = presence.online_user_ids(org_id)
        await socket.disconnect()
        return online

    assert async_to_sync(run)() == set()


@pytest.mark.django_db(transaction=True)
def test_coming_online_assigns_the_waiting_tickets_of_the_agents_teams(tenant_a):
    # Given a team that assigns only to online agents, and a ticket waiting in its queue
    agent, away = tenant_a.users["agent"], tenant_a.users["manager"]
    conn = connection(tenant_a)
    with scope(organization=tenant_a.organization):
        team = account_services.team_create(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], name="Support", members=[agent, away]
        )
        Team.objects.filter(pk=team.pk).update(assignment_strategy="round_robin", require_online=True)
        account_services.connection_access_set(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], connection=conn, teams=[team]
        )
        Membership.objects.filter(user=away).update(availability=Availability.AWAY)
        message, _ = message_ingest(
            organization=tenant_a.organization, connection=conn, inbound=inbound("至急お願いします", thread="w")
        )
        Ticket.objects.filter(pk=message.ticket_id).update(team=team)

    async def run():
        # When the away manager opens the inbox, nothing happens; when the agent does, the ticket is theirs
        manager_socket = await sync_to_async(_socket)(tenant_a.slug, away)
        await manager_socket.connect()
        await manager_socket.receive_json_from()  # hello
        agent_socket = await sync_to_async(_socket)(tenant_a.slug, agent)
        await agent_socket.connect()
        await agent_socket.receive_json_from()  # hello
        received = []
        while not await agent_socket.receive_nothing(timeout=1):
            received.append(await agent_socket.receive_json_from())
        for socket in (manager_socket, agent_socket):
            await socket.disconnect()
        return received

    received = async_to_sync(run)()

    # Then the agent's browser hears about it live
    with scope(organization=tenant_a.organization):
        assert Ticket.objects.get(pk=message.ticket_id).assignee_id == agent.pk
    notifications = [e for e in received if e["type"] == "notification.created"]
    assert [n["payload"]["kind"] for n in notifications] == ["assigned"]
    assert notifications[0]["payload"]["ticket_id"] == message.ticket_id
