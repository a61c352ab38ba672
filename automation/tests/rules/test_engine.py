"""The rule engine on real tickets: order, stop processing, the why log, time-based rules acting once per state, and
every action through the real services."""

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from automation.models import Rule, RuleRun, RuleTrigger, WebhookCall, WebhookCallState
from automation.rules import engine
from automation.rules.webhooks import SIGNATURE_HEADER, webhook_deliver, webhook_secret
from core.models import Notification
from tickets.models import CannedResponse, CannedResponseVariant, Message, Survey, Ticket, TicketStatus
from tickets.services.changes import ticket_update
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db


def ticket_with(tenant, text="注文した商品が届きません", platform="line"):
    conn = connection(tenant, platform=platform)
    with tenant.scope():
        message, _ = message_ingest(organization=tenant.organization, connection=conn, inbound=inbound(text))
        return Ticket.objects.select_related("connection", "contact").get(pk=message.ticket_id), message


def rule(tenant, name, conditions, actions, trigger=RuleTrigger.MESSAGE_RECEIVED, position=0, **extra):
    with tenant.scope():
        return Rule.objects.create(
            organization=tenant.organization,
            name=name,
            trigger=trigger,
            conditions=conditions,
            actions=actions,
            position=position,
            **extra,
        )


def run(tenant, ticket, message=None, trigger=RuleTrigger.MESSAGE_RECEIVED, **kwargs):
    with tenant.scope():
        return engine.run_rules(
            organization=tenant.organization, trigger=trigger, ticket=ticket, message=message, **kwargs
        )


REFUND = {"all": [{"field": "message.text", "op": "contains_any", "value": ["返金", "届きません"]}]}
ALWAYS = {"all": []}


def test_matching_rules_act_in_order_and_log_why(tenant_a):
    ticket, message = ticket_with(tenant_a)
    rule(tenant_a, "urgent refunds", REFUND, [{"type": "set_priority", "priority": "urgent"}], position=1)
    rule(tenant_a, "tag", REFUND, [{"type": "add_tags", "tags": ["配送"]}], position=2)
    rule(tenant_a, "never", {"all": [{"field": "platform", "op": "in", "value": ["email"]}]}, [{"type": "mark_spam"}])
    runs = run(tenant_a, ticket, message)
    with tenant_a.scope():
        ticket.refresh_from_db()
        assert ticket.priority == "urgent"
        assert list(ticket.tags.values_list("name", flat=True)) == ["配送"]
        logged = list(RuleRun.objects.filter(ticket=ticket).values_list("rule_name", "actions"))
    assert [r.rule_name for r in runs] == ["urgent refunds", "tag"]
    assert logged == [
        ("urgent refunds", [{"type": "set_priority", "ok": True, "priority": "urgent"}]),
        ("tag", [{"type": "add_tags", "ok": True, "tags": ["配送"]}]),
    ]


def test_stop_processing_ends_the_pass_and_disabled_rules_do_nothing(tenant_a):
    ticket, message = ticket_with(tenant_a)
    rule(tenant_a, "off", ALWAYS, [{"type": "set_priority", "priority": "low"}], position=0, enabled=False)
    rule(tenant_a, "first", ALWAYS, [{"type": "set_priority", "priority": "high"}], position=1, stop_processing=True)
    rule(tenant_a, "second", ALWAYS, [{"type": "set_priority", "priority": "urgent"}], position=2)
    assert [r.rule_name for r in run(tenant_a, ticket, message)] == ["first"]
    with tenant_a.scope():
        assert Ticket.objects.get(pk=ticket.pk).priority == "high"


def test_later_rules_see_what_earlier_rules_changed(tenant_a):
    ticket, message = ticket_with(tenant_a)
    rule(tenant_a, "raise", REFUND, [{"type": "set_priority", "priority": "high"}], position=1)
    rule(
        tenant_a,
        "on high",
        {"all": [{"field": "ticket.priority", "op": "in", "value": ["high"]}]},
        [{"type": "add_tags", "tags": ["要確認"]}],
        position=2,
    )
    assert [r.rule_name for r in run(tenant_a, ticket, message)] == ["raise", "on high"]


