"""The automation settings pages: who may open them, the rule editor's round trip (nested groups in, errors mapped to
the right row, nothing typed lost), the dry run, the list's controls, the webhook secret, the automation settings,
the "why" log — and query counts that stay the same as rules, tickets, calls and runs grow."""

import html
import json
from html.parser import HTMLParser

import pytest
from django.db import connection as db
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from accounts import services as account_services
from accounts.models import AuditAction, AuditEntry
from automation.models import AutoResponse, Rule, RuleRun, WebhookCall
from automation.rules import services
from automation.rules.catalogue import TEMPLATES
from automation.rules.selectors import rule_runs_for
from tickets.canned import canned_response_create
from tickets.models import Ticket
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db

PAGES = ["settings/rules/", "settings/rules/new/", "settings/rules/webhooks/", "settings/automation/"]


def _url(tenant, path: str) -> str:
    return f"/{tenant.slug}/{path}"


def _team(tenant, name="Support"):
    with tenant.scope():
        return account_services.team_create(
            organization=tenant.organization, actor=tenant.users["owner"], name=name, members=[tenant.users["agent"]]
        )


def _rule(tenant, name="Rule", trigger="message_received", conditions=None, actions=None):
    with tenant.scope():
        return services.rule_create(
            organization=tenant.organization,
            actor=tenant.users["admin"],
            name=name,
            description="",
            trigger=trigger,
            conditions=conditions or {"all": []},
            actions=actions or [{"type": "set_priority", "priority": "high"}],
        )


def _ingest(tenant, conn, text, thread):
    with tenant.scope():
        message, _created = message_ingest(
            organization=tenant.organization, connection=conn, inbound=inbound(text, thread=thread, author=thread)
        )
        return message


def _admin(tenant, login, language="en"):
    """The admin's client, in English (the organization's default is Japanese)."""
    admin = tenant.users["admin"]
    admin.language = language
    admin.save(update_fields=["language"])
    return login(admin)


def _count(fn) -> int:
    assert fn().status_code == 200  # a first request may set things up once (automation settings, session)
    with CaptureQueriesContext(db) as ctx:
        response = fn()
    assert response.status_code == 200, response.content[:500]
    return len(ctx.captured_queries)


def _post_rule(client, tenant, conditions, actions, name="返金の問い合わせ", htmx=False, **fields):
    data = {
        "name": name,
        "description": "返金を急ぐ",
        "trigger": "message_received",
        "enabled": "on",
        "conditions": conditions if isinstance(conditions, str) else json.dumps(conditions, ensure_ascii=False),
        "actions": actions if isinstance(actions, str) else json.dumps(actions, ensure_ascii=False),
        **fields,
    }
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(_url(tenant, "settings/rules/new/"), data, headers=headers)


@pytest.mark.parametrize("language", ["ja", "en"])
@pytest.mark.parametrize("path", PAGES)
def test_pages_render_for_an_admin_in_japanese_and_english(tenant_a, login, path, language):
    admin = tenant_a.users["admin"]
    admin.language = language
    admin.save(update_fields=["language"])
    _rule(tenant_a, name="既存のルール")
    response = login(admin).get(_url(tenant_a, path))
    assert response.status_code == 200
    body = response.content.decode()
    assert f'<html lang="{language}">' in body
    assert ("設定" if language == "ja" else "Settings") in body  # the sidebar, in the member's language
    assert "automation/rules/rules.css" in body


@pytest.mark.parametrize("role", ["agent", "manager", "analyst"])
def test_members_without_rules_manage_are_refused_everywhere(tenant_a, login, role):
    rule = _rule(tenant_a)
    client = login(tenant_a.users[role])
    for path in [*PAGES, f"settings/rules/{rule.pk}/", f"settings/rules/{rule.pk}/delete/"]:
        assert client.get(_url(tenant_a, path)).status_code == 403, path
    for path in ["settings/rules/new/", f"settings/rules/{rule.pk}/enabled/", "settings/rules/webhooks/secret/"]:
        assert client.post(_url(tenant_a, path), {"enabled": "0", "confirm": "on"}).status_code == 403, path
    with tenant_a.scope():
        assert Rule.objects.get(pk=rule.pk).enabled


