"""An editor composes a post with an image from the asset library and submits it; an approver returns it with a
comment; the editor edits it; the approver sees the diff and approves; at its time (the minute beat sweep, run here
as beat would) the post is published once to the simulated Facebook page, and the content calendar shows it
published."""

import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts import services as account_services
from approvals.models import Post, PostStatus
from approvals.tests.helpers import workflow
from assets.tests.factories import jpeg_bytes, make_file_asset
from channels_integrations.models import ChannelConnection
from channels_integrations.simulator.core import Simulator
from conftest import PASSWORD
from tests.e2e.asgi_server import AsgiServer
from tests.e2e.conftest import screenshot, sign_in
from tests.e2e.test_inbox_browser import off_loop

pytestmark = [pytest.mark.browser]

TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.fixture
def live_simulator():
    sim = Simulator(webhook_base="http://127.0.0.1:1").start()
    yield sim
    sim.stop()


def _wall(when) -> str:
    return when.astimezone(TOKYO).strftime("%Y-%m-%dT%H:%M")


def test_compose_reject_edit_approve_publish_and_see_it_on_the_calendar(
    browser, transactional_db, live_simulator, tenant_a, settings
):
    sim = live_simulator
    settings.META_GRAPH_URL = sim.base_url
    server = AsgiServer(META_GRAPH_URL=sim.base_url)
    editor, approver = tenant_a.users["editor"], tenant_a.users["approver"]

    def setup():
        page = sim.parts["meta"].provision()["pages"][0]
        with tenant_a.scope():
            connection = ChannelConnection(
                organization=tenant_a.organization,
                platform="facebook",
                display_name="Tsunagu Cafe",
                external_account_id=page["id"],
            )
            connection.set_credentials({"access_token": page["access_token"], "page_id": page["id"]})
            connection.save()
            account_services.connection_access_set(
                organization=tenant_a.organization,
                actor=tenant_a.users["owner"],
                connection=connection,
                users=[editor, approver],
            )
        workflow(tenant_a, steps=({"roles": ["approver"]},), is_default=True, name="Brand review")
        make_file_asset(tenant_a, title="Spring visual", data=jpeg_bytes(64, 48), filename="spring.jpg")
        return connection

    connection = off_loop(setup)
    editor_context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ja-JP")
    approver_context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ja-JP")
    errors: list[str] = []
    try:
        page = editor_context.new_page()
        page.set_default_timeout(15_000)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        sign_in(page, server.url, editor.email, PASSWORD)
        page.goto(f"{server.url}/{tenant_a.slug}/")
        page.locator(f"nav.sidebar a[href='/{tenant_a.slug}/posts/']").click()
        page.locator(f"a[href='/{tenant_a.slug}/posts/new/']").click()
        page.locator(f"input[name=connections][value='{connection.pk}']").check()
        page.locator("#post-text").fill("春の新メニューが始まります。")
        page.locator("[data-asset-picker-open]").click()
        page.locator("dialog.asset-picker [data-asset-pick]").first.click()
        expect(page.locator(".asset-chips li")).to_have_count(1)
        page.locator("#post-when").fill(_wall(timezone.now() + timedelta(hours=2)))
        page.locator("button[name=action][value=submit]").click()
        expect(page.locator("#post-status")).to_have_attribute("data-status", PostStatus.IN_REVIEW)
        post_url = page.url
        screenshot(page, "posts-submitted")

        reviewer = approver_context.new_page()
        reviewer.set_default_timeout(15_000)
        sign_in(reviewer, server.url, approver.email, PASSWORD)
        reviewer.goto(f"{server.url}/{tenant_a.slug}/")
        reviewer.locator(f"nav.sidebar a[href='/{tenant_a.slug}/posts/']").click()
        reviewer.locator("table.post-table a").first.click()
        reviewer.locator("#decision-comment").fill("価格の表記を追加してください")
        reviewer.locator("button[name=decision][value=reject]").click()
        expect(reviewer.locator("#post-status")).to_have_attribute("data-status", PostStatus.CHANGES_REQUESTED)

        page.goto(post_url)
        expect(page.locator(".post-timeline")).to_contain_text("価格の表記を追加してください")
        page.locator("a[href$='/edit/']").click()
        page.locator("#post-text").fill("春の新メニューが始まります。ランチセット 1,200円（税込）")
        # Published at the next minute but one: the time the sweep below waits for.
        publish_at = (timezone.now() + timedelta(minutes=2)).replace(second=0, microsecond=0)
        page.locator("#post-when").fill(_wall(publish_at))
        page.locator("button[name=action][value=submit]").click()
        expect(page.locator("#post-status")).to_have_attribute("data-status", PostStatus.IN_REVIEW)

        reviewer.reload()
        expect(reviewer.locator("#diff ins")).to_contain_text("ランチセット")
        screenshot(reviewer, "posts-diff")
        reviewer.locator("button[name=decision][value=approve]").click()
        expect(reviewer.locator("#post-status")).to_have_attribute("data-status", PostStatus.SCHEDULED)
        assert sim.parts["meta"].published() == []  # not before its time

        # Beat's minute sweep, once the time has come.
        while timezone.now() < publish_at:
            time.sleep(1)

        def sweep():
            from approvals.tasks import publish_due_everywhere

            publish_due_everywhere()

        off_loop(sweep)
        off_loop(sweep)  # a second sweep never posts twice
        [published] = sim.parts["meta"].published()
        assert "ランチセット" in published["text"]

        def status():
            with tenant_a.scope():
                return Post.objects.get().status

        assert off_loop(status) == PostStatus.PUBLISHED
        # The author's page, open since the resubmission, shows the result live (no reload)
        expect(page.locator("#post-status")).to_have_attribute("data-status", PostStatus.PUBLISHED)
        expect(page.locator("#post-targets [data-target-status]")).to_have_attribute("data-target-status", "published")
        expect(page.locator("#post-targets a[target=_blank]")).to_be_visible()

        page.locator(f"nav.sidebar a[href='/{tenant_a.slug}/posts/calendar/']").click()
        event = page.locator(".fc-event[data-status='published']")
        expect(event).to_have_count(1)
        expect(event).to_contain_text("ランチセット")
        screenshot(page, "posts-calendar")
        assert not [e for e in errors if "Content Security Policy" in e], errors
    finally:
        editor_context.close()
        approver_context.close()
        server.stop()
