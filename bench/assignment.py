"""Automatic assignment throughput: tickets routed per second through `ticket_route` — the real service with its row
locks, capacity counts, channel-visibility check, presence lookup in Redis, TicketEvent, notification and real-time
event — on one organization with one round-robin team of BENCH_ASSIGN_AGENTS agents (all online, capacity not
binding), in one thread and in 4 concurrent threads (each with its own PostgreSQL connection; one team's decisions
are serialised by its row lock, so this measures how much that lock costs), and `team_queue_drain` emptying a queue.
Targets (issue 22): >= 100 decisions/s into one team, each decision — from the call to its real-time events delivered
after commit — p95 <= 20 ms; the statements one decision sends are counted too.

The organization's slug is "assignment-bench", not "bench-…" (bench/inbox.py counts the tickets of `bench-*`
organizations). Every run adds fresh tickets and first closes those earlier runs left open; the agents' email
notifications are off so that no email task is queued on the development broker. Smoke mode
(`python -m bench --smoke`): 5 agents, 40 tickets per phase."""

import os
import statistics
import threading
import time

from django.db import connection, transaction
from django.db.models import Max
from django_scopes import scope, scopes_disabled

SLUG = "assignment-bench"
SMOKE = os.environ.get("BENCH_SMOKE") == "1"
AGENTS = 5 if SMOKE else int(os.environ.get("BENCH_ASSIGN_AGENTS", "20"))
TICKETS = 40 if SMOKE else int(os.environ.get("BENCH_ASSIGN_TICKETS", "500"))  # per phase
RECORD_TICKETS = 10 if SMOKE else 100
THREADS = 4
TARGET_TPS = 100.0  # tickets routed per second into one team: well above one organization's intake of new tickets
TARGET_P95_MS = 20.0  # one decision with its writes and its events (issue 22)
MAX_QUERIES = 16  # statements a decision sends to PostgreSQL, its real-time delivery included


def _setup():
    """The organization, its agents, the team and a LINE connection granted to the team (created once)."""
    from accounts import services
    from accounts.models import Membership, Organization, Role, Team, User
    from channels_integrations.models import ChannelConnection
    from tickets.models import Ticket

    with scopes_disabled():
        organization = Organization.objects.filter(slug=SLUG).first()
        if organization is None:
            with transaction.atomic():
                owner = User.objects.create_user("owner@assignment-bench.example", "bench-password", name="Owner")
                organization = services.organization_create(name="Assignment bench", slug=SLUG, owner=owner)
    with scope(organization=organization):
        owner = Membership.objects.get(role__key="owner").user
        agent_role = Role.objects.get(key="agent")
        agents = []
        for n in range(AGENTS):
            user, _created = User.objects.get_or_create(
                email=f"agent{n}@assignment-bench.example", defaults={"name": f"Agent {n:02d}"}
            )
            Membership.objects.get_or_create(
                organization=organization, user=user, defaults={"role": agent_role, "notify_email": []}
            )
            agents.append(user)
        team = Team.objects.filter(name="Support").first() or services.team_create(
            organization=organization, actor=owner, name="Support", members=agents
        )
        team.group.user_set.set(agents)
        Team.objects.filter(pk=team.pk).update(
            assignment_strategy="round_robin", default_capacity=30000, match_skills=False, require_online=True
        )
        Membership.objects.filter(user__in=agents).update(availability="available", capacity=None, notify_email=[])
        # Earlier runs' tickets are done: every run starts with agents who hold no open ticket, so that it measures
        # the same work however often it ran (an agent's open tickets are counted at each decision).
        Ticket.objects.filter(status__in=["new", "open"]).update(status="closed")
        conn = ChannelConnection.objects.filter(display_name="LINE bench").first()
        if conn is None:
            conn = ChannelConnection.objects.create(
                organization=organization, platform="line", display_name="LINE bench", external_account_id="bench"
            )
            services.connection_access_set(organization=organization, actor=owner, connection=conn, teams=[team])
        return organization, Team.objects.get(pk=team.pk), conn, agents


