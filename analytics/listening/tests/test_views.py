"""The listening pages: the stream (filters, live part, grants), the one-click ticket (idempotent, tenant- and
grant-safe), share of voice, monitors; query budgets constant in the data size."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from analytics.listening.models import Mention, Monitor
from analytics.listening.tests.conftest import monitor
from analytics.listening.tests.factories import mention
from tickets.models import Message, Ticket
from tickets.tests.factories import connection as make_connection


def url(tenant, name, *args, query=""):
    return reverse(f"org:{name}", args=[tenant.slug, *args]) + (f"?{query}" if query else "")


@pytest.fixture(autouse=True)
def english_readers(tenant_a):
    """The pages follow the reader's language; these tests read the English texts."""
    for user in tenant_a.users.values():
        user.language = "en"
        user.save(update_fields=["language"])


@pytest.fixture
def brand(tenant_a):
    return monitor(tenant_a, "ツナグ", "brand", ["ツナグ"])


def grant(tenant, connection, role):
    with tenant.scope():
        account_services.connection_access_set(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            connection=connection,
            users=[tenant.users[role]],
        )


def test_stream_newest_first_with_filters_and_a_constant_query_count(
    tenant_a, brand, login, django_assert_max_num_queries
):
    rival = monitor(tenant_a, "Zen", "competitor", ["Zen"])
    connection = make_connection(tenant_a, "instagram")
    now = timezone.now()
    old = mention(tenant_a, [brand], at=now - timedelta(hours=2), text="ツナグ 昔の投稿", connection=connection)
    new = mention(tenant_a, [brand], at=now, text="ツナグ 最悪", sentiment="negative", connection=connection)
    mention(tenant_a, [rival], at=now - timedelta(hours=1), text="Zen is fine", connection=connection)
    client = login(tenant_a.users["manager"])
    with django_assert_max_num_queries(14):
        page = client.get(url(tenant_a, "listening_stream")).content.decode()
    assert page.index("ツナグ 最悪") < page.index("Zen is fine") < page.index("ツナグ 昔の投稿")
    assert "Create ticket" in page
    filtered = client.get(url(tenant_a, "listening_stream", query=f"monitor={brand.pk}&sentiment=negative"))
    assert "ツナグ 最悪" in filtered.content.decode() and "昔の投稿" not in filtered.content.decode()
    # Bad filter values are ignored, never a 500.
    assert client.get(url(tenant_a, "listening_stream", query="monitor=abc&platform=xx&before=zz")).status_code == 200
    for i in range(30):
        mention(tenant_a, [brand, rival], text=f"ツナグ and Zen {i}", connection=connection)
    with django_assert_max_num_queries(14):  # the same budget for 3 and 33 mentions
        client.get(url(tenant_a, "listening_stream"))
    # The live part: only what was collected after the newest shown, on top of the list.
    live = client.get(url(tenant_a, "listening_stream_new", query=f"after={new.pk}")).content.decode()
    assert 'hx-swap-oob="afterbegin:#mentions"' in live and "ツナグ and Zen 29" in live and "最悪" not in live
    assert old.pk < new.pk


def test_older_mentions_page_on_in_the_streams_order(tenant_a, brand, login):
    from analytics.listening import selectors

    connection = make_connection(tenant_a, "instagram")
    now = timezone.now()
    # Collected in an order unlike their posting times (a hashtag search finds older posts after newer ones).
    made = [
        mention(tenant_a, [brand], at=now - timedelta(hours=h), text=f"ツナグ {h}", connection=connection)
        for h in (5, 1, 3, 0, 4, 2)
    ]
    with tenant_a.scope():
        selectors.STREAM_PAGE, page_size = 4, selectors.STREAM_PAGE
        try:
            first = selectors.mention_stream(tenant_a.memberships["manager"])
            second = selectors.mention_stream(tenant_a.memberships["manager"], before_id=first[-1].pk)
        finally:
            selectors.STREAM_PAGE = page_size
    assert [m.text for m in first] == ["ツナグ 0", "ツナグ 1", "ツナグ 2", "ツナグ 3"]
    assert [m.text for m in second] == ["ツナグ 4", "ツナグ 5"]
    assert len(made) == 6


def test_stream_follows_channel_grants_and_capabilities(tenant_a, brand, login):
    granted = make_connection(tenant_a, "instagram")
    hidden = make_connection(tenant_a, "facebook")
    mention(tenant_a, [brand], text="ツナグ granted", connection=granted)
    mention(tenant_a, [brand], text="ツナグ hidden", connection=hidden)
    grant(tenant_a, granted, "analyst")
    page = login(tenant_a.users["analyst"]).get(url(tenant_a, "listening_stream")).content.decode()
    assert "ツナグ granted" in page and "ツナグ hidden" not in page
    assert "Create ticket" not in page  # analysts read; they do not work tickets
    assert login(tenant_a.users["agent"]).get(url(tenant_a, "listening_stream")).status_code == 403