def test_a_rule_with_nested_groups_is_created_through_the_form(tenant_a, login):
    # Given a team to route to
    team = _team(tenant_a)
    conditions = {
        "all": [
            {"field": "message.text", "op": "contains_any", "value": ["返金", "refund"]},
            {
                "any": [
                    {"field": "contact.vip", "op": "is", "value": True},
                    {"field": "ticket.priority", "op": "in", "value": ["high", "urgent"]},
                ]
            },
        ]
    }
    actions = [{"type": "assign_team", "team": team.pk}, {"type": "add_tags", "tags": ["返金"]}]
    # When the admin posts the editor's form
    response = _post_rule(_admin(tenant_a, login), tenant_a, conditions, actions)
    # Then the rule is stored as written and listed in words
    assert response.status_code == 302 and response.url == _url(tenant_a, "settings/rules/")
    with tenant_a.scope():
        rule = Rule.objects.get()
        assert rule.conditions == conditions and rule.actions == actions and rule.enabled
        assert AuditEntry.objects.filter(action=AuditAction.RULE_CREATED, object_id=str(rule.pk)).exists()
    page = _admin(tenant_a, login).get(response.url).content.decode()
    assert "返金の問い合わせ" in page and "Support" in page and "“返金”, “refund”" in page


def test_an_invalid_regex_is_an_error_on_its_row_and_everything_typed_stays(tenant_a, login):
    # Given a rule whose nested ANY group has a broken pattern and an unknown field
    conditions = (
        '{"all": [{"field": "message.text", "op": "contains_any", "value": ["返金"]}, '
        '{"any": [{"field": "contact.vip", "op": "is", "value": true}, '
        '{"field": "message.text", "op": "matches", "value": "(返金|refund"}, {"field": "made.up", "op": "in"}]}]}'
    )
    actions = '[{"type": "set_priority", "priority": "high"}]'
    # When it is submitted
    response = _post_rule(_admin(tenant_a, login), tenant_a, conditions, actions, name="壊れたパターン")
    # Then nothing is saved; the page answers 400 with each error mapped to its row, and keeps the input
    assert response.status_code == 400
    body = response.content.decode()
    errors = json.loads(body.split('id="rule-errors" type="application/json">')[1].split("</script>")[0])
    assert set(errors) == {"conditions.all.1.any.1.value", "conditions.all.1.any.2.field"}
    assert 'href="#rule-path-conditions-all-1-any-1"' in body and 'href="#rule-path-conditions-all-1-any-2"' in body
    assert "Condition 2.2 (value)" in body and "not valid" in body
    assert html.escape(conditions) in body and html.escape(actions) in body
    assert 'value="壊れたパターン"' in body
    with tenant_a.scope():
        assert not Rule.objects.exists()


def test_broken_json_is_a_field_error_not_a_500(tenant_a, login):
    response = _post_rule(_admin(tenant_a, login), tenant_a, '{"all": [', "[]")
    assert response.status_code == 400
    body = response.content.decode()
    assert "not valid JSON" in body and html.escape('{"all": [') in body


