"""The inbox's empty states: an empty list says what belongs there (with the button that fills it, by what the
member may do), a search or filter without results says so with a way back, and an empty saved-views pane says what
a view is and how to save one."""

import pytest

from tickets.models import SavedView
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db


def _inbox(client, tenant, **query) -> str:
    answer = client.get(f"/{tenant.slug}/inbox/", query)
    assert answer.status_code == 200
    return answer.content.decode()


def test_an_empty_inbox_offers_to_connect_a_channel_to_those_who_may(tenant_a, login):
    html = _inbox(login(tenant_a.users["admin"]), tenant_a)
    assert 'id="list-empty"' in html
    assert f'class="button primary" href="/{tenant_a.slug}/settings/channels/"' in html


def test_an_empty_inbox_offers_to_start_a_conversation_to_agents(tenant_a, login):
    html = _inbox(login(tenant_a.users["agent"]), tenant_a)
    assert 'id="list-empty"' in html
    assert f'class="button primary" href="/{tenant_a.slug}/inbox/new/"' in html
    assert "/settings/channels/" not in html.split('id="list-empty"')[1]


def test_a_search_without_results_says_so_and_clears_the_filters(tenant_a, login):
    conn = connection(tenant_a, "email")
    with tenant_a.scope():
        message_ingest(organization=tenant_a.organization, connection=conn, inbound=inbound("返品の方法", thread="a"))
    client = login(tenant_a.users["owner"])
    # The list pane alone (htmx swaps it in when the filters change) carries the state too
    answer = client.get(f"/{tenant_a.slug}/inbox/list/", {"q": "存在しない言葉", "priority": "urgent", "view": "mine"})
    html = answer.content.decode()
    assert "存在しない言葉" in html and 'id="list-empty"' in html
    assert f'class="button primary" href="/{tenant_a.slug}/inbox/?view=mine">' in html  # back to the view, unfiltered
    assert "/settings/channels/" not in html
    # With tickets and no filters, no empty state
    assert 'id="list-empty"' not in _inbox(client, tenant_a)


def test_a_channel_view_s_clear_link_keeps_the_channel(tenant_a, login):
    conn = connection(tenant_a, "email")
    html = (
        login(tenant_a.users["owner"])
        .get(f"/{tenant_a.slug}/inbox/list/", {"connection": conn.pk, "priority": "urgent"})
        .content.decode()
    )
    assert f'href="/{tenant_a.slug}/inbox/?view=all&amp;connection={conn.pk}">' in html


def test_the_search_term_is_escaped_in_the_empty_state(tenant_a, login):
    html = login(tenant_a.users["owner"]).get(f"/{tenant_a.slug}/inbox/list/", {"q": "<b>x</b>"}).content.decode()
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


@pytest.mark.parametrize("view", ["mine", "unassigned", "mentions", "snoozed"])
def test_each_view_says_what_belongs_in_it(tenant_a, login, view):
    html = _inbox(login(tenant_a.users["agent"]), tenant_a, view=view)
    empty = html.split('id="list-empty"')[1].split("</li>")[0]
    assert 'class="empty-panel-title"' in empty and "?view=" not in empty  # nothing to clear


def test_the_saved_views_pane_explains_views_until_one_is_saved(tenant_a, login):
    client = login(tenant_a.users["agent"])
    html = _inbox(client, tenant_a)
    assert 'id="saved-views-empty"' in html
    with tenant_a.scope():
        SavedView.objects.create(
            organization=tenant_a.organization,
            owner=tenant_a.users["agent"],
            name="急ぎ",
            filters={"priority": "urgent"},
        )
    html = _inbox(client, tenant_a)
    assert 'id="saved-views-empty"' not in html and "急ぎ" in html
