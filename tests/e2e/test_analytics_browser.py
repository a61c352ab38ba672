"""A manager's dashboards in a real browser: open them from the menu, change the date range and a filter, the
charts redraw with the new data (htmx swap, URL kept), and clicking a number lists exactly the tickets it counts."""

import pytest

from analytics.tests.builders import catch_up, event, inbound, jst, reply, ticket
from conftest import PASSWORD
from tests.e2e.a11y import assert_accessible
from tests.e2e.conftest import screenshot, sign_in
from tests.e2e.test_inbox_browser import off_loop
from tickets.models import Tag
from tickets.tests.factories import connection

pytestmark = [pytest.mark.browser]

CREATED = """(selector) => {
  const element = document.querySelector(selector);
  const chart = element && window.echarts && window.echarts.getInstanceByDom(element);
  if (!chart) return null;
  const option = chart.getOption();
  return {x: option.xAxis[0].data, created: option.series[0].data};
}"""


# A live chart bound to this very element (a page restored from history carries the old markup).
DRAWN = """(selector) => {
  const element = document.querySelector(selector);
  const chart = element && window.echarts && window.echarts.getInstanceByDom(element);
  return Boolean(chart && chart.getDom() === element);
}"""


def _chart(page):
    return page.evaluate(CREATED, "[data-chart='chart-data-volume']")


def test_manager_filters_the_dashboard_and_drills_down(page, asgi_server, tenant_a):
    org = tenant_a.organization
    agent = tenant_a.users["agent"]
    line = connection(tenant_a, "line", "LINE 公式")
    mail = connection(tenant_a, "email", "サポート窓口")

    def setup():
        with tenant_a.scope():
            refund = Tag.objects.create(organization=org, name="返品")
            made = {}
            for name, conn, at, tags in [
                ("a", line, "2026-11-16 10:00", [refund]),
                ("b", line, "2026-11-17 10:00", []),
                ("c", mail, "2026-11-17 12:00", [refund]),
                ("d", line, "2026-11-20 09:00", [refund]),
            ]:
                made[name] = ticket(org, conn, jst(at), subject=f"問い合わせ {name}")
                made[name].tags.set(tags)
                event(made[name], jst(at), "created")
                inbound(made[name], jst(at))
            reply(made["a"], jst("2026-11-16 10:10"), agent)
            event(made["a"], jst("2026-11-16 11:00"), "status", "open", "solved", actor=agent)
        catch_up()
        return {name: t.pk for name, t in made.items()}, refund.pk

    tickets, refund_id = off_loop(setup)
    refused = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)

    # Given a manager signed in, when they open Analytics → Dashboards from the menu
    sign_in(page, asgi_server.url, tenant_a.users["manager"].email, PASSWORD)
    page.goto(f"{asgi_server.url}/{tenant_a.slug}/")
    page.locator(f"nav.sidebar a[href='/{tenant_a.slug}/analytics/dashboards/']").click()
    page.wait_for_selector("[data-chart='chart-data-volume'][data-drawn='yes']")

    # When they set the range to 16–20 November, the chart redraws with those five days (all four tickets)
    page.locator("#id_from").fill("2026-11-16")
    page.locator("#id_to").fill("2026-11-20")
    page.wait_for_function(
        "(s) => { const c = window.echarts.getInstanceByDom(document.querySelector(s));"
        " return c && c.getOption().xAxis[0].data.length === 5; }",
        arg="[data-chart='chart-data-volume']",
    )
    chart = _chart(page)
    assert chart["x"] == ["2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20"]
    assert chart["created"] == [1, 2, 0, 0, 1]
    assert page.locator("[data-kpi='created'] [data-kpi-value]").inner_text() == "4"

    # And filter by the tag 返品 and the LINE channel: a and d remain
    page.locator("#id_tag").select_option(str(refund_id))
    page.wait_for_function(
        "(s) => { const c = window.echarts.getInstanceByDom(document.querySelector(s));"
        " return c && c.getOption().series[0].data.join() === '1,1,0,0,1'; }",
        arg="[data-chart='chart-data-volume']",
    )
    page.locator("#id_connection").select_option(str(line.pk))
    page.wait_for_function(
        "(s) => { const c = window.echarts.getInstanceByDom(document.querySelector(s));"
        " return c && c.getOption().series[0].data.join() === '1,0,0,0,1'; }",
        arg="[data-chart='chart-data-volume']",
    )
    assert page.locator("[data-kpi='created'] [data-kpi-value]").inner_text() == "2"
    # The URL keeps the filters (shareable), and the tabs carry them too
    assert f"tag={refund_id}" in page.url and f"connection={line.pk}" in page.url and "from=2026-11-16" in page.url
    assert "team=" not in page.url  # only the filters set
    assert f"tag={refund_id}" in page.locator("[data-tab='channels']").get_attribute("href")
    screenshot(page, "analytics-dashboard-filtered")
    assert_accessible(page, "dashboards/overview")

    # When they click the number of created tickets, the list shows exactly those two tickets
    page.locator("[data-kpi='created'] a[data-kpi-value]").click()
    page.wait_for_selector("#drill-count")
    assert page.locator("#drill-count").inner_text() == "2"
    listed = {int(row.get_attribute("data-ticket")) for row in page.locator("tr[data-ticket]").all()}
    assert listed == {tickets["a"], tickets["d"]}
    screenshot(page, "analytics-drilldown")
    assert_accessible(page, "dashboards/drill-down")
    # Each row opens the ticket in the inbox
    href = page.locator(f"tr[data-ticket='{tickets['a']}'] a").get_attribute("href")
    assert href == f"/{tenant_a.slug}/inbox/tickets/{tickets['a']}/"

    # Back on the dashboard, clicking the chart's point "created on 20 November" lists ticket d alone
    page.go_back()
    page.wait_for_function(DRAWN, arg="[data-chart='chart-data-volume']")
    chart = page.locator("[data-chart='chart-data-volume']")
    x, y = page.evaluate(
        "(s) => window.echarts.getInstanceByDom(document.querySelector(s))"
        ".convertToPixel({seriesIndex: 0}, ['2026-11-20', 1])",
        "[data-chart='chart-data-volume']",
    )
    chart.scroll_into_view_if_needed()
    box = chart.bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_selector("#drill-count")
    assert page.locator("#drill-count").inner_text() == "1"
    assert [int(r.get_attribute("data-ticket")) for r in page.locator("tr[data-ticket]").all()] == [tickets["d"]]

    # The channels tab keeps the filters and draws its bars per channel
    page.go_back()
    page.locator("[data-tab='channels']").click()
    page.wait_for_selector("[data-chart='chart-data-table-by_connection'][data-drawn='yes']")
    assert f"tag={refund_id}" in page.url
    screenshot(page, "analytics-channels")
    assert_accessible(page, "dashboards/channels")
    assert not refused, refused
