"""Time-based rules at scale: the database finds every candidate (the time conditions and the ticket's columns as a
filter equal to the compiled predicate, and the states already acted on left out by their key computed in SQL), so
a rule fires for every matching ticket, once per ticket and state, even with two passes at the same time."""

import importlib
import itertools
import threading
from datetime import UTC, datetime, timedelta
from unittest.mock import ANY

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.services import team_create
from automation.models import Rule, RuleRun, RuleTrigger
from automation.rules import engine
from automation.rules.compiler import Facts, TagNames, compile_conditions, condition_filter
from tickets.models import Contact, Tag, Ticket, TicketStatus
from tickets.tests.factories import connection

pytestmark = pytest.mark.django_db

_numbers = itertools.count(1)
NOW = datetime(2026, 6, 1, 12, 0, 0, 250000, tzinfo=UTC)


def make_tickets(tenant, count, conn=None, contact=None, **columns) -> list[Ticket]:
    """`count` tickets in one INSERT, then their times set as given (auto_now_add would overwrite them)."""
    conn = conn or connection(tenant)
    with tenant.scope():
        contact = contact or Contact.objects.create(organization=tenant.organization, name="山田 花子")
        tickets = Ticket.objects.bulk_create(
            Ticket(
                organization=tenant.organization,
                number=n,
                connection=conn,
                contact=contact,
                external_thread_key=f"t-{n}",
            )
            for n in itertools.islice(_numbers, count)
        )
        ids = [t.pk for t in tickets]
        if columns:
            Ticket.objects.filter(pk__in=ids).update(**columns)
        return list(Ticket.objects.filter(pk__in=ids).order_by("pk"))


def time_rule(tenant, name, conditions, actions=None, position=0):
    with tenant.scope():
        return Rule.objects.create(
            organization=tenant.organization,
            name=name,
            trigger=RuleTrigger.SCHEDULED,
            conditions=conditions,
            actions=actions or [{"type": "add_tags", "tags": ["放置"]}],
            position=position,
        )


def facts_of(ticket: Ticket, now: datetime, in_hours: bool = True) -> Facts:
    return Facts(
        now=now,
        connection_id=ticket.connection_id,
        platform=ticket.connection.platform,
        status=ticket.status,
        priority=ticket.priority,
        created_at=ticket.created_at,
        assignee_id=ticket.assignee_id,
        team_id=ticket.team_id,
        ticket_sentiment=ticket.sentiment,
        last_message_at=ticket.last_message_at,
        last_customer_message_at=ticket.last_customer_message_at,
        status_changed_at=ticket.status_changed_at,
        vip=ticket.contact.vip,
        ticket_tags=frozenset(tag.name for tag in ticket.tags.all()),
        in_business_hours=in_hours,
    )


# --- the SQL equals Python ----------------------------------------------------------------------------------------

# Offsets from NOW, in minutes, around the thresholds below (30 and 48 h): exactly on them, a microsecond either side.
MICRO = timedelta(microseconds=1)
OFFSETS = [
    None,
    timedelta(0),
    timedelta(minutes=30) - MICRO,
    timedelta(minutes=30),
    timedelta(minutes=30) + MICRO,
    timedelta(hours=48),
    timedelta(hours=48, seconds=1),
    -timedelta(minutes=5),  # in the future (a clock ahead)
]


