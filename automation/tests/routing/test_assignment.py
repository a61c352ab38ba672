"""Automatic assignment: strategies, capacity, availability and presence, skills, channel visibility, queue drains,
concurrent routing on real PostgreSQL, and the team page's routing settings."""

import itertools
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_scopes import scope

from accounts import services as account_services
from accounts.models import AuditAction, AuditEntry, Availability, Membership, Team
from automation.routing import assignment
from automation.routing.tasks import drain_queues_everywhere
from conftest import add_member, make_user
from core import presence
from core.models import Notification
from tickets.models import Ticket, TicketEvent, TicketEventKind, TicketStatus
from tickets.services.changes import ticket_update
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db

_serial = itertools.count(1)


# --- builders -----------------------------------------------------------------------------------------------------


def _agents(tenant, n: int, role: str = "agent", **membership_fields) -> list:
    users = []
    for _ in range(n):
        i = next(_serial)
        user = make_user(f"{role}{i}@{tenant.slug}.test", f"{role.title()} {i:03d}")
        membership = add_member(tenant.organization, user, role)
        if membership_fields:
            with tenant.scope():
                Membership.objects.filter(pk=membership.pk).update(**membership_fields)
        users.append(user)
    return users


def _team(tenant, members, *, grant=(), **routing) -> Team:
    """A team assigning round robin to its members, online or not unless told, with the connections granted."""
    with tenant.scope():
        team = account_services.team_create(
            organization=tenant.organization, actor=tenant.users["owner"], name=f"Team {next(_serial)}", members=members
        )
        Team.objects.filter(pk=team.pk).update(
            **{"assignment_strategy": "round_robin", "require_online": False, **routing}
        )
        for conn in grant:
            account_services.connection_access_set(
                organization=tenant.organization, actor=tenant.users["owner"], connection=conn, teams=[team]
            )
        return Team.objects.get(pk=team.pk)


def _tickets(tenant, conn, n: int, **fields) -> list[Ticket]:
    ids = []
    with tenant.scope():
        for _ in range(n):
            message, _created = message_ingest(
                organization=tenant.organization, connection=conn, inbound=inbound("help", thread=f"t{next(_serial)}")
            )
            ids.append(message.ticket_id)
        if fields:
            Ticket.objects.filter(pk__in=ids).update(**fields)
        return list(Ticket.objects.filter(pk__in=ids).order_by("pk"))


def _set(tenant, user, **fields) -> None:
    with tenant.scope():
        Membership.objects.filter(user=user).update(**fields)


def _route(tenant, ticket, team):
    with tenant.scope():
        return assignment.ticket_route(organization=tenant.organization, ticket=ticket, team=team)


def _assignees(tenant, tickets) -> list:
    with tenant.scope():
        rows = Ticket.objects.filter(pk__in=[t.pk for t in tickets]).order_by("pk")
        return list(rows.values_list("assignee_id", flat=True))


def _load(tenant) -> dict[int, int]:
    with tenant.scope():
        rows = Ticket.objects.filter(assignee__isnull=False).values("assignee_id").annotate(n=Count("pk"))
        return {row["assignee_id"]: row["n"] for row in rows}


# --- strategies ---------------------------------------------------------------------------------------------------


def test_round_robin_takes_turns_and_records_the_assignment_as_automation(tenant_a):
    conn = connection(tenant_a)
    a, b, c = _agents(tenant_a, 3)
    team = _team(tenant_a, [a, b, c], grant=[conn])
    tickets = _tickets(tenant_a, conn, 6)

    chosen = [_route(tenant_a, ticket, team) for ticket in tickets]

    assert [u.pk for u in chosen] == [a.pk, b.pk, c.pk, a.pk, b.pk, c.pk]
    assert _assignees(tenant_a, tickets) == [u.pk for u in chosen]
    with tenant_a.scope():
        assert set(Ticket.objects.values_list("team_id", flat=True)) == {team.pk}
        events = TicketEvent.objects.filter(kind=TicketEventKind.ASSIGNMENT)
        assert events.count() == 6 and not events.filter(actor__isnull=False).exists()
        notified = Counter(Notification.objects.filter(kind="assigned").values_list("user_id", flat=True))
        assert notified == {a.pk: 2, b.pk: 2, c.pk: 2}
        assert all(m.last_assigned_at for m in Membership.objects.filter(user__in=[a, b, c]))


