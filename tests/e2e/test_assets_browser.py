"""The asset library in a real browser: a manager opens Assets from the menu, drops several images on the upload
area (Uppy, resumable tus uploads to the server), tags the new assets together, finds one by a Japanese word, then
answers a customer in the inbox with that image picked from the library; the asset's page lists that reply."""

import base64
import io
import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from accounts import services as account_services
from assets.models import Asset, AssetUsage
from channels_integrations.models import ChannelConnection
from channels_integrations.simulator.core import Simulator
from conftest import PASSWORD
from tests.e2e.asgi_server import AsgiServer
from tests.e2e.conftest import screenshot, sign_in
from tests.e2e.test_inbox_browser import off_loop
from tickets.models import Attachment, Message

pytestmark = [pytest.mark.browser]

SECRET = "e2e-meta-secret"
PAGE_ID = "100000000000001"
FILES = [("新商品バナー.png", (220, 40, 40)), ("store-front.png", (40, 160, 60)), ("team-photo.png", (30, 60, 200))]

# Drop real files on Uppy's drop area: a DataTransfer holding File objects, as a person dragging them from the desktop.
DROP = """([selector, files]) => {
  const target = document.querySelector(selector);
  const transfer = new DataTransfer();
  for (const [name, data] of files) {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    transfer.items.add(new File([bytes], name, { type: "image/png" }));
  }
  for (const type of ["dragenter", "dragover", "drop"]) {
    target.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: transfer }));
  }
}"""


def _png(color) -> str:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


@pytest.fixture
def live_simulator():
    sim = Simulator(webhook_base="http://127.0.0.1:1", meta_app_secret=SECRET, meta_app_id="42").start()
    yield sim
    sim.stop()


