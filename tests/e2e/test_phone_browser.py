"""A customer calls the phone number and leaves a voicemail (the simulator places the call: Twilio's signed
callbacks reach the webhook). The agent finds the call-back ticket in the inbox, opens it, sees the voicemail's entry
(link and transcription) and, where a reply box would be, the rule and the open "Log a call" form; after calling the
customer back they log the call and its entry joins the conversation."""

import time

import pytest
from playwright.sync_api import expect

from accounts import services as account_services
from channels_integrations.models import ChannelConnection
from channels_integrations.providers.phone import simulator as phone_sim
from channels_integrations.simulator.core import Simulator
from conftest import PASSWORD
from tests.e2e.asgi_server import AsgiServer
from tests.e2e.conftest import screenshot, sign_in
from tests.e2e.test_inbox_browser import off_loop
from tickets.models import CallRecord, Ticket

pytestmark = [pytest.mark.browser]


@pytest.fixture
def live_simulator():
    sim = Simulator(webhook_base="http://127.0.0.1:1").start()
    yield sim
    sim.stop()


def test_a_voicemail_becomes_a_call_back_ticket_and_the_agent_logs_the_call_back(
    browser, transactional_db, live_simulator, tenant_a
):
    # Given the organization's number connected, its voice URL set in the provider's console
    sim = live_simulator
    server = AsgiServer(TWILIO_API_URL=sim.base_url)
    sim.webhook_base = server.url
    phone = sim.parts["phone"]
    agent = tenant_a.users["agent"]

    def setup():
        with tenant_a.scope():
            connection = ChannelConnection(
                organization=tenant_a.organization,
                platform="phone",
                display_name="050-1234-5678",
                external_account_id=phone_sim.NUMBER,
                config={"number": phone_sim.NUMBER, "number_sid": phone_sim.NUMBER_SID},
            )
            connection.set_credentials({"account_sid": phone_sim.ACCOUNT_SID, "auth_token": phone_sim.AUTH_TOKEN})
            connection.save()
            account_services.connection_access_set(
                organization=tenant_a.organization, actor=tenant_a.users["owner"], connection=connection, users=[agent]
            )
            return connection.uuid

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
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
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
    finally:
        context.close()
        server.stop()