def test_least_open_picks_the_agent_with_fewest_new_or_open_tickets(tenant_a):
    conn = connection(tenant_a)
    a, b, c = _agents(tenant_a, 3)
    team = _team(tenant_a, [a, b, c], grant=[conn], assignment_strategy="least_open")
    # a has two open tickets; c has two, but pending and on hold: they wait on others and do not count.
    _tickets(tenant_a, conn, 2, assignee=a, status=TicketStatus.OPEN)
    _tickets(tenant_a, conn, 1, assignee=c, status=TicketStatus.PENDING)
    _tickets(tenant_a, conn, 1, assignee=c, status=TicketStatus.ON_HOLD)
    new = _tickets(tenant_a, conn, 3)

    chosen = [_route(tenant_a, ticket, team).pk for ticket in new]

    # b (0) -> c (0, b now has 1) -> b and c tie at 1, b was assigned longer ago.
    assert chosen == [b.pk, c.pk, b.pk]


def test_capacity_is_never_exceeded_and_the_rest_waits_in_the_team_queue(tenant_a):
    conn = connection(tenant_a)
    a, b, zero = _agents(tenant_a, 3)
    _set(tenant_a, a, capacity=1)
    _set(tenant_a, zero, capacity=0)  # never assigned automatically
    team = _team(tenant_a, [a, b, zero], grant=[conn], default_capacity=2)
    tickets = _tickets(tenant_a, conn, 4)

    chosen = [_route(tenant_a, ticket, team) for ticket in tickets]

    assert [u.pk if u else None for u in chosen] == [a.pk, b.pk, b.pk, None]
    with tenant_a.scope():
        waiting = Ticket.objects.get(pk=tickets[3].pk)
        assert (waiting.team_id, waiting.assignee_id) == (team.pk, None)
        assert list(assignment.waiting_tickets(team).values_list("pk", flat=True)) == [waiting.pk]


def test_away_and_offline_agents_get_nothing(tenant_a):
    conn = connection(tenant_a)
    online, away, offline = _agents(tenant_a, 3)
    _set(tenant_a, away, availability=Availability.AWAY)
    team = _team(tenant_a, [online, away, offline], grant=[conn], require_online=True)
    for user in (online, away):
        presence.online_touch(tenant_a.organization.pk, user.pk, f"tab-{user.pk}")
    tickets = _tickets(tenant_a, conn, 3)

    assert [_route(tenant_a, ticket, team) for ticket in tickets] == [online, online, online]

    presence.online_leave(tenant_a.organization.pk, online.pk, f"tab-{online.pk}")
    later = _tickets(tenant_a, conn, 1)[0]
    assert _route(tenant_a, later, team) is None


def test_without_require_online_offline_but_available_agents_are_assigned(tenant_a):
    conn = connection(tenant_a)
    (agent,) = _agents(tenant_a, 1)
    team = _team(tenant_a, [agent], grant=[conn], require_online=False)
    assert _route(tenant_a, _tickets(tenant_a, conn, 1)[0], team) == agent


