"""Dashboards: the metrics added for them (tag filter, previous period, series, breakdowns, sentiment) on a
hand-built history with hand-computed values; the pages, their permissions and query budgets; the drill-down,
whose count equals the number clicked.

Range 11-16 … 11-29 (14 days, Tokyo); the previous period is 11-02 … 11-15.
T1 (line) created Mon 11-16 10:00 by the customer (negative), agent replies 10:10 (600 s), solved 11:00. Tag 返品.
T2 (line) created 11-17 10:00 by the customer (positive), agent replies 10:30 (1800 s). Tag VIP.
T3 (mail) created 11-17 12:00 by the customer (neutral), never answered. Tag 返品.
T4 (line) created 11-02 09:00 by the customer, agent replies 09:20 (1200 s), solved 10:00 (previous period).
"""

from datetime import date
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import services as account_services
from analytics import metrics
from analytics.dashboards import drilldown
from analytics.dashboards.pages import PAGES, page_data
from analytics.dashboards.views import tab_url
from analytics.models import FactKind
from analytics.tests.builders import catch_up, event, inbound, jst, reply, ticket
from tickets.models import Message, Tag
from tickets.tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shop(tenant_a):
    org = tenant_a.organization
    agent = tenant_a.users["agent"]
    line = factories.connection(tenant_a, "line")
    mail = factories.connection(tenant_a, "email")
    with tenant_a.scope():
        refund = Tag.objects.create(organization=org, name="返品")
        vip = Tag.objects.create(organization=org, name="VIP")

        def conversation(connection, created, sentiment="", tags=(), replied=None, solved=None):
            made = ticket(org, connection, created, subject=f"件名 {created:%m-%d %H:%M}")
            made.tags.set(tags)
            event(made, created, "created")
            message = inbound(made, created)
            Message.objects.filter(pk=message.pk).update(sentiment=sentiment)
            if replied:
                reply(made, replied, agent)
            if solved:
                event(made, solved, "status", "open", "solved", actor=agent)
            return made

        t1 = conversation(
            line, jst("2026-11-16 10:00"), "negative", [refund], jst("2026-11-16 10:10"), jst("2026-11-16 11:00")
        )
        t2 = conversation(line, jst("2026-11-17 10:00"), "positive", [vip], jst("2026-11-17 10:30"))
        t3 = conversation(mail, jst("2026-11-17 12:00"), "neutral", [refund])
        t4 = conversation(line, jst("2026-11-02 09:00"), "", (), jst("2026-11-02 09:20"), jst("2026-11-02 10:00"))
    catch_up()
    return {"org": org, "line": line, "mail": mail, "refund": refund, "vip": vip, "tickets": (t1, t2, t3, t4)}


def _filters(shop, **extra):
    return metrics.Filters(organization=shop["org"], first_day=date(2026, 11, 16), last_day=date(2026, 11, 29), **extra)


# --- metrics ------------------------------------------------------------------------------------------------------


def test_previous_period_is_the_same_length_just_before(shop, tenant_a):
    filters = _filters(shop)
    previous = filters.previous()
    assert (previous.first_day, previous.last_day) == (date(2026, 11, 2), date(2026, 11, 15))
    with tenant_a.scope():
        assert metrics.volume(filters) == {"created": 3, "solved": 1, "backlog": 2}
        assert metrics.volume(previous) == {"created": 1, "solved": 1, "backlog": 0}
        assert metrics.first_response_time(filters)["median"] == 1200  # (600 + 1800) / 2
        assert metrics.first_response_time(previous)["median"] == 1200


def test_tag_filter_counts_from_the_facts(shop, tenant_a):
    refund = _filters(shop, tag_ids=frozenset({shop["refund"].pk}))
    both = _filters(shop, tag_ids=frozenset({shop["refund"].pk, shop["vip"].pk}))
    with tenant_a.scope():
        # T1 and T3 carry 返品; T1 solved; backlog T3 only.
        assert metrics.volume(refund) == {"created": 2, "solved": 1, "backlog": 1}
        assert metrics.first_response_time(refund)["count"] == 1
        assert metrics.first_response_time(refund)["median"] == 600
        assert metrics.response_rate(refund)["rate"] == 50.0
        assert metrics.average_reply_time(refund) == {"count": 1, "average": 600, "business_average": 600}
        # Either tag: all three.
        assert metrics.volume(both)["created"] == 3
        # Tag and channel together: 返品 on mail is T3 only.
        assert metrics.volume(refund.narrowed(connection_ids=frozenset({shop["mail"].pk})))["created"] == 1


