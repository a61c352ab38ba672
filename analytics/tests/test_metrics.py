"""Metrics on a hand-built history, with hand-computed values.

Calendar: Monday–Friday 09:00–18:00 in Tokyo, closed on Japanese holidays. Monday 2026-11-23 is 勤労感謝の日.

T1 (line A) created Mon 11-16 10:00; customer 10:00; agent1 replies 10:10 (600 s); assigned to agent1 at 10:05;
   solved 11:00 (3600 s); customer writes 12:00 → reopened; reassigned to agent2 11:30; agent2 replies 12:45
   (reply 2700 s); solved 13:00 (10800 s from creation).
T2 (line A) created 11-16 10:00; customer 10:00; agent1 replies 10:20 (1200 s); follows up 10:40 (no customer
   message waiting: not timed).
T3 (line A) created 11-16 10:00; customer 10:00; automatic reply 10:01 and a note 10:05 (neither counts); agent1
   replies 10:30 (1800 s).
T4 (mail B) created Fri 11-20 17:00; customer 17:00; agent1 replies Tue 11-24 10:00: 89 h = 320400 s wall-clock;
   business: Fri 17–18 (1 h) + Tue 9–10 (1 h) = 7200 s (weekend and the holiday closed).
T5 (line A) started by an agent 11-17 08:30 (the 16th in UTC): created, not a customer conversation.
T6 (line A) created 11-18 09:00, customer, never answered.
SLA: T1 first response met, T2 met, T4 breached.
"""

from datetime import date

import pytest
from django.db.models import F, Sum
from django_scopes import scopes_disabled

from analytics import metrics, services
from analytics.models import ConsumerCursor, DailyRollup, FactKind, TicketFact
from analytics.tests.builders import catch_up, event, inbound, jst, reply, sla_event, ticket
from automation.models import BusinessCalendar, SlaPolicy
from tickets.tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def history(tenant_a):
    org = tenant_a.organization
    agent1, agent2 = tenant_a.users["agent"], tenant_a.users["admin"]
    with tenant_a.scope():
        BusinessCalendar.objects.create(organization=org, name="平日", japanese_holidays=True, is_default=True)
    line = factories.connection(tenant_a, "line")
    mail = factories.connection(tenant_a, "email")
    with tenant_a.scope():
        t1 = ticket(org, line, jst("2026-11-16 10:00"), assignee=agent2, status="solved")
        event(t1, jst("2026-11-16 10:00"), "created")
        inbound(t1, jst("2026-11-16 10:00"))
        event(t1, jst("2026-11-16 10:05"), "assignment", None, agent1.pk, actor=agent1)
        reply(t1, jst("2026-11-16 10:10"), agent1)
        event(t1, jst("2026-11-16 11:00"), "status", "open", "solved", actor=agent1)
        event(t1, jst("2026-11-16 11:30"), "assignment", agent1.pk, agent2.pk, actor=agent2)
        inbound(t1, jst("2026-11-16 12:00"))
        event(t1, jst("2026-11-16 12:00"), "reopened", "solved", "open")
        reply(t1, jst("2026-11-16 12:45"), agent2)
        event(t1, jst("2026-11-16 13:00"), "status", "open", "solved", actor=agent2)
        sla_event(t1, jst("2026-11-16 10:10"), "met")

        t2 = ticket(org, line, jst("2026-11-16 10:00"))
        event(t2, jst("2026-11-16 10:00"), "created")
        inbound(t2, jst("2026-11-16 10:00"))
        reply(t2, jst("2026-11-16 10:20"), agent1)
        reply(t2, jst("2026-11-16 10:40"), agent1)
        sla_event(t2, jst("2026-11-16 10:20"), "met")

        t3 = ticket(org, line, jst("2026-11-16 10:00"))
        event(t3, jst("2026-11-16 10:00"), "created")
        inbound(t3, jst("2026-11-16 10:00"))
        reply(t3, jst("2026-11-16 10:01"), None, automated=True)
        reply(t3, jst("2026-11-16 10:05"), agent1, kind="note")
        reply(t3, jst("2026-11-16 10:30"), agent1)

        t4 = ticket(org, mail, jst("2026-11-20 17:00"))
        event(t4, jst("2026-11-20 17:00"), "created")
        inbound(t4, jst("2026-11-20 17:00"))
        reply(t4, jst("2026-11-24 10:00"), agent1)
        sla_event(t4, jst("2026-11-21 09:00"), "breached")

        t5 = ticket(org, line, jst("2026-11-17 08:30"))  # 2026-11-16 23:30 UTC: the 17th in Tokyo
        event(t5, jst("2026-11-17 08:30"), "created", actor=agent1)
        reply(t5, jst("2026-11-17 08:30"), agent1)

        t6 = ticket(org, line, jst("2026-11-18 09:00"))
        event(t6, jst("2026-11-18 09:00"), "created")
        inbound(t6, jst("2026-11-18 09:00"))
    catch_up()
    return {"org": org, "line": line, "mail": mail, "agent1": agent1, "agent2": agent2, "tickets": (t1, t2, t3, t4)}


