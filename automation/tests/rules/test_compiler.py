"""Every condition field and operator of the rule engine, nested groups, and validation — on plain Facts (no database),
plus property-based tests: the compiled evaluator agrees with a plain reference evaluation on random rules and facts."""

import re
import unicodedata
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from automation.rules.compiler import Facts, compile_conditions, fields_used
from automation.rules.schema import FIELDS, RuleInvalid, compile_pattern, validate_rule

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def facts(**overrides) -> Facts:
    base = dict(
        now=NOW,
        connection_id=7,
        platform="facebook",
        status="new",
        priority="normal",
        created_at=NOW - timedelta(minutes=30),
        has_message=True,
        message_kind="direct",
        text="注文した商品がまだ届いていません。返金してください",
        language="ja",
        sentiment="negative",
    )
    base.update(overrides)
    return Facts(**base)


def holds(condition: dict, **overrides) -> bool:
    conditions, _ = validate_rule(
        trigger="message_received", conditions={"all": [condition]}, actions=[{"type": "mark_spam"}], refs=None
    )
    return compile_conditions(conditions)(facts(**overrides))


CASES = [
    # (condition, fact overrides, expected)
    ({"field": "channel", "op": "in", "value": [7, 8]}, {}, True),
    ({"field": "channel", "op": "not_in", "value": [7]}, {}, False),
    ({"field": "platform", "op": "in", "value": ["instagram", "facebook"]}, {}, True),
    ({"field": "platform", "op": "not_in", "value": ["facebook"]}, {}, False),
    ({"field": "message.kind", "op": "in", "value": ["comment", "mention"]}, {}, False),
    ({"field": "message.kind", "op": "in", "value": ["comment"]}, {"message_kind": "comment"}, True),
    ({"field": "message.kind", "op": "not_in", "value": ["email"]}, {}, True),
    ({"field": "message.text", "op": "contains_any", "value": ["返金", "refund"]}, {}, True),
    ({"field": "message.text", "op": "contains_any", "value": ["キャンセル"]}, {}, False),
    ({"field": "message.text", "op": "contains_all", "value": ["届いて", "返金"]}, {}, True),
    ({"field": "message.text", "op": "contains_all", "value": ["届いて", "キャンセル"]}, {}, False),
    ({"field": "message.text", "op": "contains_none", "value": ["ありがとう"]}, {}, True),
    ({"field": "message.text", "op": "contains_none", "value": ["返金"]}, {}, False),
    # full-width and half-width forms match (NFKC), case does not matter
    ({"field": "message.text", "op": "contains_any", "value": ["refund"]}, {"text": "ＲＥＦＵＮＤ please"}, True),
    ({"field": "message.text", "op": "contains_any", "value": ["キャンセル"]}, {"text": "ｷｬﾝｾﾙしたい"}, True),
    # Latin keywords are whole words; Japanese keywords need no spaces
    ({"field": "message.text", "op": "contains_any", "value": ["ok"]}, {"text": "I booked a room"}, False),
    ({"field": "message.text", "op": "contains_any", "value": ["ok"]}, {"text": "ok, thanks"}, True),
    ({"field": "message.text", "op": "contains_any", "value": ["refund"]}, {"text": "refundをお願いします"}, True),
    ({"field": "message.text", "op": "contains_any", "value": ["credit card"]}, {"text": "My Credit  Card"}, False),
    ({"field": "message.text", "op": "contains_any", "value": ["credit card"]}, {"text": "my credit card was"}, True),
    (
        {"field": "message.text", "op": "matches", "value": r"注文番号[:：]?\s*\d{6}"},
        {"text": "注文番号：123456"},
        True,
    ),
    ({"field": "message.text", "op": "matches", "value": r"^\d+$"}, {}, False),
    ({"field": "message.text", "op": "not_matches", "value": r"^\d+$"}, {}, True),
    ({"field": "message.language", "op": "in", "value": ["ja"]}, {}, True),
    ({"field": "message.language", "op": "not_in", "value": ["ja", "en"]}, {}, False),
    ({"field": "message.sentiment", "op": "in", "value": ["negative"]}, {}, True),
    ({"field": "message.sentiment", "op": "not_in", "value": ["negative"]}, {}, False),
    ({"field": "message.email_authentication", "op": "in", "value": ["fail"]}, {"email_authentication": "fail"}, True),
    ({"field": "message.email_authentication", "op": "not_in", "value": ["pass"]}, {}, True),
    ({"field": "ticket.sentiment", "op": "in", "value": ["positive"]}, {"ticket_sentiment": "positive"}, True),
    (
        {"field": "contact.tags", "op": "contains_any", "value": ["VIP顧客", "x"]},
        {"contact_tags": frozenset({"vip顧客"})},
        True,
    ),
    ({"field": "contact.tags", "op": "contains_all", "value": ["a", "b"]}, {"contact_tags": frozenset({"a"})}, False),
    ({"field": "contact.tags", "op": "contains_none", "value": ["blocked"]}, {}, True),
    ({"field": "contact.vip", "op": "is", "value": True}, {"vip": True}, True),
    ({"field": "contact.vip", "op": "is", "value": True}, {}, False),
    (
        {"field": "contact.attribute", "key": "plan", "op": "eq", "value": "Gold"},
        {"attributes": {"plan": "gold"}},
        True,
    ),
    (
        {"field": "contact.attribute", "key": "plan", "op": "ne", "value": "gold"},
        {"attributes": {"plan": "gold"}},
        False,
    ),
    (
        {"field": "contact.attribute", "key": "plan", "op": "contains", "value": "old"},
        {"attributes": {"plan": "gold"}},
        True,
    ),
    ({"field": "contact.attribute", "key": "plan", "op": "exists"}, {"attributes": {"plan": "gold"}}, True),
    ({"field": "contact.attribute", "key": "plan", "op": "exists"}, {"attributes": {"plan": ""}}, False),
    ({"field": "contact.attribute", "key": "plan", "op": "not_exists"}, {}, True),
    ({"field": "contact.first_contact", "op": "is", "value": True}, {"first_contact": True}, True),
    ({"field": "contact.first_contact", "op": "is", "value": False}, {"first_contact": True}, False),
    ({"field": "ticket.status", "op": "in", "value": ["new", "open"]}, {}, True),
    ({"field": "ticket.status", "op": "not_in", "value": ["new"]}, {}, False),
    ({"field": "ticket.priority", "op": "in", "value": ["urgent"]}, {"priority": "urgent"}, True),
    ({"field": "ticket.priority", "op": "not_in", "value": ["low", "normal"]}, {}, False),
    ({"field": "ticket.sentiment", "op": "not_in", "value": ["negative"]}, {"ticket_sentiment": "neutral"}, True),
    (
        {"field": "ticket.tags", "op": "contains_all", "value": ["返品", "急ぎ"]},
        {"ticket_tags": frozenset({"返品"})},
        False,
    ),
    ({"field": "ticket.team", "op": "not_in", "value": [5]}, {"team_id": None}, True),
    ({"field": "ticket.team", "op": "is_not_set"}, {"team_id": 5}, False),
    (
        {"field": "ticket.minutes_in_status", "op": "lt", "value": 60},
        {"status_changed_at": NOW - timedelta(minutes=59)},
        True,
    ),
    ({"field": "ticket.tags", "op": "contains_any", "value": ["返品"]}, {"ticket_tags": frozenset({"返品"})}, True),
    ({"field": "ticket.tags", "op": "contains_none", "value": ["返品"]}, {"ticket_tags": frozenset({"返品"})}, False),
    ({"field": "ticket.assignee", "op": "is_not_set"}, {}, True),
    ({"field": "ticket.assignee", "op": "is_set"}, {"assignee_id": 3}, True),
    ({"field": "ticket.assignee", "op": "in", "value": [3]}, {"assignee_id": 3}, True),
    ({"field": "ticket.assignee", "op": "not_in", "value": [3]}, {"assignee_id": 4}, True),
    ({"field": "ticket.team", "op": "in", "value": [5]}, {"team_id": 5}, True),
    ({"field": "ticket.team", "op": "is_set"}, {}, False),
    ({"field": "ticket.changed", "op": "contains_any", "value": ["status"]}, {"changed": frozenset({"status"})}, True),
    ({"field": "ticket.changed", "op": "contains_none", "value": ["status"]}, {"changed": frozenset({"tags"})}, True),
    ({"field": "business_hours", "op": "inside"}, {"in_business_hours": False}, False),
    ({"field": "business_hours", "op": "outside"}, {"in_business_hours": False}, True),
    ({"field": "ticket.minutes_since_created", "op": "gt", "value": 20}, {}, True),
    ({"field": "ticket.minutes_since_created", "op": "lt", "value": 20}, {}, False),
    # no message yet on the ticket: falls back to its creation
    ({"field": "ticket.minutes_since_activity", "op": "gt", "value": 29}, {}, True),
    (
        {"field": "ticket.minutes_since_activity", "op": "lt", "value": 5},
        {"last_message_at": NOW - timedelta(minutes=1)},
        True,
    ),
    # the customer never wrote: neither more nor less
    ({"field": "ticket.minutes_since_customer", "op": "gt", "value": 0}, {}, False),
    ({"field": "ticket.minutes_since_customer", "op": "lt", "value": 9999}, {}, False),
    (
        {"field": "ticket.minutes_in_status", "op": "gt", "value": 48 * 60},
        {"status": "pending", "status_changed_at": NOW - timedelta(hours=49)},
        True,
    ),
]


