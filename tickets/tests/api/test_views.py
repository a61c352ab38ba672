"""The tickets REST API against the real database: filters, channel visibility, updates with history, bulk changes,
notes, contacts, tags, canned responses, saved views, bad input and query budgets."""

import itertools
import json

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from accounts import services as account_services
from channels_integrations.inbound import InboundAttachment
from tickets.canned import render_canned
from tickets.models import CannedResponse, Message, SavedView, Tag, Ticket, TicketEvent
from tickets.services.changes import ticket_update
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db

NOT_DELIVERED = "注文した商品がまだ届いていません"


def _url(tenant, path: str) -> str:
    return f"/api/v1/orgs/{tenant.slug}/{path}"


def _ingest(tenant, conn, message) -> Ticket:
    with tenant.scope():
        msg, _created = message_ingest(organization=tenant.organization, connection=conn, inbound=message)
        return msg.ticket


def _update(tenant, ticket, **kwargs) -> Ticket:
    with tenant.scope():
        return ticket_update(organization=tenant.organization, actor=tenant.users["owner"], ticket=ticket, **kwargs)


def _grant(tenant, conn, *roles) -> None:
    with tenant.scope():
        account_services.connection_access_set(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            connection=conn,
            users=[tenant.users[role] for role in roles],
        )


def _error(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:500])
    error = response.json()["error"]
    assert error["code"] and error["message"] and isinstance(error["fields"], dict)
    return error


@pytest.fixture
def inbox_a(tenant_a):
    """Three tickets on one LINE channel: a Japanese complaint (assigned to the owner), an English one, a pending."""
    conn = connection(tenant_a, "line", "LINE main")
    delivered = _ingest(tenant_a, conn, inbound(NOT_DELIVERED, thread="t-1", author="U1", name="山田 花子"))
    refund = _ingest(tenant_a, conn, inbound("Where is my refund?", thread="t-2", author="U2", name="Jane Roe"))
    waiting = _ingest(tenant_a, conn, inbound("ありがとうございます", thread="t-3", author="U3", name="佐藤 太郎"))
    _update(tenant_a, delivered, assignee=tenant_a.users["owner"], status="open")
    _update(tenant_a, waiting, status="pending")
    return {"conn": conn, "delivered": delivered, "refund": refund, "waiting": waiting}


# --- list and filters -------------------------------------------------------------------------------------------


def _ids(response) -> set[int]:
    assert response.status_code == 200, response.content[:500]
    return {row["id"] for row in response.json()["results"]}


def test_list_filters_like_the_inbox(tenant_a, api_client_for, inbox_a):
    api = api_client_for(tenant_a, "owner")
    url = _url(tenant_a, "tickets/")
    t = inbox_a
    assert _ids(api.get(url)) == {t["delivered"].pk, t["refund"].pk, t["waiting"].pk}
    assert _ids(api.get(url, {"status": "pending"})) == {t["waiting"].pk}
    assert _ids(api.get(url, {"status": ["pending", "new"]})) == {t["waiting"].pk, t["refund"].pk}
    assert _ids(api.get(url, {"assignee": "me"})) == {t["delivered"].pk}
    assert _ids(api.get(url, {"assignee": "none"})) == {t["refund"].pk, t["waiting"].pk}
    assert _ids(api.get(url, {"q": "届いて"})) == {t["delivered"].pk}
    assert _ids(api.get(url, {"q": "refund"})) == {t["refund"].pk}
    assert _ids(api.get(url, {"q": "届かない"})) == set()
    assert _ids(api.get(url, {"status": "bogus", "priority": "nope"})) == _ids(api.get(url))  # lenient, like the UI