def _filters(h, **extra):
    return metrics.Filters(organization=h["org"], first_day=date(2026, 11, 16), last_day=date(2026, 11, 30), **extra)


def test_first_response_median_and_p90_across_weekend_and_holiday(history, tenant_a):
    with tenant_a.scope():
        result = metrics.first_response_time(_filters(history))
    # T5's opening message responds to nobody: not a first response.
    assert result["count"] == 4
    # Wall-clock [600, 1200, 1800, 320400]: median (1200 + 1800) / 2 = 1500; p90 at position 0.9 × 3 = 2.7:
    # 1800 + 0.7 × (320400 − 1800) = 224820.
    assert result["median"] == 1500
    assert result["p90"] == pytest.approx(224820)
    # Business [600, 1200, 1800, 7200]: median 1500; p90 1800 + 0.7 × 5400 = 5580.
    assert result["business_median"] == 1500
    assert result["business_p90"] == pytest.approx(5580)


def test_business_duration_of_the_holiday_ticket(history, tenant_a):
    t4 = history["tickets"][3]
    with tenant_a.scope():
        fact = TicketFact.objects.get(ticket=t4, kind=FactKind.FIRST_RESPONSE)
    assert (fact.duration_seconds, fact.business_seconds) == (320400, 7200)


def test_resolution_time_and_reopen_rate(history, tenant_a):
    with tenant_a.scope():
        resolution = metrics.resolution_time(_filters(history))
        reopen = metrics.reopen_rate(_filters(history))
    # [3600, 10800]: median 7200; p90 3600 + 0.9 × 7200 = 10080. Business: all within Monday's hours.
    assert (resolution["count"], resolution["median"], resolution["p90"]) == (2, 7200, pytest.approx(10080))
    assert resolution["business_median"] == 7200
    assert reopen == {"reopens": 1, "solved": 2, "rate": 50.0}


def test_average_reply_time(history, tenant_a):
    with tenant_a.scope():
        result = metrics.average_reply_time(_filters(history))
    # Timed replies: 600, 2700, 1200, 1800, 320400 (T2's follow-up and T5's opening message wait for nobody).
    assert result["count"] == 5
    assert result["average"] == 326700 / 5
    assert result["business_average"] == (600 + 2700 + 1200 + 1800 + 7200) / 5


def test_volume_response_rate_and_sla(history, tenant_a):
    with tenant_a.scope():
        volume = metrics.volume(_filters(history))
        rate = metrics.response_rate(_filters(history))
        sla = metrics.sla_compliance(_filters(history))
    # Created 6; solved 2 (T1 twice); backlog 6 − 2 + 1 = 5 (T2–T6).
    assert volume == {"created": 6, "solved": 2, "backlog": 5}
    # Customer conversations T1, T2, T3, T4, T6; answered all but T6.
    assert (rate["total"], rate["answered"], rate["rate"]) == (5, 4, 80.0)
    assert sla["met"] == 2 and sla["breached"] == 1 and sla["rate"] == pytest.approx(200 / 3)


def test_attribution_follows_the_assignment_history(history, tenant_a):
    """T1's first solve was agent1's (assigned at the time), the second agent2's, though T1 is agent2's now."""
    with tenant_a.scope():
        first = metrics.volume(_filters(history, agent_ids=frozenset({history["agent1"].pk})))
        second = metrics.volume(_filters(history, agent_ids=frozenset({history["agent2"].pk})))
    assert first["solved"] == 1 and second["solved"] == 1


def test_filters_and_visible_channels(history, tenant_a):
    line, mail = history["line"], history["mail"]
    with tenant_a.scope():
        only_line = metrics.first_response_time(_filters(history, visible_connection_ids=[line.pk]))
        only_mail = metrics.first_response_time(_filters(history, platforms=frozenset({"email"})))
        mail_channel = metrics.volume(_filters(history, connection_ids=frozenset({mail.pk})))
    assert (only_line["count"], only_line["median"]) == (3, 1200)  # [600, 1200, 1800]
    assert (only_mail["count"], only_mail["median"]) == (1, 320400)
    assert mail_channel["created"] == 1


