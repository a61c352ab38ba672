"""Analytics → Live in a browser on a real ASGI server: a manager opens it from the menu; a customer writes; the
open and unassigned numbers change without a reload."""

import pytest
from playwright.sync_api import expect

from conftest import PASSWORD
from tests.e2e.a11y import assert_accessible
from tests.e2e.conftest import screenshot, sign_in
from tests.e2e.test_inbox_browser import ingest
from tickets.tests.factories import connection, inbound

pytestmark = [pytest.mark.browser]


def test_the_live_panel_counts_a_new_ticket_without_a_reload(page, asgi_server, tenant_a):
    line = connection(tenant_a, "line", "LINE 公式アカウント")
    manager = tenant_a.users["manager"]
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    sign_in(page, asgi_server.url, manager.email, PASSWORD)
    page.goto(f"{asgi_server.url}/{tenant_a.slug}/")
    page.locator(f"nav.sidebar a[href='/{tenant_a.slug}/analytics/live/']").click()
    page.wait_for_selector("#live-panel[data-connected='true']")
    assert page.locator("#live-open").inner_text() == "0"
    assert page.locator("#live-unassigned").inner_text() == "0"
    # The manager watches over an observing socket: reading the panel is not being at work in the inbox.
    assert page.locator("#live-online").inner_text() == "0"

    message = ingest(tenant_a, line, inbound("注文した商品がまだ届きません", name="鈴木 花子", thread="live-panel-1"))
    assert message.ticket_id
    expect(page.locator("#live-open")).to_have_text("1")
    assert page.locator("#live-unassigned").inner_text() == "1"
    assert page.url.endswith("/analytics/live/")  # no navigation happened

    ingest(tenant_a, line, inbound("もう一件", name="田中 一郎", thread="live-panel-2"))
    expect(page.locator("#live-open")).to_have_text("2")
    assert page.locator("#live-online").inner_text() == "0"
    screenshot(page, "live-panel")
    assert_accessible(page, "live panel")
    assert not problems, problems


def test_a_manager_schedules_a_report_from_the_menu(page, asgi_server, tenant_a):
    manager = tenant_a.users["manager"]
    sign_in(page, asgi_server.url, manager.email, PASSWORD)
    page.goto(f"{asgi_server.url}/{tenant_a.slug}/")
    page.locator(f"nav.sidebar a[href='/{tenant_a.slug}/analytics/reports/']").click()
    page.locator(f"a[href='/{tenant_a.slug}/analytics/reports/new/']").click()
    page.locator("#id_name").fill("週次サマリー")
    page.locator("#id_page").select_option("overview")
    page.locator("input[name='frequency'][value='weekly']").check()
    page.locator("#id_weekday").select_option("0")
    page.locator("#id_hour").select_option("9")
    page.locator(f"input[name='recipients'][value='{tenant_a.users['analyst'].pk}']").check()
    screenshot(page, "scheduled-report-form")
    assert_accessible(page, "scheduled report form")
    page.locator("form button.primary").click()
    row = page.locator("#schedules tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("週次サマリー")
    expect(row).to_contain_text("09:00")
    screenshot(page, "scheduled-reports")
    assert_accessible(page, "scheduled reports")