@pytest.mark.parametrize(
    ("condition", "overrides", "expected"),
    CASES,
    ids=[f"{c['field']}-{c['op']}-{i}" for i, (c, _, _) in enumerate(CASES)],
)
def test_condition(condition, overrides, expected):
    assert holds(condition, **overrides) is expected


def test_every_field_and_operator_is_covered_by_a_case():
    covered = {(c["field"], c["op"]) for c, _, _ in CASES}
    declared = {(f.key, op) for f in FIELDS.values() for op in f.ops}
    assert declared - covered == set()


def test_nested_groups():
    conditions = {
        "all": [
            {"field": "platform", "op": "in", "value": ["facebook", "instagram"]},
            {
                "any": [
                    {"field": "message.text", "op": "contains_any", "value": ["返金"]},
                    {
                        "all": [
                            {"field": "contact.vip", "op": "is", "value": True},
                            {"field": "ticket.priority", "op": "in", "value": ["high"]},
                        ]
                    },
                ]
            },
        ]
    }
    rule = compile_conditions(conditions)
    assert rule(facts()) is True
    assert rule(facts(text="こんにちは")) is False
    assert rule(facts(text="こんにちは", vip=True, priority="high")) is True
    assert rule(facts(text="こんにちは", vip=True, priority="high", platform="line")) is False
    assert compile_conditions({"all": []})(facts()) is True
    assert compile_conditions({"any": []})(facts()) is False
    assert fields_used(conditions) == {"platform", "message.text", "contact.vip", "ticket.priority"}


