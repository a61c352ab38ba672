"""Two agents in two browsers on a real ASGI server: live list, presence, safe rendering, live status and notes."""

import pytest

from accounts import services as account_services
from conftest import PASSWORD, add_member, make_user
from tests.e2e.conftest import off_loop, screenshot, sign_in
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = [pytest.mark.browser]


def ingest(tenant, conn, message):
    def run():
        with tenant.scope():
            return message_ingest(organization=tenant.organization, connection=conn, inbound=message)[0]

    return off_loop(run)


HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> 商品がまだ届いていません'


def test_two_agents_work_a_ticket_live(browser, asgi_server, tenant_a):
    # Given a LINE channel granted to two agents
    line = connection(tenant_a, "line", "LINE 公式アカウント")
    second = make_user("agent2@org-a.test", "佐藤 二郎")
    add_member(tenant_a.organization, second, "agent")
    first = tenant_a.users["agent"]

    def grant():
        with tenant_a.scope():
            account_services.connection_access_set(
                organization=tenant_a.organization,
                actor=tenant_a.users["owner"],
                connection=line,
                users=[first, second],
            )

    off_loop(grant)
    pages = []
    dialogs = []
    for user in (first, second):
        context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ja-JP")
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        sign_in(page, asgi_server.url, user.email, PASSWORD)
        page.goto(f"{asgi_server.url}/{tenant_a.slug}/inbox/")
        page.wait_for_selector("#inbox[data-connected='true']")
        pages.append(page)
    one, two = pages

    # When a customer writes (the message is ingested by this test process, not the server)
    message = ingest(tenant_a, line, inbound(HOSTILE, name="鈴木 花子", thread="live-1"))
    ticket_id = message.ticket_id
    # Then it appears in both lists without a reload
    for page in pages:
        page.wait_for_selector(f"#ticket-row-{ticket_id}")
        assert "鈴木 花子" in page.locator(f"#ticket-row-{ticket_id}").inner_text()

    # Both open it; each sees the other's presence
    for page in pages:
        page.locator(f"#ticket-row-{ticket_id} .ticket-link").click()
        page.wait_for_selector(f"#ticket-{ticket_id}")
    one.wait_for_selector(f"#presence .viewer[data-user-id='{second.pk}']")
    two.wait_for_selector(f"#presence .viewer[data-user-id='{first.pk}']")

    # The hostile text is shown as text, never run
    text = one.locator(f"#message-{message.pk} .message-text").inner_text()
    assert '<script>alert("x")</script>' in text and "商品がまだ届いていません" in text
    assert one.locator(f"#message-{message.pk} script, #message-{message.pk} img").count() == 0
    assert dialogs == []

    # A status change by the first agent reaches the second agent's browser, in the history too
    history = two.locator("#properties .ticket-history li").count()
    one.locator("#prop-status").select_option("pending")
    two.wait_for_selector("#prop-status option[value='pending'][selected]", state="attached")
    two.wait_for_selector(f"#ticket-row-{ticket_id}.status-pending")
    two.wait_for_function(f"() => document.querySelectorAll('#properties .ticket-history li').length > {history}")
    assert first.name in two.locator("#properties .ticket-history li").first.inner_text()
    # A note from the second agent appears live for the first
    two.locator("#note-text").fill("@agent 確認しました")
    two.locator("#note-form button").click()
    one.wait_for_selector("#messages .kind-note")
    assert "確認しました" in one.locator("#messages .kind-note").inner_text()
    # ...and the @mention notifies the first agent live, in their language
    one.wait_for_selector(".toast")
    assert "佐藤 二郎" in one.locator(".toast").first.inner_text()
    assert one.locator("#notifications-count").inner_text() == "1"
    screenshot(one, "inbox-live")

    # A later customer message is appended to the open conversation without reload
    later = ingest(tenant_a, line, inbound("追加の質問です", thread="live-1"))
    one.wait_for_selector(f"#message-{later.pk}")
    for page in pages:
        page.context.close()