@pytest.fixture
def varied(tenant_a):
    """Tickets with every combination of the time columns above (created_at never NULL), statuses, assignees, and
    tags."""
    conn = connection(tenant_a, platform="email")
    agent = tenant_a.users["agent"]
    combos = list(itertools.product(OFFSETS, OFFSETS[1:], [None, agent.pk], ["open", "pending"]))
    with tenant_a.scope():
        contact = Contact.objects.create(organization=tenant_a.organization, name="VIP", vip=True)
    tickets = make_tickets(tenant_a, len(combos), conn=conn, contact=contact)
    with tenant_a.scope():
        for ticket, (offset, created, assignee, status) in zip(tickets, combos, strict=True):
            at = None if offset is None else NOW - offset
            ticket.created_at = NOW - created
            ticket.last_message_at = at
            ticket.last_customer_message_at = at
            ticket.status_changed_at = at
            ticket.assignee_id = assignee
            ticket.status = status
        Ticket.objects.bulk_update(
            tickets,
            ["created_at", "last_message_at", "last_customer_message_at", "status_changed_at", "assignee", "status"],
        )
        # Tags, including names that only fold to a condition's value (full width, upper case)
        tags = [Tag.objects.create(organization=tenant_a.organization, name=name) for name in TAG_NAMES]
        Ticket.tags.through.objects.bulk_create(
            Ticket.tags.through(ticket_id=ticket.pk, tag_id=tag.pk)
            for n, ticket in enumerate(tickets)
            for bit, tag in enumerate(tags)
            if n >> bit & 1
        )
        tickets = Ticket.objects.select_related("connection", "contact").prefetch_related("tags").order_by("pk")
        return list(tickets), agent


TAG_NAMES = ["vip", "ＶＩＰ", "返金", "Refund"]


TIME_FIELDS = [
    "ticket.minutes_since_created",
    "ticket.minutes_since_activity",
    "ticket.minutes_since_customer",
    "ticket.minutes_in_status",
]
CONDITIONS = [
    *(
        {"field": field, "op": op, "value": minutes}
        for field in TIME_FIELDS
        for op in ("gt", "lt")
        for minutes in (0, 30, 48 * 60)
    ),
    {"field": "ticket.status", "op": "in", "value": ["pending"]},
    {"field": "ticket.status", "op": "not_in", "value": ["pending"]},
    {"field": "ticket.assignee", "op": "is_set"},
    {"field": "ticket.assignee", "op": "is_not_set"},
    {"field": "ticket.priority", "op": "in", "value": ["normal"]},
    {"field": "ticket.sentiment", "op": "not_in", "value": ["negative"]},
    {"field": "platform", "op": "in", "value": ["email"]},
    {"field": "contact.vip", "op": "is", "value": True},
    {
        "any": [
            {"field": "ticket.minutes_in_status", "op": "gt", "value": 30},
            {"field": "ticket.assignee", "op": "is_set"},
        ]
    },
    {"any": []},
    *(
        {"field": "ticket.tags", "op": op, "value": value}
        for op in ("contains_any", "contains_all", "contains_none")
        for value in (["VIP"], ["refund", "返金"], ["なし"], ["vip", "なし"])
    ),
    {"field": "business_hours", "op": "inside"},
    {"field": "business_hours", "op": "outside"},
    {
        "all": [
            {"field": "business_hours", "op": "outside"},
            {"field": "ticket.tags", "op": "contains_none", "value": ["返金"]},
            {"field": "ticket.minutes_since_customer", "op": "gt", "value": 30},
        ]
    },
]


@pytest.mark.parametrize("in_hours", [True, False], ids=["in hours", "outside hours"])
@pytest.mark.parametrize("condition", CONDITIONS, ids=[str(c) for c in CONDITIONS])
def test_the_sql_filter_matches_exactly_the_tickets_the_compiled_condition_matches(
    tenant_a, varied, condition, in_hours
):
    tickets, _agent = varied
    node = condition if ("all" in condition or "any" in condition) else {"all": [condition]}
    predicate = compile_conditions(node)
    expected = {t.pk for t in tickets if predicate(facts_of(t, NOW, in_hours))}
    with tenant_a.scope():
        tags = TagNames(Tag.objects.values_list("pk", "name"))
        restriction = condition_filter(node, NOW, in_hours=in_hours, tags=tags)
        if restriction is None:  # no restriction: every ticket matches
            found = {t.pk for t in tickets}
        else:
            found = set(Ticket.objects.filter(restriction).values_list("pk", flat=True))
    assert found == expected
    if str(condition.get("field")).startswith(("ticket.minutes", "ticket.tags")) and "なし" not in str(
        condition["value"]
    ):
        assert 0 < len(expected) < len(tickets)  # the case tells matches from the rest