def test_skills_are_preferred_and_others_take_over_when_none_fits(tenant_a):
    line = connection(tenant_a, "line")
    english, japanese = _agents(tenant_a, 2)
    _set(tenant_a, english, skill_languages=["en"])
    _set(tenant_a, japanese, skill_languages=["ja"], skill_platforms=["line"], capacity=1)
    team = _team(tenant_a, [english, japanese], grant=[line], match_skills=True)
    ja_1, en_1, ja_2 = _tickets(tenant_a, line, 3)
    with tenant_a.scope():
        Ticket.objects.filter(pk__in=[ja_1.pk, ja_2.pk]).update(language="ja")
        Ticket.objects.filter(pk=en_1.pk).update(language="en-US")

    # english comes first in the round (lower id) but does not speak Japanese; japanese is then full, so the second
    # Japanese ticket falls back to english rather than waiting.
    assert [_route(tenant_a, t, team) for t in (ja_1, en_1, ja_2)] == [japanese, english, english]


def test_an_agent_never_gets_a_ticket_of_a_channel_they_cannot_see(tenant_a):
    granted, hidden = connection(tenant_a, "line"), connection(tenant_a, "email")
    blind, sighted = _agents(tenant_a, 2)
    team = _team(tenant_a, [blind, sighted])
    with tenant_a.scope():
        account_services.connection_access_set(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], connection=granted, users=[sighted]
        )
    on_granted = _tickets(tenant_a, granted, 3)
    on_hidden = _tickets(tenant_a, hidden, 1)

    assert [_route(tenant_a, t, team) for t in on_granted] == [sighted, sighted, sighted]
    assert _route(tenant_a, on_hidden[0], team) is None  # nobody in the team may see it: it waits
    # A manager sees every channel without a grant.
    with tenant_a.scope():
        team.group.user_set.add(tenant_a.users["manager"])
    assert _route(tenant_a, on_hidden[0], team) == tenant_a.users["manager"]


def test_manual_teams_only_queue_and_assigned_tickets_keep_their_agent(tenant_a):
    conn = connection(tenant_a)
    (agent,) = _agents(tenant_a, 1)
    manual = _team(tenant_a, [agent], grant=[conn], assignment_strategy="manual")
    automatic = _team(tenant_a, [agent], grant=[conn])
    ticket, assigned = _tickets(tenant_a, conn, 2)
    with tenant_a.scope():
        ticket_update(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], ticket=assigned, assignee=agent
        )

    assert _route(tenant_a, ticket, manual) is None
    assert _route(tenant_a, assigned, automatic) is None
    with tenant_a.scope():
        ticket.refresh_from_db()
        assigned.refresh_from_db()
        assert (ticket.team_id, ticket.assignee_id) == (manual.pk, None)
        assert (assigned.team_id, assigned.assignee_id) == (automatic.pk, agent.pk)
        assert TicketEvent.objects.filter(ticket=ticket, kind=TicketEventKind.TEAM, actor__isnull=True).exists()


def test_solved_merged_and_snoozed_tickets_are_queued_but_not_assigned(tenant_a):
    conn = connection(tenant_a)
    (agent,) = _agents(tenant_a, 1)
    team = _team(tenant_a, [agent], grant=[conn])
    solved = _tickets(tenant_a, conn, 1, status=TicketStatus.SOLVED)[0]
    snoozed = _tickets(tenant_a, conn, 1, snoozed_until=timezone.now() + timedelta(hours=1))[0]

    assert _route(tenant_a, solved, team) is None and _route(tenant_a, snoozed, team) is None
    with tenant_a.scope():
        assert team.pk == Ticket.objects.get(pk=snoozed.pk).team_id
        assert not assignment.waiting_tickets(team).exists()  # a snoozed ticket does not wait until it wakes


# --- queue drains -------------------------------------------------------------------------------------------------


def test_a_drain_assigns_the_oldest_waiting_tickets_while_agents_have_room(tenant_a):
    conn = connection(tenant_a)
    a, b = _agents(tenant_a, 2, availability=Availability.AWAY)
    team = _team(tenant_a, [a, b], grant=[conn], default_capacity=2)
    tickets = _tickets(tenant_a, conn, 5)
    assert [_route(tenant_a, t, team) for t in tickets] == [None] * 5
    _set(tenant_a, a, availability=Availability.AVAILABLE)
    _set(tenant_a, b, availability=Availability.AVAILABLE)

    with tenant_a.scope():
        assigned = assignment.team_queue_drain(organization=tenant_a.organization, team=team)

    assert assigned == 4
    assert _assignees(tenant_a, tickets) == [a.pk, b.pk, a.pk, b.pk, None]


