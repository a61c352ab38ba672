"""Reply approval (送信前承認) in a real browser: a new agent's reply to a VIP customer is held by policy (not sent,
marked in the conversation); the manager, signed in in a second browser, opens it from the Approvals menu, edits it
and approves it; the platform (simulator) receives it exactly once, and the ticket's history shows the change and
both names."""

import time

import pytest
from playwright.sync_api import expect

from approvals.services.workflows import workflow_create, workflow_step_save
from conftest import PASSWORD
from tests.e2e.conftest import FIRST_PAGE_ID, browser_page, granted_connection, off_loop, screenshot, sign_in
from tickets.models import Contact

pytestmark = [pytest.mark.browser]

CUSTOMER = "PSID-VIP-E2E"


def _sent_to_customer(sim) -> list:
    return [s for s in sim.parts["meta"].state()["sent"] if CUSTOMER in str(s)]


def test_a_new_agents_reply_to_a_vip_is_held_edited_and_approved_by_the_manager_then_sent_once(
    browser, live_simulator, meta_server, tenant_a
):
    sim, server = live_simulator, meta_server
    token = sim.parts["meta"].provision()["pages"][0]["access_token"]
    agent, manager, owner = tenant_a.users["agent"], tenant_a.users["manager"], tenant_a.users["owner"]

    def setup():
        granted_connection(tenant_a, credentials={"access_token": token}, users=[agent])
        with tenant_a.scope():
            # The policy: replies by staff who joined less than 30 days ago to VIP customers need a manager's approval.
            workflow = workflow_create(
                organization=tenant_a.organization,
                actor=owner,
                name="新人のVIP返信",
                kind="reply",
                conditions={"author_new_days": 30, "contact_vip": True},
            )
            workflow_step_save(
                organization=tenant_a.organization,
                actor=owner,
                workflow=workflow,
                name="マネージャー確認",
                roles=["manager"],
            )

    off_loop(setup)
    with browser_page(browser, timeout=30_000) as page, browser_page(browser, timeout=30_000) as boss:
        sign_in(page, server.url, agent.email, PASSWORD)
        page.goto(f"{server.url}/{tenant_a.slug}/inbox/")
        page.wait_for_selector("#inbox[data-connected='true']")

        # A VIP customer writes.
        sim.parts["meta"].customer_message(FIRST_PAGE_ID, CUSTOMER, "返金してもらえますか？", name="松本 恵")
        assert sim.deliveries[-1]["status"] == 200, sim.deliveries

        def make_vip() -> int:
            with tenant_a.scope():
                return Contact.objects.filter(name="松本 恵").update(vip=True)

        # The webhook is processed by the server; wait for the contact, then mark the customer VIP.
        deadline = time.monotonic() + 60
        while not off_loop(make_vip) and time.monotonic() < deadline:
            time.sleep(0.5)
        page.reload()
        page.locator(".ticket-row", has_text="松本 恵").locator(".ticket-link").click()
        page.wait_for_selector("#reply-form")

        # The new agent answers: the reply is held, marked for everyone, and not sent.
        page.locator("#reply-text").fill("全額返金します！")
        page.locator("#reply-form button[type=submit]").click()
        held = page.locator("[data-held-reply='held']")
        expect(held).to_be_visible(timeout=30_000)
        expect(held).to_contain_text(manager.name, timeout=30_000)
        assert _sent_to_customer(sim) == []
        screenshot(page, "reply-approval-held")

        # The manager signs in elsewhere, opens Approvals from the menu and the waiting reply.
        sign_in(boss, server.url, manager.email, PASSWORD)
        boss.goto(f"{server.url}/{tenant_a.slug}/")
        boss.locator(f"nav.sidebar a[href='/{tenant_a.slug}/approvals/']").click()
        boss.locator("#approvals-waiting a", has_text="全額返金します").click()
        expect(boss.locator("#approval-text")).to_have_value("全額返金します！", timeout=30_000)
        # … edits it and approves it (and sends).
        boss.locator("#approval-text").fill("規定に沿って返金いたします。")
        boss.locator("#approval-decide button[value=approve]").click()
        boss.wait_for_url(f"**/{tenant_a.slug}/approvals/")

        # The platform receives the edited reply exactly once.
        deadline = time.monotonic() + 15
        while not _sent_to_customer(sim) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)  # any second send would have arrived by now
        sent = _sent_to_customer(sim)
        assert len(sent) == 1, sent
        assert "規定に沿って返金いたします。" in str(sent[0]) and "全額返金します" not in str(sent[0])

        # The ticket's history shows the change and both names.
        page.reload()
        page.wait_for_selector("#reply-form")
        history = page.locator(".ticket-history")
        expect(history).to_contain_text(agent.name, timeout=30_000)
        expect(history).to_contain_text(manager.name, timeout=30_000)
        history.locator("[data-reply-event='edited'] summary").first.click()
        expect(history.locator("[data-reply-event='edited'] ins").first).to_contain_text("規定に沿って", timeout=30_000)
        expect(page.locator("[data-held-reply]")).to_have_count(0, timeout=30_000)
        screenshot(page, "reply-approval-sent")
