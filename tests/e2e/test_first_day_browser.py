"""The whole first day of a new customer, in a real Chromium under the real security headers, against the platform
simulator: sign up and confirm the address, create the organization, connect Facebook through the real button,
invite a teammate who accepts, set business hours, create a rule from a template and a canned response; a customer's
DM arrives live and the teammate answers it with the canned response; the checklist then shows every step done.
Every page on the way passes the accessibility audit (axe-core) without serious or critical findings."""

import email
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from channels_integrations.simulator.core import Simulator
from tests.e2e.a11y import assert_accessible
from tests.e2e.asgi_server import AsgiServer
from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.browser]

SECRET = "e2e-first-day-secret"
APP_ID = "4343"
PASSWORD = "tsunagu-hajimete-2026"


@pytest.fixture
def live_simulator():
    sim = Simulator(webhook_base="http://127.0.0.1:1", meta_app_secret=SECRET, meta_app_id=APP_ID).start()
    yield sim
    sim.stop()


def mail_to(mail_dir: Path, address: str, seen: set[str], timeout: float = 15) -> str:
    """The body of the next message to `address` the server wrote with the file-based email backend."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(mail_dir.glob("*.log")) if mail_dir.exists() else []:
            for raw in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
                message = email.message_from_bytes(raw.strip())
                key = f"{path.name}:{message['Message-ID']}"
                if key in seen or address not in str(message["To"] or ""):
                    continue
                seen.add(key)
                part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
                return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
        time.sleep(0.2)
    raise AssertionError(f"no mail to {address} in {mail_dir}")


def link_in(body: str, path: str) -> str:
    return re.search(rf"https?://\S+{re.escape(path)}\S*", body).group(0)


def test_a_new_company_goes_from_sign_up_to_its_first_answered_message(
    browser, transactional_db, live_simulator, tmp_path
):
    sim = live_simulator
    mail_dir = tmp_path / "mail"
    urls = {"META_GRAPH_URL": sim.base_url, "META_DIALOG_URL": sim.base_url, "INSTAGRAM_GRAPH_URL": sim.base_url}
    server = AsgiServer(
        META_APP_SECRET=SECRET,
        META_APP_ID=APP_ID,
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(mail_dir),
        **urls,
    )
    sim.webhook_base = server.url
    facebook_page = sim.parts["meta"].provision()["pages"][0]
    seen: set[str] = set()
    refused: list[str] = []

    def new_page():
        context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ja-JP")
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
        return context, page

    owner_context, owner = new_page()
    mate_context, mate = new_page()
    try:
        # --- A new company signs up, confirms its address and creates its organization --------------------------
        owner.goto(f"{server.url}/")
        owner.locator("#signup-link").click()
        assert_accessible(owner, "signup")
        owner.locator("#id_email").fill("founder@tsunagu-shoten.test")
        owner.get_by_role("button", name="確認リンクを送信").click()
        expect(owner.locator("#signup-sent")).to_contain_text("founder@tsunagu-shoten.test")

        owner.goto(link_in(mail_to(mail_dir, "founder@tsunagu-shoten.test", seen), "/accounts/signup/confirm/"))
        owner.locator("#id_name").fill("創業 太郎")
        owner.locator("#id_password1").fill(PASSWORD)
        owner.locator("#id_password2").fill(PASSWORD)
        owner.locator("form button.primary").click()
        owner.wait_for_url("**/accounts/organizations/new/")
        assert_accessible(owner, "organization-create")
        owner.locator("#id_name").fill("株式会社つなぐ商店")
        owner.locator("#id_slug").fill("tsunagu-shoten")
        owner.locator("form button.primary").click()
        owner.wait_for_url(f"{server.url}/tsunagu-shoten/")
        expect(owner.locator("#onboarding")).to_be_visible()
        expect(owner.locator("#onboarding .step.done")).to_have_count(0)
        assert_accessible(owner, "onboarding")

        # --- It connects Facebook through the real button, against the simulator ---------------------------------
        owner.locator("[data-step=channel] a.button").click()
        owner.locator("#connect-facebook").click()
        owner.wait_for_url(f"{sim.base_url}/**")
        owner.locator("#continue").click()
        owner.wait_for_url("**/tsunagu-shoten/settings/channels/choose/")
        owner.get_by_role("button", name="選択したアカウントを接続").click()
        owner.wait_for_url("**/tsunagu-shoten/settings/channels/")
        expect(owner.locator("#channels")).to_contain_text(facebook_page["name"])
        assert_accessible(owner, "channels")

        # --- It invites a teammate, who accepts ------------------------------------------------------------------
        owner.goto(f"{server.url}/tsunagu-shoten/")
        owner.locator("[data-step=invite] a.button").click()
        owner.locator("#id_email").fill("mate@tsunagu-shoten.test")
        owner.locator("#id_role").select_option(label="エージェント")
        owner.locator("#invite-form button[type=submit]").click()
        expect(owner.locator("main")).to_contain_text("mate@tsunagu-shoten.test")
        assert_accessible(owner, "members")

        mate.goto(link_in(mail_to(mail_dir, "mate@tsunagu-shoten.test", seen), "/accounts/invitations/"))
        mate.locator("#id_name").fill("同僚 花子")
        mate.locator("#id_password1").fill(PASSWORD)
        mate.locator("#id_password2").fill(PASSWORD)
        mate.locator("form button.primary").click()
        mate.wait_for_url(f"{server.url}/tsunagu-shoten/")

        # The owner lets the teammate work on the page's conversations.
        owner.goto(f"{server.url}/tsunagu-shoten/settings/channels/")
        owner.get_by_role("link", name=facebook_page["name"]).click()
        owner.locator("#id_users").select_option(label="同僚 花子")
        owner.get_by_role("button", name="アクセス権を保存").click()
        expect(owner.locator("#id_users option:checked")).to_have_text("同僚 花子")

        # --- Business hours (Japanese holidays preselected), a rule from a template, a canned response ----------
        owner.goto(f"{server.url}/tsunagu-shoten/")
        owner.locator("[data-step=hours] a.button").click()
        expect(owner.locator("#id_japanese_holidays")).to_be_checked()
        owner.locator("#id_name").fill("本社の営業時間")
        owner.locator("main form button.primary").first.click()
        owner.wait_for_url(re.compile(r".*/tsunagu-shoten/settings/sla/calendars/\d+/$"))

        owner.goto(f"{server.url}/tsunagu-shoten/")
        owner.locator("[data-step=rule] a.button").click()
        assert_accessible(owner, "rules-empty")
        owner.locator("#template-urgent-use").click()
        owner.locator("#rule-form button.primary[type=submit]").click()
        owner.wait_for_url("**/tsunagu-shoten/settings/rules/")

        owner.goto(f"{server.url}/tsunagu-shoten/settings/canned-responses/")
        owner.locator("#id_title").fill("お礼")
        owner.locator("#id_shortcut").fill("thanks")
        owner.locator("#id_shared").check()
        owner.locator("#id_body_ja").fill("{{contact.name}}様、お問い合わせありがとうございます。")
        owner.locator("main form button.primary").first.click()
        expect(owner.locator("main")).to_contain_text("thanks")

        # --- A customer's DM arrives live, and the teammate answers it with the canned response -----------------
        mate.goto(f"{server.url}/tsunagu-shoten/inbox/")
        mate.wait_for_selector("#inbox[data-connected='true']")
        sim.parts["meta"].customer_message(
            facebook_page["id"], "PSID-FIRST", "注文の確認をお願いします", name="山田 花"
        )
        assert sim.deliveries[-1]["status"] == 200, sim.deliveries
        row = mate.locator(".ticket-row", has_text="山田 花")
        row.wait_for()
        row.locator(".ticket-link").click()
        mate.locator("#reply-text").click()
        mate.keyboard.type("/thanks")
        mate.wait_for_selector("#canned-menu li.active")
        mate.keyboard.press("Enter")
        expect(mate.locator("#reply-text")).to_have_value(re.compile("山田 花様、お問い合わせありがとうございます。"))
        mate.locator("#reply-form button[type=submit]").click()
        mate.wait_for_selector("#messages li.message.outbound")
        screenshot(mate, "first-day-answered")
        assert_accessible(mate, "inbox-conversation")
        sent = [s for s in sim.parts["meta"].state()["sent"] if "PSID-FIRST" in str(s)]
        assert len(sent) == 1 and "お問い合わせありがとうございます" in str(sent[0])

        # --- The checklist shows every step done -----------------------------------------------------------------
        owner.goto(f"{server.url}/tsunagu-shoten/")
        expect(owner.locator("#onboarding .step:not(.done)")).to_have_count(0)
        expect(owner.locator("#onboarding .step.done")).to_have_count(5)
        expect(owner.locator("#onboarding-title")).to_have_text("準備が整いました")
        screenshot(owner, "first-day-checklist-done")
        assert refused == []
    finally:
        owner_context.close()
        mate_context.close()
        server.stop()