def test_a_changed_rule_is_recompiled(tenant_a):
    ticket, message = ticket_with(tenant_a)
    r = rule(tenant_a, "r", {"all": [{"field": "platform", "op": "in", "value": ["email"]}]}, [{"type": "mark_spam"}])
    assert run(tenant_a, ticket, message) == []
    with tenant_a.scope():
        r.conditions = {"all": [{"field": "platform", "op": "in", "value": ["line"]}]}
        r.actions = [{"type": "add_tags", "tags": ["line"]}]
        r.save()
    assert [x.rule_name for x in run(tenant_a, ticket, message)] == ["r"]


def test_rules_of_another_organization_never_run(tenant_a, tenant_b):
    ticket, message = ticket_with(tenant_a)
    rule(tenant_b, "b's", ALWAYS, [{"type": "set_priority", "priority": "urgent"}])
    assert run(tenant_a, ticket, message) == []


def test_ticket_updated_rules_see_the_changed_fields_and_do_not_loop(tenant_a):
    ticket, _ = ticket_with(tenant_a)
    rule(
        tenant_a,
        "pending needs a tag",
        {"all": [{"field": "ticket.changed", "op": "contains_any", "value": ["status"]}]},
        # its own change (status again) must not run it a second time
        [{"type": "add_tags", "tags": ["待ち"]}, {"type": "set_status", "status": "on_hold"}],
        trigger=RuleTrigger.TICKET_UPDATED,
    )
    with tenant_a.scope():
        ticket_update(
            organization=tenant_a.organization, actor=tenant_a.users["agent"], ticket=ticket, status="pending"
        )
        ticket.refresh_from_db()
        assert ticket.status == "on_hold"
        assert RuleRun.objects.filter(ticket=ticket).count() == 1
        ticket_update(organization=tenant_a.organization, actor=tenant_a.users["agent"], ticket=ticket, priority="high")
        assert RuleRun.objects.filter(ticket=ticket).count() == 1  # priority is not status


def test_time_based_rule_acts_once_per_ticket_state(tenant_a):
    ticket, _ = ticket_with(tenant_a)
    with tenant_a.scope():
        Ticket.objects.filter(pk=ticket.pk).update(
            status=TicketStatus.PENDING, status_changed_at=timezone.now() - timedelta(hours=49)
        )
    rule(
        tenant_a,
        "pending 48h",
        {
            "all": [
                {"field": "ticket.status", "op": "in", "value": ["pending"]},
                {"field": "ticket.minutes_in_status", "op": "gt", "value": 48 * 60},
            ]
        },
        [{"type": "set_status", "status": "solved"}],
        trigger=RuleTrigger.SCHEDULED,
    )
    rule(
        tenant_a,
        "unassigned 10 min",
        {
            "all": [
                {"field": "ticket.assignee", "op": "is_not_set"},
                {"field": "ticket.minutes_since_created", "op": "gt", "value": 10},
            ]
        },
        [{"type": "add_tags", "tags": ["放置"]}],
        trigger=RuleTrigger.SCHEDULED,
        position=1,
    )
    later = timezone.now() + timedelta(minutes=11)
    with tenant_a.scope():
        # both rules act in one pass on the first ticket (the second sees the ticket as the first left it)
        assert engine.run_scheduled_rules(organization=tenant_a.organization, now=later) == 2
        ticket.refresh_from_db()
        assert ticket.status == TicketStatus.SOLVED
        assert engine.run_scheduled_rules(organization=tenant_a.organization, now=later) == 0
    other, _ = ticket_with(tenant_a, "こんにちは")
    with tenant_a.scope():
        assert engine.run_scheduled_rules(organization=tenant_a.organization, now=later) == 1
        assert engine.run_scheduled_rules(organization=tenant_a.organization, now=later + timedelta(minutes=5)) == 0
        assert list(Ticket.objects.get(pk=other.pk).tags.values_list("name", flat=True)) == ["放置"]


# --- actions ----------------------------------------------------------------------------------------------------


