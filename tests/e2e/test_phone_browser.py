"""A customer calls the phone number and leaves a voicemail (the simulator places the call: Twilio's signed
callbacks reach the webhook). The agent finds the call-back ticket in the inbox, opens it, sees the voicemail's entry
(link and transcription) and, where a reply box would be, the rule and the open "Log a call" form; after calling the
customer back they log the call and its entry joins the conversation."""

import time

import pytest
from playwright.sync_api import expect

from channels_integrations.providers.phone import simulator as phone_sim
from conftest import PASSWORD
from tests.e2e.conftest import browser_page, granted_connection, off_loop, screenshot, sign_in
from tickets.models import CallRecord, Ticket

pytestmark = [pytest.mark.browser]


def test_a_voicemail_becomes_a_call_back_ticket_and_the_agent_logs_the_call_back(
    browser, live_simulator, simulated_server, tenant_a
):
    # Given the organization's number connected, its voice URL set in the provider's console
    sim = live_simulator
    server = simulated_server(TWILIO_API_URL=sim.base_url)
    phone = sim.parts["phone"]
    agent = tenant_a.users["agent"]

    def setup():
        return granted_connection(
            tenant_a,
            users=[agent],
            credentials={"account_sid": phone_sim.ACCOUNT_SID, "auth_token": phone_sim.AUTH_TOKEN},
            platform="phone",
            account_id=phone_sim.NUMBER,
            display_name="050-1234-5678",
            config={"number": phone_sim.NUMBER, "number_sid": phone_sim.NUMBER_SID},
        ).uuid

    uuid = off_loop(setup)
    phone.number["voice_url"] = phone.number["status_callback"] = f"{server.url}/webhooks/phone/{uuid}/"

    # When a customer calls and leaves a voicemail
    placed = phone.place_call(
        caller="+81312345678", outcome="voicemail", duration=40, transcription="Please call me back about my order."
    )
    assert placed["callbacks"] == [200] * 6, sim.deliveries

    def stored():
        with tenant_a.scope():
            for _ in range(100):  # the ingest worker completes the call a moment after the last 200
                record = CallRecord.objects.first()
                if record is not None and record.transcription:
                    return Ticket.objects.get().pk
                time.sleep(0.1)
        raise AssertionError("the call was not stored")

    ticket_id = off_loop(stored)
    with browser_page(browser, viewport={"width": 1280, "height": 900}) as page:
        # Then the agent finds it in the inbox, tagged to call back
        sign_in(page, server.url, agent.email, PASSWORD)
        page.goto(f"{server.url}/{tenant_a.slug}/inbox/")
        page.locator(f"#ticket-row-{ticket_id} .ticket-link").click()
        call = page.locator('#messages [data-call-outcome="voicemail"]')
        expect(call).to_be_visible()
        expect(call.locator(".call-transcription")).to_contain_text("Please call me back about my order.")
        link = call.locator("a[target=_blank]")
        assert link.get_attribute("rel") == "noopener noreferrer"
        assert link.get_attribute("href").endswith(".mp3")
        expect(call.locator(".call-number")).to_have_text("03-1234-5678")
        # No reply box on a phone conversation: the rule, and the call-log form open
        expect(page.locator("#reply-form")).to_have_count(0)
        expect(page.locator("#reply-limits")).to_be_visible()
        expect(page.locator("#call-log")).to_have_attribute("open", "")
        screenshot(page, "phone-voicemail")

        # When the agent logs the call back: bad input first, then right
        page.locator("#id_call-direction").select_option("outbound")
        page.locator("#id_call-outcome").select_option("answered")
        page.locator("#id_call-duration").fill("five")
        page.locator("#call-log button[type=submit]").click()
        expect(page.locator("#call-log .field-error")).to_have_count(1)
        page.locator("#id_call-duration").fill("4:05")
        page.locator("#id_call-note").fill("明日の配達で合意")
        page.locator("#call-log button[type=submit]").click()

        # Then its entry joins the conversation, once, and the form is fresh again
        logged = page.locator('#messages [data-call-outcome="answered"]')
        expect(logged).to_have_count(1)
        expect(logged).to_contain_text("4:05")
        expect(logged.locator(".call-note")).to_have_text("明日の配達で合意")
        expect(page.locator("#id_call-note")).to_have_value("")
        page.wait_for_timeout(800)  # the live update of our own entry arrives too: still one bubble
        expect(page.locator('#messages [data-call-outcome="answered"]')).to_have_count(1)
        screenshot(page, "phone-call-logged")
