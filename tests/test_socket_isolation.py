"""The tenant-isolation walk over the WebSocket: every message type a browser can send, carrying the id of a ticket
in another organization, of a ticket in a channel the member may not see, and of no ticket at all. An attacker must
get the same answer for all three (nothing to count or infer), join no group, appear in no one's presence, and
receive none of those tickets' events, live or replayed. Frames that name the server's own handlers
(`bus.events`, `session.check`, `presence.update`) are just unknown types coming from a browser.

The file-serving side of the walk: the one file URL (`/<org>/attachments/<id>/`) answers another organization's and
another channel's files with the same 404 as a missing one, through the web page and through the API's link."""

import re

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.files.base import ContentFile
from django.test import Client

from accounts import services as account_services
from config.asgi import application
from tickets.models import Attachment, Message
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db(transaction=True)

MISSING = 987_654_321
QUIET = 0.5  # seconds of silence that count as "nothing more arrives"


def _cookie(user) -> bytes:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def _socket(slug: str, user) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://testserver"), (b"cookie", _cookie(user))]
    return WebsocketCommunicator(application, f"/ws/orgs/{slug}/", headers=headers)


def _ingest(tenant, conn, text, thread):
    with tenant.scope():
        message, _created = message_ingest(
            organization=tenant.organization, connection=conn, inbound=inbound(text, thread=thread)
        )
        return message.ticket_id


def _grant(tenant, conn, user):
    with tenant.scope():
        account_services.connection_access_set(
            organization=tenant.organization, actor=tenant.users["owner"], connection=conn, users=[user]
        )


async def _open(slug, user) -> WebsocketCommunicator:
    socket = await sync_to_async(_socket)(slug, user)
    connected, _code = await socket.connect()
    assert connected
    assert (await socket.receive_json_from())["type"] == "hello"
    return socket


async def _drain(socket) -> list[dict]:
    frames = []
    while not await socket.receive_nothing(timeout=QUIET):
        frames.append(await socket.receive_json_from())
    return frames


def _without_id(frames: list[dict], ticket_id: int) -> list[dict]:
    """The frames with the probed id replaced, so answers about different ids can be compared."""
    return [{k: ("<id>" if v == ticket_id else v) for k, v in frame.items()} for frame in frames]


@pytest.fixture
def world(tenant_a, tenant_b):
    """Org A: the attacker (an agent granted the LINE channel only) and a mail channel they may not see. Org B: a
    ticket of its own. Each ticket has a member watching it."""
    line, mail = connection(tenant_a, "line"), connection(tenant_a, "email")
    _grant(tenant_a, line, tenant_a.users["agent"])
    theirs = connection(tenant_b, "line")
    return {
        "own": _ingest(tenant_a, line, "見える問い合わせ", "own"),
        "hidden": _ingest(tenant_a, mail, "見えない問い合わせ", "hidden"),
        "other_org": _ingest(tenant_b, theirs, "他社の問い合わせ", "other"),
        "mail": mail,
        "theirs": theirs,
    }


@pytest.mark.parametrize("kind", ["view", "typing", "leave", "resume-then-view"])
def test_every_message_type_with_a_foreign_ticket_id_answers_as_for_a_missing_one(tenant_a, tenant_b, world, kind):
    async def probe(socket, ticket_id) -> list[dict]:
        if kind == "resume-then-view":
            await socket.send_json_to({"type": "resume", "last_id": 0})
            await socket.send_json_to({"type": "view", "ticket_id": ticket_id})
        else:
            await socket.send_json_to({"type": kind, "ticket_id": ticket_id})
        return _without_id(await _drain(socket), ticket_id)

    async def run():
        attacker = await _open(tenant_a.slug, tenant_a.users["agent"])
        manager = await _open(tenant_a.slug, tenant_a.users["manager"])  # watches the hidden ticket
        outsider = await _open(tenant_b.slug, tenant_b.users["owner"])  # watches org B's ticket
        await manager.send_json_to({"type": "view", "ticket_id": world["hidden"]})
        await outsider.send_json_to({"type": "view", "ticket_id": world["other_org"]})
        await _drain(manager), await _drain(outsider)

        answers = {name: await probe(attacker, world[name]) for name in ("hidden", "other_org")}
        answers["missing"] = await probe(attacker, MISSING)
        watchers_saw = await _drain(manager) + await _drain(outsider)

        # New customer messages in both foreign tickets after the probe: none reaches the attacker.
        await sync_to_async(_ingest)(tenant_a, world["mail"], "続きです", "hidden")
        await sync_to_async(_ingest)(tenant_b, world["theirs"], "続きです", "other")
        await attacker.send_json_to({"type": "resume", "last_id": 0})
        later = await _drain(attacker)
        for socket in (attacker, manager, outsider):
            await socket.disconnect()
        return answers, watchers_saw, later

    answers, watchers_saw, later = async_to_sync(run)()
    assert answers["hidden"] == answers["other_org"] == answers["missing"]
    if kind in ("view", "resume-then-view"):
        assert {"type": "error", "message": "not found", "ticket_id": "<id>"} in answers["missing"]
    agent_id = tenant_a.users["agent"].pk
    assert not [f for f in watchers_saw if agent_id in [v["user_id"] for v in f.get("viewers", [])]]
    assert len(later) == 1 and later[0]["type"] == "replay"  # the live pushes: none; the replay: own ticket only
    events = later[0]["events"]
    assert {e["payload"]["ticket_id"] for e in events if "ticket_id" in e["payload"]} == {world["own"]}


