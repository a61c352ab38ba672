"""Connecting a Facebook page the way an admin does: the real button on the Channels page, under the real security
headers, through the platform's OAuth dialog (the simulator's) and back to choosing the pages."""

import pytest
from playwright.sync_api import expect

from channels_integrations.models import ChannelConnection
from conftest import PASSWORD
from tests.e2e.conftest import browser_page, csp_refusals, off_loop, screenshot, sign_in

pytestmark = [pytest.mark.browser]


def test_the_connect_button_runs_the_oauth_round_trip_under_the_real_csp(
    browser, live_simulator, meta_server, tenant_a
):
    sim, server = live_simulator, meta_server
    page_info = sim.parts["meta"].provision()["pages"][0]
    with browser_page(browser) as page:
        refused = csp_refusals(page)
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


@pytest.mark.parametrize("javascript", [True, False], ids=["with-javascript", "without-javascript"])
def test_disconnecting_a_channel_asks_first(browser, asgi_server, tenant_a, javascript):
    def setup():
        with tenant_a.scope():
            connection = ChannelConnection(
                organization=tenant_a.organization,
                platform="facebook",
                display_name="ショップのページ",
                external_account_id="PAGE-1",
            )
            connection.set_credentials({"access_token": "secret-token"})
            connection.save()
            return connection.pk

    connection_id = off_loop(setup)

    def status() -> str:
        with tenant_a.scope():
            return ChannelConnection.objects.get(pk=connection_id).status

    with browser_page(browser, timeout=10_000, java_script_enabled=javascript) as page:
        sign_in(page, asgi_server.url, tenant_a.users["owner"].email, PASSWORD)
        page.goto(f"{asgi_server.url}/{tenant_a.slug}/settings/channels/")
        disconnect = page.locator(f"#channel-{connection_id} button.danger")
        if javascript:
            # An accessible dialog asks, with the safe choice focused; Escape or Cancel changes nothing
            disconnect.click()
            dialog = page.get_by_role("dialog")
            expect(dialog).to_contain_text("ショップのページ")
            expect(dialog.get_by_role("button", name="キャンセル")).to_be_focused()
            page.keyboard.press("Escape")
            expect(dialog).to_have_count(0)
            assert off_loop(status) == "active"
            disconnect.click()
            # The page is already at the list's URL: wait for the POST's own navigation, not for the URL.
            with page.expect_navigation():
                page.get_by_role("dialog").get_by_role("button", name="接続解除").click()
        else:
            # The server asks on a page of its own
            disconnect.click()
            expect(page.locator("h1")).to_contain_text("ショップのページ")
            assert off_loop(status) == "active"
            screenshot(page, "confirm-disconnect-no-js")
            with page.expect_navigation():
                page.locator("section.confirm button[type=submit]").click()
        page.wait_for_url(f"**/{tenant_a.slug}/settings/channels/")
        assert off_loop(status) == "disconnected"
