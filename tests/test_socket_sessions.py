"""The WebSocket does not outlive what authorised it (issue 15, finding 8): signing out, a new password, a revoked
session or a removed membership close it; an access change leaves the tickets being viewed as well as the queues."""

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.models import Session
from django.test import Client

from accounts import services as account_services
from accounts.models import Membership
from config.asgi import application
from inbox import consumers
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db(transaction=True)


def _signed_in(user) -> tuple[Client, bytes]:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client, f"sessionid={client.cookies['sessionid'].value}".encode()


def _socket(slug: str, cookie: bytes) -> WebsocketCommunicator:
    return WebsocketCommunicator(
        application, f"/ws/orgs/{slug}/", headers=[(b"origin", b"http://testserver"), (b"cookie", cookie)]
    )


async def _open(slug, cookie) -> WebsocketCommunicator:
    socket = _socket(slug, cookie)
    connected, _code = await socket.connect()
    assert connected
    assert (await socket.receive_json_from())["type"] == "hello"
    return socket


async def _closed_with(socket) -> int | None:
    """The close code the server sent within two seconds (None if the socket stayed open)."""
    while True:
        try:
            output = await socket.receive_output(timeout=2)
        except TimeoutError:
            return None
        if output["type"] == "websocket.close":
            return output.get("code")


def test_signing_out_closes_the_socket_of_that_session_only(tenant_a):
    agent = tenant_a.users["agent"]
    leaving, leaving_cookie = _signed_in(agent)
    _staying, staying_cookie = _signed_in(agent)

    async def run():
        first = await _open(tenant_a.slug, leaving_cookie)
        second = await _open(tenant_a.slug, staying_cookie)
        await sync_to_async(leaving.post)("/accounts/logout/")
        closed = await _closed_with(first)
        await second.send_json_to({"type": "ping"})
        pong = await second.receive_json_from(timeout=2)
        await second.disconnect()
        return closed, pong

    closed, pong = async_to_sync(run)()
    assert closed == consumers.CLOSE_UNAUTHENTICATED
    assert pong["type"] == "pong"


def test_a_new_password_closes_the_sockets_of_the_old_sessions(tenant_a):
    agent = tenant_a.users["agent"]
    _client, cookie = _signed_in(agent)

    def change_password():
        agent.set_password("an-entirely-new-passphrase")
        agent.save()

    async def run():
        socket = await _open(tenant_a.slug, cookie)
        await sync_to_async(change_password)()
        return await _closed_with(socket)

    assert async_to_sync(run)() == consumers.CLOSE_UNAUTHENTICATED


def test_a_revoked_session_closes_the_socket_at_its_next_check(tenant_a, monkeypatch):
    monkeypatch.setattr(consumers, "SESSION_RECHECK_SECONDS", 0)
    _client, cookie = _signed_in(tenant_a.users["agent"])

    async def run():
        socket = await _open(tenant_a.slug, cookie)
        await socket.send_json_to({"type": "ping"})
        assert (await socket.receive_json_from())["type"] == "pong"  # still valid
        await sync_to_async(Session.objects.all().delete)()  # an administrator ends every session
        await socket.send_json_to({"type": "ping"})
        return await _closed_with(socket)

    assert async_to_sync(run)() == consumers.CLOSE_UNAUTHENTICATED


def test_a_removed_member_is_disconnected(tenant_a):
    agent = tenant_a.users["agent"]
    _client, cookie = _signed_in(agent)

    def remove():
        with tenant_a.scope():
            account_services.member_remove(
                organization=tenant_a.organization,
                actor=tenant_a.users["owner"],
                actor_membership=tenant_a.memberships["owner"],
                membership=Membership.objects.get(user=agent),
            )

    async def run():
        socket = await _open(tenant_a.slug, cookie)
        await sync_to_async(remove)()
        return await _closed_with(socket)

    assert async_to_sync(run)() == consumers.CLOSE_NOT_FOUND


def test_losing_access_to_a_channel_leaves_the_ticket_being_viewed(tenant_a):
    agent, manager = tenant_a.users["agent"], tenant_a.users["manager"]
    line = connection(tenant_a, "line")
    with tenant_a.scope():
        account_services.connection_access_set(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], connection=line, users=[agent]
        )
        ticket_id = message_ingest(organization=tenant_a.organization, connection=line, inbound=inbound("秘密"))[
            0
        ].ticket_id
    _a, agent_cookie = _signed_in(agent)
    _m, manager_cookie = _signed_in(manager)

    def revoke():
        with tenant_a.scope():
            account_services.connection_access_set(
                organization=tenant_a.organization, actor=tenant_a.users["owner"], connection=line, users=[]
            )

    async def run():
        agent_socket = await _open(tenant_a.slug, agent_cookie)
        manager_socket = await _open(tenant_a.slug, manager_cookie)
        await agent_socket.send_json_to({"type": "view", "ticket_id": ticket_id})
        assert (await agent_socket.receive_json_from())["type"] == "presence"
        await sync_to_async(revoke)()
        while not await agent_socket.receive_nothing(timeout=1):  # access.changed, and the agent's own leaving
            await agent_socket.receive_json_from()
        # The manager now views and types on the ticket: the agent hears nothing of it any more.
        await manager_socket.send_json_to({"type": "view", "ticket_id": ticket_id})
        await manager_socket.send_json_to({"type": "typing", "ticket_id": ticket_id})
        heard = []
        while not await agent_socket.receive_nothing(timeout=1):
            heard.append(await agent_socket.receive_json_from())
        await agent_socket.disconnect()
        await manager_socket.disconnect()
        return heard

    assert [m for m in async_to_sync(run)() if m.get("ticket_id") == ticket_id] == []
