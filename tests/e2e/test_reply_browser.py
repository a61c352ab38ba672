"""A customer writes on Facebook (the platform simulator sends a signed webhook to a real uvicorn server); the agent
sees it arrive without reload, replies with a canned response, and watches the delivery state move to delivered as
the platform's receipts arrive."""

import re

import pytest
from playwright.sync_api import expect

from conftest import PASSWORD
from tests.e2e.conftest import FIRST_PAGE_ID, browser_page, granted_connection, off_loop, screenshot, sign_in
from tickets.models import CannedResponse, CannedResponseVariant

pytestmark = [pytest.mark.browser]


def test_agent_replies_with_a_canned_response_and_sees_it_delivered(browser, live_simulator, meta_server, tenant_a):
    # Given a Facebook page connected through the simulator, and a canned response
    sim, server = live_simulator, meta_server
    token = sim.parts["meta"].provision()["pages"][0]["access_token"]
    agent = tenant_a.users["agent"]

    def setup():
        granted_connection(tenant_a, credentials={"access_token": token}, users=[agent])
        with tenant_a.scope():
            canned = CannedResponse.objects.create(
                organization=tenant_a.organization, title="お礼", shortcut="thanks", owner=None
            )
            CannedResponseVariant.objects.create(
                organization=tenant_a.organization,
                response=canned,
                language="ja",
                body="{{contact.name}}様、お問い合わせありがとうございます。担当の{{agent.name}}です。",
            )

    off_loop(setup)
    with browser_page(browser) as page:
        sign_in(page, server.url, agent.email, PASSWORD)
        page.goto(f"{server.url}/{tenant_a.slug}/inbox/")
        page.wait_for_selector("#inbox[data-connected='true']")

        # When a customer sends a DM on the platform
        sim.parts["meta"].customer_message(
            FIRST_PAGE_ID, "PSID-E2E", "注文した商品がまだ届いていません", name="高橋 愛"
        )
        assert sim.deliveries[-1]["status"] == 200, sim.deliveries
        # Then it appears in the list without a reload, and opens
        row = page.locator(".ticket-row", has_text="高橋 愛")
        row.wait_for()
        row.locator(".ticket-link").click()
        page.wait_for_selector("#reply-form")
        assert (
            "2,000" in page.locator("#reply-limits").inner_text()
            or "2000" in page.locator("#reply-limits").inner_text()
        )

        # When the agent inserts the canned response with "/" and sends it
        page.locator("#reply-text").click()
        page.keyboard.type("/thanks")
        page.wait_for_selector("#canned-menu li.active")
        page.keyboard.press("Enter")
        expected = "高橋 愛様、お問い合わせありがとうございます。"
        expect(page.locator("#reply-text")).to_have_value(re.compile(re.escape(expected)))
        page.locator("#reply-form button[type=submit]").click()

        # Then the outbound bubble appears and moves to "delivered" as the platform's receipt arrives
        bubble = page.locator("#messages li.message.outbound").last
        bubble.wait_for()
        page.wait_for_selector("#messages li.message.outbound .delivery-delivered")
        assert expected in bubble.inner_text()
        sent = [
            s for s in sim.parts["meta"].state()["sent"] if s.get("recipient") == "PSID-E2E" or "PSID-E2E" in str(s)
        ]
        assert len(sent) == 1 and expected in str(sent[0])
        screenshot(page, "inbox-reply-delivered")