def test_the_queue_drains_when_an_agent_switches_to_available(tenant_a, django_capture_on_commit_callbacks):
    conn = connection(tenant_a)
    (agent,) = _agents(tenant_a, 1, availability=Availability.AWAY)
    team = _team(tenant_a, [agent], grant=[conn])
    tickets = _tickets(tenant_a, conn, 2)
    assert [_route(tenant_a, t, team) for t in tickets] == [None, None]

    with tenant_a.scope(), django_capture_on_commit_callbacks(execute=True):
        membership = Membership.objects.get(user=agent)
        assignment.membership_availability_set(
            organization=tenant_a.organization, actor=agent, membership=membership, availability="available"
        )

    assert _assignees(tenant_a, tickets) == [agent.pk, agent.pk]


def test_the_beat_drains_a_queue_once_capacity_frees(tenant_a):
    conn = connection(tenant_a)
    (agent,) = _agents(tenant_a, 1, capacity=1)
    team = _team(tenant_a, [agent], grant=[conn])
    first, second = _tickets(tenant_a, conn, 2)
    assert [_route(tenant_a, t, team) for t in (first, second)] == [agent, None]
    assert drain_queues_everywhere() == 1 and _assignees(tenant_a, [second]) == [None]  # still full

    with tenant_a.scope():
        ticket_update(organization=tenant_a.organization, actor=agent, ticket=first, status="solved")
    drain_queues_everywhere()

    assert _assignees(tenant_a, [second]) == [agent.pk]


def test_agent_became_available_drains_each_of_their_teams(tenant_a):
    conn = connection(tenant_a)
    (agent,) = _agents(tenant_a, 1, availability=Availability.AWAY)
    support, social, manual = (
        _team(tenant_a, [agent]),
        _team(tenant_a, [agent]),
        _team(tenant_a, [agent], assignment_strategy="manual"),
    )
    with tenant_a.scope():
        account_services.connection_access_set(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], connection=conn, teams=[support, social]
        )
    tickets = _tickets(tenant_a, conn, 3)
    for ticket, team in zip(tickets, (support, social, manual), strict=True):
        _route(tenant_a, ticket, team)
    _set(tenant_a, agent, availability=Availability.AVAILABLE)

    with tenant_a.scope():
        assert assignment.agent_became_available(organization=tenant_a.organization, user=agent) == 2

    assert _assignees(tenant_a, tickets) == [agent.pk, agent.pk, None]


# --- concurrency (real PostgreSQL, one connection per thread) ------------------------------------------------------


