"""Rule evaluation with 200 active rules: how long deciding which rules apply to one customer message takes.

An organization gets 200 enabled "customer message received" rules of realistic shapes (keyword lists in Japanese
and English, RE2 patterns, nested any/all groups over channel, language, sentiment, contact tags and attributes,
ticket fields, business hours); none of their actions is run. Measured per message, on a pool of Japanese and
English messages:

* `rules.evaluate`: the compiled rules over the message's facts (what the engine does for every message);
* `rules.run_rules`: the engine's whole pass inside a transaction on a real ticket, i.e. the compiled-set check
  (one query), loading the facts the rules need (contact, tags, first contact, business hours) and evaluating.

Smoke mode (`python -m bench --smoke`): 20 rules (every shape), 20 messages.
"""

import os
import random
import statistics
import time

from django.db import transaction
from django_scopes import scope, scopes_disabled

SMOKE = os.environ.get("BENCH_SMOKE") == "1"
RULES = 20 if SMOKE else 200
MESSAGES = 20 if SMOKE else 400

KEYWORDS = [
    ["返金", "refund"],
    ["届かない", "届いていません", "not arrived", "where is my order"],
    ["キャンセル", "cancel"],
    ["解約", "unsubscribe", "退会"],
    ["壊れ", "破損", "damaged", "broken"],
    ["請求", "二重", "charged twice", "invoice"],
    ["ログイン", "パスワード", "password", "log in"],
    ["クーポン", "coupon", "割引"],
    ["至急", "急ぎ", "urgent", "asap"],
    ["弁護士", "消費者センター", "lawyer"],
]
PATTERNS = [r"注文番号[:：]?\s*\d{6}", r"(?i)order\s*#?\d{5,}", r"\d{3}-\d{4}-\d{4}", r"(?i)\bvip\b", r"[!！]{2,}"]
TEXTS = [
    "注文した商品がまだ届いていません。至急確認してください。注文番号 123456",
    "返品・交換の方法を教えてください。",
    "請求書の金額が間違っているようです。二重に請求されています！！",
    "パスワードを忘れてログインできません。",
    "いつも迅速な対応ありがとうございます！",
    "Where is my refund? It has been two weeks. Order #88231",
    "My order arrived damaged, please send a replacement.",
    "Can I cancel my subscription online?",
    "Thanks for the quick help yesterday!",
    "営業時間を教えてください",
]


def _rule_shapes(rng: random.Random, connection_ids: list[int]) -> list[dict]:
    shapes = []
    for i in range(RULES):
        words = rng.choice(KEYWORDS)
        kind = i % 5
        if kind == 0:
            conditions = {"all": [{"field": "message.text", "op": "contains_any", "value": words}]}
        elif kind == 1:
            conditions = {
                "all": [
                    {"field": "channel", "op": "in", "value": rng.sample(connection_ids, 1)},
                    {"field": "message.text", "op": "matches", "value": rng.choice(PATTERNS)},
                ]
            }
        elif kind == 2:
            conditions = {
                "any": [
                    {
                        "all": [
                            {"field": "message.language", "op": "in", "value": ["en"]},
                            {"field": "message.sentiment", "op": "in", "value": ["negative"]},
                        ]
                    },
                    {"field": "contact.tags", "op": "contains_any", "value": ["vip", f"segment-{i}"]},
                    {"field": "contact.attribute", "key": "plan", "op": "eq", "value": "gold"},
                ]
            }
        elif kind == 3:
            conditions = {
                "all": [
                    {"field": "ticket.status", "op": "in", "value": ["new", "open"]},
                    {"field": "ticket.tags", "op": "contains_none", "value": ["spam"]},
                    {"field": "business_hours", "op": "outside"},
                    {"field": "message.text", "op": "contains_all", "value": words[:2]},
                ]
            }
        else:
            conditions = {
                "all": [
                    {"field": "platform", "op": "in", "value": ["facebook", "instagram", "email"]},
                    {"field": "contact.first_contact", "op": "is", "value": True},
                    {"field": "message.kind", "op": "in", "value": ["direct", "email"]},
                    {"field": "message.text", "op": "contains_any", "value": words + [f"キーワード{i}"]},
                ]
            }
        shapes.append(conditions)
    return shapes


