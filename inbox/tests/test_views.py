"""The workspace pages: visibility, filters, search, actions, and query budgets that do not grow with rows."""

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from accounts import services as account_services
from tickets.models import Ticket
from tickets.services.changes import ticket_update
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db


def _ingest(tenant, conn, text, **kw):
    with tenant.scope():
        return message_ingest(organization=tenant.organization, connection=conn, inbound=inbound(text, **kw))[0]


def _grant(tenant, conn, user):
    with tenant.scope():
        account_services.connection_access_set(
            organization=tenant.organization, actor=tenant.users["owner"], connection=conn, users=[user]
        )


def _queries(fn) -> int:
    from django.core.cache import cache

    cache.clear()  # the left pane's counts are cached for a few seconds: measure them computed every time
    with CaptureQueriesContext(db) as ctx:
        assert fn().status_code == 200
    return len(ctx.captured_queries)


def test_agents_see_only_granted_channels_in_the_list_and_counts(tenant_a, login):
    granted, hidden = connection(tenant_a, "line"), connection(tenant_a, "email")
    _grant(tenant_a, granted, tenant_a.users["agent"])
    visible = _ingest(tenant_a, granted, "見える問い合わせ", thread="v")
    secret = _ingest(tenant_a, hidden, "見えない問い合わせ", thread="h")
    client = login(tenant_a.users["agent"])
    page = client.get(f"/{tenant_a.slug}/inbox/").content.decode()
    assert f"ticket-row-{visible.ticket_id}" in page and f"ticket-row-{secret.ticket_id}" not in page
    assert 'data-count="all">1<' in page
    assert client.get(f"/{tenant_a.slug}/inbox/tickets/{secret.ticket_id}/").status_code == 404
    assert (
        client.post(f"/{tenant_a.slug}/inbox/tickets/{secret.ticket_id}/update/", {"status": "solved"}).status_code
        == 404
    )


def test_search_filter_finds_japanese_text(tenant_a, login):
    conn = connection(tenant_a)
    hit = _ingest(tenant_a, conn, "注文した商品がまだ届いていません", thread="a")
    miss = _ingest(tenant_a, conn, "返品の方法を教えてください", thread="b")
    client = login(tenant_a.users["manager"])
    page = client.get(f"/{tenant_a.slug}/inbox/list/", {"q": "届いて"}).content.decode()
    assert f"ticket-row-{hit.ticket_id}" in page and f"ticket-row-{miss.ticket_id}" not in page


def test_property_changes_and_notes_from_the_workspace(tenant_a, login):
    conn = connection(tenant_a)
    _grant(tenant_a, conn, tenant_a.users["agent"])  # only a member who may see the channel can be assigned
    message = _ingest(tenant_a, conn, "help", thread="p")
    client = login(tenant_a.users["manager"])
    base = f"/{tenant_a.slug}/inbox/tickets/{message.ticket_id}"
    assert (
        client.post(
            f"{base}/update/", {"status": "pending", "assignee": tenant_a.users["agent"].pk, "tags": "返品、VIP"}
        ).status_code
        == 200
    )
    response = client.post(f"{base}/note/", {"text": "メモ"})
    assert response.status_code == 200 and "メモ" in response.content.decode()
    assert client.post(f"{base}/note/", {"text": "  "}).status_code == 400
    assert client.post(f"{base}/update/", {"status": "nonsense"}).status_code == 400
    with tenant_a.scope():
        ticket = Ticket.objects.get(pk=message.ticket_id)
        assert ticket.status == "pending" and ticket.assignee == tenant_a.users["agent"]
        assert sorted(ticket.tags.values_list("name", flat=True)) == ["VIP", "返品"]


def test_bulk_actions_touch_only_visible_tickets(tenant_a, login):
    granted, hidden = connection(tenant_a, "line"), connection(tenant_a, "email")
    _grant(tenant_a, granted, tenant_a.users["agent"])
    mine = _ingest(tenant_a, granted, "a", thread="1")
    other = _ingest(tenant_a, hidden, "b", thread="2")
    client = login(tenant_a.users["agent"])
    response = client.post(
        f"/{tenant_a.slug}/inbox/bulk/",
        {"ticket": [mine.ticket_id, other.ticket_id], "action": "status", "status": "solved"},
    )
    assert response.json() == {"changed": 1}
    with tenant_a.scope():
        assert Ticket.objects.get(pk=other.ticket_id).status == "new"


@pytest.mark.parametrize(
    "path", ["inbox/", "inbox/list/", "inbox/tickets/{ticket}/", "inbox/tickets/{ticket}/conversation/"]
)
def test_workspace_query_counts_do_not_grow_with_tickets_or_messages(path, tenant_a, login):
    conn = connection(tenant_a)
    first = _ingest(tenant_a, conn, "first", thread="t0")
    client = login(tenant_a.users["manager"])
    url = f"/{tenant_a.slug}/" + path.format(ticket=first.ticket_id)
    client.get(url)  # warm-up: records the member's last organization
    small = _queries(lambda: client.get(url))
    for i in range(15):
        _ingest(tenant_a, conn, f"more {i}", thread=f"t{i + 1}")
        _ingest(tenant_a, conn, f"reply {i}", thread="t0")
    with tenant_a.scope():
        Ticket.objects.first().tags.set([])
    assert _queries(lambda: client.get(url)) == small