def _in_threads(tenant, jobs: list, threads: int) -> tuple[list, list]:
    """Run the jobs (callables) spread over `threads` threads that start together. Returns (results, errors)."""
    barrier = threading.Barrier(threads)
    results, errors = [], []
    lock = threading.Lock()

    def worker(share):
        try:
            barrier.wait()
            for job in share:
                with tenant.scope():
                    value = job()
                with lock:
                    results.append(value)
        except Exception as exc:  # collected and asserted by the test
            errors.append(exc)
        finally:
            db_connection.close()

    pool = [threading.Thread(target=worker, args=(jobs[i::threads],)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return results, errors


def _route_job(tenant, ticket, team):
    return lambda: assignment.ticket_route(organization=tenant.organization, ticket=ticket, team=team)


@pytest.mark.django_db(transaction=True)
def test_sixty_tickets_routed_at_once_are_spread_evenly(tenant_a):
    # Given five agents with room to spare and sixty new tickets
    conn = connection(tenant_a)
    agents = _agents(tenant_a, 5)
    team = _team(tenant_a, agents, grant=[conn], default_capacity=20)
    tickets = _tickets(tenant_a, conn, 60)

    # When six threads route them at the same moment
    results, errors = _in_threads(tenant_a, [_route_job(tenant_a, t, team) for t in tickets], threads=6)

    # Then no error (no deadlock, no serialization failure), every ticket assigned once, and the round is even
    assert errors == []
    assert len(results) == 60 and None not in results
    load = _load(tenant_a)
    assert sum(load.values()) == 60 and set(load) == {a.pk for a in agents}
    assert max(load.values()) - min(load.values()) <= 1, load
    with tenant_a.scope():
        assert TicketEvent.objects.filter(kind=TicketEventKind.ASSIGNMENT).count() == 60


@pytest.mark.django_db(transaction=True)
def test_concurrent_routing_in_two_teams_sharing_agents_never_exceeds_capacity(tenant_a):
    # Given four agents with capacities 3, 4, 5 and 6 (18 in all); team A has all of them, team B the last three
    conn = connection(tenant_a)
    agents = _agents(tenant_a, 4)
    capacities = dict(zip([a.pk for a in agents], [3, 4, 5, 6], strict=True))
    for user in agents:
        _set(tenant_a, user, capacity=capacities[user.pk])
    team_a = _team(tenant_a, agents, default_capacity=50)
    team_b = _team(tenant_a, agents[1:], default_capacity=50)
    with tenant_a.scope():
        account_services.connection_access_set(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], connection=conn, teams=[team_a, team_b]
        )
    tickets = _tickets(tenant_a, conn, 60)
    jobs = [_route_job(tenant_a, t, team_a if i % 2 else team_b) for i, t in enumerate(tickets)]

    # When six threads route 30 tickets to each team at the same moment, and two more drain both queues meanwhile
    drains = [lambda team=team: _drain(tenant_a, team) for team in (team_a, team_b)]
    _results, errors = _in_threads(tenant_a, jobs + drains, threads=8)

    # Then every agent is exactly full — never over — and the other 42 tickets wait in their teams' queues
    assert errors == []
    assert _load(tenant_a) == capacities
    with tenant_a.scope():
        assert Ticket.objects.filter(assignee__isnull=True).count() == 60 - sum(capacities.values())
        assert Ticket.objects.filter(team__isnull=True).count() == 0


def _drain(tenant, team):
    return assignment.team_queue_drain(organization=tenant.organization, team=team)


@pytest.mark.django_db(transaction=True)
def test_concurrent_drains_of_one_queue_assign_each_ticket_once(tenant_a):
    # Given 40 tickets waiting while three agents were away (capacity 25 in all)
    conn = connection(tenant_a)
    agents = _agents(tenant_a, 3, availability=Availability.AWAY)
    for user, capacity in zip(agents, [5, 8, 12], strict=True):
        _set(tenant_a, user, capacity=capacity)
    team = _team(tenant_a, agents, grant=[conn])
    tickets = _tickets(tenant_a, conn, 40, team=team)
    for user in agents:
        _set(tenant_a, user, availability=Availability.AVAILABLE)

    # When four drains of the same queue run at once (a task delivered twice, the beat, an agent coming online)
    results, errors = _in_threads(tenant_a, [lambda: _drain(tenant_a, team)] * 4, threads=4)

    # Then 25 tickets are assigned exactly once between them and nobody is over capacity
    assert errors == []
    assert sum(results) == 25
    assert _load(tenant_a) == {agents[0].pk: 5, agents[1].pk: 8, agents[2].pk: 12}
    assert _assignees(tenant_a, tickets).count(None) == 15
    with tenant_a.scope():
        assert TicketEvent.objects.filter(kind=TicketEventKind.ASSIGNMENT).count() == 25


@pytest.mark.django_db(transaction=True)
def test_threads_routing_into_one_team_fill_it_in_turn_and_never_over_capacity(tenant_a):
    # Given five agents with room for six open tickets each (30 in all), one of them already holding two
    conn = connection(tenant_a)
    agents = _agents(tenant_a, 5)
    team = _team(tenant_a, agents, grant=[conn], default_capacity=6)
    _tickets(tenant_a, conn, 2, assignee=agents[2], status=TicketStatus.OPEN)
    tickets = _tickets(tenant_a, conn, 40)

    # When eight threads route the 40 new tickets into the team at the same moment
    results, errors = _in_threads(tenant_a, [_route_job(tenant_a, t, team) for t in tickets], threads=8)

    # Then nobody is over capacity and every agent is full: 28 tickets assigned, each exactly once; 12 wait
    assert errors == []
    assert len(results) == 40 and sum(r is not None for r in results) == 28
    assert _load(tenant_a) == {a.pk: 6 for a in agents}
    with tenant_a.scope():
        assigned = list(
            TicketEvent.objects.filter(kind=TicketEventKind.ASSIGNMENT, ticket__in=tickets)
            .order_by("pk")
            .values_list("ticket_id", "new")
        )
        assert len(assigned) == 28 and len({ticket_id for ticket_id, _user in assigned}) == 28
        assert Ticket.objects.filter(pk__in=[t.pk for t in tickets], assignee__isnull=True).count() == 12
    # And the decisions, serialised by the team's lock, went round: each run of five has five different agents
    # until the one who started with two tickets is full (the last round leaves them out).
    order = [user_id for _ticket_id, user_id in assigned]
    for start in range(0, 20, 5):
        assert len(set(order[start : start + 5])) == 5, order
    assert Counter(order[20:]) == {a.pk: 2 for a in agents if a != agents[2]}, order


def _decision_queries(tenant, team, conn) -> list[str]:
    """The statements one routing decision sends, from its transaction to its real-time events after commit."""
    ticket = _tickets(tenant, conn, 1)[0]
    with CaptureQueriesContext(db_connection) as ctx:
        assert _route(tenant, ticket, team) is not None
    return [q["sql"] for q in ctx.captured_queries]


@pytest.mark.django_db(transaction=True)
def test_a_decision_costs_the_same_few_queries_whatever_the_number_of_agents_and_tickets(tenant_a):
    # Given a team that asks for presence, of two online agents, one ticket already assigned
    conn = connection(tenant_a)
    agents = _agents(tenant_a, 2)
    team = _team(tenant_a, agents, grant=[conn], require_online=True, default_capacity=100)
    for user in agents:
        presence.online_touch(tenant_a.organization.pk, user.pk, "tab")
    _route(tenant_a, _tickets(tenant_a, conn, 1)[0], team)
    small = _decision_queries(tenant_a, team, conn)

    # When the team grows to twelve agents with grants of their own, skills and many open tickets
    more = _agents(tenant_a, 10, skill_languages=["ja"])
    with tenant_a.scope():
        team.group.user_set.add(*more)
        account_services.connection_access_set(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], connection=conn, users=more[:5]
        )
        Team.objects.filter(pk=team.pk).update(match_skills=True)
        team.refresh_from_db()
    for user in more:
        presence.online_touch(tenant_a.organization.pk, user.pk, "tab")
        _tickets(tenant_a, conn, 3, assignee=user, status=TicketStatus.OPEN)
    large = _decision_queries(tenant_a, team, conn)

    # Then a decision sends the same statements: in its transaction the ticket's lock, the decision (team and
    # candidate locks, open counts, channel access), the writes and the notification; then its real-time events
    assert len(large) == len(small), "\n".join(large)
    in_transaction = large[large.index("BEGIN") + 1 : large.index("COMMIT")]
    assert len(in_transaction) == 5, "\n".join(in_transaction)
    assert len(large) <= 16, "\n".join(large)