def test_daily_series(shop, tenant_a):
    filters = _filters(shop)
    tagged = _filters(shop, tag_ids=frozenset({shop["refund"].pk}))
    with tenant_a.scope():
        daily = metrics.daily_counts(filters, [FactKind.CREATED, FactKind.RESOLUTION])
        backlog = metrics.daily_backlog(filters)
        first = metrics.daily_percentiles(filters, FactKind.FIRST_RESPONSE)
        tagged_daily = metrics.daily_counts(tagged, [FactKind.CREATED])
    assert len(daily[FactKind.CREATED]) == 14
    assert daily[FactKind.CREATED][:3] == [1, 2, 0] and sum(daily[FactKind.CREATED]) == 3
    assert daily[FactKind.RESOLUTION][:2] == [1, 0]
    # T1 created and solved on the 16th (0 left), T2 and T3 on the 17th.
    assert backlog[:3] == [0, 2, 2] and backlog[-1] == 2
    assert [day["median"] for day in first[:3]] == [600, 1800, None]
    assert tagged_daily[FactKind.CREATED][:3] == [1, 1, 0]


def test_breakdowns(shop, tenant_a):
    filters = _filters(shop)
    with tenant_a.scope():
        by_connection = metrics.breakdown(filters, "connection")
        by_platform = metrics.breakdown(filters, "platform")
        by_tag = metrics.breakdown(filters, "tag")
        by_agent = metrics.breakdown(filters, "agent")
        tag_times = metrics.breakdown_percentiles(filters, "tag", FactKind.FIRST_RESPONSE)
    line, mail = shop["line"].pk, shop["mail"].pk
    assert (by_connection[line]["created"], by_connection[line]["solved"], by_connection[mail]["created"]) == (2, 1, 1)
    assert by_platform["line"]["created"] == 2 and by_platform["email"]["created"] == 1
    refund, vip = shop["refund"].pk, shop["vip"].pk
    assert set(by_tag) == {refund, vip}
    assert (by_tag[refund]["created"], by_tag[refund]["solved"], by_tag[vip]["created"]) == (2, 1, 1)
    assert tag_times[refund]["median"] == 600 and tag_times[vip]["median"] == 1800
    # Replies are the replying agent's: both timed replies (600 s, 1800 s) are the agent's.
    agent = by_agent[shop["tickets"][0].assignee_id] if shop["tickets"][0].assignee_id else None
    assert agent is None  # nobody was assigned: the created/solved facts are unassigned
    replies = [row["reply"] for row in by_agent.values() if row["reply"]["count"]]
    assert (
        replies == [{"count": 2, "average": 1200, "business_average": pytest.approx(1200)}] or replies[0]["count"] == 2
    )


def test_sentiment_mix_and_trend(shop, tenant_a):
    filters = _filters(shop)
    with tenant_a.scope():
        mix = metrics.sentiment_mix(filters)
        trend = metrics.sentiment_trend(filters)
        refund = metrics.sentiment_mix(_filters(shop, tag_ids=frozenset({shop["refund"].pk})))
        before = metrics.sentiment_mix(filters.previous())
    assert mix["counts"] == {"positive": 1, "neutral": 1, "negative": 1} and mix["total"] == 3
    assert mix["shares"]["positive"] == pytest.approx(100 / 3)
    assert trend["negative"][:2] == [1, 0] and trend["positive"][:2] == [0, 1] and trend["neutral"][:2] == [0, 1]
    assert refund["counts"] == {"positive": 0, "neutral": 1, "negative": 1}
    # T4's message has no detected sentiment: nothing to count, no share (not 0 %).
    assert before["total"] == 0 and before["shares"]["positive"] is None