def test_list_rows_have_the_documented_fields(tenant_a, api_client_for, inbox_a):
    _update(tenant_a, inbox_a["delivered"], tags=["返品", "VIP"])
    api = api_client_for(tenant_a, "owner")
    rows = api.get(_url(tenant_a, "tickets/"), {"assignee": "me"}).json()["results"]
    assert len(rows) == 1
    row = rows[0]
    owner = tenant_a.users["owner"]
    assert row["number"] == inbox_a["delivered"].number and row["subject"] == NOT_DELIVERED
    assert row["status"] == "open" and row["priority"] == "normal"
    assert row["assignee"] == {"id": owner.pk, "email": owner.email, "name": owner.name}
    assert row["team"] is None and row["tags"] == ["VIP", "返品"]
    assert row["connection"] == {"id": inbox_a["conn"].pk, "platform": "line", "display_name": "LINE main"}
    assert row["contact"]["name"] == "山田 花子" and row["preview"] == NOT_DELIVERED
    for key in ("language", "sentiment", "created_at", "updated_at", "last_message_at"):
        assert key in row
    assert row["first_response_due_at"] is None and row["resolution_due_at"] is None


def test_list_pages_with_a_cursor_most_recent_first(tenant_a, api_client_for):
    conn = connection(tenant_a)
    made = [_ingest(tenant_a, conn, inbound(f"n{i}", thread=f"p-{i}", author=f"P{i}")).pk for i in range(5)]
    api = api_client_for(tenant_a, "owner")
    seen, url = [], _url(tenant_a, "tickets/?page_size=2")
    while url:
        body = api.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert seen == made[::-1]
    oldest = api.get(_url(tenant_a, "tickets/"), {"sort": "oldest"}).json()["results"]
    assert [row["id"] for row in oldest] == made
    error = _error(api.get(_url(tenant_a, "tickets/"), {"sort": "priority"}), 400)
    assert "sort" in error["fields"]


def test_an_agent_sees_only_tickets_of_channels_granted_to_them(tenant_a, api_client_for):
    granted = connection(tenant_a, "line", "granted")
    hidden = connection(tenant_a, "facebook", "hidden")
    mine = _ingest(tenant_a, granted, inbound("見える", thread="g", author="G1"))
    other = _ingest(tenant_a, hidden, inbound("見えない", thread="h", author="H1"))
    api = api_client_for(tenant_a, "agent")
    assert _ids(api.get(_url(tenant_a, "tickets/"))) == set()
    _grant(tenant_a, granted, "agent")
    assert _ids(api.get(_url(tenant_a, "tickets/"))) == {mine.pk}
    assert _ids(api.get(_url(tenant_a, "tickets/"), {"q": "見えない"})) == set()
    assert api.get(_url(tenant_a, f"tickets/{mine.pk}/")).status_code == 200
    for path in (f"tickets/{other.pk}/", f"tickets/{other.pk}/messages/"):
        _error(api.get(_url(tenant_a, path)), 404)
    _error(api.patch(_url(tenant_a, f"tickets/{other.pk}/"), {"status": "solved"}, format="json"), 404)
    _error(api.post(_url(tenant_a, f"tickets/{other.pk}/notes/"), {"text": "x"}, format="json"), 404)
    with tenant_a.scope():
        assert Ticket.objects.get(pk=other.pk).status == "new"
    # A manager (tickets.view_all) sees both.
    assert _ids(api_client_for(tenant_a, "manager").get(_url(tenant_a, "tickets/"))) == {mine.pk, other.pk}


# --- retrieve and update ----------------------------------------------------------------------------------------