def test_assign_agent_notifies_them_as_automation(tenant_a):
    ticket, message = ticket_with(tenant_a)
    agent = tenant_a.users["owner"]  # the owner sees every channel
    rule(tenant_a, "to owner", ALWAYS, [{"type": "assign_agent", "user": agent.pk}])
    runs = run(tenant_a, ticket, message)
    with tenant_a.scope():
        assert Ticket.objects.get(pk=ticket.pk).assignee_id == agent.pk
        notification = Notification.objects.get(user=agent)
    assert runs[0].actions == [{"type": "assign_agent", "ok": True, "user": agent.pk}]
    assert notification.params["automated"] == "True" and "actor" not in notification.params
    assert notification.params["rule"] == "to owner"
    from django.utils import translation

    # The rule is named, no one is called さん (issue 16, part 3).
    with translation.override("ja"):
        assert notification.text == f"ルール『to owner』により #{ticket.number} があなたに割り当てられました"
    with translation.override("en"):
        assert notification.text == f"Rule “to owner” assigned #{ticket.number} to you"


def test_assign_agent_who_cannot_see_the_channel_is_logged_as_not_done(tenant_a):
    ticket, message = ticket_with(tenant_a)
    editor = tenant_a.users["editor"]  # no ticket access
    rule(
        tenant_a,
        "to editor",
        ALWAYS,
        [{"type": "assign_agent", "user": editor.pk}, {"type": "add_tags", "tags": ["x"]}],
    )
    runs = run(tenant_a, ticket, message)
    with tenant_a.scope():
        assert Ticket.objects.get(pk=ticket.pk).assignee_id is None
    assert runs[0].actions[0]["ok"] is False and "cannot see" in runs[0].actions[0]["error"]
    assert runs[0].actions[1]["ok"] is True  # the other actions still ran


def test_status_tags_note_and_spam(tenant_a):
    ticket, message = ticket_with(tenant_a)
    rule(
        tenant_a,
        "r",
        REFUND,
        [
            {"type": "add_tags", "tags": ["a", "b"]},
            {"type": "remove_tags", "tags": ["a"]},
            {"type": "set_status", "status": "open"},
            {"type": "add_note", "text": "VIPのお客様です。丁寧に対応してください。"},
        ],
    )
    run(tenant_a, ticket, message)
    with tenant_a.scope():
        ticket.refresh_from_db()
        assert ticket.status == "open" and ticket.status_changed_at is not None
        assert list(ticket.tags.values_list("name", flat=True)) == ["b"]
        note = Message.objects.get(ticket=ticket, kind="note")
        assert note.automated and note.author_user_id is None and note.text.startswith("VIP")
    second, message2 = ticket_with(tenant_a, "今すぐ儲かる副業！")
    rule(
        tenant_a,
        "spam",
        {"all": [{"field": "message.text", "op": "contains_any", "value": ["儲かる"]}]},
        [{"type": "mark_spam"}],
    )
    run(tenant_a, second, message2)
    with tenant_a.scope():
        second.refresh_from_db()
        assert second.status == TicketStatus.CLOSED
        assert list(second.tags.values_list("name", flat=True)) == ["spam"]


def test_notify_members_teams_and_assignee_once_each(tenant_a):
    ticket, message = ticket_with(tenant_a)
    manager, agent = tenant_a.users["manager"], tenant_a.users["agent"]
    from accounts import services as account_services

    with tenant_a.scope():
        team = account_services.team_create(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], name="Support", description=""
        )
        team.group.user_set.add(agent, manager)
        Ticket.objects.filter(pk=ticket.pk).update(assignee=agent)
        ticket.refresh_from_db()
    rule(tenant_a, "tell", ALWAYS, [{"type": "notify", "users": [manager.pk], "teams": [team.pk], "assignee": True}])
    run(tenant_a, ticket, message)
    with tenant_a.scope():
        kinds = sorted(Notification.objects.values_list("user_id", "kind", "params__rule"))
    assert kinds == sorted([(manager.pk, "rule", "tell"), (agent.pk, "rule", "tell")])