def _seed():
    from accounts import services as account_services
    from accounts.models import Organization, User
    from automation.models import BusinessCalendar, Rule, RuleTrigger
    from channels_integrations.models import ChannelConnection

    with scopes_disabled():
        organization = Organization.objects.filter(slug="bench-rules").first()
    if organization is None:
        owner = User.objects.filter(email="owner@bench-rules.example").first() or User.objects.create_user(
            "owner@bench-rules.example", "bench-password-123", name="Bench Rules"
        )
        organization = account_services.organization_create(name="Bench Rules", slug="bench-rules", owner=owner)
    with scope(organization=organization):
        connections = list(ChannelConnection.objects.all())
        if not connections:
            connections = [
                ChannelConnection.objects.create(
                    organization=organization, platform=p, display_name=f"{p} bench", external_account_id=f"bench-{p}"
                )
                for p in ("facebook", "instagram", "email")
            ]
        if not BusinessCalendar.objects.exists():
            BusinessCalendar.objects.create(organization=organization, name="平日", is_default=True)
        if Rule.objects.count() != RULES:
            Rule.objects.all().delete()
            rng = random.Random(5)
            Rule.objects.bulk_create(
                Rule(
                    organization=organization,
                    name=f"rule {i}",
                    trigger=RuleTrigger.MESSAGE_RECEIVED,
                    conditions=conditions,
                    actions=[{"type": "add_tags", "tags": [f"r{i}"]}],
                    position=i,
                )
                for i, conditions in enumerate(_rule_shapes(rng, [c.pk for c in connections]))
            )
    return organization, connections


def _percentiles(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), statistics.quantiles(values, n=20)[18]


def run() -> list[dict]:
    from automation.models import RuleTrigger
    from automation.rules import engine
    from automation.rules.compiler import Facts
    from channels_integrations.inbound import InboundMessage
    from tickets.models import Message, Ticket
    from tickets.services.ingest import message_ingest

    organization, connections = _seed()
    rng = random.Random(11)
    with scope(organization=organization):
        ruleset = engine.ruleset(organization)
        rules = ruleset.rules(RuleTrigger.MESSAGE_RECEIVED)
        assert len(rules) == RULES, len(rules)
        # 1. the compiled rules over facts
        evaluate_ms = []
        matched = 0
        from django.utils import timezone

        for i in range(MESSAGES * 5):
            text = f"{rng.choice(TEXTS)} {rng.choice(['', '🙏', 'よろしくお願いします'])}"
            facts = Facts(
                now=timezone.now(),
                connection_id=rng.choice(connections).pk,
                platform=rng.choice(["facebook", "instagram", "email"]),
                status="new",
                priority="normal",
                created_at=timezone.now(),
                contact_tags=frozenset(rng.sample(["vip", "segment-3", "常連"], 1)),
                attributes={"plan": rng.choice(["gold", "free"])},
                first_contact=bool(i % 2),
                in_business_hours=bool(i % 3),
                has_message=True,
                message_kind="direct",
                text=text,
                language="ja" if any(ord(c) > 0x3000 for c in text) else "en",
                sentiment=rng.choice(["negative", "neutral", "positive"]),
            )
            started = time.perf_counter()
            matched += sum(1 for rule in rules if rule.matches(facts))
            evaluate_ms.append((time.perf_counter() - started) * 1000)
        # 2. the engine's pass on real tickets (no rule actions: the pass is rolled back)
        run_ms = []
        for i in range(MESSAGES):
            with transaction.atomic():
                message, _ = message_ingest(
                    organization=organization,
                    connection=connections[i % len(connections)],
                    inbound=InboundMessage(
                        platform_message_id=f"bench-{time.time_ns()}-{i}",
                        thread_key=f"bench-thread-{i}",
                        kind="direct",
                        author_id=f"bench-customer-{i % 50}",
                        author_name="ベンチ 太郎",
                        text=rng.choice(TEXTS),
                    ),
                )
                ticket = Ticket.objects.select_related("connection", "contact").get(pk=message.ticket_id)
                message = Message.objects.get(pk=message.pk)
                needed = frozenset().union(*(rule.fields for rule in rules))
                started = time.perf_counter()
                facts = engine.build_facts(organization=organization, ticket=ticket, message=message, needed=needed)
                engine.ruleset(organization)
                hits = [rule for rule in rules if rule.matches(facts)]
                run_ms.append((time.perf_counter() - started) * 1000)
                transaction.set_rollback(True)
        del hits
    e50, e95 = _percentiles(evaluate_ms)
    r50, r95 = _percentiles(run_ms)
    average = matched / len(evaluate_ms)
    detail = f"{RULES} enabled rules; {len(evaluate_ms)} messages; {average:.1f} rules match a message on average"
    return [
        {
            "name": "rules.evaluate.p50",
            "value": round(e50, 3),
            "unit": "ms",
            "target": None,
            "ok": True,
            "detail": detail,
        },
        {
            "name": "rules.evaluate.p95",
            "value": round(e95, 3),
            "unit": "ms",
            "target": 1.0,
            "ok": e95 <= 1.0,
            "detail": detail,
        },
        {
            "name": "rules.run_rules.p95",
            "value": round(r95, 3),
            "unit": "ms",
            "target": None,
            "ok": True,
            "detail": f"p50 {r50:.3f} ms; facts loaded from the database (contact, tags, first contact, business "
            f"hours) + compiled-set check + evaluation; {len(run_ms)} tickets",
        },
    ]