# --- the team page ------------------------------------------------------------------------------------------------


def _routing_post(team, memberships, **overrides) -> dict:
    data = {
        "action": "routing",
        "assignment_strategy": "least_open",
        "default_capacity": "7",
        "match_skills": "on",
        "require_online": "",
    }
    for m in memberships:
        data[f"member-{m.pk}-capacity"] = ""
    data.update(overrides)
    return data


def _team_url(tenant, team) -> str:
    return f"/{tenant.slug}/settings/teams/{team.pk}/"


def test_admins_change_routing_and_it_is_audited(tenant_a, login):
    conn = connection(tenant_a)
    agent = tenant_a.users["agent"]
    team = _team(tenant_a, [agent], grant=[conn], assignment_strategy="manual", require_online=True)
    membership = tenant_a.memberships["agent"]
    client = login(tenant_a.users["admin"])

    response = client.post(
        _team_url(tenant_a, team),
        _routing_post(
            team,
            [membership],
            **{
                f"member-{membership.pk}-capacity": "3",
                f"member-{membership.pk}-skill_languages": ["ja", "en"],
                f"member-{membership.pk}-skill_platforms": ["instagram"],
            },
        ),
    )

    assert response.status_code == 302
    with tenant_a.scope():
        team.refresh_from_db()
        membership.refresh_from_db()
        entry = AuditEntry.objects.get(action=AuditAction.ROUTING_CHANGED)
    assert (team.assignment_strategy, team.default_capacity, team.match_skills, team.require_online) == (
        "least_open",
        7,
        True,
        False,
    )
    assert (membership.capacity, membership.skill_languages, membership.skill_platforms) == (
        3,
        ["en", "ja"],
        ["instagram"],
    )
    assert entry.actor == tenant_a.users["admin"] and entry.object_id == str(team.pk)
    assert entry.changes["assignment_strategy"] == ["manual", "least_open"]
    assert entry.changes["members"][agent.email]["capacity"] == [None, 3]


