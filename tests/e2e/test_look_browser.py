"""The look of the workspace in a real Chromium under the real Content-Security-Policy: the conversation in bubbles
with avatars and day separators, an image attachment opening in place, the top bar's notifications and account menus
worked from the keyboard, and files dropped on the reply box sent with the reply. Nothing may be refused by the CSP
(no inline style or script anywhere)."""

import datetime
import re
import struct
import zlib
from pathlib import Path

import pytest
from playwright.sync_api import expect

from channels_integrations.inbound import InboundAttachment
from conftest import PASSWORD
from core.models import Notification
from tests.e2e.asgi_server import AsgiServer
from tests.e2e.conftest import screenshot, sign_in
from tests.e2e.test_inbox_browser import off_loop
from tickets.models import Message, Ticket
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = [pytest.mark.browser]


def _png(width: int = 48, height: int = 32) -> bytes:
    """A small real PNG (an orange block), so the thumbnail and the viewer show an actual image."""
    rows = b"".join(b"\x00" + b"\xf0\x80\x20" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _setup(tenant, media: Path) -> int:
    conn = connection(tenant, "email", "support@example.jp")
    manager = tenant.users["manager"]

    def run():
        with tenant.scope():
            photo = InboundAttachment("破損した箱.png", "image/png", content=_png())
            first = message_ingest(
                organization=tenant.organization,
                connection=conn,
                inbound=inbound(
                    "箱が潰れて届きました。写真を送ります。", thread="look", name="高橋 誠", attachments=(photo,)
                ),
            )[0]
            # the first message was written yesterday: the conversation shows two days
            Message.objects.filter(pk=first.pk).update(created_at=first.created_at - datetime.timedelta(days=1))
            message_ingest(
                organization=tenant.organization,
                connection=conn,
                inbound=inbound("交換をお願いできますか", thread="look", name="高橋 誠"),
            )
            ticket = Ticket.objects.get(pk=first.ticket_id)
            Notification.objects.create(
                organization=tenant.organization,
                user=manager,
                kind="assigned",
                target=ticket,
                params={"actor": "佐藤 二郎", "number": ticket.number},
            )
            return ticket.pk

    return off_loop(run)


def _focused(page) -> str:
    """Which menu holds the focus, and on what: "account-menu:SUMMARY"."""
    return page.evaluate(
        """() => {
            const element = document.activeElement;
            const menu = element.closest("details");
            return `${menu ? menu.id : ""}:${element.tagName}`;
        }"""
    )


def test_the_workspace_looks_and_works_under_the_csp(browser, transactional_db, tenant_a, settings, tmp_path):
    media = tmp_path / "media"
    settings.MEDIA_ROOT = media  # where this process stores the customer's photo; the server serves it from there
    ticket_id = _setup(tenant_a, media)
    server = AsgiServer(MEDIA_ROOT=str(media))
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ja-JP")
    page = context.new_page()
    page.set_default_timeout(15_000)
    refused = []  # the real Content-Security-Policy: nothing the page does may be refused (inline styles, scripts)
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    try:
        sign_in(page, server.url, tenant_a.users["manager"].email, PASSWORD)
        page.goto(f"{server.url}/{tenant_a.slug}/inbox/")
        page.wait_for_selector("#inbox[data-connected='true']")
        # the sidebar is a rail of icons in the workspace, each named
        assert page.locator(".sidebar a[aria-current='page'] svg.icon").count() == 1

        # Open the conversation: bubbles with avatars, a separator per day (yesterday, today)
        page.locator(f"#ticket-row-{ticket_id} .ticket-link").click()
        page.wait_for_selector(f"#ticket-{ticket_id} #messages li.message")
        inbound_bubbles = page.locator("#messages li.message.inbound")
        assert inbound_bubbles.count() == 2
        assert inbound_bubbles.first.locator(".avatar").inner_text() == "高"
        thread = page.locator(".thread").bounding_box()
        assert inbound_bubbles.first.locator(".bubble").bounding_box()["x"] < thread["x"] + 60  # the customer: left
        separators = page.locator("#messages li.day-separator")
        assert separators.count() == 2
        days = separators.evaluate_all("items => items.map(i => i.dataset.day)")
        assert days[0] < days[1]
        assert page.locator("#messages li.day-separator time").all_inner_texts() in (
            ["昨日", "今日"],
            ["Yesterday", "Today"],
        )

        # The photo is a thumbnail; it opens in place, full size, and Escape closes it
        thumbnail = page.locator("#messages a.attachment-image").first
        page.wait_for_function("() => document.querySelector('#messages a.attachment-image img').naturalWidth === 48")
        thumbnail.click()
        viewer = page.locator("dialog.image-viewer[open]")
        viewer.wait_for()
        page.wait_for_function("() => document.querySelector('dialog.image-viewer img').naturalWidth === 48")
        assert viewer.locator("[data-caption]").inner_text() == "破損した箱.png"
        assert page.url.endswith(f"/inbox/tickets/{ticket_id}/")  # in place: the page did not go to the file
        screenshot(page, "look-image-viewer")
        page.keyboard.press("Escape")
        page.wait_for_selector("dialog.image-viewer", state="detached")
        assert page.evaluate("() => document.activeElement.classList.contains('attachment-image')")

        # Notifications: a menu in the top bar, opened and closed from the keyboard
        badge = page.locator("#notifications-count")
        assert badge.inner_text() == "1"
        page.focus("#notifications-menu summary")
        page.keyboard.press("Enter")
        page.wait_for_selector("#notifications-menu[open] #notifications-list .notification")
        assert "佐藤 二郎" in page.locator("#notifications-list").inner_text()
        page.wait_for_function("() => document.getElementById('notifications-count').textContent === ''")
        screenshot(page, "look-notifications")
        page.keyboard.press("Escape")
        page.wait_for_selector("#notifications-menu:not([open])", state="attached")
        assert _focused(page) == "notifications-menu:SUMMARY"
        summary_outline = page.evaluate(
            "() => getComputedStyle(document.querySelector('#notifications-menu summary')).outlineStyle"
        )
        assert summary_outline == "solid"  # the focus is visible

        # The account menu: Space opens it, Tab walks into it, Escape closes it and returns the focus
        page.focus("#account-menu summary")
        page.keyboard.press(" ")
        page.wait_for_selector("#account-menu[open] .menu-panel")
        assert not page.locator("#notifications-menu").get_attribute("open")
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.activeElement.closest('.menu-panel') !== null")
        assert page.get_by_role("button", name=re.compile("ログアウト|Sign out")).is_visible()
        screenshot(page, "look-account-menu")
        page.keyboard.press("Escape")
        page.wait_for_selector("#account-menu:not([open])", state="attached")
        assert _focused(page) == "account-menu:SUMMARY"

        # Files dropped on the reply box join its file input; one is removed again; the reply goes out with the other
        files = page.evaluate_handle(
            """() => {
                const transfer = new DataTransfer();
                transfer.items.add(new File(["お見積もりの内容です"], "見積書.txt", { type: "text/plain" }));
                transfer.items.add(new File(["間違い"], "不要.txt", { type: "text/plain" }));
                return transfer;
            }"""
        )
        page.dispatch_event("#reply-text", "dragover", {"dataTransfer": files})
        assert "dragover" in page.locator("#reply-form").get_attribute("class")
        page.dispatch_event("#reply-text", "drop", {"dataTransfer": files})
        listed = page.locator("#reply-files li")
        assert listed.count() == 2 and "dragover" not in page.locator("#reply-form").get_attribute("class")
        page.locator("#reply-files li", has_text="不要.txt").get_by_role("button").click()
        assert listed.count() == 1 and "見積書.txt" in listed.inner_text()
        assert page.evaluate(
            "() => Array.from(document.querySelector('#reply-form input[name=files]').files, f => f.name)"
        ) == ["見積書.txt"]
        page.locator("#reply-text").fill("交換品をお送りします。見積書を添付します。")
        page.locator("#reply-form button[type=submit]").click()
        sent = page.locator("#messages li.message.outbound").last
        sent.locator(".attachment-file").wait_for()
        assert sent.locator(".attachment-file .name").inner_text() == "見積書.txt"
        # The agent's bubble sits on the right. The reply is drawn again as its delivery state changes, so it is
        # measured in one evaluation in the page, never between a lookup and a measurement.
        page.wait_for_function(
            """(right) => {
                const bubbles = document.querySelectorAll('#messages li.message.outbound .bubble');
                const last = bubbles[bubbles.length - 1];
                if (!last) return false;
                const box = last.getBoundingClientRect();
                return box.width > 0 && box.right > right - 60;
            }""",
            arg=thread["x"] + thread["width"],
        )
        assert sent.locator("[data-delivery]").count() == 1  # its delivery tick
        # The composer is empty again (the message may arrive live a moment before the form's answer clears it).
        expect(page.locator("#reply-files li")).to_have_count(0)
        assert page.locator("#messages li.day-separator").count() == 2  # still one per day
        screenshot(page, "look-conversation")
        assert refused == []
    finally:
        context.close()
        server.stop()
