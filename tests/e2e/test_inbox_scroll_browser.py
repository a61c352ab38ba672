"""An inbox with 200 tickets in a real Chromium at 1280×800: the page itself never scrolls, the list scrolls on its own
and loads more rows as it goes, the open ticket stays selected, and a deep link lands with the conversation in view."""

import pytest

from conftest import PASSWORD
from tests.e2e.conftest import browser_page, csp_refusals, off_loop, screenshot, sign_in
from tickets.services.ingest import messages_ingest
from tickets.tests.factories import connection, inbound

pytestmark = [pytest.mark.browser]

TICKETS = 200


def _fill(tenant) -> list[int]:
    conn = connection(tenant, "email", "support@example.jp")

    def run():
        with tenant.scope():
            results = messages_ingest(
                organization=tenant.organization,
                connection=conn,
                inbounds=[
                    inbound(f"お問い合わせ {n} 件目です", thread=f"t{n}", name=f"顧客 {n}") for n in range(TICKETS)
                ],
            )
            return [message.ticket_id for message, _created in results]

    return off_loop(run)


def _page_scrolls(page) -> bool:
    return page.evaluate("() => document.scrollingElement.scrollHeight > window.innerHeight + 1")


def test_the_list_scrolls_on_its_own_loads_more_and_keeps_the_selection(browser, asgi_server, tenant_a):
    ticket_ids = _fill(tenant_a)
    with browser_page(browser) as page:
        refused = csp_refusals(page)  # the real Content-Security-Policy: nothing the page does may be refused
        sign_in(page, asgi_server.url, tenant_a.users["manager"].email, PASSWORD)
        page.goto(f"{asgi_server.url}/{tenant_a.slug}/inbox/")
        rows = page.locator("#tickets .ticket-row")
        assert rows.count() == 50
        assert not _page_scrolls(page)

        # Open the first ticket, then scroll the list: the page stays put and more rows arrive
        rows.first.locator(".ticket-link").click()
        page.wait_for_selector("#tickets .ticket-row.selected")
        selected = rows.first.get_attribute("id")
        # (as a reader does: scrolling on to the end of what is there until nothing more comes)
        page.wait_for_function(
            f"""() => {{
                const pane = document.getElementById("ticket-list");
                pane.scrollTop = pane.scrollHeight;
                return document.querySelectorAll("#tickets .ticket-row").length >= {TICKETS};
            }}""",
            polling=300,
        )
        assert rows.count() == TICKETS and page.locator("#tickets .load-more").count() == 0
        assert len(set(rows.evaluate_all("rows => rows.map(r => r.id)"))) == TICKETS  # none twice
        assert page.evaluate("() => window.scrollY") == 0 and not _page_scrolls(page)
        assert page.locator(".ticket-row.selected").get_attribute("id") == selected
        conversation = page.locator("#conversation").bounding_box()
        assert conversation["y"] < 800 and conversation["height"] > 300  # still on screen beside the list
        screenshot(page, "inbox-200-scrolled")

        # A deep link to the oldest ticket opens with its conversation in view and no banner
        page.goto(f"{asgi_server.url}/{tenant_a.slug}/inbox/tickets/{ticket_ids[0]}/")
        page.wait_for_selector(f"#conversation [data-ticket-id='{ticket_ids[0]}']")
        box = page.locator(f"#conversation [data-ticket-id='{ticket_ids[0]}']").bounding_box()
        assert 0 <= box["y"] < 800
        assert page.locator("ul.messages.flash").count() == 0
        assert not _page_scrolls(page)
        assert refused == []