def test_dry_run_shows_the_matching_tickets_and_changes_nothing(tenant_a, login):
    # Given two recent tickets, one asking for a refund
    line = connection(tenant_a, "line", "LINE 公式")
    hit = _ingest(tenant_a, line, "注文をキャンセルして返金してください", "dry-1")
    _ingest(tenant_a, line, "営業時間を教えてください", "dry-2")
    client = _admin(tenant_a, login)
    conditions = {"all": [{"field": "message.text", "op": "contains_any", "value": ["返金"]}]}
    actions = [{"type": "set_priority", "priority": "urgent"}]
    # When the admin runs the unsaved rule (htmx)
    response = _post_rule(client, tenant_a, conditions, actions, dry_run="1", htmx=True)
    # Then the partial says 1 of 2 would match, lists it with its message, and says what the rule would do
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="dry-run-count"' in body and "1 of the last 2 tickets would match" in body
    with tenant_a.scope():
        ticket = Ticket.objects.get(pk=hit.ticket_id)
        assert f"#{ticket.number}" in body and "返金してください" in body and "LINE 公式" in body
        assert ticket.priority != "urgent" and not Rule.objects.exists()
    assert "Set priority: Urgent" in body
    # Without htmx the whole editor comes back with the result and the input
    full = _post_rule(client, tenant_a, conditions, actions, dry_run="1").content.decode()
    assert 'id="rule-form"' in full and "1 of the last 2 tickets would match" in full
    # A draft without a name can be tried too
    unnamed = _post_rule(client, tenant_a, conditions, actions, name="", dry_run="1", htmx=True).content.decode()
    assert "1 of the last 2 tickets would match" in unnamed
    # An invalid rule's dry run lists the errors (with their paths for the builder)
    bad = {"all": [{"field": "message.text", "op": "matches", "value": "("}]}
    body = _post_rule(client, tenant_a, bad, actions, dry_run="1", htmx=True).content.decode()
    assert "conditions.all.0.value" in body and "Condition 1 (value)" in body