def test_date_range_is_in_the_organizations_days(history, tenant_a):
    """The range 11-16 only: T4's reply (11-24), T5 (the 17th in Tokyo, the 16th in UTC) and T6 are outside it."""
    with tenant_a.scope():
        day = metrics.Filters(organization=history["org"], first_day=date(2026, 11, 16), last_day=date(2026, 11, 16))
        assert metrics.volume(day)["created"] == 3
        assert metrics.first_response_time(day)["count"] == 3


def test_consumer_is_idempotent(history, tenant_a):
    def snapshot():
        with tenant_a.scope():
            return (
                TicketFact.objects.count(),
                list(DailyRollup.objects.order_by("id").values_list("count", "measured", "duration_sum")),
            )

    before = snapshot()
    assert catch_up() == 0
    # Even re-reading everything from the start (cursors reset) adds nothing.
    ConsumerCursor.objects.update(last_id=0)
    assert catch_up() == 0
    assert snapshot() == before


def test_rebuild_reproduces_the_consumer(history, tenant_a):
    def snapshot():
        with tenant_a.scope():
            facts = set(
                TicketFact.objects.values_list(
                    "ticket_id", "kind", "occurred_at", "team_id", "agent_id", "duration_seconds", "business_seconds"
                )
            )
            rollups = set(
                DailyRollup.objects.values_list(
                    "day", "connection_id", "team_id", "agent_id", "kind", "count", "measured", "duration_sum"
                )
            )
        return facts, rollups

    before = snapshot()
    services.rebuild(history["org"])
    assert snapshot() == before


def test_another_organization_is_never_counted(history, tenant_a, tenant_b):
    org_b = tenant_b.organization
    other = factories.connection(tenant_b, "line")
    with tenant_b.scope():
        tb = ticket(org_b, other, jst("2026-11-16 10:00"))
        event(tb, jst("2026-11-16 10:00"), "created")
        inbound(tb, jst("2026-11-16 10:00"))
        reply(tb, jst("2026-11-16 10:01"), tenant_b.users["agent"])
    catch_up()
    with tenant_a.scope():
        a = metrics.first_response_time(_filters(history))
        a_volume = metrics.volume(_filters(history))
    with tenant_b.scope():
        b = metrics.first_response_time(
            metrics.Filters(organization=org_b, first_day=date(2026, 11, 16), last_day=date(2026, 11, 30))
        )
        assert DailyRollup.objects.filter(organization=org_b).aggregate(n=Sum("count"))["n"] == 3
    assert (a["count"], a["median"], a_volume["created"]) == (4, 1500, 6)
    # The selectors filter by organization themselves, not only through django-scopes; and the consumer, which
    # reads every organization at once, gives each fact its ticket's organization.
    with scopes_disabled():
        assert metrics.volume(_filters(history))["created"] == 6
        assert metrics.first_response_time(_filters(history))["count"] == 4
        assert not TicketFact.objects.exclude(organization_id=F("ticket__organization_id")).exists()
    assert (b["count"], b["median"]) == (1, 60)


def test_a_row_is_read_only_after_the_next_run(tenant_a):
    """The horizon: a row that did not exist at the previous run waits one more run (time to commit)."""
    line = factories.connection(tenant_a, "line")
    catch_up()
    with tenant_a.scope():
        t = ticket(tenant_a.organization, line, jst("2026-11-16 10:00"))
        event(t, jst("2026-11-16 10:00"), "created")
    assert services.consume() == 0
    assert services.consume() == 1


def test_business_hours_come_from_the_tickets_sla_calendar(tenant_a):
    """A ticket under an SLA policy is measured on its policy's calendar (here 10:00–12:00 every day, holidays
    open), not on the organization's default calendar (weekdays 9–18, closed on holidays)."""
    org = tenant_a.organization
    line = factories.connection(tenant_a, "line")
    with tenant_a.scope():
        BusinessCalendar.objects.create(organization=org, name="平日", japanese_holidays=True, is_default=True)
        short = BusinessCalendar.objects.create(
            organization=org,
            name="午前",
            japanese_holidays=False,
            schedule={str(day): [["10:00", "12:00"]] for day in range(1, 8)},
        )
        policy = SlaPolicy.objects.create(organization=org, name="標準", priority="normal", calendar=short)
        # Fri 17:00 → Tue 11-24 10:00: Sat, Sun and the holiday Monday 10–12 = 6 h on the policy's calendar.
        t = ticket(org, line, jst("2026-11-20 17:00"), sla_policy=policy)
        inbound(t, jst("2026-11-20 17:00"))
        reply(t, jst("2026-11-24 10:00"), tenant_a.users["agent"])
    catch_up()
    with tenant_a.scope():
        fact = TicketFact.objects.get(ticket=t, kind=FactKind.FIRST_RESPONSE)
    assert (fact.duration_seconds, fact.business_seconds) == (320400, 6 * 3600)
