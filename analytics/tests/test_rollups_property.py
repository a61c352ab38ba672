"""Property: on random histories consumed incrementally in random batches, the rollups equal a full recompute from
the facts, and the facts equal a rebuild from the history."""

from datetime import timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.services import team_create
from analytics import services
from analytics.models import DailyRollup, TicketFact
from analytics.tests.builders import catch_up, event, inbound, jst, reply, sla_event, survey_answer, ticket
from tickets.models import Ticket
from tickets.tests import factories

pytestmark = pytest.mark.django_db

BASE = jst("2026-11-20 20:00")  # a Friday evening: days cut at Tokyo's midnight, a weekend, the holiday
OPS = ["inbound", "reply1", "reply2", "solve", "reopen", "assign1", "assign2", "team", "met", "breached", "rated"]
operation = st.tuples(st.integers(0, 2), st.sampled_from(OPS), st.integers(0, 5 * 24 * 60), st.integers(1, 5))


def _snapshot(organization):
    facts = sorted(
        TicketFact.objects.filter(organization=organization).values_list(
            "ticket_id",
            "kind",
            "occurred_at",
            "team_id",
            "agent_id",
            "duration_seconds",
            "business_seconds",
            "inbound",
            "score",
            "source",
            "source_id",
        ),
        key=str,  # None beside numbers (team, agent, durations, score) cannot be ordered as tuples
    )
    rollups = sorted(
        DailyRollup.objects.filter(organization=organization).values_list(
            "day",
            "connection_id",
            "team_id",
            "agent_id",
            "kind",
            "count",
            "measured",
            "duration_sum",
            "business_sum",
            "score_sum",
            "score_high",
        ),
        key=str,
    )
    return facts, rollups


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operation, max_size=30), split=st.integers(0, 30), batch=st.integers(1, 7))
def test_rollups_agree_with_a_full_recompute(tenant_a, ops, split, batch):
    org = tenant_a.organization
    users = [tenant_a.users["agent"], tenant_a.users["admin"]]
    with transaction.atomic():
        line = factories.connection(tenant_a, "line")
        with tenant_a.scope():
            team = team_create(organization=org, actor=tenant_a.users["owner"], name="サポート")
            tickets = []
            for n in range(3):
                made = ticket(org, line, BASE + timedelta(hours=n))
                event(made, made.created_at, "created")
                tickets.append(made)
            ops = sorted(ops, key=lambda op: op[2])  # history is appended in time order
            assignee = {made.pk: None for made in tickets}
            teams = {made.pk: None for made in tickets}
            for index, (which, op, minutes, rating) in enumerate(ops):
                if index == split:
                    catch_up(batch=batch)
                made, at = tickets[which], tickets[which].created_at + timedelta(minutes=minutes, hours=1)
                if op == "inbound":
                    inbound(made, at)
                elif op in ("reply1", "reply2"):
                    reply(made, at, users[op == "reply2"])
                elif op == "solve":
                    event(made, at, "status", "open", "solved")
                elif op == "reopen":
                    event(made, at, "reopened", "solved", "open")
                elif op in ("assign1", "assign2"):
                    new = users[op == "assign2"].pk
                    event(made, at, "assignment", assignee[made.pk], new)
                    assignee[made.pk] = new
                    Ticket.objects.filter(pk=made.pk).update(assignee_id=new)
                elif op == "team":
                    new = None if teams[made.pk] else team.pk
                    event(made, at, "team", teams[made.pk], new)
                    teams[made.pk] = new
                    Ticket.objects.filter(pk=made.pk).update(team_id=new)
                elif op == "rated":
                    survey_answer(made, at, rating, agent_id=assignee[made.pk])
                else:
                    sla_event(made, at, op)
            catch_up(batch=batch)
            incremental = _snapshot(org)
            services.rollups_rebuild(org)
            assert _snapshot(org) == incremental
            services.rebuild(org)
            assert _snapshot(org) == incremental
        transaction.set_rollback(True)