def test_list_controls_toggle_move_and_delete(tenant_a, login):
    first, second = _rule(tenant_a, name="First"), _rule(tenant_a, name="Second")
    client = _admin(tenant_a, login)
    response = client.post(
        _url(tenant_a, f"settings/rules/{first.pk}/enabled/"), {"enabled": "0"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200 and 'id="rules-list"' in response.content.decode()
    assert "<html" not in response.content.decode()
    response = client.post(_url(tenant_a, f"settings/rules/{second.pk}/move/"), {"direction": "up"})
    assert response.status_code == 302
    with tenant_a.scope():
        assert list(Rule.objects.order_by("position").values_list("name", "enabled")) == [
            ("Second", True),
            ("First", False),
        ]
    confirm = client.get(_url(tenant_a, f"settings/rules/{first.pk}/delete/"))
    assert confirm.status_code == 200 and "First" in confirm.content.decode()
    assert client.post(_url(tenant_a, f"settings/rules/{first.pk}/delete/")).status_code == 302
    with tenant_a.scope():
        assert list(Rule.objects.values_list("name", flat=True)) == ["Second"]


def test_a_rule_pointing_at_a_deleted_team_cannot_be_switched_on(tenant_a, login):
    team = _team(tenant_a)
    team_id = team.pk
    rule = _rule(tenant_a, actions=[{"type": "assign_team", "team": team_id}])
    client = _admin(tenant_a, login)
    url = _url(tenant_a, f"settings/rules/{rule.pk}/enabled/")
    assert client.post(url, {"enabled": "0"}).status_code == 302
    with tenant_a.scope():
        account_services.team_delete(organization=tenant_a.organization, actor=tenant_a.users["owner"], team=team)
    # The list says so in place (htmx swaps 2xx answers only), and describes the missing team
    response = client.post(url, {"enabled": "1"}, headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200 and 'role="alert"' in body and "cannot be switched on" in body
    assert f"a deleted team (#{team_id})" in body
    with tenant_a.scope():
        assert not Rule.objects.get(pk=rule.pk).enabled


def test_editing_keeps_and_changes_a_rule(tenant_a, login):
    rule = _rule(tenant_a, name="Before")
    client = _admin(tenant_a, login)
    page = client.get(_url(tenant_a, f"settings/rules/{rule.pk}/")).content.decode()
    assert 'value="Before"' in page and html.escape(json.dumps(rule.actions)) in page
    response = client.post(
        _url(tenant_a, f"settings/rules/{rule.pk}/"),
        {
            "name": "After",
            "trigger": "ticket_created",
            "conditions": '{"all": []}',
            "actions": '[{"type": "mark_spam"}]',
        },
    )
    assert response.status_code == 302
    with tenant_a.scope():
        rule.refresh_from_db()
        assert (rule.name, rule.trigger, rule.enabled, rule.actions) == (
            "After",
            "ticket_created",
            False,
            [{"type": "mark_spam"}],
        )


def test_the_webhook_secret_is_shown_once_on_rotation(tenant_a, login):
    client = _admin(tenant_a, login)
    url = _url(tenant_a, "settings/rules/webhooks/secret/")
    assert client.post(url, {}).status_code == 400  # not confirmed
    response = client.post(url, {"confirm": "on"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    body = response.content.decode()
    secret = body.split('<code id="new-secret">')[1].split("</code>")[0]
    assert secret.startswith("whsec_") and len(secret) > 30
    later = client.get(_url(tenant_a, "settings/rules/webhooks/")).content.decode()
    assert secret not in later and secret[-4:] in later and "X-Tsunagu-Signature" in later
    with tenant_a.scope():
        assert AuditEntry.objects.filter(action=AuditAction.WEBHOOK_SECRET_ROTATED).count() == 1


def test_automation_settings_and_auto_responses_are_saved(tenant_a, login):
    line = connection(tenant_a, "line", "LINE 公式")
    with tenant_a.scope():
        canned = canned_response_create(
            organization=tenant_a.organization,
            actor=tenant_a.users["owner"],
            actor_membership=tenant_a.memberships["owner"],
            title="営業時間外",
            shortcut="closed",
            variants=[{"language": "ja", "body": "ただいま営業時間外です。"}],
            shared=True,
        )
    client = _admin(tenant_a, login)
    url = _url(tenant_a, "settings/automation/")
    bad = client.post(url, {"form": "crisis", "crisis_threshold": "0", "crisis_window_minutes": "15"})
    assert bad.status_code == 400
    assert (
        client.post(url, {"form": "crisis", "crisis_threshold": "9", "crisis_window_minutes": "20"}).status_code == 302
    )
    ooh, first = f"ar-{line.pk}-out_of_hours", f"ar-{line.pk}-first_contact"
    rows = {f"{ooh}-window_hours": "24", f"{first}-window_hours": "24", f"{ooh}-calendar": ""}
    # Enabled without a canned response: an error on that row, nothing saved
    missing = client.post(url, {"form": "auto", f"{ooh}-enabled": "on", **rows})
    assert missing.status_code == 400 and "Choose the canned response to send." in missing.content.decode()
    saved = client.post(url, {"form": "auto", f"{ooh}-enabled": "on", f"{ooh}-response": canned.pk, **rows})
    assert saved.status_code == 302
    with tenant_a.scope():
        [auto] = AutoResponse.objects.all()
        assert (auto.kind, auto.response_id, auto.enabled, auto.connection_id) == (
            "out_of_hours",
            canned.pk,
            True,
            line.pk,
        )
    page = client.get(url).content.decode()
    assert 'value="9"' in page and "LINE 公式" in page


def test_why_log_lists_the_rules_that_acted_with_failures_marked(tenant_a):
    line = connection(tenant_a, "line")
    team = _team(tenant_a)
    message = _ingest(tenant_a, line, "返金してください", "why-1")
    with tenant_a.scope():
        ticket = Ticket.objects.get(pk=message.ticket_id)
        RuleRun.objects.create(
            organization=tenant_a.organization,
            ticket=ticket,
            rule_name="返金ルーティング",
            trigger="message_received",
            actions=[
                {"type": "assign_team", "ok": True, "team": team.pk, "user": tenant_a.users["agent"].pk},
                {"type": "webhook", "ok": True, "call": 12, "url": "https://hooks.example.com/T0/secret-token"},
                {"type": "set_priority", "ok": False, "error": "the ticket is closed"},
            ],
        )
        with translation.override("en"):
            html_text = render_to_string(
                "automation/rules/_why.html",
                {"rule_runs": rule_runs_for(ticket), "organization": tenant_a.organization, "can": {}},
            )
    assert "返金ルーティング" in html_text
    assert f"Route to team Support → assigned to {tenant_a.users['agent'].get_full_name()}" in html_text
    assert "hooks.example.com" in html_text and "secret-token" not in html_text and "#12" in html_text
    assert 'class="failed"' in html_text and "the ticket is closed" in html_text and "Failed:" in html_text


# --- query counts ---------------------------------------------------------------------------------------------


def test_rule_list_queries_do_not_grow_with_rules(tenant_a, login):
    team = _team(tenant_a)
    client = _admin(tenant_a, login)

    def add(n):
        for i in range(n):
            _rule(
                tenant_a,
                name=f"R{i}",
                conditions={"all": [{"field": "ticket.team", "op": "in", "value": [team.pk]}]},
                actions=[{"type": "assign_agent", "user": tenant_a.users["agent"].pk}],
            )

    add(2)
    small = _count(lambda: client.get(_url(tenant_a, "settings/rules/")))
    add(8)
    assert _count(lambda: client.get(_url(tenant_a, "settings/rules/"))) == small


def test_editor_and_dry_run_queries_do_not_grow_with_tickets(tenant_a, login):
    line = connection(tenant_a, "line")
    client = _admin(tenant_a, login)
    conditions = {"all": [{"field": "message.text", "op": "contains_any", "value": ["返金"]}]}
    actions = [{"type": "assign_agent", "user": tenant_a.users["agent"].pk}]
    rule = _rule(tenant_a, conditions=conditions, actions=actions)

    def measure():
        dry = _count(lambda: _post_rule(client, tenant_a, conditions, actions, dry_run="1", htmx=True))
        edit = _count(lambda: client.get(_url(tenant_a, f"settings/rules/{rule.pk}/")))
        return dry, edit

    for i in range(2):
        _ingest(tenant_a, line, f"返金 {i}", f"q-{i}")
    small = measure()
    for i in range(2, 8):
        _ingest(tenant_a, line, f"返金 {i}", f"q-{i}")
    assert measure() == small


def test_webhook_log_and_automation_queries_do_not_grow(tenant_a, login):
    rule = _rule(tenant_a)
    line = connection(tenant_a, "line")
    message = _ingest(tenant_a, line, "hello", "w-1")
    client = _admin(tenant_a, login)

    def add_calls(n):
        with tenant_a.scope():
            for i in range(n):
                WebhookCall.objects.create(
                    organization=tenant_a.organization,
                    rule=rule,
                    ticket_id=message.ticket_id,
                    url=f"https://example.com/{i}",
                    state="failed",
                    attempts=3,
                    last_status_code=500,
                    last_error="Server error",
                )

    add_calls(1)
    calls = _count(lambda: client.get(_url(tenant_a, "settings/rules/webhooks/")))
    automation = _count(lambda: client.get(_url(tenant_a, "settings/automation/")))
    add_calls(6)
    connection(tenant_a, "email")
    connection(tenant_a, "facebook")
    assert _count(lambda: client.get(_url(tenant_a, "settings/rules/webhooks/"))) == calls
    assert _count(lambda: client.get(_url(tenant_a, "settings/automation/"))) == automation


def test_why_log_queries_do_not_grow_with_runs(tenant_a):
    line = connection(tenant_a, "line")
    team = _team(tenant_a)
    message = _ingest(tenant_a, line, "hello", "why-q")
    with tenant_a.scope():
        ticket = Ticket.objects.get(pk=message.ticket_id)

        def add(n):
            for _ in range(n):
                RuleRun.objects.create(
                    organization=tenant_a.organization,
                    ticket=ticket,
                    rule_name="R",
                    trigger="message_received",
                    actions=[
                        {"type": "assign_team", "ok": True, "team": team.pk, "user": tenant_a.users["agent"].pk},
                        {"type": "notify", "ok": True, "users": [tenant_a.users["admin"].pk]},
                    ],
                )

        add(1)
        with CaptureQueriesContext(db) as one:
            assert len(rule_runs_for(ticket)) == 1
        add(5)
        with CaptureQueriesContext(db) as six:
            assert len(rule_runs_for(ticket)) == 6
    assert len(one.captured_queries) == len(six.captured_queries) == 3  # runs, members, teams


# --- templates and the empty list ---------------------------------------------------------------------------------


class _FormReader(HTMLParser):
    """The fields of one form as a browser would submit them (text inputs, checked boxes, textareas, selects)."""

    def __init__(self, form_id: str):
        super().__init__()
        self.form_id, self.inside, self.data = form_id, False, {}
        self._textarea = self._select = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        elif not self.inside:
            return
        elif tag == "input" and a.get("name") and a.get("type") not in ("submit", "button"):
            if a.get("type") != "checkbox" or "checked" in a:
                self.data[a["name"]] = a.get("value", "on")
        elif tag == "textarea":
            self._textarea = a["name"]
            self.data[self._textarea] = ""
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select] = a.get("value", "")

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "textarea" and self._textarea:
            self.data[self._textarea] = self.data[self._textarea].lstrip("\n")
            self._textarea = None
        elif tag == "select":
            self._select = None


def _card(body: str, key: str) -> str:
    """One template's card on the list page."""
    return body.split(f'id="template-{key}"')[1].split('<li class="template-card"')[0].split("</section>")[0]


def _form_data(body: str, form_id: str = "rule-form") -> dict:
    reader = _FormReader(form_id)
    reader.feed(body)
    return reader.data


def test_the_empty_rule_list_says_what_rules_do_with_the_buttons_that_create_one(tenant_a, login):
    client = _admin(tenant_a, login)
    body = client.get(_url(tenant_a, "settings/rules/")).content.decode()
    empty = body.split('id="rules-empty"')[1].split("</div>")[0]
    assert "No rules yet" in empty and "routes the ticket to a team" in empty
    assert f'href="/{tenant_a.slug}/settings/rules/new/"' in empty and 'href="#rule-templates"' in empty
    assert 'id="rule-templates"' in body and "No rules for this event." not in body
    # Once a rule exists the list shows the rules by event, and the templates stay on offer below them
    _rule(tenant_a)
    body = client.get(_url(tenant_a, "settings/rules/")).content.decode()
    assert 'id="rules-empty"' not in body and "No rules for this event." in body
    assert body.index('id="rules-list"') < body.index('id="rule-templates"')


def test_the_list_offers_every_template_and_says_what_this_organization_lacks(tenant_a, login):
    client = _admin(tenant_a, login)
    body = client.get(_url(tenant_a, "settings/rules/")).content.decode()
    for template in TEMPLATES:
        assert f'href="/{tenant_a.slug}/settings/rules/new/?template={template.key}"' in body
    card = _card(body, "cancellation")
    assert "Cancellations to a team" in card and "Route to the team you choose" in card and "“キャンセル”" in card
    assert "no team yet" in card and f'href="/{tenant_a.slug}/settings/teams/#new-team"' in card
    reply = _card(body, "out_of_hours")
    assert f'href="/{tenant_a.slug}/settings/canned-responses/"' in reply
    assert f'href="/{tenant_a.slug}/settings/sla/calendars/new/"' in reply
    assert "template-missing" not in _card(body, "urgent")
    # With a team, the routing templates have nothing missing
    _team(tenant_a)
    body = client.get(_url(tenant_a, "settings/rules/")).content.decode()
    assert "template-missing" not in _card(body, "cancellation")
    # In Japanese too (the template's words are translated, its keywords are data)
    japanese = _admin(tenant_a, login, language="ja").get(_url(tenant_a, "settings/rules/")).content.decode()
    assert 'lang="ja"' in japanese and "“キャンセル”" in japanese


def test_a_template_needing_a_team_says_so_in_the_editor_when_there_is_none(tenant_a, login):
    client = _admin(tenant_a, login)
    body = client.get(_url(tenant_a, "settings/rules/new/?template=refund")).content.decode()
    notice = body.split('id="template-notice"')[1].split("</div>")[0]
    assert "Refunds to a team" in notice and "no team yet" in notice
    assert f'href="/{tenant_a.slug}/settings/teams/#new-team"' in notice
    assert client.get(_url(tenant_a, "settings/rules/new/?template=made-up")).status_code == 404
    with tenant_a.scope():
        assert not Rule.objects.exists()


def test_a_template_applied_through_the_editor_routes_and_tags_cancellations(tenant_a, login):
    # Given a team for cancellations and two recent tickets, one asking to cancel
    team = _team(tenant_a, name="キャンセル窓口")
    line = connection(tenant_a, "line", "LINE 公式")
    _ingest(tenant_a, line, "注文をキャンセルしたいです", "tpl-old-1")
    _ingest(tenant_a, line, "営業時間を教えてください", "tpl-old-2")
    client = _admin(tenant_a, login)
    # When the admin chooses the template on the list, the editor opens filled in, with the team still to choose
    list_page = client.get(_url(tenant_a, "settings/rules/")).content.decode()
    link = f"/{tenant_a.slug}/settings/rules/new/?template=cancellation"
    assert f'href="{link}"' in list_page
    editor = client.get(link)
    assert editor.status_code == 200
    data = _form_data(editor.content.decode())
    actions = json.loads(data["actions"])
    assert data["name"] == "Cancellations to a team" and data["trigger"] == "message_received"
    assert data["enabled"] == "on" and actions[0] == {"type": "assign_team", "team": None}
    assert "キャンセル" in json.loads(data["conditions"])["all"][0]["value"]
    with tenant_a.scope():
        assert not Rule.objects.exists()  # nothing saved by opening it
    # Saved as is, the editor asks for the team (on its row) and saves nothing
    refused = client.post(link, data)
    assert refused.status_code == 400
    errors = json.loads(refused.content.decode().split('id="rule-errors" type="application/json">')[1].split("<")[0])
    assert errors == {"actions.0.team": "Choose a team."}
    # With the team chosen, the dry run finds the ticket asking to cancel, and changes nothing
    actions[0]["team"] = team.pk
    data["actions"] = json.dumps(actions, ensure_ascii=False)
    dry = client.post(link, {**data, "dry_run": "1"}, headers={"HX-Request": "true"}).content.decode()
    assert "1 of the last 2 tickets would match" in dry and "キャンセル窓口" in dry and "cancellation" in dry
    # Saved, it is a rule like a hand-written one
    saved = client.post(link, data)
    assert saved.status_code == 302 and saved.url == _url(tenant_a, "settings/rules/")
    with tenant_a.scope():
        rule = Rule.objects.get()
        assert rule.name == "Cancellations to a team" and rule.enabled
        assert rule.actions == [
            {"type": "assign_team", "team": team.pk},
            {"type": "add_tags", "tags": ["cancellation"]},
        ]
        assert AuditEntry.objects.filter(action=AuditAction.RULE_CREATED, object_id=str(rule.pk)).exists()
    # And a customer who writes to cancel gets their ticket routed to the team and tagged
    message = _ingest(tenant_a, line, "注文をキャンセルしたいです", "tpl-new-1")
    other = _ingest(tenant_a, line, "商品の色を教えてください", "tpl-new-2")
    with tenant_a.scope():
        ticket = Ticket.objects.get(pk=message.ticket_id)
        assert ticket.team_id == team.pk
        assert list(ticket.tags.values_list("name", flat=True)) == ["cancellation"]
        assert RuleRun.objects.filter(ticket=ticket, rule=rule).count() == 1
        untouched = Ticket.objects.get(pk=other.ticket_id)
        assert untouched.team_id is None and not untouched.tags.exists()
    # Writing again about the cancellation does not route the ticket a second time
    _ingest(tenant_a, line, "キャンセルの件、どうなりましたか", "tpl-new-1")
    with tenant_a.scope():
        assert RuleRun.objects.filter(ticket=ticket, rule=rule).count() == 1