def test_patch_changes_the_ticket_and_records_history(tenant_a, api_client_for, inbox_a):
    ticket = inbox_a["refund"]
    with tenant_a.scope():
        team = account_services.team_create(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], name="L1"
        )
    _grant(tenant_a, inbox_a["conn"], "agent")
    api = api_client_for(tenant_a, "agent")
    url = _url(tenant_a, f"tickets/{ticket.pk}/")
    body = {
        "status": "pending",
        "priority": "high",
        "assignee": tenant_a.users["agent"].pk,
        "team": team.pk,
        "tags": ["返品", "vip"],
    }
    response = api.patch(url, body, format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["status"], data["priority"], data["team"]) == ("pending", "high", team.pk)
    assert data["assignee"]["id"] == tenant_a.users["agent"].pk and data["tags"] == ["vip", "返品"]
    with tenant_a.scope():
        status_event = TicketEvent.objects.get(ticket=ticket, kind="status")
        kinds = set(TicketEvent.objects.filter(ticket=ticket).values_list("kind", flat=True))
    assert (status_event.old, status_event.new, status_event.actor_id) == ("new", "pending", tenant_a.users["agent"].pk)
    assert {"status", "priority", "assignment", "team", "tags"} <= kinds
    response = api.patch(url, {"assignee": None, "team": None}, format="json")
    assert response.json()["assignee"] is None and response.json()["team"] is None
    assert api.get(url).json()["status"] == "pending"


def test_patch_rejects_unknown_or_foreign_ids_as_field_errors(tenant_a, tenant_b, api_client_for, inbox_a):
    api = api_client_for(tenant_a, "owner")
    url = _url(tenant_a, f"tickets/{inbox_a['refund'].pk}/")
    with tenant_b.scope():
        team_b = account_services.team_create(
            organization=tenant_b.organization, actor=tenant_b.users["owner"], name="B"
        )
    assert "assignee" in _error(api.patch(url, {"assignee": 999999}, format="json"), 400)["fields"]
    assert "assignee" in _error(api.patch(url, {"assignee": tenant_b.users["agent"].pk}, format="json"), 400)["fields"]
    assert "team" in _error(api.patch(url, {"team": team_b.pk}, format="json"), 400)["fields"]
    _error(api.patch(_url(tenant_a, "tickets/999999/"), {"status": "open"}, format="json"), 404)
    with tenant_a.scope():
        assert Ticket.objects.get(pk=inbox_a["refund"].pk).assignee_id is None


def test_members_without_tickets_work_cannot_patch(tenant_a, api_client_for, inbox_a):
    api = api_client_for(tenant_a, "analyst")
    _grant(tenant_a, inbox_a["conn"], "analyst")
    url = _url(tenant_a, f"tickets/{inbox_a['refund'].pk}/")
    assert api.get(url).status_code == 200
    _error(api.patch(url, {"status": "solved"}, format="json"), 403)


# --- bulk -------------------------------------------------------------------------------------------------------


def test_bulk_updates_visible_tickets_and_reports_the_rest(tenant_a, api_client_for, inbox_a):
    hidden = _ingest(tenant_a, connection(tenant_a, "x", "hidden"), inbound("secret", thread="x", author="X1"))
    _update(tenant_a, inbox_a["refund"], tags=["existing"])
    _grant(tenant_a, inbox_a["conn"], "agent")
    api = api_client_for(tenant_a, "agent")
    ids = [inbox_a["refund"].pk, inbox_a["delivered"].pk, hidden.pk, 999999, inbox_a["refund"].pk]
    body = {"ids": ids, "status": "open", "assignee": tenant_a.users["agent"].pk, "tags_add": ["bulk"]}
    response = api.post(_url(tenant_a, "tickets/bulk/"), body, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"updated": 2, "not_found": [hidden.pk, 999999]}
    with tenant_a.scope():
        refund = Ticket.objects.get(pk=inbox_a["refund"].pk)
        assert refund.status == "open" and refund.assignee_id == tenant_a.users["agent"].pk
        assert sorted(refund.tags.values_list("name", flat=True)) == ["bulk", "existing"]
        assert Ticket.objects.get(pk=inbox_a["delivered"].pk).status == "open"
        assert Ticket.objects.get(pk=hidden.pk).status == "new" and not Ticket.objects.get(pk=hidden.pk).tags.exists()