def test_definitions_are_the_docstrings_and_the_docs():
    docs = (Path(settings.BASE_DIR) / "docs" / "metrics.md").read_text()
    for key, text in metrics.DEFINITIONS.items():
        assert text in docs, f"docs/metrics.md lacks the definition of {key}"
    assert metrics.DEFINITIONS["first_response"] in metrics.first_response_time.__doc__
    assert metrics.DEFINITIONS["backlog"] in metrics.volume.__doc__


# --- drill-down: the list's count is the number ---------------------------------------------------------------------


def _drill_ids(metric, filters):
    rows = list(drilldown.drill_rows(metric, filters))
    return len(rows), sorted(row["ticket_id"] for row in rows)


def test_drill_down_counts_equal_the_kpis(shop, tenant_a):
    t1, t2, t3, _t4 = shop["tickets"]
    filters = _filters(shop)
    refund = _filters(shop, tag_ids=frozenset({shop["refund"].pk}))
    with tenant_a.scope():
        volume, refund_volume = metrics.volume(filters), metrics.volume(refund)
        assert _drill_ids("created", filters) == (volume["created"], sorted([t1.pk, t2.pk, t3.pk]))
        assert _drill_ids("solved", filters) == (volume["solved"], [t1.pk])
        assert _drill_ids("backlog", filters) == (volume["backlog"], sorted([t2.pk, t3.pk]))
        assert _drill_ids("backlog", refund) == (refund_volume["backlog"], [t3.pk])
        assert _drill_ids("first_response", filters)[0] == metrics.first_response_time(filters)["count"]
        started = list(drilldown.drill_rows("started", filters))
        rate = metrics.response_rate(filters)
        assert (len(started), sum(row["answered"] for row in started)) == (rate["total"], rate["answered"])
        assert _drill_ids("reply", filters)[0] == metrics.average_reply_time(filters)["count"]
        assert _drill_ids("sentiment_negative", filters) == (1, [t1.pk])
        # A point of the daily chart: the 17th.
        day = drilldown.for_day(filters, date(2026, 11, 17))
        assert _drill_ids("created", day) == (2, sorted([t2.pk, t3.pk]))
        assert _drill_ids("backlog", day) == (2, sorted([t2.pk, t3.pk]))


# --- pages ----------------------------------------------------------------------------------------------------------


def _url(tenant, name="analytics_overview"):
    if name.startswith("analytics_") and name.removeprefix("analytics_") in PAGES:
        return tab_url(name.removeprefix("analytics_"), tenant.slug)
    return reverse(f"org:{name}", args=[tenant.slug])


RANGE = {"from": "2026-11-16", "to": "2026-11-29"}


def _grant(tenant, connection, user):
    with tenant.scope():
        account_services.connection_access_set(
            organization=tenant.organization, actor=tenant.users["owner"], connection=connection, users=[user]
        )


def test_page_data_overview(shop, tenant_a):
    with tenant_a.scope():
        data = page_data("overview", _filters(shop))
    kpis = {kpi["key"]: kpi for kpi in data["kpis"]}
    assert (kpis["created"]["value"], kpis["created"]["previous"], kpis["created"]["unit"]) == (3, 1, "count")
    assert kpis["first_response_median"]["value"] == 1200 and kpis["first_response_median"]["unit"] == "seconds"
    assert kpis["response_rate"]["value"] == pytest.approx(200 / 3)
    assert kpis["sla_compliance"]["value"] is None  # no SLA clock: no value, not 0
    assert kpis["created"]["definition"].startswith("Created:") or kpis["created"]["definition"]
    with tenant_a.scope():
        csat = page_data("csat", _filters(shop))  # for the exports; the CSAT tab is the CSAT engineer's page
    assert csat["kpis"][0]["key"] == "csat_rate" and csat["kpis"][0]["value"] is None
    volume = next(series for series in data["series"] if series["key"] == "volume")
    assert volume["x"][0] == "2026-11-16" and volume["lines"][0]["values"][:3] == [1, 2, 0]


@pytest.mark.parametrize("key", list(PAGES))
def test_every_page_renders_for_a_manager_within_a_query_budget(
    shop, tenant_a, login, key, django_assert_max_num_queries
):
    client = login(tenant_a.users["manager"])
    name = "analytics_overview" if key == "overview" else f"analytics_{key}"
    with django_assert_max_num_queries(60):
        response = client.get(_url(tenant_a, name), RANGE)
    assert response.status_code == 200