def test_auto_reply_sends_the_canned_text_in_the_customers_language(tenant_a, simulator):
    ticket, message = ticket_with(tenant_a, platform="facebook")
    with tenant_a.scope():
        canned = CannedResponse.objects.create(organization=tenant_a.organization, title="ack", shortcut="ack")
        CannedResponseVariant.objects.create(
            organization=tenant_a.organization,
            response=canned,
            language="ja",
            body="{{contact.name}}様、お問い合わせありがとうございます。",
        )
        Ticket.objects.filter(pk=ticket.pk).update(last_customer_message_at=timezone.now())
        ticket.refresh_from_db()
    rule(tenant_a, "ack", ALWAYS, [{"type": "auto_reply", "response": canned.pk}])
    runs = run(tenant_a, ticket, message)
    with tenant_a.scope():
        reply = Message.objects.get(ticket=ticket, direction="outbound")
        ticket.refresh_from_db()
    assert runs[0].actions[0]["ok"] is True, runs[0].actions
    assert reply.automated and reply.author_user_id is None
    assert reply.text == "山田 花子様、お問い合わせありがとうございます。"
    assert ticket.first_response_at is None  # an automatic reply is not the agent's response


# --- webhooks ---------------------------------------------------------------------------------------------------


class Receiver:
    """A real HTTP endpoint on loopback that answers with the given statuses in turn and keeps what it got."""

    def __init__(self, statuses):
        self.statuses = list(statuses)
        self.requests = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self):
        self.server.shutdown()


@pytest.fixture
def receiver():
    made = []

    def make(*statuses):
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for r in made:
        r.close()


def _call_for(tenant, ticket, message, url):
    rule(tenant, "hook", ALWAYS, [{"type": "webhook", "url": url}])
    run(tenant, ticket, message)
    with tenant.scope():
        return WebhookCall.objects.get()


def test_webhook_is_signed_and_retried_on_server_errors(tenant_a, receiver):
    ticket, message = ticket_with(tenant_a)
    endpoint = receiver(500, 503, 200)
    call = _call_for(tenant_a, ticket, message, endpoint.url)
    with tenant_a.scope():
        secret = webhook_secret(tenant_a.organization)
        waits = [webhook_deliver(organization=tenant_a.organization, call_id=call.pk) for _ in range(3)]
        call.refresh_from_db()
    assert waits[0] > 0 and waits[1] > waits[0] and waits[2] is None
    assert (call.state, call.attempts, call.last_status_code) == (WebhookCallState.SUCCEEDED, 3, 200)
    headers, body = endpoint.requests[-1]
    timestamp, signature = (part.split("=", 1)[1] for part in headers[SIGNATURE_HEADER].split(","))
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected)
    payload = json.loads(body)
    assert payload["ticket"]["number"] == ticket.number and payload["rule"]["name"] == "hook"


def test_webhook_is_not_retried_when_the_receiver_refuses_it(tenant_a, receiver):
    ticket, message = ticket_with(tenant_a)
    endpoint = receiver(400)
    call = _call_for(tenant_a, ticket, message, endpoint.url)
    with tenant_a.scope():
        assert webhook_deliver(organization=tenant_a.organization, call_id=call.pk) is None
        call.refresh_from_db()
    assert (call.state, call.attempts, call.last_status_code) == (WebhookCallState.FAILED, 1, 400)


def test_webhook_to_a_closed_port_is_retried_then_fails(tenant_a):
    ticket, message = ticket_with(tenant_a)
    call = _call_for(tenant_a, ticket, message, "http://127.0.0.1:9/hook")
    with tenant_a.scope():
        for _ in range(6):
            webhook_deliver(organization=tenant_a.organization, call_id=call.pk)
        call.refresh_from_db()
        assert webhook_deliver(organization=tenant_a.organization, call_id=call.pk) is None
    assert (call.state, call.attempts) == (WebhookCallState.FAILED, 6)
    assert "ConnectionError" in call.last_error


def test_private_addresses_are_refused_outside_development(settings):
    from automation.rules.url_check import url_problem

    settings.RULE_WEBHOOKS_ALLOW_PRIVATE = False
    assert url_problem("http://127.0.0.1:8000/x")
    assert url_problem("http://10.0.0.5/x")
    assert url_problem("ftp://example.com/x")
    assert url_problem("https://user:pw@example.com/x")
    settings.RULE_WEBHOOKS_ALLOW_PRIVATE = True
    assert url_problem("http://127.0.0.1:8000/x") == ""