def _new_tickets(organization, conn, n: int, team=None) -> list[int]:
    """n unassigned new tickets (one contact each), inserted in bulk: the bench measures routing, not ingestion."""
    from tickets.models import Contact, Ticket

    with scope(organization=organization), transaction.atomic():
        start = (Ticket.objects.aggregate(top=Max("number"))["top"] or 0) + 1
        stamp = time.time_ns()
        contacts = Contact.objects.bulk_create(
            [Contact(organization=organization, name=f"Customer {start + i}") for i in range(n)]
        )
        tickets = Ticket.objects.bulk_create(
            [
                Ticket(
                    organization=organization,
                    number=start + i,
                    connection=conn,
                    contact=contact,
                    subject="荷物が届きません",
                    language="ja",
                    team=team,
                    external_thread_key=f"bench-{stamp}-{i}",
                )
                for i, contact in enumerate(contacts)
            ]
        )
        return [t.pk for t in tickets]


class _Browsers:
    """The agents' open inboxes for the length of a phase: a heartbeat for each every 20 s, as inbox.js pings
    (a phase may outlast the presence expiry)."""

    def __init__(self, organization, agents):
        self.organization, self.agents = organization, agents
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _touch(self) -> None:
        from core import presence

        for user in self.agents:
            presence.online_touch(self.organization.pk, user.pk, f"bench-{user.pk}")

    def _beat(self) -> None:
        while not self.stop.wait(20):
            self._touch()

    def __enter__(self):
        self._touch()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def _route_all(organization, team, ticket_ids: list[int], timings: list[float], assigned: list[int]) -> None:
    from automation.routing.assignment import ticket_route
    from tickets.models import Ticket

    try:
        with scope(organization=organization):
            for ticket_id in ticket_ids:
                ticket = Ticket.objects.get(pk=ticket_id)
                started = time.perf_counter()
                if ticket_route(organization=organization, ticket=ticket, team=team) is not None:
                    assigned.append(ticket_id)
                timings.append((time.perf_counter() - started) * 1000)
    finally:
        connection.close()


def _spread(organization, ticket_ids: list[int]) -> str:
    """How evenly the round went: tickets per agent among these."""
    from django.db.models import Count

    from tickets.models import Ticket

    with scope(organization=organization):
        counts = list(
            Ticket.objects.filter(pk__in=ticket_ids, assignee__isnull=False)
            .values("assignee_id")
            .annotate(n=Count("pk"))
            .values_list("n", flat=True)
        )
    return f"tickets per agent {min(counts, default=0)}–{max(counts, default=0)} over {len(counts)} agents"


def _result(name: str, routed: int, seconds: float, timings: list[float], detail: str, p95_target) -> list[dict]:
    rate = routed / seconds if seconds else 0.0
    p50 = statistics.median(timings) if timings else None
    p95 = statistics.quantiles(timings, n=20)[18] if len(timings) >= 20 else None
    latency = f"per decision p50 {p50:.1f} ms, p95 {p95:.1f} ms" if p95 is not None else "no sample"
    return [
        {
            "name": f"{name}_tps",
            "value": round(rate, 1),
            "unit": "tickets/s",
            "target": f">={TARGET_TPS:.0f}",
            "ok": rate >= TARGET_TPS,
            "detail": f"{detail}; {routed} assigned in {seconds:.1f} s; {latency}",
        },
        {
            "name": f"{name}_p95_ms",
            "value": round(p95, 1) if p95 is not None else None,
            "unit": "ms",
            "target": f"<={p95_target:.0f}" if p95_target else None,
            "ok": p95 is not None and p95 <= p95_target if p95_target else True,
            "detail": f"{detail}; from the call to its events delivered after commit; {latency}",
        },
    ]