def test_create_ticket_in_one_click_lands_on_it_and_a_second_click_gives_the_same(tenant_a, brand, login):
    connection = make_connection(tenant_a, "instagram")
    made = mention(tenant_a, [brand], text="ツナグのアプリが動きません", author="kenji")
    with tenant_a.scope():
        Mention.objects.filter(pk=made.pk).update(connection=connection)
    client = login(tenant_a.users["manager"])
    response = client.post(url(tenant_a, "listening_mention_ticket", made.pk))
    with tenant_a.scope():
        ticket = Ticket.objects.get()
        assert response.status_code == 302
        assert response["Location"] == reverse("org:inbox_ticket", args=[tenant_a.slug, ticket.pk])
        message = Message.objects.get(ticket=ticket)
        assert (message.direction, message.kind, message.text) == ("inbound", "mention", "ツナグのアプリが動きません")
        assert ticket.connection_id == connection.pk
        assert Mention.objects.get(pk=made.pk).ticket_id == ticket.pk
    again = client.post(url(tenant_a, "listening_mention_ticket", made.pk))
    assert again["Location"] == response["Location"]
    with tenant_a.scope():
        assert Ticket.objects.count() == 1 and Message.objects.count() == 1
    page = client.get(url(tenant_a, "listening_stream")).content.decode()
    assert f"Ticket #{ticket.number}" in page


def test_create_ticket_is_grant_tenant_and_capability_safe(tenant_a, tenant_b, brand, login):
    connection = make_connection(tenant_a, "instagram")
    made = mention(tenant_a, [brand], connection=connection)
    agent = login(tenant_a.users["agent"])
    assert agent.post(url(tenant_a, "listening_mention_ticket", made.pk)).status_code == 404  # channel not granted
    grant(tenant_a, connection, "agent")
    assert agent.post(url(tenant_a, "listening_mention_ticket", made.pk)).status_code == 302
    assert login(tenant_a.users["analyst"]).post(url(tenant_a, "listening_mention_ticket", made.pk)).status_code == 403
    # Organization B's owner reaches A's mention through B's own URL: 404.
    owner_b = login(tenant_b.users["owner"])
    assert owner_b.post(url(tenant_b, "listening_mention_ticket", made.pk)).status_code == 404
    assert owner_b.get(url(tenant_a, "listening_mention_ticket", made.pk)).status_code == 404


def test_share_of_voice_page(tenant_a, brand, login, django_assert_max_num_queries):
    monitor(tenant_a, "Zen", "competitor", ["Zen"])
    connection = make_connection(tenant_a, "instagram")
    grant(tenant_a, connection, "analyst")
    client = login(tenant_a.users["analyst"])
    with django_assert_max_num_queries(14):
        page = client.get(url(tenant_a, "listening_share")).content.decode()
    assert "share-chart-data" in page and "monitored set" in page and "Zen" in page
    for i in range(20):
        at = timezone.now() - timedelta(days=i % 10)
        mention(tenant_a, [brand], at=at, reach=100, interactions=3, connection=connection)
    with django_assert_max_num_queries(14):  # the same budget with 20 mentions over 10 days
        page = client.get(url(tenant_a, "listening_share", query="by=week")).content.decode()
    assert "3.0%" in page  # engagement: 3 ÷ 100 per mention
    for query in ("from=garbage&to=2026-13-40", "from=2020-01-01&to=2026-01-01", "from=2026-12-05&to=2026-12-01"):
        response = client.get(url(tenant_a, "listening_share", query=query))
        assert response.status_code == 200 and 'role="alert"' in response.content.decode(), query


def test_monitors_are_read_by_analysts_and_edited_by_managers(tenant_a, brand, login, django_assert_max_num_queries):
    analyst = login(tenant_a.users["analyst"])
    with django_assert_max_num_queries(13):
        page = analyst.get(url(tenant_a, "listening_monitors")).content.decode()
    assert "ツナグ" in page and "New monitor" not in page
    assert analyst.post(url(tenant_a, "listening_monitor_new"), {"name": "x"}).status_code == 403
    manager = login(tenant_a.users["manager"])
    response = manager.post(
        url(tenant_a, "listening_monitor_new"),
        {"name": "カスタマーボックス", "kind": "competitor", "terms": "カスタマーボックス、CustomerBox", "active": "1"},
    )
    assert response.status_code == 302
    with tenant_a.scope():
        rival = Monitor.objects.get(name="カスタマーボックス")
        assert rival.terms == ["カスタマーボックス", "CustomerBox"] and rival.platforms == []
    # No terms, a duplicate name: form errors, nothing saved.
    response = manager.post(url(tenant_a, "listening_monitor_edit", rival.pk), {"name": "ツナグ", "kind": "brand"})
    assert response.status_code == 200 and response.content.decode().count('class="field-error"') == 2
    response = manager.post(
        url(tenant_a, "listening_monitor_edit", rival.pk),
        {"name": "CB", "kind": "competitor", "terms": "CustomerBox", "platforms": ["instagram"]},
    )
    with tenant_a.scope():
        rival.refresh_from_db()
        assert (rival.name, rival.platforms, rival.active) == ("CB", ["instagram"], False)
    for i in range(10):  # the same budget with more monitors and channels
        monitor(tenant_a, f"Rival {i}", "competitor", [f"rival{i}"])
        make_connection(tenant_a, "instagram")
    with django_assert_max_num_queries(13):
        manager.get(url(tenant_a, "listening_monitors"))


def test_saving_a_monitor_matches_the_mentions_already_collected(tenant_a, brand):
    connection = make_connection(tenant_a, "instagram")
    earlier = mention(tenant_a, [brand], text="ツナグからZenに乗り換え検討中", connection=connection)
    zen = monitor(tenant_a, "Zen", "competitor", ["Zen"])
    with tenant_a.scope():
        assert list(zen.mentions.all()) == [earlier]