def test_tags_and_business_hours_are_left_to_python_unless_the_pass_gives_them(tenant_a):
    tags = {"field": "ticket.tags", "op": "contains_any", "value": ["vip"]}
    assert condition_filter({"all": [tags]}, NOW) is None
    assert condition_filter({"all": [{"field": "business_hours", "op": "outside"}]}, NOW) is None


def test_the_assignee_not_in_filter_keeps_unassigned_tickets(tenant_a, varied):
    tickets, agent = varied
    node = {"all": [{"field": "ticket.assignee", "op": "not_in", "value": [agent.pk]}]}
    with tenant_a.scope():
        found = set(Ticket.objects.filter(condition_filter(node, NOW)).values_list("pk", flat=True))
    assert found == {t.pk for t in tickets if t.assignee_id is None}


def test_conditions_sql_cannot_state_are_left_to_python(tenant_a):
    attribute = {"field": "contact.attribute", "key": "plan", "op": "eq", "value": "gold"}
    timed = {"field": "ticket.minutes_in_status", "op": "gt", "value": 10}
    assert condition_filter({"all": [attribute]}, NOW, in_hours=True) is None
    assert condition_filter({"any": [attribute, timed]}, NOW) is None  # an "any" with an unknown member: no limit
    assert condition_filter({"all": [attribute, timed]}, NOW) is not None  # an "all" keeps what it knows


def test_the_state_key_in_sql_equals_the_python_one(tenant_a, varied):
    tickets, _agent = varied
    with tenant_a.scope():
        owner = tenant_a.users["owner"]
        team = team_create(organization=tenant_a.organization, actor=owner, name="サポート", members=[])
        Ticket.objects.filter(pk__in=[t.pk for t in tickets[::3]]).update(team=team)
        in_sql = dict(Ticket.objects.annotate(key=engine.state_key_expression()).values_list("pk", "key"))
        fresh = {t.pk: t for t in Ticket.objects.all()}
    assert in_sql == {pk: engine.state_key(ticket) for pk, ticket in fresh.items()}
    assert len(set(in_sql.values())) >= 32  # the keys tell the states apart (created_at is not part of one)


# --- every matching ticket, once ------------------------------------------------------------------------------------

UNASSIGNED_10 = {
    "all": [
        {"field": "ticket.assignee", "op": "is_not_set"},
        {"field": "ticket.minutes_since_created", "op": "gt", "value": 10},
    ]
}


def test_a_time_based_rule_fires_beyond_the_first_2000_tickets(tenant_a, django_assert_max_num_queries):
    # Given 2,100 active tickets created a minute ago (too young for the rule), with older activity than the one
    # ticket created an hour ago: the old pass looked at the 2,000 of oldest activity only
    now = timezone.now()
    young = make_tickets(
        tenant_a, 2100, created_at=now - timedelta(minutes=1), last_message_at=now - timedelta(minutes=30)
    )
    (old,) = make_tickets(tenant_a, 1, created_at=now - timedelta(hours=1), last_message_at=now)
    time_rule(tenant_a, "unassigned 10 min", UNASSIGNED_10)
    # When the minute's pass runs
    with tenant_a.scope(), django_assert_max_num_queries(30):
        acted = engine.run_scheduled_rules(organization=tenant_a.organization, now=now)
    # Then the rule acted on that ticket, and on no other
    assert acted == 1
    with tenant_a.scope():
        assert list(RuleRun.objects.values_list("ticket_id", flat=True)) == [old.pk]
        assert not RuleRun.objects.filter(ticket_id__in=[t.pk for t in young]).exists()