def _decision_queries(organization, team, conn) -> tuple[int, int]:
    """The statements one decision sends to PostgreSQL: (all of them, those inside its transaction). The real-time
    delivery after commit is among all of them; the presence read goes to Redis and is not counted."""
    from django.test.utils import CaptureQueriesContext

    from automation.routing.assignment import ticket_route
    from tickets.models import Ticket

    (ticket_id,) = _new_tickets(organization, conn, 1)
    with scope(organization=organization):
        ticket = Ticket.objects.get(pk=ticket_id)
        with CaptureQueriesContext(connection) as ctx:
            ticket_route(organization=organization, ticket=ticket, team=team)
    sql = [q["sql"] for q in ctx.captured_queries]
    inside = sql.index("COMMIT") - sql.index("BEGIN") - 1 if "BEGIN" in sql and "COMMIT" in sql else len(sql)
    return len(sql), inside


def run() -> list[dict]:
    from automation.routing.assignment import team_queue_drain, waiting_tickets

    organization, team, conn, agents = _setup()
    with _Browsers(organization, agents):
        _decision_queries(organization, team, conn)  # the first of a process also fills Django's caches
        queries, inside = _decision_queries(organization, team, conn)
    setting = (
        f"one round-robin team of {AGENTS} online agents (channel granted to the team, capacity not binding), "
        f"{TICKETS} new tickets per phase"
    )
    results = []

    # One thread: each ticket routed in its own transaction, as a rule action would.
    ids = _new_tickets(organization, conn, TICKETS)
    timings, assigned = [], []
    with _Browsers(organization, agents):
        started = time.perf_counter()
        _route_all(organization, team, ids, timings, assigned)
        seconds = time.perf_counter() - started
    spread = _spread(organization, ids)
    detail = f"1 thread; {setting}; {spread}"
    results += _result("assignment.route_single", len(assigned), seconds, timings, detail, TARGET_P95_MS)

    # Four threads routing into the same team at once.
    ids = _new_tickets(organization, conn, TICKETS)
    timings, assigned = [], []
    threads = [
        threading.Thread(target=_route_all, args=(organization, team, ids[i::THREADS], timings, assigned))
        for i in range(THREADS)
    ]
    with _Browsers(organization, agents):
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - started
    spread = _spread(organization, ids)
    results += _result(
        "assignment.route_4_threads",
        len(assigned),
        seconds,
        timings,
        f"{THREADS} threads of one process, one team (a decision waits for the team's lock); {setting}; {spread}",
        None,
    )

    # The queue drain (an agent coming online to a backlog): one transaction per ticket, oldest first.
    _new_tickets(organization, conn, TICKETS, team=team)
    with _Browsers(organization, agents), scope(organization=organization):
        backlog = waiting_tickets(team).count()  # with any left by an earlier run
        started = time.perf_counter()
        drained = 0
        while drained < backlog:
            step = team_queue_drain(organization=organization, team=team, limit=200)
            if not step:
                break
            drained += step
        seconds = time.perf_counter() - started
    rate = drained / seconds if seconds else 0.0
    results.append(
        {
            "name": "assignment.drain_tps",
            "value": round(rate, 1),
            "unit": "tickets/s",
            "target": f">={TARGET_TPS:.0f}",
            "ok": rate >= TARGET_TPS,
            "detail": f"team_queue_drain over a backlog of {backlog}; {setting}; {drained} assigned in {seconds:.1f} s",
        }
    )
    results.append(
        {
            "name": "assignment.queries_per_decision",
            "value": queries,
            "unit": "queries",
            "target": f"<={MAX_QUERIES}",
            "ok": queries <= MAX_QUERIES,
            "detail": f"{inside} inside the decision's transaction (between BEGIN and COMMIT), the rest its real-time "
            f"delivery after commit; the same for any number of agents and tickets "
            f"(automation/tests/routing/test_assignment.py asserts it)",
        }
    )
    return results