def test_notification_preferences_decide_in_app_and_email(tenant_a, login, django_capture_on_commit_callbacks):
    from django.core import mail

    from core.models import Notification

    agent = tenant_a.users["agent"]
    client = login(agent)
    assert client.post(f"/{tenant_a.slug}/settings/notifications/", {"email": ["assigned"]}).status_code == 302
    conn = connection(tenant_a)
    _grant(tenant_a, conn, agent)
    message = _ingest(tenant_a, conn, "help", thread="n")
    with django_capture_on_commit_callbacks(execute=True), tenant_a.scope():
        ticket_update(
            organization=tenant_a.organization, actor=tenant_a.users["manager"], ticket=message.ticket, assignee=agent
        )
    with tenant_a.scope():
        assert not Notification.objects.filter(user=agent).exists()  # in-app switched off
    assert [m.to for m in mail.outbox] == [[agent.email]]
    assert f"#{message.ticket.number}" in mail.outbox[0].subject


def test_a_note_written_on_a_stale_conversation_asks_before_sending(tenant_a, login):
    conn = connection(tenant_a)
    first = _ingest(tenant_a, conn, "first", thread="c")
    client = login(tenant_a.users["manager"])
    url = f"/{tenant_a.slug}/inbox/tickets/{first.ticket_id}/note/"
    # Given the agent started writing when `first` was the last message, and the customer wrote again since
    _ingest(tenant_a, conn, "second", thread="c")
    response = client.post(url, {"text": "draft", "based_on": first.pk})
    assert response.status_code == 409
    with tenant_a.scope():
        assert not first.ticket.messages.filter(kind="note").exists()
    # When they confirm, it is sent
    assert client.post(url, {"text": "draft", "based_on": first.pk, "confirm": "1"}).status_code == 200
    with tenant_a.scope():
        assert first.ticket.messages.filter(kind="note").count() == 1


def test_canned_responses_are_managed_in_settings_and_inserted_rendered(tenant_a, login, api_client_for):
    client = login(tenant_a.users["agent"])
    url = f"/{tenant_a.slug}/settings/canned-responses/"
    response = client.post(
        url, {"title": "お礼", "shortcut": "thanks", "body_ja": "{{contact.name}}様、ありがとうございます。"}
    )
    assert response.status_code == 302
    assert client.post(url, {"title": "空", "shortcut": "empty"}).status_code == 400  # no text in any language
    # Sharing with the whole organization needs rules.manage
    assert client.post(url, {"title": "x", "shortcut": "x", "shared": "on", "body_en": "x"}).status_code == 403
    conn = connection(tenant_a)
    message = _ingest(tenant_a, conn, "こんにちは", thread="c", name="鈴木 一郎")
    with tenant_a.scope():
        from tickets.models import CannedResponse

        canned_id = CannedResponse.objects.get(shortcut="thanks").pk
    body = api_client_for(tenant_a, "agent").get(
        f"/api/v1/orgs/{tenant_a.slug}/canned-responses/{canned_id}/render/", {"ticket": message.ticket_id}
    )
    # The agent does not see this channel's tickets: the render refuses the ticket like a missing one.
    assert body.status_code == 400
    # A personal canned response is its owner's alone.
    manager = api_client_for(tenant_a, "manager").get(
        f"/api/v1/orgs/{tenant_a.slug}/canned-responses/{canned_id}/render/", {"ticket": message.ticket_id}
    )
    assert manager.status_code == 404
    # Once the agent may see the channel, the placeholders are filled for this customer.
    _grant(tenant_a, conn, tenant_a.users["agent"])
    body = api_client_for(tenant_a, "agent").get(
        f"/api/v1/orgs/{tenant_a.slug}/canned-responses/{canned_id}/render/", {"ticket": message.ticket_id}
    )
    assert body.json() == {"body": "鈴木 一郎様、ありがとうございます。"}


def test_a_ticket_opened_by_its_url_shows_its_messages_in_the_conversation_not_as_banners(tenant_a, login):
    conn = connection(tenant_a)
    message = _ingest(tenant_a, conn, "お問い合わせの本文です", thread="deep")
    with tenant_a.scope():
        from tickets.services.notes import note_add

        note_add(
            organization=tenant_a.organization,
            actor=tenant_a.users["manager"],
            ticket=message.ticket,
            text="社内メモ: 返金済み",
        )
    page = login(tenant_a.users["manager"]).get(f"/{tenant_a.slug}/inbox/tickets/{message.ticket_id}/").content.decode()
    # Django's flash messages render as <ul class="messages flash">; the ticket's messages are no flash.
    assert 'class="messages flash"' not in page
    conversation = page[page.index('id="messages"') : page.index("</ol>", page.index('id="messages"'))]
    assert "お問い合わせの本文です" in conversation and "社内メモ: 返金済み" in conversation


def test_the_left_pane_counts_a_ticket_that_just_arrived(tenant_a, login, django_capture_on_commit_callbacks):
    conn = connection(tenant_a)
    client = login(tenant_a.users["manager"])
    url = f"/{tenant_a.slug}/inbox/views/"
    with django_capture_on_commit_callbacks(execute=True):  # its real-time events are stored, as after a commit
        _ingest(tenant_a, conn, "一件目", thread="c1")
    assert 'data-count="all">1<' in client.get(url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        _ingest(tenant_a, conn, "二件目", thread="c2")
    # Within the counts' cache time, as the live refresh after that event asks: the new ticket is counted
    assert 'data-count="all">2<' in client.get(url).content.decode()