def test_invalid_routing_input_is_a_form_error_and_changes_nothing(tenant_a, login):
    team = _team(tenant_a, [tenant_a.users["agent"]])
    membership = tenant_a.memberships["agent"]
    client = login(tenant_a.users["owner"])
    for bad in (
        {"default_capacity": "0"},
        {"default_capacity": "lots"},
        {"assignment_strategy": "fastest"},
        {f"member-{membership.pk}-capacity": "-2"},
        {f"member-{membership.pk}-capacity": "9999"},
        {f"member-{membership.pk}-skill_platforms": ["myspace"]},
        {f"member-{membership.pk}-skill_languages": ["tlh"]},
    ):
        response = client.post(_team_url(tenant_a, team), _routing_post(team, [membership], **bad))
        assert response.status_code == 400, bad
        assert b"field-error" in response.content, bad
    with tenant_a.scope():
        assert not AuditEntry.objects.filter(action=AuditAction.ROUTING_CHANGED).exists()
        assert Team.objects.get(pk=team.pk).assignment_strategy == "round_robin"


def test_members_without_the_routing_capability_see_it_but_cannot_change_it(tenant_a, login):
    team = _team(tenant_a, [tenant_a.users["agent"]])
    for role in ("manager", "agent"):
        client = login(tenant_a.users[role])
        page = client.get(_team_url(tenant_a, team))
        assert page.status_code == 200
        assert b'name="action" value="routing"' not in page.content and b'id="routing-summary"' in page.content
        response = client.post(_team_url(tenant_a, team), _routing_post(team, [tenant_a.memberships["agent"]]))
        assert response.status_code == 403
    with tenant_a.scope():
        assert Team.objects.get(pk=team.pk).assignment_strategy == "round_robin"


