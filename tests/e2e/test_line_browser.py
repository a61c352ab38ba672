"""LINE end to end: a customer writes on the simulator's LINE with a sticker and an image (signed webhooks to a real
uvicorn server); the agent, signed in and opening the inbox from the menu, sees both arrive live, answers within the
reply token's minute (a free reply), and answers again after the token has expired (a push with a retry key). The
simulator records exactly two deliveries: one reply, one push."""

import time

import pytest
import requests

from channels_integrations.providers.line.simulator import (
    ACCESS_TOKEN,
    BOT_USER_ID,
    CHANNEL_ID,
    CHANNEL_SECRET,
    DEMO_CUSTOMERS,
    png,
)
from conftest import PASSWORD
from tests.e2e.conftest import browser_page, granted_connection, off_loop, screenshot, sign_in

pytestmark = [pytest.mark.browser]

CUSTOMER = next(iter(DEMO_CUSTOMERS))  # 佐藤 花子, named by the profile API


def delivered(page, line, text: str, count: int, diagnose) -> None:
    """The outbound bubble with `text` appears, and LINE has received `count` messages in all. (The bubble's "sent"
    mark is not awaited live: with the test's eager send task the update can reach the browser before the bubble
    does — checked after a reload instead.)"""
    try:
        page.locator("#messages li.message.outbound", has_text=text).first.wait_for()
        deadline = time.monotonic() + 15
        while len(line.deliveries) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(line.deliveries) == count
    except Exception:
        diagnose()
        raise


def test_sticker_and_image_arrive_live_then_a_reply_and_a_push(browser, live_simulator, simulated_server, tenant_a):
    # Given a LINE Official Account connected through the simulator, and an agent with access to it
    sim = live_simulator
    line = sim.parts["line"]
    server = simulated_server(LINE_API_URL=sim.base_url, LINE_API_DATA_URL=sim.base_url)
    agent = tenant_a.users["agent"]

    def setup():
        return granted_connection(
            tenant_a,
            users=[agent],
            credentials={"channel_id": CHANNEL_ID, "channel_secret": CHANNEL_SECRET, "access_token": ACCESS_TOKEN},
            platform="line",
            account_id=BOT_USER_ID,
            display_name="つなぐデモ",
        ).uuid

    line.webhook_url = f"{server.url}/webhooks/line/{off_loop(setup)}/"  # as pasted in the LINE console

    def diagnose():
        def rows():
            from tickets.models import Message

            with tenant_a.scope():
                return list(Message.objects.filter(direction="outbound").values_list("pk", "delivery_state", "text"))

        bubbles = page.locator("#messages li.message.outbound").evaluate_all(
            "(els) => els.map(e => e.id + ' ' + (e.querySelector('[data-delivery]') || {}).className)"
        )
        print("DIAG bubbles", bubbles, "db", off_loop(rows), "line", [d["kind"] for d in line.deliveries])
        screenshot(page, "line-failed")

    with browser_page(browser) as page:
        sign_in(page, server.url, agent.email, PASSWORD)
        page.locator("nav a[title='受信箱'], nav a[title='Inbox']").first.click()
        page.wait_for_selector("#inbox[data-connected='true']")

        # When the customer sends a sticker, then a photo, on LINE
        line.customer_sticker(CUSTOMER)
        line.customer_media(CUSTOMER, "image", content=png(96, 64))
        assert [d["status"] for d in sim.deliveries] == [200, 200], sim.deliveries

        # Then the conversation appears without a reload, named from the LINE profile, and shows both
        row = page.locator(".ticket-row", has_text="佐藤 花子")
        row.wait_for()
        row.locator(".ticket-link").click()
        page.wait_for_selector("#reply-form")
        messages = page.locator("#messages")
        messages.locator("li.message", has_text="[sticker] Thanks, Happy").wait_for()
        image = messages.locator(".attachment-image img")
        image.wait_for()
        # our PNG, once the browser has fetched it (a lazy image loads after it is drawn)
        page.wait_for_function(
            "() => { const img = document.querySelector('#messages .attachment-image img');"
            " return !!img && img.complete && img.naturalWidth === 96; }"
        )
        assert "5,000" in page.locator("#reply-limits").inner_text()

        # When the agent answers within the reply token's minute
        page.locator("#reply-text").fill("スタンプと写真ありがとうございます。確認いたします。")
        page.locator("#reply-form button[type=submit]").click()
        delivered(page, line, "確認いたします", 1, diagnose)
        assert [d["kind"] for d in line.deliveries] == ["reply"]

        # And, after the token has expired on LINE's side, answers again
        requests.post(f"{sim.base_url}/_sim/line/expire-reply-tokens", timeout=5).raise_for_status()
        page.locator("#reply-text").fill("お待たせしました。明日発送いたします。")
        page.locator("#reply-form button[type=submit]").click()
        delivered(page, line, "明日発送", 2, diagnose)

        # Then LINE received exactly two deliveries: the free reply, then one push with its retry key
        state = requests.get(f"{sim.base_url}/_sim/state", timeout=5).json()["line"]
        assert [(d["kind"], d["to"]) for d in state["deliveries"]] == [("reply", CUSTOMER), ("push", CUSTOMER)]
        assert state["deliveries"][1]["retry_key"]
        assert state["deliveries"][0]["messages"][0]["text"] == "スタンプと写真ありがとうございます。確認いたします。"
        assert state["quota"]["used"] == 1  # only the push counts against the monthly quota
        assert state["read_marks"] == [CUSTOMER]  # opening the conversation marked the customer's messages read
        assert png(96, 64) in [content for _type, content in line.contents.values()]
        # And both bubbles say "sent" (LINE reports no delivery or read receipts for these messages)
        page.reload()
        outbound = page.locator("#messages li.message.outbound")
        outbound.first.wait_for()
        assert outbound.count() == 2 and outbound.locator(".delivery-sent").count() == 2
        screenshot(page, "line-reply-then-push")