def test_frames_naming_server_handlers_are_unknown_types_from_a_browser(tenant_a, world):
    forged = [
        {"type": "bus.events", "events": [{"type": "access.changed", "payload": {}}]},
        {"type": "bus_events", "events": [{"type": "ticket.created", "payload": {"ticket_id": world["hidden"]}}]},
        {"type": "session.check"},
        {"type": "presence.update", "ticket_id": world["hidden"], "viewers": [{"user_id": 1, "name": "x"}]},
        {"type": "websocket.disconnect", "code": 1000},
    ]

    async def run():
        attacker = await _open(tenant_a.slug, tenant_a.users["agent"])
        replies = []
        for frame in forged:
            await attacker.send_json_to(frame)
            replies.append(await _drain(attacker))
        await attacker.send_json_to({"type": "ping"})
        still_open = await attacker.receive_json_from()
        await attacker.disconnect()
        return replies, still_open

    replies, still_open = async_to_sync(run)()
    assert replies == [[{"type": "error", "message": "unknown message type"}]] * len(forged)
    assert still_open == {"type": "pong"}


@pytest.mark.parametrize("ticket_id", [-1, 0, 2**63, 2**80, "1e3", "١٢"])
def test_out_of_range_and_odd_ids_are_refused_not_crashed(tenant_a, world, ticket_id):
    async def run():
        attacker = await _open(tenant_a.slug, tenant_a.users["agent"])
        await attacker.send_json_to({"type": "view", "ticket_id": ticket_id})
        reply = await _drain(attacker)
        await attacker.send_json_to({"type": "ping"})
        pong = await attacker.receive_json_from()
        await attacker.disconnect()
        return reply, pong

    reply, pong = async_to_sync(run)()
    assert len(reply) == 1 and reply[0]["type"] == "error"
    assert pong == {"type": "pong"}


def _page(response, file_id) -> tuple[int, bytes]:
    """Status and body, with the per-response CSRF token and the page's own id (in its `next` field) taken out."""
    body = re.sub(rb'(csrfmiddlewaretoken" value="|"X-CSRFToken": ")[^"]+', rb"\\1", response.content)
    return response.status_code, body.replace(f"/attachments/{file_id}/".encode(), b"/attachments/<id>/")


def _stored_file(tenant, ticket_id) -> Attachment:
    with tenant.scope():
        message = Message.objects.filter(ticket_id=ticket_id).first()
        attachment = Attachment(
            organization=tenant.organization,
            message=message,
            filename="見積書.pdf",
            content_type="application/pdf",
            size=5,
        )
        attachment.file.save("x.pdf", ContentFile(b"%PDF-"), save=True)
        return attachment


def test_file_urls_of_another_organization_or_channel_are_the_404_of_a_missing_file(
    tenant_a, tenant_b, world, login, api_client_for
):
    own = _stored_file(tenant_a, world["own"])
    hidden = _stored_file(tenant_a, world["hidden"])
    foreign = _stored_file(tenant_b, world["other_org"])
    agent = login(tenant_a.users["agent"])
    page = f"/{tenant_a.slug}/attachments/{{}}/"

    assert agent.get(page.format(own.pk)).status_code == 200
    missing = agent.get(page.format(MISSING))
    for attachment in (hidden, foreign):
        response = agent.get(page.format(attachment.pk))
        assert _page(response, attachment.pk) == _page(missing, MISSING) and missing.status_code == 404
    # Through the other organization's slug the agent is not a member: the same 404 as for no organization.
    assert agent.get(f"/{tenant_b.slug}/attachments/{foreign.pk}/").status_code == 404
    # The stored file's own path is never served directly.
    assert agent.get(f"/media/{foreign.file.name}").status_code == 404

    # The API gives the same links; the agent's token reaches only what the agent may see.
    api = api_client_for(tenant_a, "agent")
    body = api.get(f"/api/v1/orgs/{tenant_a.slug}/tickets/{world['own']}/messages/").json()
    links = [a["url"] for m in body["results"] for a in m.get("attachments", [])]
    assert links and all(link.endswith(f"/attachments/{own.pk}/") for link in links)
    assert api.get(f"/api/v1/orgs/{tenant_a.slug}/tickets/{world['hidden']}/messages/").status_code == 404