def test_bulk_limits_and_needs_a_change(tenant_a, api_client_for, inbox_a):
    api = api_client_for(tenant_a, "owner")
    url = _url(tenant_a, "tickets/bulk/")
    assert "ids" in _error(api.post(url, {"ids": list(range(1, 502)), "status": "open"}, format="json"), 400)["fields"]
    assert api.post(url, {"ids": list(range(1, 501)), "status": "open"}, format="json").status_code == 200
    _error(api.post(url, {"ids": [inbox_a["refund"].pk]}, format="json"), 400)
    _error(api_client_for(tenant_a, "analyst").post(url, {"ids": [1], "status": "open"}, format="json"), 403)


# --- conversation and notes -------------------------------------------------------------------------------------


def test_messages_oldest_first_with_authors_and_attachments(tenant_a, api_client_for):
    conn = connection(tenant_a)
    photo = InboundAttachment(filename="box.jpg", content_type="image/jpeg", url="https://cdn.example/box.jpg", size=42)
    ticket = _ingest(tenant_a, conn, inbound(NOT_DELIVERED, thread="m", attachments=(photo,), mid="line-1"))
    _ingest(tenant_a, conn, inbound("至急確認してください", thread="m"))
    api = api_client_for(tenant_a, "agent")
    _grant(tenant_a, conn, "agent")
    note = api.post(_url(tenant_a, f"tickets/{ticket.pk}/notes/"), {"text": "@manager 確認お願いします"}, format="json")
    assert note.status_code == 201, note.content
    agent = tenant_a.users["agent"]
    assert note.json()["kind"] == "note" and note.json()["author"] == {
        "type": "user",
        "id": agent.pk,
        "name": agent.name,
    }
    rows = api.get(_url(tenant_a, f"tickets/{ticket.pk}/messages/")).json()["results"]
    assert [m["text"] for m in rows] == [NOT_DELIVERED, "至急確認してください", "@manager 確認お願いします"]
    first = rows[0]
    assert first["direction"] == "inbound" and first["kind"] == "direct" and first["platform_message_id"] == "line-1"
    assert first["author"] == {"type": "contact", "id": ticket.contact_id, "name": "山田 花子"}
    assert first["attachments"] == [
        {"filename": "box.jpg", "content_type": "image/jpeg", "size": 42, "url": "https://cdn.example/box.jpg"}
    ]
    for key in ("delivery_state", "delivery_error", "is_public", "created_at"):
        assert key in first
    with tenant_a.scope():
        stored = Message.objects.get(pk=note.json()["id"])
        assert stored.kind == "note" and list(stored.mentions.all()) == [tenant_a.users["manager"]]


def test_a_blank_note_is_a_field_error(tenant_a, api_client_for, inbox_a):
    api = api_client_for(tenant_a, "owner")
    url = _url(tenant_a, f"tickets/{inbox_a['refund'].pk}/notes/")
    assert "text" in _error(api.post(url, {"text": "   "}, format="json"), 400)["fields"]
    with tenant_a.scope():
        assert not Message.objects.filter(kind="note").exists()


# --- contacts ---------------------------------------------------------------------------------------------------


def test_contacts_are_visible_only_through_visible_tickets(tenant_a, api_client_for):
    granted = connection(tenant_a, "line", "granted")
    hidden = connection(tenant_a, "facebook", "hidden")
    seen = _ingest(tenant_a, granted, inbound("hi", thread="c1", author="C1", name="見える 顧客")).contact
    unseen = _ingest(tenant_a, hidden, inbound("hi", thread="c2", author="C2", name="隠れた 顧客")).contact
    _grant(tenant_a, granted, "agent")
    api = api_client_for(tenant_a, "agent")
    rows = api.get(_url(tenant_a, "contacts/")).json()["results"]
    assert [row["id"] for row in rows] == [seen.pk]
    # Only the accounts on the platforms of the channels the agent sees (here: LINE).
    assert [(i["platform"], i["external_id"]) for i in rows[0]["identities"]] == [("line", "C1")]
    assert api.get(_url(tenant_a, f"contacts/{seen.pk}/")).json()["name"] == "見える 顧客"
    _error(api.get(_url(tenant_a, f"contacts/{unseen.pk}/")), 404)
    assert api.get(_url(tenant_a, "contacts/"), {"q": "隠れた"}).json()["results"] == []
    owner = api_client_for(tenant_a, "owner")
    assert [r["id"] for r in owner.get(_url(tenant_a, "contacts/"), {"q": "隠れた"}).json()["results"]] == [unseen.pk]


