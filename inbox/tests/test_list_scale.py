"""The list and the left pane on a large inbox (issue 22): counts capped at COUNT_CAP and shown as "1,000+", rows
rendered from values worked out once per page, query budgets for an agent with channel grants."""

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from accounts import services as account_services
from inbox import selectors as inbox_selectors
from tests.english import english, in_english  # noqa: F401 (an autouse fixture: the rows' labels read in English)
from tickets.models import Tag, Ticket
from tickets.services.ingest import message_ingest
from tickets.services.notes import note_add
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


def _pane(client, tenant) -> str:
    from django.core.cache import cache

    cache.clear()  # counts are cached for a few seconds per member
    return client.get(f"/{tenant.slug}/inbox/views/").content.decode()


def test_counts_beyond_the_cap_are_shown_as_the_cap_and_a_plus(tenant_a, login, monkeypatch):
    monkeypatch.setattr(inbox_selectors, "COUNT_CAP", 2)
    line, email = connection(tenant_a, "line"), connection(tenant_a, "email")
    for i in range(3):
        _ingest(tenant_a, line, f"問い合わせ {i}", thread=f"l{i}")
    mine = _ingest(tenant_a, email, "メール", thread="e0")
    agent = tenant_a.users["agent"]
    _grant(tenant_a, line, agent)
    _grant(tenant_a, email, agent)
    with tenant_a.scope():
        Ticket.objects.filter(pk=mine.ticket_id).update(assignee=agent)
        note_add(
            organization=tenant_a.organization,
            actor=tenant_a.users["manager"],
            ticket=Ticket.objects.get(pk=mine.ticket_id),
            text="見てください",
            mention_ids=[agent.pk],
        )
    page = _pane(login(agent), tenant_a)
    # 4 open tickets, 3 of them unassigned and on LINE: more than the cap of 2.
    assert 'data-count="all">2+<' in page
    assert 'data-count="unassigned">2+<' in page
    # Up to the cap, the exact number.
    assert 'data-count="mine">1<' in page
    assert 'data-count="mentions">1<' in page
    assert 'data-count="snoozed">0<' in page
    assert '<span class="count">2+</span>' in page  # the LINE channel
    assert '<span class="count">1</span>' in page  # the email channel


def test_an_agent_without_channels_sees_zero_counts(tenant_a, login):
    _ingest(tenant_a, connection(tenant_a), "見えない", thread="h")
    page = _pane(login(tenant_a.users["agent"]), tenant_a)
    assert 'data-count="all">0<' in page and 'data-count="mine">0<' in page


def test_counts_up_to_the_cap_are_exact_and_grouped_beyond(tenant_a, login):
    conn = connection(tenant_a)
    for i in range(3):
        _ingest(tenant_a, conn, f"問い合わせ {i}", thread=f"t{i}")
    page = _pane(login(tenant_a.users["manager"]), tenant_a)
    assert 'data-count="all">3<' in page
    assert inbox_selectors._shown(inbox_selectors.COUNT_CAP + 1) == "1,000+"
    assert inbox_selectors._shown(inbox_selectors.COUNT_CAP) == inbox_selectors.COUNT_CAP


def test_a_row_shows_its_labels_links_tags_and_people(tenant_a, login):
    in_english(tenant_a)
    conn = connection(tenant_a, "line")
    message = _ingest(tenant_a, conn, "返品したいです" + "。" * 120, thread="r1")
    other = _ingest(tenant_a, conn, "別件", thread="r2", author="U2", name="")
    with tenant_a.scope():
        ticket = Ticket.objects.get(pk=message.ticket_id)
        ticket.priority = "urgent"
        ticket.subject = "件名" * 60
        ticket.assignee = tenant_a.users["agent"]
        ticket.save()
        ticket.tags.set([Tag.objects.create(organization=tenant_a.organization, name="返品")])
        other_ticket = Ticket.objects.get(pk=other.ticket_id)
    client = login(tenant_a.users["manager"])
    page = client.get(f"/{tenant_a.slug}/inbox/list/").content.decode()
    row = page[page.index(f'id="ticket-row-{ticket.pk}"') :]
    row = row[: row.index("</li>")]
    assert f'aria-label="Select ticket #{ticket.number}"' in row
    assert f'href="/{tenant_a.slug}/inbox/tickets/{ticket.pk}/"' in row
    assert f'hx-get="/{tenant_a.slug}/inbox/tickets/{ticket.pk}/conversation/"' in row
    assert '<span class="contact">山田 花子</span>' in row
    assert '<span class="platform platform-line">LINE</span>' in row
    assert '<span class="status">New</span>' in row
    assert '<span class="priority">Urgent</span>' in row
    assert '<span class="tag">返品</span>' in row
    assert f'<span class="assignee">{tenant_a.users["agent"]}</span>' in row
    assert f"#{ticket.number} {'件名' * 39}件…</span>" in row  # 80 characters, the last an ellipsis
    assert "返品したいです" + "。" * 92 + "…</span>" in row  # 100 characters
    other_row = page[page.index(f'id="ticket-row-{other_ticket.pk}"') :]
    other_row = other_row[: other_row.index("</li>")]
    assert '<span class="assignee">Unassigned</span>' in other_row
    assert '<span class="priority">' not in other_row  # normal priority is not shown


@pytest.mark.parametrize("path", ["inbox/list/", "inbox/list/?view=mine", "inbox/views/", "inbox/"])
def test_an_agents_pages_cost_the_same_queries_with_more_tickets_and_channels(path, tenant_a, login):
    agent = tenant_a.users["agent"]
    granted = connection(tenant_a, "line")
    _grant(tenant_a, granted, agent)
    first = _ingest(tenant_a, granted, "first", thread="t0")
    with tenant_a.scope():
        Ticket.objects.filter(pk=first.ticket_id).update(assignee=agent)
    client = login(agent)
    url = f"/{tenant_a.slug}/{path}"
    client.get(url)  # warm-up: records the member's last organization

    def queries() -> int:
        from django.core.cache import cache

        cache.clear()
        with CaptureQueriesContext(db) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    small = queries()
    more = connection(tenant_a, "email")
    _grant(tenant_a, more, agent)
    hidden = connection(tenant_a, "telegram")
    for i in range(12):
        created = _ingest(tenant_a, (granted, more, hidden)[i % 3], f"more {i}", thread=f"t{i + 1}")
        with tenant_a.scope():
            Ticket.objects.filter(pk=created.ticket_id).update(assignee=agent if i % 2 else None)
    assert queries() == small


def test_the_left_pane_reads_its_channels_and_teams_once(tenant_a, login):
    """The counts are computed for the channels and teams the pane shows: not read a second time for them."""
    from django.core.cache import cache

    _grant(tenant_a, connection(tenant_a, "line"), tenant_a.users["agent"])
    client = login(tenant_a.users["agent"])
    client.get(f"/{tenant_a.slug}/inbox/views/")  # warm-up: records the member's last organization
    cache.clear()  # the counts are computed, not read from the cache
    with CaptureQueriesContext(db) as ctx:
        assert client.get(f"/{tenant_a.slug}/inbox/views/").status_code == 200
    statements = [q["sql"] for q in ctx.captured_queries]
    channels = [s for s in statements if s.startswith('SELECT "channels_integrations_channelconnection"')]
    assert len(channels) == 1, "\n".join(s[:400] for s in channels)
    assert len([s for s in statements if s.startswith('SELECT "accounts_team"')]) == 1
