"""CSAT metrics on hand-built answers, with hand-computed values.

Range Mon 2026-11-16 … Thu 11-19 in Tokyo. Line channel A, mail channel B.
T1 (A) rated 5 on 11-16 10:00, solved by agent1.    T2 (A) rated 4 on 11-17 00:30 (11-16 in UTC), agent2.
T3 (B) rated 2 on 11-17 12:00, agent1.              T4 (B) rated 3 on 11-18 09:00, unassigned.
T5 (A) rated 1 on 11-20 00:00: outside the range.    Organization B's answer: never counted.
T1 and T3 are tagged 返品.
In range: 4 answers, 2 of them 4–5 → CSAT 50 %, average (5 + 4 + 2 + 3) / 4 = 3.5.
"""

from datetime import date

import pytest

from analytics.csat import metrics
from analytics.metrics import Filters
from analytics.tests.builders import catch_up, jst, survey_answer, ticket
from tickets.models import Tag
from tickets.tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def answers(tenant_a, tenant_b):
    org = tenant_a.organization
    agent1, agent2 = tenant_a.users["agent"], tenant_a.users["admin"]
    line = factories.connection(tenant_a, "line")
    mail = factories.connection(tenant_a, "email")
    with tenant_a.scope():
        refund = Tag.objects.create(organization=org, name="返品")
        t1 = ticket(org, line, jst("2026-11-16 09:00"))
        t1.tags.set([refund])
        survey_answer(t1, jst("2026-11-16 10:00"), 5, agent_id=agent1.pk)
        survey_answer(ticket(org, line, jst("2026-11-16 09:00")), jst("2026-11-17 00:30"), 4, agent_id=agent2.pk)
        t3 = ticket(org, mail, jst("2026-11-16 09:00"))
        t3.tags.set([refund])
        survey_answer(t3, jst("2026-11-17 12:00"), 2, agent_id=agent1.pk)
        survey_answer(ticket(org, mail, jst("2026-11-16 09:00")), jst("2026-11-18 09:00"), 3, comment="普通でした")
        survey_answer(ticket(org, line, jst("2026-11-16 09:00")), jst("2026-11-20 00:00"), 1, agent_id=agent1.pk)
    other = factories.connection(tenant_b, "line")
    with tenant_b.scope():
        survey_answer(ticket(tenant_b.organization, other, jst("2026-11-16 09:00")), jst("2026-11-16 12:00"), 1)
    catch_up()
    return {"org": org, "line": line, "mail": mail, "agent1": agent1, "agent2": agent2, "refund": refund}


def _filters(answers, **extra) -> Filters:
    return Filters(organization=answers["org"], first_day=date(2026, 11, 16), last_day=date(2026, 11, 19), **extra)


def test_csat_and_average_by_answer_day(answers, tenant_a):
    with tenant_a.scope():
        assert metrics.csat(_filters(answers)) == {"answered": 4, "satisfied": 2, "rate": 50.0, "average": 3.5}


def test_series_per_day_in_the_organization_time_zone(answers, tenant_a):
    with tenant_a.scope():
        series = metrics.csat_series(_filters(answers))
    assert series == {
        "x": ["2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19"],
        "rate": [100.0, 50.0, 0.0, None],
        "average": [5.0, 3.0, 3.0, None],
    }


def test_distribution_and_breakdowns(answers, tenant_a):
    agent1, agent2 = answers["agent1"].pk, answers["agent2"].pk
    with tenant_a.scope():
        filters = _filters(answers)
        assert metrics.csat_distribution(filters) == [0, 1, 1, 1, 1]
        by_agent = {row["id"]: row for row in metrics.csat_by_agent(filters)}
        by_channel = {row["id"]: row for row in metrics.csat_by_channel(filters)}
    assert by_agent == {
        agent1: {"id": agent1, "answered": 2, "rate": 50.0, "average": 3.5},
        agent2: {"id": agent2, "answered": 1, "rate": 100.0, "average": 4.0},
        None: {"id": None, "answered": 1, "rate": 0.0, "average": 3.0},
    }
    line, mail = answers["line"].pk, answers["mail"].pk
    assert by_channel == {
        line: {"id": line, "answered": 2, "rate": 100.0, "average": 4.5},
        mail: {"id": mail, "answered": 2, "rate": 0.0, "average": 2.5},
    }


def test_filters_and_channel_grants(answers, tenant_a):
    with tenant_a.scope():
        mail_only = metrics.csat(_filters(answers, connection_ids=frozenset({answers["mail"].pk})))
        line_visible = metrics.csat(_filters(answers, visible_connection_ids=frozenset({answers["line"].pk})))
        agent1 = metrics.csat(_filters(answers, agent_ids=frozenset({answers["agent1"].pk})))
    assert mail_only == {"answered": 2, "satisfied": 0, "rate": 0.0, "average": 2.5}
    assert line_visible == {"answered": 2, "satisfied": 2, "rate": 100.0, "average": 4.5}
    assert agent1 == {"answered": 2, "satisfied": 1, "rate": 50.0, "average": 3.5}


def test_tag_filter_reads_the_facts(answers, tenant_a):
    """T1 and T3 carry the tag 返品: ratings 5 and 2."""
    with tenant_a.scope():
        filters = _filters(answers, tag_ids=frozenset({answers["refund"].pk}))
        assert metrics.csat(filters) == {"answered": 2, "satisfied": 1, "rate": 50.0, "average": 3.5}
        assert metrics.csat_series(filters)["rate"] == [100.0, 0.0, None, None]
        assert metrics.csat_distribution(filters) == [0, 1, 0, 0, 1]
        assert [(row["id"], row["answered"]) for row in metrics.csat_by_agent(filters)] == [(answers["agent1"].pk, 2)]


def test_no_answers_gives_no_rate(tenant_a):
    with tenant_a.scope():
        filters = Filters(organization=tenant_a.organization, first_day=date(2026, 1, 1), last_day=date(2026, 1, 2))
        assert metrics.csat(filters) == {"answered": 0, "satisfied": 0, "rate": None, "average": None}
        assert metrics.csat_series(filters)["rate"] == [None, None]