# --- tags -------------------------------------------------------------------------------------------------------


def test_tags_create_rename_delete(tenant_a, api_client_for, inbox_a):
    agent, admin = api_client_for(tenant_a, "agent"), api_client_for(tenant_a, "admin")
    created = agent.post(_url(tenant_a, "tags/"), {"name": "返品", "color": "#ff0000"}, format="json")
    assert created.status_code == 201 and created.json()["color"] == "#ff0000"
    tag_id = created.json()["id"]
    assert "name" in _error(agent.post(_url(tenant_a, "tags/"), {"name": "返品"}, format="json"), 409)["fields"]
    _error(agent.patch(_url(tenant_a, f"tags/{tag_id}/"), {"name": "x"}, format="json"), 403)
    assert admin.patch(_url(tenant_a, f"tags/{tag_id}/"), {"name": "交換"}, format="json").json()["name"] == "交換"
    _update(tenant_a, inbox_a["refund"], tags=["交換"])
    assert [t["name"] for t in agent.get(_url(tenant_a, "tags/")).json()["results"]] == ["交換"]
    assert admin.delete(_url(tenant_a, f"tags/{tag_id}/")).status_code == 204
    with tenant_a.scope():
        assert not Tag.objects.exists() and not Ticket.objects.get(pk=inbox_a["refund"].pk).tags.exists()


# --- canned responses -------------------------------------------------------------------------------------------


def _canned_body(shortcut="thanks", shared=False, variants=None):
    return {
        "title": "Thanks",
        "shortcut": shortcut,
        "shared": shared,
        "variants": variants or [{"language": "ja", "body": "{{contact.name}}様、ありがとうございます。"}],
    }


def test_canned_responses_shared_and_personal(tenant_a, api_client_for):
    agent, manager, admin = (api_client_for(tenant_a, r) for r in ("agent", "manager", "admin"))
    url = _url(tenant_a, "canned-responses/")
    mine = agent.post(url, _canned_body("mine"), format="json")
    assert mine.status_code == 201 and mine.json()["shared"] is False
    assert mine.json()["owner"] == tenant_a.users["agent"].pk
    _error(agent.post(url, _canned_body("team", shared=True), format="json"), 403)
    shared = admin.post(url, _canned_body("team", shared=True), format="json")
    assert shared.status_code == 201 and shared.json()["shared"] is True
    assert manager.post(url, _canned_body("secret-manager"), format="json").status_code == 201
    _error(agent.post(url, _canned_body("mine"), format="json"), 409)
    _error(api_client_for(tenant_a, "editor").post(url, _canned_body("ed"), format="json"), 403)
    # The agent sees the shared one and their own, never the manager's personal one.
    assert {c["shortcut"] for c in agent.get(url).json()["results"]} == {"mine", "team"}
    manager_own = [c for c in manager.get(url).json()["results"] if c["shortcut"] == "secret-manager"][0]
    _error(agent.get(_url(tenant_a, f"canned-responses/{manager_own['id']}/")), 404)
    _error(agent.delete(_url(tenant_a, f"canned-responses/{manager_own['id']}/")), 404)
    # Shared ones change only with rules.manage; personal ones by their owner.
    shared_url = _url(tenant_a, f"canned-responses/{shared.json()['id']}/")
    _error(agent.patch(shared_url, {"title": "x"}, format="json"), 403)
    assert admin.patch(shared_url, {"title": "Team thanks"}, format="json").json()["title"] == "Team thanks"
    mine_url = _url(tenant_a, f"canned-responses/{mine.json()['id']}/")
    variants = [{"language": "en", "body": "Thank you"}, {"language": "ja", "body": "どうも"}]
    patched = agent.patch(mine_url, {"variants": variants}, format="json")
    assert patched.status_code == 200 and patched.json()["variants"] == variants
    _error(admin.patch(mine_url, {"title": "x"}, format="json"), 404)  # personal: invisible to others
    assert agent.delete(mine_url).status_code == 204
    with tenant_a.scope():
        assert set(CannedResponse.objects.values_list("shortcut", flat=True)) == {"team", "secret-manager"}