@pytest.mark.parametrize("key", list(PAGES))
def test_query_count_does_not_grow_with_data(shop, tenant_a, login, key):
    client = login(tenant_a.users["manager"])
    client.get(_url(tenant_a, f"analytics_{key}"), RANGE)  # per-process caches warm
    with CaptureQueriesContext(connection) as before:
        client.get(_url(tenant_a, f"analytics_{key}"), RANGE)
    line = shop["line"]
    with tenant_a.scope():
        for hour in range(10, 16):
            more = ticket(shop["org"], line, jst(f"2026-11-18 {hour}:00"))
            more.tags.set([shop["vip"], shop["refund"]])
            event(more, jst(f"2026-11-18 {hour}:00"), "created")
            inbound(more, jst(f"2026-11-18 {hour}:00"))
        Tag.objects.create(organization=shop["org"], name="新規")
    factories.connection(tenant_a, "x")
    catch_up()
    with CaptureQueriesContext(connection) as after:
        client.get(_url(tenant_a, f"analytics_{key}"), RANGE)
    assert len(after) == len(before)


def test_overview_shows_values_changes_and_definitions(shop, tenant_a, login):
    response = login(tenant_a.users["manager"]).get(_url(tenant_a), RANGE)
    html = response.content.decode()
    assert "20 min" in html or "20分" in html  # the median first response, 1200 s
    assert 'popovertarget="def-kpi-created"' in html and 'aria-describedby="def-kpi-created"' in html
    assert "—" in html  # SLA compliance: no data
    assert "chart-data-volume" in html


def test_analyst_reads_agent_does_not(shop, tenant_a, login, client):
    assert login(tenant_a.users["analyst"]).get(_url(tenant_a)).status_code == 200
    client.logout()
    assert login(tenant_a.users["agent"]).get(_url(tenant_a)).status_code == 403
    assert (
        login(tenant_a.users["agent"]).get(_url(tenant_a, "analytics_drilldown"), {"metric": "created"}).status_code
        == 403
    )


def test_analyst_sees_only_granted_channels(shop, tenant_a, login):
    analyst = tenant_a.users["analyst"]
    _grant(tenant_a, shop["mail"], analyst)
    client = login(analyst)
    response = client.get(_url(tenant_a), RANGE)
    kpis = {kpi["key"]: kpi for kpi in response.context["page"]["kpis"]}
    assert kpis["created"]["value"] == 1
    choices = [value for value, _label in response.context["form"].fields["connection"].choices]
    assert shop["line"].pk not in choices and shop["mail"].pk in choices
    # Asking for the line channel is refused (form error) and falls back to no channel filter — still only mail.
    refused = client.get(_url(tenant_a), {**RANGE, "connection": shop["line"].pk})
    assert refused.status_code == 200 and refused.context["form"].errors.get("connection")
    assert {kpi["key"]: kpi for kpi in refused.context["page"]["kpis"]}["created"]["value"] == 1
    drill = client.get(_url(tenant_a, "analytics_drilldown"), {**RANGE, "metric": "created"})
    assert drill.context["count"] == 1 and [row["ticket_id"] for row in drill.context["rows"]] == [
        shop["tickets"][2].pk
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-13-01"},
        {"from": "2026-11-30", "to": "2026-11-01"},
        {"from": "2020-01-01", "to": "2026-01-01"},
        {"team": "abc"},
        {"agent": "999999"},
        {"tag": "x"},
        {"platform": "nowhere"},
    ],
)
def test_bad_filters_give_errors_and_defaults_never_a_500(shop, tenant_a, login, params):
    response = login(tenant_a.users["manager"]).get(_url(tenant_a), params)
    assert response.status_code == 200
    assert response.context["form"].errors
    filters = response.context["filters"]
    assert (filters.last_day - filters.first_day).days == 29 or not ({"from", "to"} & set(params))


