"""The main screens in Japanese and in English, reached through the menu as a member reaches them, under the real
security headers: each passes the accessibility audit (axe-core, no serious or critical finding), shows no
Content-Security-Policy refusal, and is captured in test-artifacts/screens/<language>/ (the screenshots of the note)."""

import pytest

from accounts import services as account_services
from accounts.models import User
from conftest import PASSWORD
from tests import tenant_objects
from tests.e2e.a11y import assert_accessible
from tests.e2e.conftest import ARTIFACTS, sign_in
from tests.e2e.test_inbox_browser import off_loop
from tickets.models import Ticket
from tickets.services import notes
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = [pytest.mark.browser]

CUSTOMERS = [
    ("高橋 愛", "注文した商品がまだ届いていません。確認をお願いします。"),
    ("佐藤 健", "至急：請求書の金額が間違っているようです"),
    ("Emily Clark", "Hi, can I change the delivery address of order 1042?"),
    ("山本 さくら", "キャンセルしたいのですが、手続きを教えてください。"),
]
SCREENS = [  # (name, the menu link's path under the organization)
    ("overview", ""),
    ("channels", "settings/channels/"),
    ("members", "settings/members/"),
    ("teams", "settings/teams/"),
    ("rules", "settings/rules/"),
    ("sla", "settings/sla/"),
    ("canned-responses", "settings/canned-responses/"),
    ("audit-log", "settings/audit/"),
]


@pytest.fixture
def organization(asgi_server, tenant_a):
    def setup():
        page = connection(tenant_a, "facebook", "つなぐ商店 Facebook")
        ticket_ids = []
        for n, (name, text) in enumerate(CUSTOMERS):
            with tenant_a.scope():
                message, _created = message_ingest(
                    organization=tenant_a.organization,
                    connection=page,
                    inbound=inbound(text, thread=f"screen-{n}", author=f"C{n}", name=name),
                )
            ticket_ids.append(message.ticket_id)
        with tenant_a.scope():
            account_services.connection_access_set(
                organization=tenant_a.organization,
                actor=tenant_a.users["owner"],
                connection=page,
                users=[tenant_a.users["agent"]],
            )
            ticket = Ticket.objects.select_related("connection").get(pk=ticket_ids[0])
            notes.note_add(
                organization=tenant_a.organization,
                actor=tenant_a.users["owner"],
                ticket=ticket,
                text="配送業者に確認済みです。明日の午前中に届く予定です。",
            )
        tenant_objects._team(tenant_a)
        tenant_objects._invitation(tenant_a)
        tenant_objects._sla_calendar(tenant_a)
        tenant_objects._rule(tenant_a)
        return ticket_ids[0]

    return off_loop(setup)


@pytest.mark.parametrize("language", ["ja", "en"])
def test_the_main_screens_are_accessible_in_both_languages(browser, asgi_server, tenant_a, organization, language):
    owner = tenant_a.users["owner"]
    off_loop(lambda: User.objects.filter(pk=owner.pk).update(language=language))
    folder = ARTIFACTS / "screens" / language
    folder.mkdir(parents=True, exist_ok=True)
    locale = {"ja": "ja-JP", "en": "en-US"}[language]
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale=locale)
    page = context.new_page()
    page.set_default_timeout(15_000)
    refused = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    base = asgi_server.url
    try:
        page.goto(f"{base}/accounts/signup/")
        assert_accessible(page, f"{language}/sign-up")
        page.screenshot(path=str(folder / "sign-up.png"), caret="initial")
        sign_in(page, base, owner.email, PASSWORD)
        assert page.locator("html").get_attribute("lang") == language

        for name, path in SCREENS:
            page.locator(f".sidebar a[href='/{tenant_a.slug}/{path}']").click()
            page.wait_for_url(f"{base}/{tenant_a.slug}/{path}")
            page.wait_for_load_state("networkidle")
            assert_accessible(page, f"{language}/{name}")
            page.screenshot(path=str(folder / f"{name}.png"), caret="initial")

        # The inbox, with the first customer's conversation open from the list.
        page.locator(f".sidebar a[href='/{tenant_a.slug}/inbox/']").click()
        page.wait_for_selector("#inbox[data-connected='true']")
        page.locator(".ticket-row", has_text=CUSTOMERS[0][0]).locator(".ticket-link").click()
        page.wait_for_selector("#reply-form")
        page.wait_for_load_state("networkidle")
        assert_accessible(page, f"{language}/inbox")
        page.screenshot(path=str(folder / "inbox.png"), caret="initial")
        assert refused == []
    finally:
        context.close()