def test_upload_tag_find_and_use_an_image_in_a_reply(browser, transactional_db, live_simulator, tenant_a):
    sim = live_simulator
    urls = {"META_GRAPH_URL": sim.base_url, "META_DIALOG_URL": sim.base_url, "INSTAGRAM_GRAPH_URL": sim.base_url}
    server = AsgiServer(META_APP_SECRET=SECRET, META_APP_ID="42", **urls)
    sim.webhook_base = server.url
    token = sim.parts["meta"].provision()["pages"][0]["access_token"]
    manager = tenant_a.users["manager"]  # works the inbox and manages the library

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
                organization=tenant_a.organization,
                actor=tenant_a.users["owner"],
                connection=connection,
                users=[manager],
            )

    off_loop(setup)
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ja-JP")
    page = context.new_page()
    page.set_default_timeout(30_000)
    csp_errors = []
    page.on("console", lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None)
    logged = []  # printed when the test fails (pytest shows captured output)
    page.on("console", lambda m: logged.append(f"console {m.type}: {m.text}"))
    page.on("pageerror", lambda e: logged.append(f"page error: {e}"))
    try:
        sim.parts["meta"].customer_message(PAGE_ID, "PSID-ASSET", "新商品の写真を見せてください", name="佐藤 健")
        assert sim.deliveries[-1]["status"] == 200, sim.deliveries
        sign_in(page, server.url, manager.email, PASSWORD)

        # Open the library from the menu and drop three images on the upload area.
        page.locator("nav.sidebar a[href$='/assets/']").click()
        page.wait_for_selector("#asset-uploader .uppy-Dashboard-inner")
        page.evaluate(DROP, ["#asset-uploader .uppy-Dashboard-inner", [[name, _png(color)] for name, color in FILES]])
        expect(page.locator("#asset-uploader .uppy-Dashboard-Item")).to_have_count(3)
        page.locator("#asset-uploader .uppy-StatusBar-actionBtn--upload").click()
        # Each file has its own progress; when all are done the new assets are listed with a form to tag them.
        tag_form = page.locator("#uploaded-assets form.bulk-tag")
        tag_form.wait_for()
        expect(page.locator("#uploaded-assets .asset-card")).to_have_count(3)
        screenshot(page, "assets-uploaded")
        tag_form.locator("input[name=tags]").fill("キャンペーン、春")
        tag_form.locator("button[type=submit]").click()
        page.wait_for_selector("#uploaded-assets [role=status]")

        def stored():
            with tenant_a.scope():
                return {a.title: a.tags for a in Asset.objects.all()}

        assert off_loop(stored) == {
            "新商品バナー": ["キャンペーン", "春"],
            "store-front": ["キャンペーン", "春"],
            "team-photo": ["キャンペーン", "春"],
        }

        # Find one of them by a Japanese word.
        page.reload()
        page.locator("input[name=q]").fill("新商品")
        page.locator("form.asset-filters button[type=submit]").click()
        expect(page.locator("#asset-results .asset-card")).to_have_count(1)
        expect(page.locator("#asset-results .asset-card")).to_contain_text("新商品バナー")
        screenshot(page, "assets-search")

        # Answer the customer with that image, picked from the library in the reply box.
        page.locator("nav.sidebar a[href$='/inbox/']").click()
        row = page.locator(".ticket-row", has_text="佐藤 健")
        row.wait_for()
        row.locator(".ticket-link").click()
        page.wait_for_selector("#reply-form")
        page.locator("#reply-text").fill("こちらが新商品の写真です。")
        page.locator("#reply-form [data-asset-picker-open]").click()
        dialog = page.locator("dialog.asset-picker[open]")
        dialog.wait_for()
        dialog.locator("input[type=search]").fill("新商品")
        pick = dialog.locator("[data-asset-pick]", has_text="新商品バナー")
        expect(dialog.locator("[data-asset-pick]")).to_have_count(1)
        pick.click()
        expect(page.locator("dialog.asset-picker[open]")).to_have_count(0)
        expect(page.locator("#reply-form [data-asset-chips] li")).to_contain_text("新商品バナー")
        page.locator("#reply-form button.primary[type=submit]").click()
        bubble = page.locator("#messages li.message.outbound").last
        bubble.wait_for()
        expect(bubble).to_contain_text("こちらが新商品の写真です。")
        expect(page.locator("#reply-form [data-asset-chips] li")).to_have_count(0)
        screenshot(page, "assets-reply")

        def used():
            with tenant_a.scope():
                message = Message.objects.get(direction="outbound")
                usage = AssetUsage.objects.select_related("asset").get()
                attachment = Attachment.objects.get(message=message)
                return message.ticket.number, usage.asset.title, usage.target_id == message.pk, attachment.filename

        number, title, same_message, filename = off_loop(used)
        assert (title, same_message, filename) == ("新商品バナー", True, "新商品バナー.png")

        # The asset's page lists that reply.
        page.locator("nav.sidebar a[href$='/assets/']").click()
        page.locator("#asset-results .asset-card", has_text="新商品バナー").locator("a").first.click()
        usage_row = page.locator("#usage .usage-row")
        expect(usage_row).to_have_count(1)
        expect(usage_row).to_contain_text(f"#{number}")
        expect(usage_row.locator("a").first).to_have_attribute("href", re.compile(r"/inbox/tickets/\d+/$"))
        screenshot(page, "assets-usage")

        # A new version of it, dropped on the asset's page and sent resumably too, with a note.
        page.locator("#id_version_note").fill("色を変更")
        page.wait_for_selector("#asset-uploader .uppy-Dashboard-inner")
        page.evaluate(DROP, ["#asset-uploader .uppy-Dashboard-inner", [["新商品バナー-v2.png", _png((250, 200, 0))]]])
        page.locator("#asset-uploader .uppy-StatusBar-actionBtn--upload").click()
        version_two = page.locator("#versions .version-row[data-version='2']")
        version_two.wait_for()
        expect(version_two).to_contain_text("色を変更")
        assert not csp_errors, csp_errors
    finally:
        print("\n".join(logged))
        context.close()
        server.stop()