def test_the_page_shows_each_members_load_presence_and_availability(tenant_a, login):
    conn = connection(tenant_a)
    busy, away = _agents(tenant_a, 2)
    _set(tenant_a, away, availability=Availability.AWAY)
    team = _team(tenant_a, [busy, away], default_capacity=4)
    _tickets(tenant_a, conn, 2, assignee=busy, status=TicketStatus.OPEN)
    _tickets(tenant_a, conn, 1, assignee=busy, status=TicketStatus.PENDING)
    presence.online_touch(tenant_a.organization.pk, busy.pk, "tab")
    with tenant_a.scope():
        busy_id, away_id = (Membership.objects.get(user=u).pk for u in (busy, away))

    owner = tenant_a.users["owner"]
    owner.language = "en"  # the page follows the reader's language; this test reads the English texts
    owner.save(update_fields=["language"])
    page = login(owner).get(_team_url(tenant_a, team)).content.decode()

    busy_part = page[page.index(f'id="member-{busy_id}"') : page.index(f'id="member-{away_id}"')]
    away_part = page[page.index(f'id="member-{away_id}"') :]
    assert 'data-online="true"' in busy_part and 'data-open="2"' in busy_part and "2 of 4 open tickets" in busy_part
    assert 'data-online="false"' in away_part and 'data-availability="away"' in away_part


@pytest.mark.parametrize(("language", "expected"), [("en", "<h3>Members</h3>"), ("ja", "<h3>メンバー</h3>")])
def test_the_team_page_renders_in_each_language(tenant_a, login, language, expected):
    team = _team(tenant_a, [tenant_a.users["agent"]])
    owner = tenant_a.users["owner"]
    owner.language = language
    owner.save(update_fields=["language"])
    response = login(owner).get(_team_url(tenant_a, team))
    assert response.status_code == 200 and response.headers["Content-Language"] == language
    assert expected in response.content.decode()


def test_another_organizations_team_is_not_found(tenant_a, tenant_b, login):
    team_b = _team(tenant_b, [tenant_b.users["agent"]])
    client = login(tenant_a.users["owner"])
    url = f"/{tenant_a.slug}/settings/teams/{team_b.pk}/"
    assert client.get(url).status_code == 404
    assert client.post(url, _routing_post(team_b, [tenant_b.memberships["agent"]])).status_code == 404
    with tenant_b.scope():
        assert Team.objects.get(pk=team_b.pk).assignment_strategy == "round_robin"


def test_the_team_page_costs_the_same_queries_with_more_members_and_tickets(tenant_a, login):
    conn = connection(tenant_a)
    client = login(tenant_a.users["owner"])
    team = _team(tenant_a, _agents(tenant_a, 2))
    client.get(_team_url(tenant_a, team))  # first visit: records the last organization

    def count() -> int:
        with CaptureQueriesContext(db_connection) as ctx:
            assert client.get(_team_url(tenant_a, team)).status_code == 200
        return len(ctx.captured_queries)

    small = count()
    more = _agents(tenant_a, 10)
    with tenant_a.scope():
        team.group.user_set.add(*more)
    for user in more[:5]:
        _tickets(tenant_a, conn, 2, assignee=user)
        presence.online_touch(tenant_a.organization.pk, user.pk, "tab")
    assert count() == small
    assert small <= 16, small


def test_presence_expiry_takes_agents_out_of_routing(tenant_a):
    conn = connection(tenant_a)
    (agent,) = _agents(tenant_a, 1)
    team = _team(tenant_a, [agent], grant=[conn], require_online=True)
    # The tab's last heartbeat was longer ago than the expiry: the browser is gone without a disconnect.
    presence.online_touch(tenant_a.organization.pk, agent.pk, "tab", now=time.time() - presence.ONLINE_TTL - 5)
    ticket = _tickets(tenant_a, conn, 1)[0]
    assert _route(tenant_a, ticket, team) is None
    presence.online_touch(tenant_a.organization.pk, agent.pk, "tab")
    with scope(organization=tenant_a.organization):
        assert assignment.team_queue_drain(organization=tenant_a.organization, team=team) == 1