def test_render_fills_placeholders_and_picks_the_language(tenant_a, api_client_for, inbox_a):
    api = api_client_for(tenant_a, "admin")
    body = (
        "{{contact.name}}様、{{ agent.name }}です。#{{ticket.number}}（{{organization.name}}） "
        "{{unknown.field}} {{contact.__class__}} {{contact.name"
    )
    variants = [{"language": "ja", "body": body}, {"language": "en", "body": "Hello {{contact.name}}"}]
    body = _canned_body(shared=True, variants=variants)
    created = api.post(_url(tenant_a, "canned-responses/"), body, format="json").json()
    ticket = inbox_a["delivered"]
    url = _url(tenant_a, f"canned-responses/{created['id']}/render/")
    rendered = api.get(url, {"ticket": ticket.pk}).json()["body"]  # no language: the organization's default (ja)
    admin_name = tenant_a.users["admin"].name
    assert rendered == (
        f"山田 花子様、{admin_name}です。#{ticket.number}（{tenant_a.organization.name}） "
        "{{unknown.field}} {{contact.__class__}} {{contact.name"
    )
    assert api.get(url, {"ticket": ticket.pk, "language": "en"}).json()["body"] == "Hello 山田 花子"
    assert api.get(url, {"ticket": ticket.pk, "language": "ko"}).json()["body"].startswith("山田 花子様")
    # The ticket must be one the member may see.
    hidden = _ingest(tenant_a, connection(tenant_a), inbound("x", thread="r", author="R1"))
    agent = api_client_for(tenant_a, "agent")
    assert "ticket" in _error(agent.get(url, {"ticket": hidden.pk}), 400)["fields"]
    assert "ticket" in _error(api.get(url), 400)["fields"]
    assert "ticket" in _error(api.get(url, {"ticket": "abc"}), 400)["fields"]


def test_render_canned_is_a_plain_replace(tenant_a, inbox_a):
    with tenant_a.scope():
        ticket = Ticket.objects.select_related("contact", "organization").get(pk=inbox_a["delivered"].pk)
        agent = tenant_a.users["agent"]
        assert render_canned("{{agent.name}} {{ticket.number}}", ticket=ticket, agent=agent) == (
            f"{agent.name} {ticket.number}"
        )
        assert render_canned("{% now 'Y' %} {{ 7*7 }} {{contact.name|upper}}", ticket=ticket, agent=agent) == (
            "{% now 'Y' %} {{ 7*7 }} {{contact.name|upper}}"
        )


# --- saved views ------------------------------------------------------------------------------------------------


