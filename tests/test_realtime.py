"""The WebSocket delivers each event only to members allowed to see it, replays missed events after a reconnect,
and carries presence — tested with Channels' WebsocketCommunicator against the real Redis channel layer."""

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from accounts import services as account_services
from config.asgi import application
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db(transaction=True)


def _cookie(user) -> bytes:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def _socket(slug: str, user=None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://testserver")]
    if user is not None:
        headers.append((b"cookie", _cookie(user)))
    return WebsocketCommunicator(application, f"/ws/orgs/{slug}/", headers=headers)


def _ingest(tenant, conn, text, **kw):
    with tenant.scope():
        return message_ingest(organization=tenant.organization, connection=conn, inbound=inbound(text, **kw))


def _grant(tenant, conn, user):
    with tenant.scope():
        account_services.connection_access_set(
            organization=tenant.organization, actor=tenant.users["owner"], connection=conn, users=[user]
        )


async def _types_until_quiet(socket) -> list[tuple[str, int]]:
    received = []
    while not await socket.receive_nothing(timeout=0.6):
        event = await socket.receive_json_from()
        received.append((event["type"], event.get("payload", {}).get("ticket_id")))
    return received


def test_anonymous_and_non_members_are_refused(tenant_a, tenant_b):
    async def run():
        for socket, code in (
            (_socket(tenant_a.slug), 4401),
            (await sync_to_async(_socket)(tenant_a.slug, tenant_b.users["owner"]), 4404),
            (await sync_to_async(_socket)("no-such-org", tenant_a.users["owner"]), 4404),
        ):
            connected, close_code = await socket.connect()
            assert (connected, close_code) == (False, code)

    async_to_sync(run)()


def test_events_reach_only_members_allowed_to_see_the_channel(tenant_a, tenant_b):
    line, mail = connection(tenant_a, "line"), connection(tenant_a, "email")
    _grant(tenant_a, line, tenant_a.users["agent"])
    other_org = connection(tenant_b, "line")

    async def run():
        agent = await sync_to_async(_socket)(tenant_a.slug, tenant_a.users["agent"])
        manager = await sync_to_async(_socket)(tenant_a.slug, tenant_a.users["manager"])
        outsider = await sync_to_async(_socket)(tenant_b.slug, tenant_b.users["owner"])
        for socket in (agent, manager, outsider):
            assert (await socket.connect())[0]
            assert (await socket.receive_json_from())["type"] == "hello"
        on_line, _ = await sync_to_async(_ingest)(tenant_a, line, "LINEからの問い合わせ", thread="l1")
        on_mail, _ = await sync_to_async(_ingest)(tenant_a, mail, "メールの問い合わせ", thread="m1")
        await sync_to_async(_ingest)(tenant_b, other_org, "other org", thread="o1")
        agent_got = await _types_until_quiet(agent)
        manager_got = await _types_until_quiet(manager)
        outsider_got = await _types_until_quiet(outsider)
        for socket in (agent, manager, outsider):
            await socket.disconnect()
        return on_line.ticket_id, on_mail.ticket_id, agent_got, manager_got, outsider_got

    line_ticket, mail_ticket, agent_got, manager_got, outsider_got = async_to_sync(run)()
    assert agent_got == [("ticket.created", line_ticket), ("message.created", line_ticket)]
    assert sorted(manager_got) == sorted(
        [
            ("ticket.created", line_ticket),
            ("message.created", line_ticket),
            ("ticket.created", mail_ticket),
            ("message.created", mail_ticket),
        ]
    )
    assert {ticket for _type, ticket in outsider_got}.isdisjoint({line_ticket, mail_ticket})


def test_a_reconnecting_browser_catches_up_from_its_last_event(tenant_a):
    line = connection(tenant_a, "line")

    async def run():
        socket = await sync_to_async(_socket)(tenant_a.slug, tenant_a.users["manager"])
        await socket.connect()
        await socket.receive_json_from()  # hello
        await sync_to_async(_ingest)(tenant_a, line, "first", thread="t1")
        seen = [await socket.receive_json_from(), await socket.receive_json_from()]
        last_id = max(e["id"] for e in seen)
        await socket.disconnect()
        # While the browser is away, two more messages arrive.
        await sync_to_async(_ingest)(tenant_a, line, "second", thread="t1")
        await sync_to_async(_ingest)(tenant_a, line, "third", thread="t2")
        socket = await sync_to_async(_socket)(tenant_a.slug, tenant_a.users["manager"])
        await socket.connect()
        await socket.receive_json_from()  # hello
        await socket.send_json_to({"type": "resume", "last_id": last_id})
        replay = await socket.receive_json_from()
        await socket.disconnect()
        return {e["id"] for e in seen}, replay

    seen_ids, replay = async_to_sync(run)()
    assert replay["type"] == "replay" and replay["reload"] is False
    new = [e for e in replay["events"] if e["id"] not in seen_ids]  # the browser drops ids it has seen
    assert [e["type"] for e in new] == ["ticket.updated", "message.created", "ticket.created", "message.created"]
    assert len({e["id"] for e in new}) == len(new)


def test_presence_is_shared_between_viewers_of_a_ticket_and_refused_without_access(tenant_a):
    line, mail = connection(tenant_a, "line"), connection(tenant_a, "email")
    _grant(tenant_a, line, tenant_a.users["agent"])
    ticket_id = _ingest(tenant_a, line, "見てください", thread="p1")[0].ticket_id
    hidden_id = _ingest(tenant_a, mail, "hidden", thread="p2")[0].ticket_id

    async def run():
        agent = await sync_to_async(_socket)(tenant_a.slug, tenant_a.users["agent"])
        manager = await sync_to_async(_socket)(tenant_a.slug, tenant_a.users["manager"])
        for socket in (agent, manager):
            await socket.connect()
            await socket.receive_json_from()
        await agent.send_json_to({"type": "view", "ticket_id": hidden_id})
        refused = await agent.receive_json_from()
        await agent.send_json_to({"type": "view", "ticket_id": ticket_id})
        await agent.receive_json_from()  # presence: just the agent
        await manager.send_json_to({"type": "view", "ticket_id": ticket_id})
        both = await agent.receive_json_from()
        await manager.send_json_to({"type": "typing", "ticket_id": ticket_id})
        typing = await agent.receive_json_from()
        await manager.disconnect()
        after_leave = await agent.receive_json_from()
        await agent.disconnect()
        return refused, both, typing, after_leave

    refused, both, typing, after_leave = async_to_sync(run)()
    assert refused == {"type": "error", "message": "not found", "ticket_id": hidden_id}
    assert [v["user_id"] for v in both["viewers"]] == sorted([tenant_a.users["agent"].pk, tenant_a.users["manager"].pk])
    assert {v["user_id"]: v["typing"] for v in typing["viewers"]}[tenant_a.users["manager"].pk] is True
    assert [v["user_id"] for v in after_leave["viewers"]] == [tenant_a.users["agent"].pk]


def test_malformed_socket_messages_get_an_error_not_a_crash(tenant_a):
    async def run():
        socket = await sync_to_async(_socket)(tenant_a.slug, tenant_a.users["agent"])
        await socket.connect()
        await socket.receive_json_from()
        replies = []
        for payload in ({"type": "view"}, {"type": "view", "ticket_id": "abc"}, {"type": "nope"}, [1, 2]):
            await socket.send_json_to(payload)
            replies.append((await socket.receive_json_from())["type"])
        await socket.send_json_to({"type": "ping"})
        replies.append((await socket.receive_json_from())["type"])
        await socket.disconnect()
        return replies

    assert async_to_sync(run)() == ["error", "error", "error", "error", "pong"]