def test_a_pass_costs_a_constant_number_of_queries_per_batch(tenant_a, django_assert_max_num_queries):
    # Given 1,200 tickets the time condition lets through (three batches) that a Python-only condition refuses
    now = timezone.now()
    make_tickets(tenant_a, 1200, created_at=now - timedelta(hours=1))
    time_rule(
        tenant_a,
        "gold customers waiting",
        {
            "all": [
                *UNASSIGNED_10["all"],
                {"field": "ticket.tags", "op": "contains_none", "value": ["済"]},
                {"field": "contact.attribute", "key": "plan", "op": "eq", "value": "gold"},
            ]
        },
    )
    # Then the pass reads them in batches (the rules, the organization's tags, the candidates with the planner setting
    # and its savepoint, then the tickets and their tags per batch) and acts on none
    with tenant_a.scope(), django_assert_max_num_queries(7 + 2 * 3):
        assert engine.run_scheduled_rules(organization=tenant_a.organization, now=now) == 0


def test_a_rule_fires_once_per_ticket_and_state_across_passes(tenant_a):
    now = timezone.now()
    tickets = make_tickets(tenant_a, 5, created_at=now - timedelta(hours=1), last_message_at=now - timedelta(hours=1))
    time_rule(tenant_a, "unassigned 10 min", UNASSIGNED_10)
    with tenant_a.scope():
        assert engine.run_scheduled_rules(organization=tenant_a.organization, now=now) == 5
        for minute in range(1, 4):
            later = now + timedelta(minutes=minute)
            assert engine.run_scheduled_rules(organization=tenant_a.organization, now=later) == 0
        # A new state (a customer message) on one ticket: the rule acts on it once more
        Ticket.objects.filter(pk=tickets[0].pk).update(last_message_at=now + timedelta(minutes=4))
        assert engine.run_scheduled_rules(organization=tenant_a.organization, now=now + timedelta(minutes=5)) == 1
        assert engine.run_scheduled_rules(organization=tenant_a.organization, now=now + timedelta(minutes=6)) == 0
        assert RuleRun.objects.filter(ticket=tickets[0]).count() == 2
        # A ticket that stopped being active leaves the pass
        Ticket.objects.filter(pk=tickets[1].pk).update(status=TicketStatus.SOLVED, last_message_at=now)
        assert engine.run_scheduled_rules(organization=tenant_a.organization, now=now + timedelta(minutes=7)) == 0


