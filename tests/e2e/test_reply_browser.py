"""A customer writes on Facebook (the platform simulator sends a signed webhook to a real uvicorn server); the agent
sees it arrive without reload, replies with a canned response, and watches the delivery state move to delivered as
the platform's receipts arrive."""

import re

import pytest
from playwright.sync_api import expect

from accounts import services as account_services
from channels_integrations.models import ChannelConnection
from channels_integrations.simulator.core import Simulator
from conftest import PASSWORD
from tests.e2e.asgi_server import AsgiServer
from tests.e2e.conftest import screenshot, sign_in
from tests.e2e.test_inbox_browser import off_loop
from tickets.models import CannedResponse, CannedResponseVariant

pytestmark = [pytest.mark.browser]

SECRET = "e2e-meta-secret"
PAGE_ID = "100000000000001"


@pytest.fixture
def live_simulator():
    sim = Simulator(webhook_base="http://127.0.0.1:1", meta_app_secret=SECRET, meta_app_id="42").start()
    yield sim
    sim.stop()


def test_agent_replies_with_a_canned_response_and_sees_it_delivered(
    browser, transactional_db, live_simulator, tenant_a
):
    # Given a Facebook page connected through the simulator, and a canned response
    sim = live_simulator
    urls = {"META_GRAPH_URL": sim.base_url, "META_DIALOG_URL": sim.base_url, "INSTAGRAM_GRAPH_URL": sim.base_url}
    server = AsgiServer(META_APP_SECRET=SECRET, META_APP_ID="42", **urls)
    sim.webhook_base = server.url
    token = sim.parts["meta"].provision()["pages"][0]["access_token"]
    agent = tenant_a.users["agent"]

    def setup():
        with tenant_a.scope():
            connection = ChannelConnection(
                organization=tenant_a.organization,
                platform="facebook",
                display_name="デモストア",
                external_account_id=PAGE_ID,
            )
            connection.set_credentials({"access_token": token})
            connection.save()
            account_services.connection_access_set(
                organization=tenant_a.organization, actor=tenant_a.users["owner"], connection=connection, users=[agent]
            )
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
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ja-JP")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        sign_in(page, server.url, agent.email, PASSWORD)
        page.goto(f"{server.url}/{tenant_a.slug}/inbox/")
        page.wait_for_selector("#inbox[data-connected='true']")

        # When a customer sends a DM on the platform
        sim.parts["meta"].customer_message(PAGE_ID, "PSID-E2E", "注文した商品がまだ届いていません", name="高橋 愛")
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
    finally:
        context.close()
        server.stop()
