"""The asset library in a real browser: a manager opens Assets from the menu, drops several images on the upload
area (Uppy, resumable tus uploads to the server), tags the new assets together, finds one by a Japanese word, then
answers a customer in the inbox with that image picked from the library; the asset's page lists that reply."""

import base64
import io
import re
from contextlib import contextmanager

import pytest
from PIL import Image
from playwright.sync_api import expect

from assets.models import Asset, AssetUsage
from conftest import PASSWORD
from tests.e2e.conftest import (
    FIRST_PAGE_ID,
    browser_page,
    csp_refusals,
    granted_connection,
    off_loop,
    screenshot,
    sign_in,
)
from tickets.models import Attachment, Message

pytestmark = [pytest.mark.browser]

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


@contextmanager
def _printed(lines: list[str]):
    try:
        yield
    finally:
        print("\n".join(lines))


def test_upload_tag_find_and_use_an_image_in_a_reply(browser, live_simulator, meta_server, tenant_a):
    sim, server = live_simulator, meta_server
    token = sim.parts["meta"].provision()["pages"][0]["access_token"]
    manager = tenant_a.users["manager"]  # works the inbox and manages the library
    off_loop(lambda: granted_connection(tenant_a, credentials={"access_token": token}, users=[manager]))
    logged = []  # printed when the test fails (pytest shows captured output)
    with browser_page(browser, timeout=30_000) as page, _printed(logged):
        csp_errors = csp_refusals(page)
        page.on("console", lambda m: logged.append(f"console {m.type}: {m.text}"))
        page.on("pageerror", lambda e: logged.append(f"page error: {e}"))
        sim.parts["meta"].customer_message(FIRST_PAGE_ID, "PSID-ASSET", "新商品の写真を見せてください", name="佐藤 健")
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
