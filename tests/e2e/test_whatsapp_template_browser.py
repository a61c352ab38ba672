"""WhatsApp after 24 hours: the agent opens a customer's conversation whose window has closed, finds only the approved
templates offered (no free-text box), picks one, fills its two values while the preview follows, sends it, and sees
the bubble move to read as WhatsApp's statuses arrive. The simulator records exactly one delivery: the template."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from channels_integrations.providers.whatsapp import simulator as wa_sim
from conftest import PASSWORD
from tests.e2e.conftest import browser_page, granted_connection, off_loop, screenshot, sign_in
from tickets.models import Ticket

pytestmark = [pytest.mark.browser]

CUSTOMER = "819055556666"


def test_after_24_hours_the_agent_sends_an_approved_template(browser, live_simulator, meta_server, tenant_a):
    # Given a WhatsApp number connected through the simulator, and a customer who wrote more than 24 hours ago
    sim, server = live_simulator, meta_server
    wa = sim.parts["whatsapp"]
    agent = tenant_a.users["agent"]

    def setup():
        granted_connection(
            tenant_a,
            users=[agent],
            credentials={"access_token": wa_sim.SYSTEM_TOKEN},
            platform="whatsapp",
            account_id=wa_sim.PHONE_NUMBER_ID,
            display_name="デモストア WhatsApp",
            config={"waba_id": wa_sim.WABA_ID},
        )

    off_loop(setup)
    wa.customer_message(CUSTOMER, "注文の件、その後どうなりましたか？", name="中村 美咲")
    assert sim.deliveries[-1]["status"] == 200, sim.deliveries

    def age():
        with tenant_a.scope():
            for _ in range(50):  # the ingest worker stores the message a moment after the 200
                if Ticket.objects.exists():
                    break
                import time

                time.sleep(0.1)
            Ticket.objects.update(last_customer_message_at=timezone.now() - timedelta(hours=26))

    off_loop(age)
    wa.age_window(CUSTOMER, hours=26)
    with browser_page(browser) as page:
        sign_in(page, server.url, agent.email, PASSWORD)
        page.goto(f"{server.url}/{tenant_a.slug}/inbox/")
        page.locator(".ticket-row", has_text="中村 美咲").locator(".ticket-link").click()
        page.wait_for_selector("#reply-form")

        # Then only templates are offered: the free-text box is set aside
        select = page.locator("#reply-template")
        expect(select).to_be_visible()
        expect(page.locator("#reply-text")).to_be_hidden()

        # When the agent picks a template and fills its values, the preview follows
        select.select_option("order_update|ja")
        fields = page.locator('.template-fields[data-template="order_update|ja"] input[name=template_param]')
        expect(fields).to_have_count(2)
        fields.nth(0).fill("中村")
        preview = page.locator("#reply-template-preview")
        expect(preview).to_have_text("中村様、ご注文 {{2}} について担当者からご連絡があります。")
        fields.nth(1).fill("A-1024")
        expect(preview).to_have_text("中村様、ご注文 A-1024 について担当者からご連絡があります。")
        screenshot(page, "whatsapp-template-chosen")
        page.locator("#reply-form button[type=submit]").click()

        # Then the bubble shows the filled-in template and moves to read as the statuses arrive
        bubble = page.locator("#messages li.message.outbound").last
        expect(bubble).to_contain_text("中村様、ご注文 A-1024 について")
        page.wait_for_selector("#messages li.message.outbound .delivery-read")
        sent = wa.state()["sent"]
        assert len(sent) == 1 and sent[0]["type"] == "template"
        assert sent[0]["template"]["components"][0]["parameters"][1] == {"type": "text", "text": "A-1024"}
        screenshot(page, "whatsapp-template-read")