@pytest.mark.parametrize(
    ("conditions", "path"),
    [
        ({"all": [{"field": "message.text", "op": "matches", "value": "(unclosed"}]}, "conditions.all.0.value"),
        # RE2 refuses back-references instead of backtracking forever
        ({"all": [{"field": "message.text", "op": "matches", "value": r"(a)\1"}]}, "conditions.all.0.value"),
        ({"all": [{"field": "ticket.nonsense", "op": "in", "value": ["x"]}]}, "conditions.all.0.field"),
        ({"all": [{"field": "ticket.status", "op": "gt", "value": 3}]}, "conditions.all.0.op"),
        ({"all": [{"field": "ticket.status", "op": "in", "value": ["done"]}]}, "conditions.all.0.value"),
        (
            {"any": [{"all": [{"field": "ticket.minutes_in_status", "op": "gt", "value": "x"}]}]},
            "conditions.any.0.all.0.value",
        ),
        ({"all": [{"field": "message.text", "op": "contains_any", "value": []}]}, "conditions.all.0.value"),
        ({"all": [{"field": "contact.attribute", "op": "eq", "value": "x"}]}, "conditions.all.0.key"),
        ({"both": []}, "conditions"),
        (
            {"all": [{"all": [{"all": [{"all": [{"all": [{"all": []}]}]}]}]}]},
            "conditions.all.0.all.0.all.0.all.0.all.0",
        ),
    ],
)
def test_invalid_conditions_are_field_errors(conditions, path):
    with pytest.raises(RuleInvalid) as caught:
        validate_rule(trigger="message_received", conditions=conditions, actions=[{"type": "mark_spam"}], refs=None)
    assert path in caught.value.errors


def test_message_conditions_need_a_message_trigger_and_actions_are_required():
    with pytest.raises(RuleInvalid) as caught:
        validate_rule(
            trigger="scheduled",
            conditions={"all": [{"field": "message.text", "op": "contains_any", "value": ["a"]}]},
            actions=[],
            refs=None,
        )
    assert set(caught.value.errors) == {"conditions", "actions"}


def test_a_pathological_pattern_runs_in_linear_time():
    # (a+)+$ makes a backtracking engine take exponential time on "aaaa…b"; RE2 answers at once.
    assert compile_pattern(r"(a+)+$").search("a" * 50_000 + "b") is None
    assert holds({"field": "message.text", "op": "matches", "value": r"(a+)+c"}, text="a" * 50_000 + "b") is False


# --- property-based: compiled == reference ----------------------------------------------------------------------


def fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def reference_keyword(keyword: str, text: str) -> bool:
    k, t = fold(keyword).strip(), fold(text)
    if re.fullmatch(r"[0-9a-z_'\-. ]+", k):
        return any(
            t[i : i + len(k)] == k
            and (i == 0 or not re.match(r"[0-9a-z]", t[i - 1]))
            and (i + len(k) == len(t) or not re.match(r"[0-9a-z]", t[i + len(k)]))
            for i in range(len(t) - len(k) + 1)
        )
    return k in t


def reference(node: dict, f: Facts) -> bool:
    """The rule semantics written out plainly, one condition at a time."""
    if "all" in node:
        return all(reference(child, f) for child in node["all"])
    if "any" in node:
        return any(reference(child, f) for child in node["any"])
    field, op, value = node["field"], node["op"], node.get("value")
    plain = {
        "channel": f.connection_id,
        "platform": f.platform,
        "message.kind": f.message_kind,
        "message.language": f.language,
        "message.sentiment": f.sentiment,
        "message.email_authentication": f.email_authentication,
        "ticket.sentiment": f.ticket_sentiment,
        "ticket.status": f.status,
        "ticket.priority": f.priority,
        "ticket.assignee": f.assignee_id,
        "ticket.team": f.team_id,
    }
    if op == "is_set":
        return plain[field] is not None
    if op == "is_not_set":
        return plain[field] is None
    if field in plain:
        return (plain[field] in value) if op == "in" else (plain[field] not in value)
    if field in ("ticket.tags", "contact.tags", "ticket.changed"):
        have = {"ticket.tags": f.ticket_tags, "contact.tags": f.contact_tags, "ticket.changed": f.changed}[field]
        have = {fold(x) for x in have}
        want = {fold(x) for x in value}
        return {
            "contains_any": bool(have & want),
            "contains_all": want <= have,
            "contains_none": not (have & want),
        }[op]
    if field == "contact.vip":
        return f.vip == value
    if field == "contact.first_contact":
        return f.first_contact == value
    if field == "business_hours":
        return f.in_business_hours == (op == "inside")
    if field == "contact.attribute":
        current = f.attributes.get(node["key"])
        if op == "exists":
            return current not in (None, "")
        if op == "not_exists":
            return current in (None, "")
        current = fold(str(current if current is not None else ""))
        return {"eq": current == fold(value), "ne": current != fold(value), "contains": fold(value) in current}[op]
    if field == "message.text":
        if op in ("matches", "not_matches"):
            found = compile_pattern(value).search(f.text) is not None
            return found if op == "matches" else not found
        hits = [reference_keyword(k, f.text) for k in value]
        return {"contains_any": any(hits), "contains_all": all(hits), "contains_none": not any(hits)}[op]
    times = {
        "ticket.minutes_since_created": f.created_at,
        "ticket.minutes_since_activity": f.last_message_at or f.created_at,
        "ticket.minutes_since_customer": f.last_customer_message_at,
        "ticket.minutes_in_status": f.status_changed_at or f.created_at,
    }
    at = times[field]
    if at is None:
        return False
    minutes = (f.now - at).total_seconds() / 60
    return minutes > value if op == "gt" else minutes < value


WORDS = ["返金", "refund", "ok", "キャンセル", "ｷｬﾝｾﾙ", "Order", "注文", "vip", "a", "届いて", "credit card"]
TAGS = ["返品", "vip", "VIP", "急ぎ", "spam"]
# Few distinct values, so that boundaries (exactly 30 minutes, exactly the same tags) come up often.
MINUTES = st.one_of(st.sampled_from([0, 1, 10, 30, 60, 48 * 60]), st.integers(min_value=0, max_value=60 * 24 * 5))
TIMES = st.one_of(st.none(), MINUTES.map(lambda m: NOW - timedelta(minutes=m)))


