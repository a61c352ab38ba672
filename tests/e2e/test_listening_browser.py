"""Social listening in a real browser: a manager opens Analytics → Listening from the menu, sees the collected
mentions, clicks "Create ticket" on one and lands on its new ticket; the share-of-voice chart draws (CSP-clean)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from analytics.listening.tests.conftest import monitor
from analytics.listening.tests.factories import mention
from conftest import PASSWORD
from tests.e2e.conftest import screenshot, sign_in
from tests.e2e.test_inbox_browser import off_loop
from tickets.models import Ticket
from tickets.tests.factories import connection

pytestmark = [pytest.mark.browser]


def test_manager_turns_a_mention_into_a_ticket(page, asgi_server, tenant_a):
    def setup():
        instagram = connection(tenant_a, "instagram", "@tsunagu_demo")
        brand = monitor(tenant_a, "ツナグ", "brand", ["ツナグ"])
        rival = monitor(tenant_a, "カスタマーボックス", "competitor", ["カスタマーボックス"])
        now = timezone.now()
        mention(tenant_a, [rival], at=now - timedelta(hours=3), text="カスタマーボックスの新機能", connection=instagram)
        complaint = mention(
            tenant_a,
            [brand],
            at=now - timedelta(minutes=5),
            text="ツナグのアプリが朝から開けません…",
            sentiment="negative",
            author="hana_77",
            connection=instagram,
        )
        return complaint.pk

    complaint_id = off_loop(setup)
    refused = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)

    # Given a manager signed in, when they open Analytics → Listening from the menu
    sign_in(page, asgi_server.url, tenant_a.users["manager"].email, PASSWORD)
    page.goto(f"{asgi_server.url}/{tenant_a.slug}/")
    page.locator(f"nav.sidebar a[href='/{tenant_a.slug}/analytics/listening/']").click()
    # Then they see the mentions, newest first
    articles = page.locator("#mentions article.mention")
    articles.first.wait_for()
    assert articles.count() == 2
    assert "ツナグのアプリが朝から開けません" in articles.first.inner_text()
    assert "@hana_77" in articles.first.inner_text()
    screenshot(page, "listening-stream")

    # A mention collected while the page is open appears on top by itself (htmx asks every 20 seconds)
    def collect():
        with tenant_a.scope():
            from analytics.listening.models import Monitor

            brand = Monitor.objects.get(name="ツナグ")
            instagram = brand.mentions.first().connection
        return mention(tenant_a, [brand], text="ツナグ、今は直りました！", connection=instagram).pk

    fresh_id = off_loop(collect)
    page.locator(f"#mentions article.mention:first-child#mention-{fresh_id}").wait_for(timeout=30_000)
    assert articles.count() == 3

    # When they click "Create ticket" on the complaint, they land on its new ticket with the post as its message
    page.locator(f"#mention-{complaint_id} form button[type=submit]").click()
    page.wait_for_url(f"**/{tenant_a.slug}/inbox/**")
    page.get_by_text("ツナグのアプリが朝から開けません").first.wait_for()

    def ticket_url():
        with tenant_a.scope():
            return f"/{tenant_a.slug}/inbox/tickets/{Ticket.objects.get().pk}/"

    assert page.url.endswith(off_loop(ticket_url))

    # Back on the stream, the mention links to its ticket instead of offering another one
    page.go_back()
    page.reload()
    assert page.locator(f"#mention-{complaint_id} form").count() == 0
    assert page.locator(f"#mention-{complaint_id} a[href$='{off_loop(ticket_url)}']").count() == 1

    # And the share-of-voice tab draws its chart
    page.locator(f"a[href='/{tenant_a.slug}/analytics/listening/share-of-voice/']").click()
    page.wait_for_selector("[data-chart='share-chart-data'][data-drawn='yes']")
    screenshot(page, "listening-share-of-voice")
    assert refused == []