def test_saved_views_store_normalized_filters(tenant_a, api_client_for):
    agent, admin = api_client_for(tenant_a, "agent"), api_client_for(tenant_a, "admin")
    url = _url(tenant_a, "saved-views/")
    body = {"name": "Mine open", "filters": {"status": ["open", "bogus"], "assignee": "me", "junk": "x", "team": 3}}
    created = agent.post(url, body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["filters"] == {"status": ["open"], "assignee": "me", "team": 3}
    assert created.json()["shared"] is False
    _error(agent.post(url, {"name": "All", "filters": {}, "shared": True}, format="json"), 403)
    shared = admin.post(url, {"name": "Urgent", "filters": {"priority": "urgent"}, "shared": True}, format="json")
    assert shared.status_code == 201
    assert [v["name"] for v in agent.get(url).json()] == ["Mine open", "Urgent"]
    assert [v["name"] for v in admin.get(url).json()] == ["Urgent"]
    mine_url = _url(tenant_a, f"saved-views/{created.json()['id']}/")
    shared_url = _url(tenant_a, f"saved-views/{shared.json()['id']}/")
    _error(admin.patch(mine_url, {"name": "x"}, format="json"), 404)
    _error(agent.patch(shared_url, {"name": "x"}, format="json"), 403)
    _error(agent.delete(shared_url), 403)
    renamed = agent.patch(mine_url, {"name": "Renamed", "filters": {"view": "mine"}}, format="json").json()
    assert (renamed["name"], renamed["filters"]) == ("Renamed", {"view": "mine"})
    assert admin.delete(shared_url).status_code == 204
    with tenant_a.scope():
        assert list(SavedView.objects.values_list("name", flat=True)) == ["Renamed"]


# --- bad input --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "tickets/{ticket}/", "{not json"),
        ("PATCH", "tickets/{ticket}/", json.dumps([1, 2])),
        ("PATCH", "tickets/{ticket}/", json.dumps({"status": "bogus"})),
        ("PATCH", "tickets/{ticket}/", json.dumps({"priority": None})),
        ("PATCH", "tickets/{ticket}/", json.dumps({"assignee": "abc"})),
        ("PATCH", "tickets/{ticket}/", json.dumps({"team": 999999})),
        ("PATCH", "tickets/{ticket}/", json.dumps({"tags": "not-a-list"})),
        ("PATCH", "tickets/{ticket}/", json.dumps({"tags": ["x" * 61]})),
        ("POST", "tickets/bulk/", json.dumps({"ids": [], "status": "open"})),
        ("POST", "tickets/bulk/", json.dumps({"ids": ["a"], "status": "open"})),
        ("POST", "tickets/bulk/", json.dumps({"ids": "1,2", "status": "open"})),
        ("POST", "tickets/bulk/", json.dumps({"ids": [1], "tags_add": []})),
        ("POST", "tickets/{ticket}/notes/", json.dumps({})),
        ("POST", "tickets/{ticket}/notes/", json.dumps({"text": 5 * [1]})),
        ("POST", "tags/", json.dumps({"name": ""})),
        ("POST", "tags/", json.dumps({"name": "x", "color": "red"})),
        ("POST", "canned-responses/", json.dumps({"title": "x", "shortcut": "x", "variants": []})),
        ("POST", "canned-responses/", json.dumps({"title": "x", "shortcut": "has space", "variants": []})),
        (
            "POST",
            "canned-responses/",
            json.dumps(
                {"title": "x", "shortcut": "x", "variants": [{"language": "ja", "body": "a"}, {"language": "ja"}]}
            ),
        ),
        (
            "POST",
            "canned-responses/",
            json.dumps({"title": "x", "shortcut": "x", "variants": [{"language": "xx", "body": "a"}]}),
        ),
        ("POST", "saved-views/", json.dumps({"name": "x", "filters": {"status": {"nested": 1}}})),
        ("POST", "saved-views/", json.dumps({"name": "x", "filters": ["open"]})),
        ("POST", "saved-views/", json.dumps({"name": "   "})),
    ],
)
def test_malformed_bodies_are_400_json(method, path, body, tenant_a, api_client_for, inbox_a):
    api = api_client_for(tenant_a, "owner")
    url = _url(tenant_a, path.format(ticket=inbox_a["refund"].pk))
    with tenant_a.scope():
        before = (TicketEvent.objects.count(), Message.objects.count(), Tag.objects.count())
        before += (CannedResponse.objects.count(), SavedView.objects.count())
    _error(api.generic(method, url, body, content_type="application/json"), 400)
    with tenant_a.scope():
        after = (TicketEvent.objects.count(), Message.objects.count(), Tag.objects.count())
        after += (CannedResponse.objects.count(), SavedView.objects.count())
    assert after == before


