"""Mentioning a colleague in a note the way an agent does: type @ and part of a Japanese name, pick from the list
with the keyboard, send; the note marks the colleague and they are notified."""

import pytest
from playwright.sync_api import expect

from accounts import services as account_services
from conftest import PASSWORD, add_member, make_user
from core.models import Notification
from tests.e2e.conftest import screenshot, sign_in
from tests.e2e.test_inbox_browser import ingest, off_loop
from tickets.tests.factories import connection, inbound

pytestmark = [pytest.mark.browser]


def test_an_agent_mentions_a_colleague_by_a_japanese_name(browser, asgi_server, tenant_a):
    mail = connection(tenant_a, "email", "support@example.jp")
    takahashi = make_user("takahashi@org-a.test", "高橋 誠")
    add_member(tenant_a.organization, takahashi, "agent")
    agent = tenant_a.users["agent"]

    def grant():
        with tenant_a.scope():
            account_services.connection_access_set(
                organization=tenant_a.organization,
                actor=tenant_a.users["owner"],
                connection=mail,
                users=[agent, takahashi],
            )

    off_loop(grant)
    message = ingest(tenant_a, mail, inbound("返品の手続きを教えてください", thread="m-1", name="顧客 一郎"))
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ja-JP")
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        sign_in(page, asgi_server.url, agent.email, PASSWORD)
        page.goto(f"{asgi_server.url}/{tenant_a.slug}/inbox/tickets/{message.ticket_id}/")
        note = page.locator("#note-text")
        note.click()
        note.press_sequentially("@高橋")
        menu = page.get_by_role("listbox", name="メンションする同僚")
        expect(menu.get_by_role("option")).to_have_count(1)
        expect(menu).to_contain_text("高橋 誠")
        note.press("Enter")
        expect(menu).to_have_count(0)
        note.press_sequentially("さん、返品規定の確認をお願いします")
        assert note.input_value() == "@高橋 誠 さん、返品規定の確認をお願いします"
        page.locator("#note-form button[type=submit]").click()
        mark = page.locator("#messages .kind-note mark.mention")
        expect(mark).to_have_text("@高橋 誠")
        screenshot(page, "note-mention")

        def notified() -> int:
            with tenant_a.scope():
                return Notification.objects.filter(user=takahashi, kind="mentioned").count()

        assert off_loop(notified) == 1
    finally:
        context.close()