def condition_strategy(near: Facts | None = None):
    """Random valid conditions; given `near` facts, values are often taken from them, so that boundaries (exactly
    30 minutes ago, exactly the ticket's tags, the attribute in another case) come up often."""

    def build(field):
        spec = FIELDS[field]
        op = st.sampled_from(spec.ops)

        def with_value(o):
            if o in ("is_set", "is_not_set", "exists", "not_exists", "inside", "outside"):
                base = {"field": field, "op": o}
                return st.just(base | ({"key": "plan"} if spec.kind == "attribute" else {}))
            if spec.kind == "set":
                values = st.lists(st.sampled_from(spec.choices), min_size=1, max_size=3)
            elif spec.kind == "tags":
                pool = ["status", "priority", "assignee", "team", "tags"] if field == "ticket.changed" else TAGS
                values = st.lists(st.sampled_from(pool), min_size=1, max_size=3)
                if near is not None:
                    have = {"ticket.tags": near.ticket_tags, "contact.tags": near.contact_tags}.get(field, near.changed)
                    if have:
                        values = st.one_of(
                            values, st.just(sorted(have)), st.lists(st.sampled_from(sorted(have)), min_size=1)
                        )
            elif spec.kind == "text":
                if o in ("matches", "not_matches"):
                    values = st.sampled_from([r"\d{3}", "返金|refund", r"^ok", "(?i)order", "注文.*届"])
                else:
                    values = st.lists(st.sampled_from(WORDS), min_size=1, max_size=3)
            elif spec.kind == "bool":
                values = st.booleans()
            elif spec.kind == "minutes":
                values = MINUTES
                if near is not None:
                    at = {
                        "ticket.minutes_since_created": near.created_at,
                        "ticket.minutes_since_activity": near.last_message_at or near.created_at,
                        "ticket.minutes_since_customer": near.last_customer_message_at,
                        "ticket.minutes_in_status": near.status_changed_at or near.created_at,
                    }[field]
                    if at is not None:
                        exact = int((near.now - at).total_seconds() // 60)
                        values = st.one_of(values, st.sampled_from([exact, max(exact - 1, 0), exact + 1]))
            elif spec.kind == "attribute":
                pool = ["gold", "Gold", "old", "OLD", ""]
                if near is not None and near.attributes.get("plan"):
                    pool.append(near.attributes["plan"].swapcase())
                return st.sampled_from(pool).map(lambda v: {"field": field, "op": o, "key": "plan", "value": v})
            else:  # ref
                values = st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=3)
            return values.map(lambda v: {"field": field, "op": o, "value": v})

        return op.flatmap(with_value)

    return st.sampled_from(sorted(FIELDS)).flatmap(build)


trees = st.recursive(
    condition_strategy(),
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(lambda items: {"all": items}),
        st.lists(children, max_size=4).map(lambda items: {"any": items}),
    ),
    max_leaves=12,
).map(lambda node: node if ("all" in node or "any" in node) else {"all": [node]})

facts_strategy = st.builds(
    Facts,
    now=st.just(NOW),
    connection_id=st.integers(min_value=1, max_value=4),
    platform=st.sampled_from(FIELDS["platform"].choices),
    status=st.sampled_from(FIELDS["ticket.status"].choices),
    priority=st.sampled_from(FIELDS["ticket.priority"].choices),
    created_at=MINUTES.map(lambda m: NOW - timedelta(minutes=m)),
    assignee_id=st.one_of(st.none(), st.integers(min_value=1, max_value=4)),
    team_id=st.one_of(st.none(), st.integers(min_value=1, max_value=4)),
    ticket_tags=st.frozensets(st.sampled_from(TAGS), max_size=3),
    contact_tags=st.frozensets(st.sampled_from(TAGS), max_size=3),
    vip=st.booleans(),
    attributes=st.one_of(st.just({}), st.sampled_from(["gold", "GOLD", "silver", ""]).map(lambda p: {"plan": p})),
    first_contact=st.booleans(),
    in_business_hours=st.booleans(),
    changed=st.frozensets(st.sampled_from(["status", "priority", "assignee", "team", "tags"]), max_size=3),
    last_message_at=TIMES,
    last_customer_message_at=TIMES,
    status_changed_at=TIMES,
    has_message=st.just(True),
    message_kind=st.sampled_from(FIELDS["message.kind"].choices),
    text=st.one_of(
        st.lists(st.sampled_from([*WORDS, " ", "、", "123", "0", "book", "が", "\n"]), max_size=8).map("".join),
        st.text(max_size=40),
    ),
    language=st.sampled_from(["", "ja", "en", "ko"]),
    sentiment=st.sampled_from(["", "positive", "neutral", "negative"]),
    email_authentication=st.sampled_from(["", "pass", "fail", "none"]),
    ticket_sentiment=st.sampled_from(["", "positive", "neutral", "negative"]),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=trees, f=facts_strategy)
def test_compiled_evaluator_agrees_with_the_reference(tree, f):
    conditions, _ = validate_rule(
        trigger="message_received", conditions=tree, actions=[{"type": "mark_spam"}], refs=None
    )
    assert compile_conditions(conditions)(f) is reference(conditions, f)


@settings(max_examples=1500, deadline=None)
@given(data=st.data(), f=facts_strategy)
def test_each_compiled_condition_agrees_with_the_reference(data, f):
    condition = data.draw(condition_strategy(near=f))
    conditions, _ = validate_rule(
        trigger="message_received", conditions={"all": [condition]}, actions=[{"type": "mark_spam"}], refs=None
    )
    assert compile_conditions(conditions)(f) is reference(conditions, f)
