"""Adding an API channel the way an admin does: from the menu to Settings → Channels, the "Add an API channel" button,
the form (a missing name is a clear error on the field), the page showing the channel id with its copy button, and
back to the list; then the id shown creates a ticket through the REST API. Under the real security headers."""

import json
import urllib.request

import pytest
from playwright.sync_api import expect

from accounts import services as account_services
from channels_integrations.models import ChannelConnection
from conftest import PASSWORD
from tests.e2e.conftest import browser_page, csp_refusals, off_loop, open_from_menu, screenshot, sign_in

pytestmark = [pytest.mark.browser]

NAME = "お問い合わせフォーム"


def test_an_admin_adds_an_api_channel_from_the_menu_and_its_id_takes_tickets(browser, asgi_server, tenant_a):
    slug, admin = tenant_a.slug, tenant_a.users["admin"]
    with browser_page(browser, permissions=["clipboard-read", "clipboard-write"]) as page:
        refused = csp_refusals(page)
        sign_in(page, asgi_server.url, admin.email, PASSWORD)

        # Settings → Channels, from the side menu
        open_from_menu(page, asgi_server.url, slug, "settings/channels/")
        page.wait_for_url(f"**/{slug}/settings/channels/")
        page.locator("#connect-api").click()

        # The form asks for a name only; sent empty, it says so on the field and creates nothing
        expect(page.locator("h1")).to_have_text("API チャネルを追加")
        page.get_by_role("button", name="接続", exact=True).click()
        expect(page.locator(".field.has-error .field-error")).to_be_visible()
        assert off_loop(lambda: _api_channels(tenant_a)) == []
        page.locator("#id_name").fill(NAME)
        page.get_by_role("button", name="接続", exact=True).click()

        # The channel is connected; its id is shown to copy into the integration's requests
        expect(page.locator("h1")).to_have_text("チャネルを接続しました")
        channels = off_loop(lambda: _api_channels(tenant_a))
        assert [name for _pk, name in channels] == [NAME]
        channel_id = channels[0][0]
        expect(page.locator("#shown-once-1")).to_have_text(str(channel_id))
        page.get_by_role("button", name="コピー").click()
        assert page.evaluate("() => navigator.clipboard.readText()") == str(channel_id)
        screenshot(page, "api-channel-added")

        # Back on the list, the channel is there
        page.get_by_role("link", name="チャネル一覧に戻る").click()
        page.wait_for_url(f"**/{slug}/settings/channels/")
        expect(page.locator("#channels")).to_contain_text(NAME)
        assert refused == []

    # The integration uses the id it was shown: a ticket opens on that channel.
    key = off_loop(lambda: _token(tenant_a))
    request = urllib.request.Request(
        f"{asgi_server.url}/api/v1/orgs/{slug}/tickets/",
        data=json.dumps(
            {"connection": channel_id, "customer": {"email": "form@example.jp"}, "text": "フォームから"}
        ).encode(),
        headers={"Authorization": f"Token {key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (our own test server)
        assert answer.status == 201
        assert json.loads(answer.read())["connection"] == channel_id


def _api_channels(tenant) -> list[tuple[int, str]]:
    with tenant.scope():
        return list(ChannelConnection.objects.filter(platform="api").values_list("pk", "display_name"))


def _token(tenant) -> str:
    with tenant.scope():
        _token, key = account_services.api_token_create(
            organization=tenant.organization, actor=tenant.users["admin"], name="form"
        )
    return key
