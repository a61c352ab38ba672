"""What a customer message sets in motion at ingestion, in one transaction: language and sentiment, the rules, the
SLA clocks, the channel's auto-responses and the crisis check."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Membership
from automation.crisis import crisis_check
from automation.models import (
    AutomationSettings,
    AutoResponse,
    AutoResponseSent,
    BusinessCalendar,
    CrisisAlert,
    Rule,
    RuleRun,
    RuleTrigger,
    SlaPolicy,
)
from automation.rules.webhooks import automation_settings
from core.batch_reads import batch_reads
from core.models import Notification
from tickets.models import CannedResponse, CannedResponseVariant, Message, Ticket
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db


def ingest(tenant, conn, message):
    with tenant.scope():
        stored, _ = message_ingest(organization=tenant.organization, connection=conn, inbound=message)
        return Message.objects.select_related("ticket").get(pk=stored.pk)


def test_each_customer_message_gets_language_and_sentiment_rolled_up_to_the_ticket(tenant_a):
    conn = connection(tenant_a)
    first = ingest(tenant_a, conn, inbound("注文した商品がまだ届いていません。どうなっていますか？"))
    assert (first.language, first.sentiment) == ("ja", "negative") and first.sentiment_score < 0
    second = ingest(tenant_a, conn, inbound("Thank you so much, it arrived today. Great service!", thread="thread-1"))
    assert (second.language, second.sentiment) == ("en", "positive")
    with tenant_a.scope():
        ticket = Ticket.objects.get()
    assert ticket.language == "en"
    # the latest message weighs more, the complaint still counts
    assert first.sentiment_score < ticket.sentiment_score < second.sentiment_score


def test_created_and_received_rules_run_in_the_ingest_transaction(tenant_a):
    conn = connection(tenant_a)
    with tenant_a.scope():
        for name, trigger, tag in [
            ("new", RuleTrigger.TICKET_CREATED, "新規"),
            ("every", RuleTrigger.MESSAGE_RECEIVED, "受信"),
        ]:
            Rule.objects.create(
                organization=tenant_a.organization,
                name=name,
                trigger=trigger,
                conditions={"all": [{"field": "message.sentiment", "op": "in", "value": ["negative"]}]},
                actions=[{"type": "add_tags", "tags": [tag]}, {"type": "set_priority", "priority": "high"}],
            )
    message = ingest(tenant_a, conn, inbound("返金してください。対応が遅すぎます。"))
    ingest(tenant_a, conn, inbound("まだですか？困っています。"))
    with tenant_a.scope():
        ticket = Ticket.objects.get(pk=message.ticket_id)
        assert sorted(ticket.tags.values_list("name", flat=True)) == ["受信", "新規"]
        assert ticket.priority == "high"
        assert list(RuleRun.objects.order_by("pk").values_list("rule_name", flat=True)) == ["new", "every", "every"]


def test_the_sla_starts_with_the_ticket_and_a_rule_can_choose_the_policy(tenant_a):
    conn = connection(tenant_a)
    with tenant_a.scope():
        normal = SlaPolicy.objects.create(
            organization=tenant_a.organization, name="Normal", priority="normal", first_response_minutes=60
        )
        urgent = SlaPolicy.objects.create(
            organization=tenant_a.organization, name="VIP", priority="urgent", first_response_minutes=15
        )
        Rule.objects.create(
            organization=tenant_a.organization,
            name="vip",
            trigger=RuleTrigger.TICKET_CREATED,
            conditions={"all": [{"field": "message.text", "op": "contains_any", "value": ["至急"]}]},
            actions=[{"type": "set_priority", "priority": "urgent"}, {"type": "apply_sla", "policy": urgent.pk}],
        )
    plain = ingest(tenant_a, conn, inbound("営業時間を教えてください", thread="t1", author="A"))
    hurried = ingest(tenant_a, conn, inbound("至急お願いします", thread="t2", author="B"))
    with tenant_a.scope():
        plain_ticket = Ticket.objects.get(pk=plain.ticket_id)
        hurried_ticket = Ticket.objects.get(pk=hurried.ticket_id)
    assert plain_ticket.sla_policy_id == normal.pk
    assert plain_ticket.first_response_due_at == plain_ticket.created_at + timedelta(minutes=60)
    assert hurried_ticket.sla_policy_id == urgent.pk and hurried_ticket.priority == "urgent"
    assert hurried_ticket.first_response_due_at == hurried_ticket.created_at + timedelta(minutes=15)
    assert hurried_ticket.sla_check_at == hurried_ticket.first_response_due_at - timedelta(minutes=15)


def _auto_responses(tenant, conn, *, closed_calendar: bool):
    with tenant.scope():
        ack = CannedResponse.objects.create(organization=tenant.organization, title="ack", shortcut="ack")
        CannedResponseVariant.objects.create(
            organization=tenant.organization, response=ack, language="ja", body="お問い合わせありがとうございます。"
        )
        night = CannedResponse.objects.create(organization=tenant.organization, title="night", shortcut="night")
        CannedResponseVariant.objects.create(
            organization=tenant.organization,
            response=night,
            language="ja",
            body="ただいま営業時間外です。翌営業日にご連絡いたします。",
        )
        schedule = (
            {str(d): [] for d in range(1, 8)}
            if closed_calendar
            else {str(d): [["00:00", "00:00"]] for d in range(1, 8)}
        )
        calendar = BusinessCalendar.objects.create(
            organization=tenant.organization, name="cal", schedule=schedule, japanese_holidays=False, is_default=True
        )
        AutoResponse.objects.create(
            organization=tenant.organization, connection=conn, kind="first_contact", response=ack, window_hours=24
        )
        AutoResponse.objects.create(
            organization=tenant.organization,
            connection=conn,
            kind="out_of_hours",
            response=night,
            calendar=calendar,
            window_hours=12,
        )


def _automatic_replies(tenant):
    with tenant.scope():
        return list(Message.objects.filter(automated=True, kind__in=["direct", "email"]).values_list("text", flat=True))


def test_first_contact_is_acknowledged_once_per_window(tenant_a, simulator):
    conn = connection(tenant_a, platform="facebook")
    _auto_responses(tenant_a, conn, closed_calendar=False)
    ingest(tenant_a, conn, inbound("こんにちは", thread="t1"))
    ingest(tenant_a, conn, inbound("追加の質問です", thread="t1"))
    assert _automatic_replies(tenant_a) == ["お問い合わせありがとうございます。"]
    with tenant_a.scope():
        Ticket.objects.update(status="solved", solved_at=timezone.now() - timedelta(days=30))
    ingest(tenant_a, conn, inbound("別件です", thread="t1"))  # a new conversation, but within the window
    assert len(_automatic_replies(tenant_a)) == 1
    with tenant_a.scope():
        AutoResponseSent.objects.update(sent_at=timezone.now() - timedelta(hours=25))
        Ticket.objects.update(status="solved", solved_at=timezone.now() - timedelta(days=30))
    ingest(tenant_a, conn, inbound("また別件です", thread="t1"))
    assert len(_automatic_replies(tenant_a)) == 2


def test_out_of_hours_reply_replaces_the_acknowledgement_and_never_answers_comments(tenant_a, simulator):
    conn = connection(tenant_a, platform="facebook")
    _auto_responses(tenant_a, conn, closed_calendar=True)
    ingest(tenant_a, conn, inbound("夜分にすみません", thread="t1"))
    ingest(tenant_a, conn, inbound("この投稿の商品はまだありますか", thread="post-1", author="C2", kind="comment"))
    assert _automatic_replies(tenant_a) == ["ただいま営業時間外です。翌営業日にご連絡いたします。"]


def test_no_auto_response_to_our_own_accounts(tenant_a, simulator):
    conn = connection(tenant_a, platform="facebook")
    other = connection(tenant_a, platform="facebook")
    _auto_responses(tenant_a, conn, closed_calendar=False)
    ingest(tenant_a, conn, inbound("テスト送信", thread="t9", author=other.external_account_id))
    assert _automatic_replies(tenant_a) == []


def test_a_spike_of_negative_messages_alerts_the_managers_once(tenant_a):
    conn = connection(tenant_a)
    with tenant_a.scope():
        AutomationSettings.objects.create(
            organization=tenant_a.organization, crisis_threshold=3, crisis_window_minutes=10
        )
    complaints = [
        "最悪です。二度と買いません",
        "返金してください。がっかりしました",
        "対応が遅すぎます。困っています",
        "まだ届きません。どうなっているんですか",
    ]
    for i, text in enumerate(complaints):
        ingest(tenant_a, conn, inbound(text, thread=f"c{i}", author=f"U{i}"))
    with tenant_a.scope():
        alerts = list(CrisisAlert.objects.all())
        alerted = set(Notification.objects.filter(kind="crisis").values_list("user_id", flat=True))
        managers = set(
            Membership.objects.filter(role__key__in=["owner", "admin", "manager"]).values_list("user_id", flat=True)
        )
    assert len(alerts) == 1 and alerts[0].negative_count == 3
    assert alerted == managers


def test_the_crisis_check_costs_one_query_per_negative_message(tenant_a, django_assert_num_queries):
    """Whether the channel had an alert and, if not, how many negative messages it had: one statement."""
    conn = connection(tenant_a)
    with tenant_a.scope():
        AutomationSettings.objects.create(
            organization=tenant_a.organization, crisis_threshold=3, crisis_window_minutes=10
        )
    for i in range(2):
        message = ingest(tenant_a, conn, inbound("最悪です。二度と買いません", thread=f"n{i}", author=f"N{i}"))
    with tenant_a.scope(), batch_reads():
        automation_settings(tenant_a.organization)  # the settings are read once per batch, not per message
        ticket = Ticket.objects.get(pk=message.ticket_id)
        with django_assert_num_queries(1):
            assert crisis_check(organization=tenant_a.organization, ticket=ticket, message=message) is None
    third = ingest(tenant_a, conn, inbound("がっかりしました。最悪です", thread="n2", author="N2"))
    with tenant_a.scope(), batch_reads():
        assert CrisisAlert.objects.get().negative_count == 3
        automation_settings(tenant_a.organization)
        with django_assert_num_queries(1):  # an alert in the window: nothing counted …
            assert crisis_check(organization=tenant_a.organization, ticket=ticket, message=third) is None
        with django_assert_num_queries(0):  # … and, within the batch, not asked again
            assert crisis_check(organization=tenant_a.organization, ticket=ticket, message=third) is None


def test_a_calm_channel_raises_no_alert(tenant_a, tenant_b):
    conn = connection(tenant_a)
    with tenant_a.scope():
        AutomationSettings.objects.create(
            organization=tenant_a.organization, crisis_threshold=2, crisis_window_minutes=10
        )
    ingest(tenant_a, conn, inbound("最悪です。二度と買いません", thread="x1", author="X1"))
    ingest(tenant_a, conn, inbound("ありがとうございました！助かりました", thread="x2", author="X2"))
    other = connection(tenant_b)
    ingest(tenant_b, other, inbound("最悪です。二度と買いません", thread="y1", author="Y1"))  # another organization
    with tenant_a.scope():
        assert CrisisAlert.objects.count() == 0