@pytest.mark.django_db(transaction=True)
def test_two_passes_at_the_same_time_fire_once_per_ticket(tenant_a):
    # Given 30 tickets an "unassigned for 10 minutes" rule matches
    now = timezone.now()
    tickets = make_tickets(tenant_a, 30, created_at=now - timedelta(hours=1), last_message_at=now - timedelta(hours=1))
    time_rule(tenant_a, "unassigned 10 min", UNASSIGNED_10)
    barrier = threading.Barrier(2)
    acted, errors = [], []

    def run_pass():
        try:
            with tenant_a.scope():
                barrier.wait()
                acted.append(engine.run_scheduled_rules(organization=tenant_a.organization, now=now))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            db_connection.close()

    # When two passes run at the same time
    threads = [threading.Thread(target=run_pass) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then each ticket got the rule's action exactly once, and the passes together report 30
    assert errors == []
    assert sum(acted) == 30
    with tenant_a.scope():
        runs = list(RuleRun.objects.values_list("ticket_id", flat=True))
        assert sorted(runs) == sorted(t.pk for t in tickets)
        for ticket in Ticket.objects.prefetch_related("tags"):
            assert [tag.name for tag in ticket.tags.all()] == ["放置"]


def test_the_candidates_of_every_rule_come_in_one_query(tenant_a):
    now = timezone.now()
    make_tickets(tenant_a, 3, created_at=now - timedelta(minutes=5))
    for position in range(6):
        time_rule(tenant_a, f"unassigned {position + 10} min", _unassigned(position + 10), position=position)
    with tenant_a.scope():
        rules = engine.ruleset(tenant_a.organization).rules(RuleTrigger.SCHEDULED)
        with CaptureQueriesContext(db_connection) as captured:
            assert engine.scheduled_candidates(rules=rules, now=now) == {}
    # (around it: the savepoint of the transaction that scopes the planner setting, and that setting)
    assert [q["sql"] for q in captured.captured_queries if "tickets_ticket" in q["sql"]] == [ANY]


def _unassigned(minutes):
    return {
        "all": [
            {"field": "ticket.assignee", "op": "is_not_set"},
            {"field": "ticket.minutes_since_created", "op": "gt", "value": minutes},
        ]
    }


def test_a_run_keeps_the_state_it_acted_on_and_that_state_is_left_out(tenant_a):
    # Given a rule that solves tickets pending for 48 hours
    now = timezone.now()
    (ticket,) = make_tickets(
        tenant_a, 1, status=TicketStatus.PENDING, status_changed_at=now - timedelta(hours=49), last_message_at=now
    )
    time_rule(
        tenant_a,
        "pending 48 h → solved",
        {"all": [{"field": "ticket.minutes_in_status", "op": "gt", "value": 48 * 60}]},
        [{"type": "add_tags", "tags": ["自動解決"]}, {"type": "set_priority", "priority": "high"}],
    )
    with tenant_a.scope():
        rules = engine.ruleset(tenant_a.organization).rules(RuleTrigger.SCHEDULED)
        assert engine.scheduled_candidates(rules=rules, now=now) == {ticket.pk: {rules[0].pk}}
        assert engine.run_scheduled_rules(organization=tenant_a.organization, now=now) == 1
        # Then its run keeps the state it was keyed by
        run = RuleRun.objects.get()
        assert run.dedupe_key == engine.state_key(ticket)
        assert (run.state_status, run.state_status_changed_at, run.state_last_message_at) == (
            "pending",
            ticket.status_changed_at,
            ticket.last_message_at,
        )
        assert (run.state_assignee_id, run.state_team_id) == (None, None)
        # and the ticket in that state is no longer a candidate
        assert engine.scheduled_candidates(rules=rules, now=now + timedelta(minutes=1)) == {}
        # A new state (assigned) makes it one again
        Ticket.objects.filter(pk=ticket.pk).update(assignee=tenant_a.users["agent"])
        assert engine.scheduled_candidates(rules=rules, now=now + timedelta(minutes=2)) == {ticket.pk: {rules[0].pk}}


def _legacy_run(tenant, rule, ticket, dedupe_key):
    """A run as written before runs kept their state: its dedupe key only."""
    with tenant.scope():
        return RuleRun.objects.create(
            organization=tenant.organization,
            ticket=ticket,
            rule=rule,
            rule_name=rule.name,
            trigger=RuleTrigger.SCHEDULED,
            dedupe_key=dedupe_key,
        )


def test_a_run_without_its_state_leaves_nothing_out_and_still_refuses_a_second_run(tenant_a):
    now = timezone.now()
    (ticket,) = make_tickets(tenant_a, 1, created_at=now - timedelta(hours=1), last_message_at=now - timedelta(hours=1))
    rule = time_rule(tenant_a, "unassigned 10 min", UNASSIGNED_10)
    _legacy_run(tenant_a, rule, ticket, engine.state_key(ticket))
    with tenant_a.scope():
        rules = engine.ruleset(tenant_a.organization).rules(RuleTrigger.SCHEDULED)
        assert engine.scheduled_candidates(rules=rules, now=now) == {ticket.pk: {rule.pk}}
        assert engine.run_scheduled_rules(organization=tenant_a.organization, now=now) == 0
        assert RuleRun.objects.count() == 1
        assert not Ticket.objects.get(pk=ticket.pk).tags.exists()


def test_the_migration_keeps_the_state_of_the_runs_of_current_states(tenant_a):
    # Given runs written before runs kept their state: two of the tickets' current states, one of an earlier state,
    # one on a solved ticket
    now = timezone.now()
    current, earlier, solved = make_tickets(
        tenant_a, 3, created_at=now - timedelta(hours=1), last_message_at=now - timedelta(hours=1)
    )
    rule = time_rule(tenant_a, "unassigned 10 min", UNASSIGNED_10)
    other = time_rule(tenant_a, "unassigned 20 min", _unassigned(20), position=1)
    runs = [
        _legacy_run(tenant_a, rule, current, engine.state_key(current)),
        _legacy_run(tenant_a, other, current, engine.state_key(current)),
        _legacy_run(tenant_a, rule, earlier, engine.state_key(earlier)),
        _legacy_run(tenant_a, rule, solved, engine.state_key(solved)),
    ]
    with tenant_a.scope():
        Ticket.objects.filter(pk=earlier.pk).update(last_message_at=now)
        Ticket.objects.filter(pk=solved.pk).update(status=TicketStatus.SOLVED)
    # When the migration backfills them
    backfill = importlib.import_module("automation.migrations.0002_rulerun_state").BACKFILL
    with db_connection.cursor() as cursor:
        cursor.execute(backfill)
    # Then the runs of current states keep it, and the others keep none
    with tenant_a.scope():
        kept = {
            run.pk: (run.state_status, run.state_last_message_at)
            for run in RuleRun.objects.filter(pk__in=[run.pk for run in runs])
        }
        assert kept == {
            runs[0].pk: ("new", current.last_message_at),
            runs[1].pk: ("new", current.last_message_at),
            runs[2].pk: ("", None),
            runs[3].pk: ("", None),
        }
        rules = engine.ruleset(tenant_a.organization).rules(RuleTrigger.SCHEDULED)
        assert engine.scheduled_candidates(rules=rules, now=now) == {earlier.pk: {rule.pk, other.pk}}


def test_a_tagged_ticket_is_no_candidate_of_a_rule_for_untagged_ones(tenant_a, django_assert_max_num_queries):
    # Given 600 tickets open for a day, 599 of them tagged "24h" (as ＂２４Ｈ＂: the tag folds to the rule's value)
    now = timezone.now()
    tickets = make_tickets(
        tenant_a,
        600,
        status=TicketStatus.OPEN,
        status_changed_at=now - timedelta(days=2),
        last_message_at=now - timedelta(days=2),
    )
    with tenant_a.scope():
        tag = Tag.objects.create(organization=tenant_a.organization, name="２４Ｈ")
        Ticket.tags.through.objects.bulk_create(
            Ticket.tags.through(ticket_id=ticket.pk, tag_id=tag.pk) for ticket in tickets[1:]
        )
    time_rule(
        tenant_a,
        "open 24 h, untagged",
        {
            "all": [
                {"field": "ticket.minutes_in_status", "op": "gt", "value": 24 * 60},
                {"field": "ticket.tags", "op": "contains_none", "value": ["24h"]},
            ]
        },
        [{"type": "add_tags", "tags": ["24h"]}],
    )
    # Then the untagged ticket is the only candidate (the tagged ones were read and refused every minute before), and
    # the pass reads it (one batch) and acts on it
    with tenant_a.scope():
        rules = engine.ruleset(tenant_a.organization).rules(RuleTrigger.SCHEDULED)
        candidates = engine.scheduled_candidates(
            rules=rules, now=now, tags=TagNames(Tag.objects.values_list("pk", "name"))
        )
        assert candidates == {tickets[0].pk: {rules[0].pk}}
    with tenant_a.scope(), django_assert_max_num_queries(7 + 2 + 20):
        assert engine.run_scheduled_rules(organization=tenant_a.organization, now=now) == 1
    with tenant_a.scope():
        assert list(RuleRun.objects.values_list("ticket_id", flat=True)) == [tickets[0].pk]
