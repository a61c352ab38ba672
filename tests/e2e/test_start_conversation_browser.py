"""An agent follows up a phone call by mail: from the empty inbox's "New conversation" button, through a form error,
to the new ticket with the mail sent over SMTP (the simulator's); the customer's answer, fetched from the mailbox,
appears live in that ticket. Then the `c` shortcut opens the form again. A real uvicorn server, the real headers."""

import email
from email.policy import default as default_policy

import pytest

from accounts import services as account_services
from channels_integrations import services as channel_services
from channels_integrations.providers.email.tests.test_connector import MAILBOX, mailbox
from conftest import PASSWORD
from tests.e2e.conftest import ARTIFACTS, browser_page, csp_refusals, off_loop, sign_in
from tickets.models import Message, Ticket

pytestmark = [pytest.mark.browser]


def test_an_agent_starts_a_conversation_by_mail_and_the_answer_comes_back(
    browser, asgi_server, live_simulator, tenant_a
):
    # Given a mailbox (the simulator's SMTP and IMAP) granted to an agent, and no ticket yet
    part = live_simulator.parts["email"]
    part.add_mailbox(MAILBOX, MAILBOX, "mail-password")
    conn = mailbox(tenant_a, imap_port=part.imap_port, smtp_port=part.smtp_port)
    agent = tenant_a.users["agent"]

    def grant():
        with tenant_a.scope():
            account_services.connection_access_set(
                organization=tenant_a.organization, actor=tenant_a.users["owner"], connection=conn, users=[agent]
            )

    off_loop(grant)
    with browser_page(browser) as page:
        refused = csp_refusals(page)  # the real Content-Security-Policy refuses nothing on these pages
        sign_in(page, asgi_server.url, agent.email, PASSWORD)
        page.goto(f"{asgi_server.url}/{tenant_a.slug}/inbox/")
        # The empty list says what belongs there; the empty saved-views pane says what a view is
        page.wait_for_selector("#list-empty")
        page.wait_for_selector("#saved-views-empty")
        _screenshot(page, "start-conversation-empty-inbox")

        # When the agent uses the list's "New conversation" button
        page.locator("#new-conversation").click()
        page.wait_for_url(f"**/{tenant_a.slug}/inbox/new/")
        assert page.locator("#id_channel").input_value() == str(conn.pk)  # the only channel, chosen
        # A mistyped address is refused on its field, keeping what was written
        page.locator("#id_email").fill("taro@")
        page.locator("#id_subject").fill("お電話の件")
        page.locator("#id_text").fill("先ほどはお電話ありがとうございました。見積書をお送りします。")
        page.locator("#new-conversation-form button[type=submit]").click()
        page.wait_for_selector(".field.has-error #id_email")
        assert page.locator("#id_subject").input_value() == "お電話の件"
        _screenshot(page, "start-conversation-form-error")
        page.locator("#id_email").fill("taro@example.jp")
        page.locator("#id_name").fill("山田 太郎")
        page.locator("#new-conversation-form button[type=submit]").click()

        # Then the new ticket opens in the inbox, assigned to the agent, the mail sent
        page.wait_for_url(f"**/{tenant_a.slug}/inbox/tickets/*/")
        page.wait_for_selector("#inbox[data-connected='true']")
        ticket = off_loop(lambda: _ticket(tenant_a))
        assert ticket.assignee_id == agent.pk
        page.wait_for_selector(f"#ticket-row-{ticket.pk}")
        assert "山田 太郎" in page.locator(f"#ticket-row-{ticket.pk}").inner_text()
        page.wait_for_selector("#messages li.message.outbound .delivery-sent")
        [sent] = part.sent()
        mail = email.message_from_bytes(sent["data"], policy=default_policy)
        assert sent["rcpt"] == ["taro@example.jp"] and mail["Subject"] == "お電話の件"
        _screenshot(page, "start-conversation-sent")

        # When the customer answers from their mail client and the mailbox is fetched
        part.customer_email(
            to=MAILBOX,
            from_addr="taro@example.jp",
            from_name="山田 太郎",
            subject="Re: お電話の件",
            text="ありがとうございます。内容を確認します。",
            in_reply_to=mail["Message-ID"],
            deliver="imap",
        )

        def poll():
            with tenant_a.scope():
                return channel_services.connection_poll(organization=tenant_a.organization, connection_id=conn.pk)

        assert off_loop(poll) == 1
        # Then it appears in the open ticket without a reload, and no other ticket was opened
        page.locator("#messages li.message.inbound", has_text="内容を確認します").wait_for()
        assert off_loop(lambda: _counts(tenant_a)) == (1, 2)

        _screenshot(page, "start-conversation-answered")

        # The `c` shortcut opens the form from the workspace too
        page.evaluate("() => document.activeElement && document.activeElement.blur()")  # not typing in a field
        page.keyboard.press("c")
        page.wait_for_url(f"**/{tenant_a.slug}/inbox/new/")
        assert refused == []


def _screenshot(page, name: str) -> None:
    """tests.e2e.conftest.screenshot, keeping the caret: Playwright hides it with an inline style it leaves behind as
    style="", which htmx then copies onto the fields it refreshes, and the page's CSP refuses (not the product's)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True, caret="initial")


def _ticket(tenant) -> Ticket:
    with tenant.scope():
        return Ticket.objects.get()


def _counts(tenant) -> tuple[int, int]:
    with tenant.scope():
        return Ticket.objects.count(), Message.objects.count()