# --- query budgets ----------------------------------------------------------------------------------------------


def _count(api, url) -> int:
    with CaptureQueriesContext(db_connection) as ctx:
        response = api.get(url)
        assert response.status_code == 200, response.content[:300]
    return len(ctx.captured_queries)


_serial = itertools.count(1)


def _grow(tenant, conn, n: int, ticket: Ticket) -> None:
    """n more tickets (each with a tag and an assignee), n more messages and tags on `ticket`."""
    for i in range(n):
        stamp = next(_serial)
        other = _ingest(tenant, conn, inbound(f"追加 {i}", thread=f"grow-{stamp}", author=f"Q{stamp}"))
        _update(tenant, other, assignee=tenant.users["agent"], tags=[f"t{i}"])
        _ingest(tenant, conn, inbound(f"続き {i}", thread="budget", author="B1"))
    with tenant.scope():
        names = list(Ticket.objects.get(pk=ticket.pk).tags.values_list("name", flat=True))
    _update(tenant, ticket, tags=[*names, *(f"tag-{n}-{i}" for i in range(n))])


def test_ticket_list_retrieve_and_messages_have_constant_query_counts(tenant_a, api_client_for):
    conn = connection(tenant_a)
    ticket = _ingest(tenant_a, conn, inbound("最初", thread="budget", author="B1"))
    _grant(tenant_a, conn, "agent")  # the agent path includes the channel-grant lookup
    api = api_client_for(tenant_a, "agent")
    urls = [
        _url(tenant_a, "tickets/"),
        _url(tenant_a, f"tickets/{ticket.pk}/"),
        _url(tenant_a, f"tickets/{ticket.pk}/messages/"),
    ]
    api.get(urls[0])  # the first use stamps the token's last_used_at (one write)
    _grow(tenant_a, conn, 2, ticket)  # 3 tickets, 3 messages in `ticket`
    small = [_count(api, url) for url in urls]
    _grow(tenant_a, conn, 17, ticket)  # 20 tickets, 20 messages
    assert len(api.get(urls[0]).json()["results"]) == 20
    assert len(api.get(urls[2]).json()["results"]) == 20
    assert [_count(api, url) for url in urls] == small
    assert max(small) <= 8, small


def test_contact_identities_are_limited_to_the_platforms_the_member_sees(tenant_a, api_client_for):
    from accounts import services as account_services
    from tickets.models import ContactIdentity
    from tickets.services.ingest import message_ingest
    from tickets.tests.factories import connection, inbound

    line = connection(tenant_a, "line")
    connection(tenant_a, "email")  # an email channel the manager sees and the agent does not
    with tenant_a.scope():
        account_services.connection_access_set(
            organization=tenant_a.organization,
            actor=tenant_a.users["owner"],
            connection=line,
            users=[tenant_a.users["agent"]],
        )
        message, _ = message_ingest(
            organization=tenant_a.organization, connection=line, inbound=inbound("hi", author="U-line")
        )
        ContactIdentity.objects.create(
            organization=tenant_a.organization,
            contact=message.author_contact,
            platform="email",
            external_id="private@example.com",
        )
    url = f"/api/v1/orgs/{tenant_a.slug}/contacts/{message.author_contact_id}/"
    agent_view = api_client_for(tenant_a, "agent").get(url).json()
    manager_view = api_client_for(tenant_a, "manager").get(url).json()
    assert [i["platform"] for i in agent_view["identities"]] == ["line"]
    assert sorted(i["platform"] for i in manager_view["identities"]) == ["email", "line"]
