"""A customer mentions the brand's X account (the simulator posts a signed Account Activity webhook to a real uvicorn
server); the agent opens it, writes a public reply and sees the counter count the way X counts (Japanese characters
weigh two), is refused over 280, switches to a direct message (counted plainly), and sends a public reply that X
receives once."""

import pytest
from playwright.sync_api import expect

from channels_integrations.providers.x import simulator as x_sim
from conftest import PASSWORD
from tests.e2e.conftest import browser_page, granted_connection, off_loop, screenshot, sign_in

pytestmark = [pytest.mark.browser]


def test_the_reply_box_counts_a_public_reply_the_way_x_counts(browser, live_simulator, simulated_server, tenant_a):
    sim = live_simulator
    x = sim.parts["x"]
    server = simulated_server(X_API_URL=sim.base_url, X_CONSUMER_SECRET=x_sim.CONSUMER_SECRET)
    token = x.grant_token()
    x.subscriptions.add(x_sim.ACCOUNT_ID)  # the account is subscribed to the app's Account Activity webhook
    agent = tenant_a.users["agent"]

    def setup():
        granted_connection(
            tenant_a,
            users=[agent],
            credentials={"access_token": token["access_token"], "refresh_token": token["refresh_token"]},
            platform="x",
            account_id=x_sim.ACCOUNT_ID,
            display_name="@tsunagu_demo",
            config={"mode": "webhook"},
        )

    off_loop(setup)
    with browser_page(browser) as page:
        sign_in(page, server.url, agent.email, PASSWORD)
        page.goto(f"{server.url}/{tenant_a.slug}/inbox/")
        page.wait_for_selector("#inbox[data-connected='true']")

        # When a customer mentions the account on X
        tweet = x.mention(text="@tsunagu_demo 注文の配送状況を教えてください", name="山田 花子")
        assert sim.deliveries[-1]["status"] == 200, sim.deliveries
        row = page.locator(".ticket-row", has_text="山田 花子")
        row.wait_for()
        row.locator(".ticket-link").click()
        page.wait_for_selector("#reply-form")

        # Then a public reply is counted as X counts: 141 Japanese characters are 282 of 280
        page.locator("#reply-form input[name=public]").check()
        page.locator("#reply-text").fill("あ" * 141)
        page.locator("#reply-text").dispatch_event("input")
        assert page.locator("#reply-counter").inner_text() == "282 / 280"
        page.locator("#reply-form button[type=submit]").click()
        # (locator assertions: the page's CSP forbids the eval a string predicate would need)
        expect(page.locator("#reply-form [data-error]")).to_contain_text("282")
        # A link weighs 23 whatever its length
        page.locator("#reply-text").fill("詳細は https://example.com/" + "p" * 80 + " をご覧ください")
        page.locator("#reply-text").dispatch_event("input")
        assert page.locator("#reply-counter").inner_text() == f"{2 * 3 + 1 + 23 + 1 + 2 * 7} / 280"
        # A direct message is counted plainly
        page.locator("#reply-form input[name=public]").uncheck()
        assert page.locator("#reply-counter").inner_text() == str(
            len("詳細は https://example.com/" + "p" * 80 + " をご覧ください")
        )

        # When the agent sends a short public reply, X receives it once
        page.locator("#reply-form input[name=public]").check()
        page.locator("#reply-text").fill("お問い合わせありがとうございます。DM でご案内します。")
        page.locator("#reply-form button[type=submit]").click()
        expect(page.locator("#messages li.message.outbound")).to_have_count(1)
        screenshot(page, "x-public-reply")
        for _ in range(50):
            if x.sent:
                break
            page.wait_for_timeout(100)
        assert [(s["kind"], s["in_reply_to"]) for s in x.sent] == [("reply", tweet["id"])]
