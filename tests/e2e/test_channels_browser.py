"""Connecting a Facebook page the way an admin does: the real button on the Channels page, under the real security
headers, through the platform's OAuth dialog (the simulator's) and back to choosing the pages."""

import pytest
from playwright.sync_api import expect

from channels_integrations.models import ChannelConnection
from channels_integrations.simulator.core import Simulator
from conftest import PASSWORD
from tests.e2e.asgi_server import AsgiServer
from tests.e2e.conftest import screenshot, sign_in
from tests.e2e.test_inbox_browser import off_loop

pytestmark = [pytest.mark.browser]

SECRET = "e2e-oauth-secret"
APP_ID = "4242"


@pytest.fixture
def live_simulator():
    sim = Simulator(webhook_base="http://127.0.0.1:1", meta_app_secret=SECRET, meta_app_id=APP_ID).start()
    yield sim
    sim.stop()


def test_the_connect_button_runs_the_oauth_round_trip_under_the_real_csp(
    browser, transactional_db, live_simulator, tenant_a
):
    sim = live_simulator
    urls = {"META_GRAPH_URL": sim.base_url, "META_DIALOG_URL": sim.base_url, "INSTAGRAM_GRAPH_URL": sim.base_url}
    server = AsgiServer(META_APP_SECRET=SECRET, META_APP_ID=APP_ID, **urls)
    sim.webhook_base = server.url
    page_info = sim.parts["meta"].provision()["pages"][0]
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ja-JP")
    page = context.new_page()
    page.set_default_timeout(15_000)
    refused = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    try:
        sign_in(page, server.url, tenant_a.users["owner"].email, PASSWORD)
        page.goto(f"{server.url}/{tenant_a.slug}/settings/channels/")
        csp = page.evaluate("() => fetch(location.href).then(r => r.headers.get('content-security-policy'))")
        assert "form-action 'self'" in csp  # the real headers, not a relaxed test policy

        # The admin clicks the button and lands on the platform's dialog
        page.locator("#connect-facebook").click()
        page.wait_for_url(f"{sim.base_url}/**")
        expect(page.locator("#continue")).to_be_visible()
        page.locator("#continue").click()

        # Back in Tsunagu, they choose the page and connect it
        page.wait_for_url(f"**/{tenant_a.slug}/settings/channels/choose/")
        expect(page.locator("form.card")).to_contain_text(page_info["name"])
        page.get_by_role("button", name="選択したアカウントを接続").click()
        page.wait_for_url(f"**/{tenant_a.slug}/settings/channels/")
        expect(page.locator("#channels")).to_contain_text(page_info["name"])
        screenshot(page, "channels-connected")
        assert refused == []

        def connected() -> list[str]:
            with tenant_a.scope():
                return list(ChannelConnection.objects.values_list("external_account_id", flat=True))

        assert page_info["id"] in off_loop(connected)
    finally:
        context.close()
        server.stop()