def test_rule_changes_never_cross_tenants_through_the_cache(tenant_a, tenant_b):
    ticket_a, message_a = ticket_with(tenant_a)
    ticket_b, message_b = ticket_with(tenant_b)
    rule(tenant_a, "a", ALWAYS, [{"type": "add_tags", "tags": ["a"]}])
    rule(tenant_b, "b", ALWAYS, [{"type": "add_tags", "tags": ["b"]}])
    assert [r.rule_name for r in run(tenant_a, ticket_a, message_a)] == ["a"]
    assert [r.rule_name for r in run(tenant_b, ticket_b, message_b)] == ["b"]


def _team(tenant, name, *members, strategy="round_robin"):
    from accounts import services as account_services
    from core import presence

    with tenant.scope():
        team = account_services.team_create(
            organization=tenant.organization, actor=tenant.users["owner"], name=name, members=list(members)
        )
        team.assignment_strategy = strategy
        team.save(update_fields=["assignment_strategy"])
    for user in members:
        presence.online_touch(tenant.organization.pk, user.pk, f"tab-{user.pk}")
    return team


def test_route_to_team_assigns_by_its_strategy(tenant_a):
    ticket, message = ticket_with(tenant_a)
    manager = tenant_a.users["manager"]  # sees every channel, works tickets
    team = _team(tenant_a, "Support", manager)
    rule(tenant_a, "route", ALWAYS, [{"type": "assign_team", "team": team.pk}])
    runs = run(tenant_a, ticket, message)
    with tenant_a.scope():
        ticket.refresh_from_db()
    assert (ticket.team_id, ticket.assignee_id) == (team.pk, manager.pk)
    assert runs[0].actions == [{"type": "assign_team", "ok": True, "team": team.pk, "user": manager.pk}]


def test_escalate_moves_the_ticket_to_the_team_with_the_priority(tenant_a):
    ticket, message = ticket_with(tenant_a)
    owner, manager = tenant_a.users["owner"], tenant_a.users["manager"]
    with tenant_a.scope():
        Ticket.objects.filter(pk=ticket.pk).update(assignee=owner)
        ticket.refresh_from_db()
    seniors = _team(tenant_a, "Seniors", manager)
    rule(
        tenant_a,
        "escalate angry customers",
        {"all": [{"field": "message.text", "op": "contains_any", "value": ["届きません"]}]},
        [{"type": "escalate", "team": seniors.pk, "priority": "urgent"}],
    )
    run(tenant_a, ticket, message)
    with tenant_a.scope():
        ticket.refresh_from_db()
    assert (ticket.team_id, ticket.priority, ticket.assignee_id) == (seniors.pk, "urgent", manager.pk)


def test_every_action_type_is_tested_here():
    import inspect
    import sys

    from automation.rules.schema import ACTIONS
    from automation.tests import test_hooks

    source = inspect.getsource(sys.modules[__name__]) + inspect.getsource(test_hooks)
    assert [kind for kind in ACTIONS if f'"type": "{kind}"' not in source] == []


def test_skip_survey_records_a_skip_for_the_next_solve(tenant_a):
    ticket, message = ticket_with(tenant_a)
    rule(tenant_a, "no survey", ALWAYS, [{"type": "skip_survey"}])
    [ran] = run(tenant_a, ticket, message)
    with tenant_a.scope():
        [survey] = Survey.objects.filter(ticket=ticket)
    assert ran.actions[0]["ok"] and ran.actions[0]["survey"] == survey.pk
    assert (survey.state, survey.reason, survey.solve_event_id) == ("skipped", "no survey", None)