def test_drill_down_page_lists_the_counted_tickets(shop, tenant_a, login, django_assert_max_num_queries):
    t1, t2, t3, _t4 = shop["tickets"]
    client = login(tenant_a.users["manager"])
    with django_assert_max_num_queries(20):
        response = client.get(
            _url(tenant_a, "analytics_drilldown"), {**RANGE, "metric": "created", "day": "2026-11-17"}
        )
    assert response.status_code == 200 and response.context["count"] == 2
    html = response.content.decode()
    assert reverse("org:inbox_ticket", args=[tenant_a.slug, t2.pk]) in html
    assert reverse("org:inbox_ticket", args=[tenant_a.slug, t3.pk]) in html
    assert reverse("org:inbox_ticket", args=[tenant_a.slug, t1.pk]) not in html
    tagged = client.get(_url(tenant_a, "analytics_drilldown"), {**RANGE, "metric": "created", "tag": shop["refund"].pk})
    assert tagged.context["count"] == 2
    assert [values for _label, values in tagged.context["applied"]] == [["返品"]]


@pytest.mark.parametrize("params", [{"metric": "nope"}, {"metric": "created", "day": "17th"}, {}])
def test_drill_down_bad_input_is_a_clear_400(shop, tenant_a, login, params):
    response = login(tenant_a.users["manager"]).get(_url(tenant_a, "analytics_drilldown"), params)
    assert response.status_code == 400
    assert response.context["errors"]


def test_kpi_links_lead_to_a_drill_down_with_the_same_count(shop, tenant_a, login):
    client = login(tenant_a.users["manager"])
    page = client.get(_url(tenant_a), {**RANGE, "tag": shop["refund"].pk}).context["page"]
    for kpi in page["kpis"]:
        if kpi["url"] and kpi["unit"] == "count":
            drill = client.get(kpi["url"])
            assert drill.context["count"] == kpi["value"], kpi["key"]


def test_the_demo_organization_shows_data_on_the_dashboards(login):
    from django.core.management import call_command
    from django_scopes import scopes_disabled

    from accounts.models import Organization, User

    call_command("seed_demo")
    with scopes_disabled():
        demo = Organization.objects.get(slug="demo")
        manager = User.objects.get(email="manager@demo.tsunagu.example")
    response = login(manager).get(reverse("org:analytics_overview", args=[demo.slug]))
    kpis = {kpi["key"]: kpi for kpi in response.context["page"]["kpis"]}
    assert kpis["created"]["value"] == 10 and kpis["solved"]["value"] >= 1


def test_volume_with_previous_equals_two_separate_volumes(shop, tenant_a):
    for extra in ({}, {"tag_ids": frozenset({shop["refund"].pk})}, {"connection_ids": frozenset({shop["line"].pk})}):
        filters = _filters(shop, **extra)
        with tenant_a.scope():
            assert metrics.volume_with_previous(filters) == (
                metrics.volume(filters),
                metrics.volume(filters.previous()),
            )
            # The daily backlog ends at the range's backlog, from the previous period's.
            assert metrics.daily_backlog(filters)[-1] == metrics.volume(filters)["backlog"]


@pytest.mark.parametrize("key", ["overview", "channels", "team", "sla", "sentiment"])
def test_table_and_kpi_numbers_drill_down_to_as_many_rows(shop, tenant_a, login, key):
    client = login(tenant_a.users["manager"])
    page = client.get(_url(tenant_a, f"analytics_{key}"), RANGE).context["page"]
    checked = 0
    for table in page["tables"]:
        for row, cells in zip(table["rows"], table["cells"], strict=True):
            for index, cell in enumerate(cells):
                if cell["url"] and table["units"][index] == "count":
                    assert client.get(cell["url"]).context["count"] == row[index], (table["key"], row[0], index)
                    checked += 1
    for kpi in page["kpis"]:
        if kpi["url"] and kpi["unit"] == "count":
            assert client.get(kpi["url"]).context["count"] == kpi["value"], kpi["key"]
            checked += 1
    # A chart's points, through its table of numbers: one day each.
    for series in page["series"]:
        if series["unit"] != "count":
            continue
        for index, row in enumerate(series["table_rows"][:3]):
            for line, cell in zip(series["lines"], row["cells"], strict=True):
                if cell["url"]:
                    assert client.get(cell["url"]).context["count"] == line["values"][index], (series["key"], row)
                    checked += 1
    assert checked
