"""An admin builds an automation rule in a real browser: a keyword condition and a nested ANY group with a pattern,
an action; the dry run and the save both point at the broken pattern's row; once fixed, the rule is saved and
listed in words."""

import re

import pytest
from playwright.sync_api import expect

from automation.models import Rule
from conftest import PASSWORD
from tests.e2e.conftest import screenshot, sign_in
from tests.e2e.test_inbox_browser import ingest, off_loop
from tickets.tests.factories import connection, inbound

pytestmark = [pytest.mark.browser]

BAD_PATTERN = "(返金|refund"
GOOD_PATTERN = "(返金|refund)"


def test_admin_builds_a_rule_with_a_nested_group_fixes_a_bad_pattern_and_saves(browser, asgi_server, tenant_a):
    # Given an admin, and a recent customer message the rule should match
    line = connection(tenant_a, "line", "LINE 公式")
    ingest(tenant_a, line, inbound("注文を取り消して返金してください", name="高橋 愛", thread="e2e-rule"))
    admin = tenant_a.users["admin"]
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ja-JP")
    page = context.new_page()
    page.set_default_timeout(10_000)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        sign_in(page, asgi_server.url, admin.email, PASSWORD)
        page.goto(f"{asgi_server.url}/{tenant_a.slug}/settings/rules/new/")
        root = page.locator("#conditions-builder > .rule-group")
        root.wait_for()
        # The JSON fields are folded away once the builders run
        expect(page.locator("#rule-json")).not_to_have_attribute("open", "")

        # When the admin names the rule and adds a keyword condition…
        page.locator("#id_name").fill("返金の問い合わせ")
        root.locator(":scope > .group-buttons .add-condition").click()
        first = root.locator(":scope > .rule-items > li").nth(0)
        expect(first.locator("select.cond-field")).to_be_focused()
        first.locator("select.cond-field").select_option("message.text")
        first.locator("select.cond-op-select").select_option("contains_any")
        first.locator("textarea").fill("返金\nrefund")

        # …a nested ANY group holding a (broken) pattern and a VIP check…
        root.locator(":scope > .group-buttons .add-group").click()
        nested = root.locator(":scope > .rule-items > li.group-row .rule-group")
        expect(nested.locator("select.group-mode")).to_have_value("any")
        nested.locator(".add-condition").click()
        pattern_row = nested.locator(".rule-items > li").nth(0)
        pattern_row.locator("select.cond-field").select_option("message.text")
        pattern_row.locator("select.cond-op-select").select_option("matches")
        pattern_row.locator("input.pattern").fill(BAD_PATTERN)
        nested.locator(".add-condition").click()
        vip_row = nested.locator(".rule-items > li").nth(1)
        vip_row.locator("select.cond-field").select_option("contact.vip")

        # …and an action
        page.locator("#actions-builder .add-action").click()
        action = page.locator("#actions-builder .action-row").nth(0)
        action.locator("select.action-type").select_option("set_priority")
        action.locator(".param select").select_option("urgent")

        # Then a dry run (htmx) points at the pattern's row
        page.locator("#rule-dry-run").click()
        expect(page.locator("#dry-run-result .form-errors")).to_be_visible()
        expect(pattern_row.locator(".row-error")).to_be_visible()
        expect(pattern_row.locator("input.pattern")).to_have_attribute("aria-invalid", "true")

        # When the rule is saved anyway, the server refuses it: the error sits on that row, and nothing is lost
        page.locator("#rule-save").click()
        page.wait_for_load_state("domcontentloaded")
        expect(page.locator("#rule-error-summary")).to_be_visible()
        bad_row = page.locator("#rule-path-conditions-all-1-any-0")
        expect(bad_row.locator(".row-error")).to_be_visible()
        expect(bad_row.locator("input.pattern")).to_have_value(BAD_PATTERN)
        expect(page.locator("#id_name")).to_have_value("返金の問い合わせ")
        expect(page.locator("#rule-path-conditions-all-0 textarea")).to_have_value("返金\nrefund")
        expect(page.locator("#rule-path-conditions-all-1-any-1 select.cond-field")).to_have_value("contact.vip")
        expect(page.locator("#rule-path-actions-0 .param select")).to_have_value("urgent")
        screenshot(page, "rule-editor-error")
        # The summary's link leads to the row
        page.locator('#rule-error-summary a[href="#rule-path-conditions-all-1-any-0"]').click()
        assert page.url.endswith("#rule-path-conditions-all-1-any-0")

        # When the pattern is fixed, the dry run finds the customer's message
        bad_row.locator("input.pattern").fill(GOOD_PATTERN)
        expect(bad_row.locator(".row-error")).to_be_hidden()
        page.locator("#rule-dry-run").click()
        expect(page.locator("#dry-run-count")).to_contain_text("1")
        expect(page.locator("#dry-run-matches")).to_contain_text("高橋 愛")
        screenshot(page, "rule-dry-run")

        # And the rule saves and is listed in words
        page.locator("#rule-save").click()
        # (a redirect keeps the address's #fragment, here the one the error link added)
        page.wait_for_url(re.compile(rf"/{tenant_a.slug}/settings/rules/(#.*)?$"))
        listed = page.locator("#rules-list .rule-card", has_text="返金の問い合わせ")
        expect(listed).to_be_visible()
        expect(listed).to_contain_text(GOOD_PATTERN)
        screenshot(page, "rule-list")
        assert dialogs == []

        def stored():
            with tenant_a.scope():
                return Rule.objects.get().conditions

        assert off_loop(stored) == {
            "all": [
                {"field": "message.text", "op": "contains_any", "value": ["返金", "refund"]},
                {
                    "any": [
                        {"field": "message.text", "op": "matches", "value": GOOD_PATTERN},
                        {"field": "contact.vip", "op": "is", "value": True},
                    ]
                },
            ]
        }
    finally:
        context.close()


