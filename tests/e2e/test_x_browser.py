"""A customer mentions the brand's X account (the simulator posts a signed Account Activity webhook to a real uvicorn
server); the agent opens it, writes a public reply and sees the counter count the way X counts (Japanese characters
weigh two), is refused over 280, switches to a direct message (counted plainly), and sends a public reply that X
receives once."""

import pytest
from playwright.sync_api import expect

from accounts import services as account_services
from channels_integrations.models import ChannelConnection
from channels_integrations.providers.x import simulator as x_sim
from channels_integrations.simulator.core import Simulator
from conftest import PASSWORD
from tests.e2e.asgi_server import AsgiServer
from tests.e2e.conftest import screenshot, sign_in
from tests.e2e.test_inbox_browser import off_loop

pytestmark = [pytest.mark.browser]


@pytest.fixture
def live_simulator():
    sim = Simulator(webhook_base="http://127.0.0.1:1").start()
    yield sim
    sim.stop()


def test_the_reply_box_counts_a_public_reply_the_way_x_counts(browser, transactional_db, live_simulator, tenant_a):
    sim = live_simulator
    x = sim.parts["x"]
    server = AsgiServer(X_API_URL=sim.base_url, X_CONSUMER_SECRET=x_sim.CONSUMER_SECRET)
    sim.webhook_base = server.url
    token = x.grant_token()
    x.subscriptions.add(x_sim.ACCOUNT_ID)  # the account is subscribed to the app's Account Activity webhook
    agent = tenant_a.users["agent"]

    def setup():
        with tenant_a.scope():
            connection = ChannelConnection(
                organization=tenant_a.organization,
                platform="x",
                display_name="@tsunagu_demo",
                external_account_id=x_sim.ACCOUNT_ID,
                config={"mode": "webhook"},
            )
            connection.set_credentials({"access_token": token["access_token"], "refresh_token": token["refresh_token"]})
            connection.save()
            account_services.connection_access_set(
                organization=tenant_a.organization, actor=tenant_a.users["owner"], connection=connection, users=[agent]
            )

    off_loop(setup)
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ja-JP")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
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
    finally:
        context.close()
        server.stop()