def test_a_passs_tag_changes_are_written_together_with_the_outcome_of_their_order(tenant_a):
    """The tag actions of one pass are written in one go, with the result the actions give one after the other:
    for each tag, the last action naming it decides (a tag added then removed is gone, removed then added stays);
    a later rule sees the earlier rules' tags; a tag action after "mark as spam" still applies."""
    from django.db import connection as db_connection
    from django.test.utils import CaptureQueriesContext

    from tickets.models import TicketEvent, TicketEventKind

    ticket, message = ticket_with(tenant_a)
    with tenant_a.scope():
        ticket_update(organization=tenant_a.organization, actor=None, ticket=ticket, tags=["old", "kept"])
    rule(tenant_a, "t1", REFUND, [{"type": "add_tags", "tags": ["a", "b", "gone"]}], position=1)
    rule(tenant_a, "t2", REFUND, [{"type": "remove_tags", "tags": ["gone", "old", "back"]}], position=2)
    rule(tenant_a, "t3", REFUND, [{"type": "set_priority", "priority": "high"}], position=3)
    rule(
        tenant_a,
        "t4",
        {"all": [{"field": "ticket.tags", "op": "contains_any", "value": ["b"]}]},
        [{"type": "add_tags", "tags": ["back"]}, {"type": "remove_tags", "tags": ["a"]}],
        position=4,
    )
    for n in range(5, 10):  # more tag rules add no statement
        rule(tenant_a, f"t{n}", REFUND, [{"type": "add_tags", "tags": [f"x{n}"]}], position=n)
    with tenant_a.scope():
        events_before = TicketEvent.objects.filter(ticket=ticket, kind=TicketEventKind.TAGS).count()
        ticket = Ticket.objects.select_related("connection", "contact").get(pk=ticket.pk)
    with CaptureQueriesContext(db_connection) as captured:
        runs = run(tenant_a, ticket, message)
    assert [r.rule_name for r in runs] == ["t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9"]
    with tenant_a.scope():
        ticket.refresh_from_db()
        assert sorted(ticket.tags.values_list("name", flat=True)) == ["b", "back", "kept", "x5", "x6", "x7", "x8", "x9"]
        assert ticket.priority == "high"
        assert TicketEvent.objects.filter(ticket=ticket, kind=TicketEventKind.TAGS).count() == events_before + 1
        logged = dict(RuleRun.objects.filter(ticket=ticket).values_list("rule_name", "actions"))
    assert logged["t2"] == [{"type": "remove_tags", "ok": True, "tags": ["gone", "old", "back"]}]
    assert logged["t4"] == [
        {"type": "add_tags", "ok": True, "tags": ["back"]},
        {"type": "remove_tags", "ok": True, "tags": ["a"]},
    ]
    # The facts' read of the tags, then one read and one savepoint for all nine rules' tag changes (not one each).
    tag_reads = [q for q in captured.captured_queries if 'INNER JOIN "tickets_ticket_tags"' in q["sql"]]
    assert len(tag_reads) == 2
    assert len([q for q in captured.captured_queries if q["sql"].startswith("SAVEPOINT")]) == 2  # tags, priority

    second, message2 = ticket_with(tenant_a, "今すぐ儲かる副業！")
    rule(tenant_a, "tag first", {"all": []}, [{"type": "add_tags", "tags": ["first"]}], position=20)
    rule(tenant_a, "spam", {"all": []}, [{"type": "mark_spam"}, {"type": "add_tags", "tags": ["after"]}], position=21)
    run(tenant_a, second, message2)
    with tenant_a.scope():
        second.refresh_from_db()
        assert second.status == TicketStatus.CLOSED
        assert sorted(second.tags.values_list("name", flat=True)) == ["after", "first", "spam"]


def test_a_tag_change_that_cannot_be_written_is_logged_alone_and_the_others_apply(tenant_a, monkeypatch):
    """Should the pass's tag changes fail together, each action is performed on its own: the one that fails is
    logged as not done, the others apply."""
    from automation.rules import actions

    ticket, message = ticket_with(tenant_a)
    rule(tenant_a, "good", REFUND, [{"type": "add_tags", "tags": ["good"]}], position=1)
    rule(tenant_a, "bad", REFUND, [{"type": "add_tags", "tags": ["bad"]}], position=2)
    real = actions._update

    def failing(organization, ticket, **change):
        if "bad" in change.get("tags_add", ()):
            raise ValueError("cannot store this tag")
        return real(organization, ticket, **change)

    monkeypatch.setattr(actions, "_update", failing)
    run(tenant_a, ticket, message)
    with tenant_a.scope():
        assert list(ticket.tags.values_list("name", flat=True)) == ["good"]
        logged = dict(RuleRun.objects.filter(ticket=ticket).values_list("rule_name", "actions"))
    assert logged["good"] == [{"type": "add_tags", "ok": True, "tags": ["good"]}]
    assert logged["bad"] == [{"type": "add_tags", "ok": False, "tags": ["bad"], "error": "ValueError"}]