def _rules(tenant, *names):
    from automation.rules.services import rule_create

    def make():
        with tenant.scope():
            return [
                rule_create(
                    organization=tenant.organization,
                    actor=tenant.users["owner"],
                    name=name,
                    trigger="message_received",
                    conditions={"all": [{"field": "message.text", "op": "contains_any", "value": [name]}]},
                    actions=[{"type": "set_priority", "priority": "high"}],
                )
                for name in names
            ]

    return off_loop(make)


def test_rules_are_reordered_and_switched_off_with_the_keyboard(browser, asgi_server, tenant_a):
    # Given two rules of the same event
    first, second = _rules(tenant_a, "一番目", "二番目")
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ja-JP")
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        sign_in(page, asgi_server.url, tenant_a.users["admin"].email, PASSWORD)
        page.goto(f"{asgi_server.url}/{tenant_a.slug}/settings/rules/")
        cards = page.locator("#trigger-message_received + .rule-cards > li h3")
        expect(cards).to_have_text(["一番目", "二番目"])
        # When the admin moves the second rule up with the keyboard (htmx swaps the list in place)
        page.locator(f"#rule-{second.pk}-up").focus()
        page.keyboard.press("Enter")
        # Then the order changes, and focus stays on that rule (its "up" button is now disabled: "down" has it)
        expect(cards).to_have_text(["二番目", "一番目"])
        expect(page.locator(f"#rule-{second.pk}-down")).to_be_focused()
        # When they switch it off with the keyboard, it says so and keeps the focus
        page.locator(f"#rule-{second.pk}-toggle").focus()
        page.keyboard.press("Enter")
        expect(page.locator(f"#rule-{second.pk} .state.off")).to_be_visible()
        expect(page.locator(f"#rule-{second.pk}-toggle")).to_be_focused()
        expect(page.locator("#rules-notice")).to_contain_text("二番目")

        def stored():
            with tenant_a.scope():
                return list(Rule.objects.order_by("position").values_list("name", "enabled"))

        assert off_loop(stored) == [("二番目", False), ("一番目", True)]
    finally:
        context.close()


def test_without_javascript_the_editor_shows_the_rule_in_words_and_its_errors(browser, asgi_server, tenant_a):
    [rule] = _rules(tenant_a, "返金")
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ja-JP", java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        sign_in(page, asgi_server.url, tenant_a.users["admin"].email, PASSWORD)
        page.goto(f"{asgi_server.url}/{tenant_a.slug}/settings/rules/{rule.pk}/")
        # The rule reads in words, and its JSON is open for editing
        expect(page.locator("#rule-summary")).to_contain_text("“返金”")
        expect(page.locator("#id_conditions")).to_be_visible()
        # A broken pattern typed into the JSON comes back as an error, with the JSON as typed
        typed = '{"all": [{"field": "message.text", "op": "matches", "value": "[返金"}]}'
        page.locator("#id_conditions").fill(typed)
        page.locator("#rule-save").click()
        page.wait_for_load_state("domcontentloaded")
        expect(page.locator("#rule-error-summary")).to_contain_text(
            "条件 1 (値)"
        )  # the admin reads Japanese, the default
        expect(page.locator("#id_conditions")).to_have_value(typed)
        screenshot(page, "rule-editor-no-js")
    finally:
        context.close()
