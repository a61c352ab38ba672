"""Analytics at scale: one organization with 1,000,000 tickets over 13 months (BENCH_ANALYTICS_TICKETS scales it) on
6 channels, 8 teams of 60 agents, 20 tags, with the history the product writes — created, assignment, status and
reopen events, the customer's messages and the agents' replies, SLA outcomes — seeded with SQL. Facts and rollups
are then derived by the real code (`analytics.services.rebuild`, what `manage.py analytics_rebuild` runs), which is
timed, as is the incremental consumer on a fresh slice of history (facts/s). Measured in-process: the dashboard
overview's data and the full page as a logged-in manager, over the last 30 and 365 days, with a channel and a tag
filter. In smoke mode (`python -m bench --smoke`): 2,000 tickets.

The seeded history is pseudo-random but deterministic (hashint4 of the ticket's serial): 90% of conversations are
started by the customer, 95% of those answered (first reply after 1 minute to ~2 days, business hours being the
default calendar's weekdays 9–18, closed on Japanese holidays), half with a second exchange, most solved, 5%
reopened and solved again, an SLA first-response clock of 4 hours met or breached.
"""

import json
import os
import statistics
import sys
import time
from datetime import timedelta

import psutil
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from bench.inbox import _columns

SMOKE = os.environ.get("BENCH_SMOKE") == "1"
TICKETS = 2000 if SMOKE else int(os.environ.get("BENCH_ANALYTICS_TICKETS", "1000000"))
CONSUME_TICKETS = 200 if SMOKE else int(os.environ.get("BENCH_ANALYTICS_CONSUME_TICKETS", "5000"))
SAMPLES = 10 if SMOKE else int(os.environ.get("BENCH_SAMPLES", "40"))
DAYS = 395  # about 13 months of history, up to now
SLUG = "analytics-bench"
CHANNELS = 6
TEAMS = 8
AGENTS = 60
TAGS = 20
CONTACTS = 200 if SMOKE else 100000
CHUNK = 100000
TARGET_MS = 500


def _hash(k: int) -> str:
    """A deterministic pseudo-random non-negative int per seeded ticket (g) and purpose (k)."""
    return f"abs(hashint4(g * 16 + {k}))"


# One row per seeded ticket: its timeline. Times are seconds after the ticket's creation `c`.
PLAN_SQL = f"""
CREATE TEMP TABLE bench_plan ON COMMIT DROP AS
SELECT g, c, conn_i, agent_i, inbound, assigned, replied, second, frt,
       r1, i2, r2, coalesce(r2, r1, c) AS last_msg, res_at, done, reopen,
       CASE WHEN reopen THEN res_at + interval '1 day' END AS reopen_at,
       CASE WHEN reopen AND res_at + interval '1 day 4 hours' < %(now)s THEN res_at + interval '1 day 4 hours' END
           AS res2_at,
       tag1, tag2
FROM (
  SELECT g, c, conn_i, agent_i, inbound, assigned, replied, second, frt, r1, i2, r2,
         coalesce(r2, r1, c) + (600 + {_hash(9)} %% 259200) * interval '1 second' AS res_at,
         coalesce(r2, r1, c) + (600 + {_hash(9)} %% 259200) * interval '1 second' < %(now)s AND {_hash(10)} %% 100 < 93
             AS done,
         coalesce(r2, r1, c) + (600 + {_hash(9)} %% 259200) * interval '1 second' + interval '1 day' < %(now)s
             AND {_hash(10)} %% 100 < 93 AND {_hash(11)} %% 100 < 5 AS reopen,
         CASE WHEN {_hash(12)} %% 100 < 60 THEN {_hash(13)} %% {TAGS} END AS tag1,
         CASE WHEN {_hash(12)} %% 100 < 20 THEN ({_hash(13)} + 1 + {_hash(14)} %% ({TAGS} - 1)) %% {TAGS} END AS tag2
  FROM (
    SELECT g, c, conn_i, agent_i, inbound, assigned, replied, second, frt,
           CASE WHEN replied THEN c + frt * interval '1 second' END AS r1,
           CASE WHEN second THEN c + (frt + gap2) * interval '1 second' END AS i2,
           CASE WHEN second THEN c + (frt + gap2 + frt2) * interval '1 second' END AS r2
    FROM (
      SELECT g, c, conn_i, agent_i, inbound, assigned, frt, gap2, frt2,
             inbound AND r_reply < 95 AND c + (frt + gap2 + frt2) * interval '1 second' < %(now)s AS replied,
             inbound AND r_reply < 95 AND r_second < 50
                 AND c + (frt + gap2 + frt2) * interval '1 second' < %(now)s AS second
      FROM (
        SELECT g,
               %(t0)s::timestamptz + (g - %(origin)s) * %(step)s * interval '1 second'
                   + ({_hash(0)} %% 600) * interval '1 second' AS c,
               {_hash(1)} %% {CHANNELS} AS conn_i,
               {_hash(2)} %% {AGENTS} AS agent_i,
               {_hash(3)} %% 100 < 90 AS inbound,
               {_hash(4)} %% 100 < 95 AS assigned,
               60 + (({_hash(5)} %% 1000)::bigint * ({_hash(5)} %% 1000) * 17 / 100) AS frt,
               {_hash(6)} %% 100 AS r_reply,
               {_hash(7)} %% 100 AS r_second,
               600 + {_hash(8)} %% 86400 AS gap2,
               60 + {_hash(15)} %% 28800 AS frt2
        FROM generate_series(%(first)s, %(last)s) g
      ) a
    ) b
  ) d
) e
"""


def _organization():
    from accounts.models import Organization

    return Organization.objects.filter(slug=SLUG).first()


def _setup():
    """The organization, its members, teams, channels, tags and default calendar, through the product's services
    and models (a few dozen rows)."""
    from accounts import services
    from accounts.models import Membership, Role, User
    from automation.models import BusinessCalendar
    from channels_integrations.models import ChannelConnection
    from channels_integrations.registry import platform_choices
    from tickets.models import Tag

    with scopes_disabled(), transaction.atomic():
        owner = User.objects.create_user("owner@analytics-bench.example", "bench-password", name="Owner")
        org = services.organization_create(name="Analytics bench", slug=SLUG, owner=owner)
        manager_role = Role.objects.get(organization=org, key="manager")
        agent_role = Role.objects.get(organization=org, key="agent")
        manager = User.objects.create(email="manager@analytics-bench.example", name="Manager")
        manager.set_unusable_password()  # logged in with force_login: no password hashing to pay for
        manager.save()
        Membership.objects.create(organization=org, user=manager, role=manager_role)
        agents = []
        for a in range(AGENTS):
            agent = User(email=f"agent{a}@analytics-bench.example", name=f"Agent {a}")
            agent.set_unusable_password()
            agent.save()
            Membership.objects.create(organization=org, user=agent, role=agent_role)
            agents.append(agent)
        # Agent a belongs to team a % TEAMS; tickets are attributed to their assignee's team.
        teams = [
            services.team_create(organization=org, actor=owner, name=f"Team {t}", members=agents[t::TEAMS])
            for t in range(TEAMS)
        ]
        platforms = [key for key, _label in platform_choices()]
        connections = [
            ChannelConnection.objects.create(
                organization=org,
                platform=platforms[i % len(platforms)],
                display_name=f"Channel {i}",
                external_account_id=f"analytics-bench-{i}",
            )
            for i in range(CHANNELS)
        ]
        tags = [Tag.objects.create(organization=org, name=f"tag-{i}") for i in range(TAGS)]
        BusinessCalendar.objects.create(organization=org, name="Weekdays", japanese_holidays=True, is_default=True)
    return org, [a.pk for a in agents], [t.pk for t in teams], [c.pk for c in connections], [t.pk for t in tags]


def _ids(org):
    from accounts.models import Membership, Team
    from channels_integrations.models import ChannelConnection
    from tickets.models import Tag

    with scopes_disabled():
        agents = list(
            Membership.objects.filter(organization=org, role__key="agent")
            .order_by("user__email")
            .values_list("user_id", "user__email")
        )
        # agent{a}: sort by the number, not the text
        agents = [pk for pk, _email in sorted(agents, key=lambda row: int(row[1].split("@")[0][5:]))]
        teams = list(Team.objects.filter(organization=org).order_by("name").values_list("pk", flat=True))
        conns = list(ChannelConnection.objects.filter(organization=org).order_by("pk").values_list("pk", flat=True))
        tags = list(Tag.objects.filter(organization=org).order_by("pk").values_list("pk", flat=True))
    return agents, teams, conns, tags


def _history(org, first: int, last: int, t0, step: float, origin: int) -> None:
    """Tickets first..last (serials) and their history, in one transaction. Serial g is created at about
    t0 + (g - origin) × step seconds."""
    from automation.models import SlaEvent
    from tickets.models import Message, Ticket, TicketEvent

    agents, teams, conns, tags = _ids(org)
    ticket_columns, ticket_extra, ticket_params = _columns(
        Ticket,
        """organization_id number connection_id contact_id subject status priority assignee_id team_id
           external_thread_key first_response_at solved_at status_changed_at last_message_at last_customer_message_at
           created_at updated_at""",
    )
    message_columns, message_extra, message_params = _columns(
        Message,
        """organization_id ticket_id connection_id direction kind author_contact_id author_user_id automated text
           html platform_message_id reply_to_platform_id delivery_state delivery_error is_public language sentiment
           created_at""",
    )
    event_columns, event_extra, event_params = _columns(
        TicketEvent, "organization_id ticket_id actor_id kind old new created_at"
    )
    sla_columns, sla_extra, sla_params = _columns(
        SlaEvent, "organization_id ticket_id policy_id metric kind due_at occurred_at assignee_id"
    )
    params = {
        "org": org.pk,
        "now": timezone.now(),
        "t0": t0,
        "step": step,
        "first": first,
        "origin": origin,
        "last": last,
        "agents": agents,
        # agent a's team: the one created with agents[a::TEAMS]
        "agent_teams": [teams[a % TEAMS] for a in range(AGENTS)],
        "conns": conns,
        "tags": tags,
        "contacts": CONTACTS,
    }
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(PLAN_SQL, params)
        cur.execute(
            "SELECT min(id) FROM tickets_contact WHERE organization_id = %s",
            [org.pk],
        )
        params["cbase"] = cur.fetchone()[0]
        cur.execute(
            f"""INSERT INTO tickets_ticket ({ticket_columns})
                SELECT %(org)s, g + 1, (%(conns)s::bigint[])[conn_i + 1], %(cbase)s + g %% %(contacts)s,
                       'Conversation ' || g,
                       CASE WHEN reopen AND res2_at IS NULL THEN 'open'
                            WHEN done AND res_at < %(now)s - interval '7 days' THEN 'closed'
                            WHEN done THEN 'solved'
                            WHEN replied THEN 'open' ELSE 'new' END,
                       (ARRAY['low','normal','normal','normal','high','urgent'])[g %% 6 + 1],
                       CASE WHEN assigned THEN (%(agents)s::bigint[])[agent_i + 1] END,
                       CASE WHEN assigned THEN (%(agent_teams)s::bigint[])[agent_i + 1] END,
                       'analytics-bench-' || g, r1,
                       CASE WHEN done AND (NOT reopen OR res2_at IS NOT NULL) THEN coalesce(res2_at, res_at) END,
                       coalesce(res2_at, reopen_at, res_at, r1, c), last_msg,
                       coalesce(i2, CASE WHEN inbound THEN c END),
                       c, coalesce(res2_at, reopen_at, res_at, last_msg)
                       {ticket_extra}
                FROM bench_plan""",
            {**params, **ticket_params},
        )
        join = "FROM bench_plan p JOIN tickets_ticket t ON t.organization_id = %(org)s AND t.number = p.g + 1"
        agent = "(%(agents)s::bigint[])[p.agent_i + 1]"
        cur.execute(
            f"""INSERT INTO tickets_ticket_tags (ticket_id, tag_id)
                SELECT t.id, (%(tags)s::bigint[])[x.tag + 1] {join}
                CROSS JOIN LATERAL (VALUES (p.tag1), (p.tag2)) x(tag) WHERE x.tag IS NOT NULL""",
            params,
        )
        # Messages: the customer's first message (or the agent's opening one), the first reply, a second exchange.
        cur.execute(
            f"""INSERT INTO tickets_message ({message_columns})
                SELECT %(org)s, t.id, t.connection_id, m.direction, 'direct',
                       CASE WHEN m.direction = 'inbound' THEN t.contact_id END,
                       CASE WHEN m.direction = 'outbound' THEN {agent} END, false,
                       m.body, '', 'abm-' || t.id || '-' || m.k, '',
                       CASE WHEN m.direction = 'outbound' THEN 'sent' ELSE '' END, '', false, '', '', m.at
                       {message_extra}
                {join}
                CROSS JOIN LATERAL (VALUES
                    (1, CASE WHEN p.inbound THEN 'inbound' ELSE 'outbound' END, p.c, 'Hello, about my order'),
                    (2, 'outbound', p.r1, 'Thank you for contacting us'),
                    (3, 'inbound', p.i2, 'One more question'),
                    (4, 'outbound', p.r2, 'Here is the answer')
                ) m(k, direction, at, body)
                WHERE m.at IS NOT NULL""",
            {**params, **message_params},
        )
        # Events as tickets/services write them: JSON old/new (statuses as strings, users as ids).
        cur.execute(
            f"""INSERT INTO tickets_ticketevent ({event_columns})
                SELECT %(org)s, t.id, e.actor, e.kind, e.old, e.new, e.at
                       {event_extra}
                {join}
                CROSS JOIN LATERAL (VALUES
                    ('created', CASE WHEN p.inbound THEN NULL ELSE {agent} END, NULL::jsonb, NULL::jsonb, p.c),
                    ('assignment', NULL, NULL, to_jsonb({agent}),
                        CASE WHEN p.assigned THEN p.c + interval '2 minutes' END),
                    ('status', {agent}, '"new"'::jsonb, '"open"'::jsonb, p.r1),
                    ('status', {agent}, '"open"'::jsonb, '"solved"'::jsonb, CASE WHEN p.done THEN p.res_at END),
                    ('reopened', NULL, '"solved"'::jsonb, '"open"'::jsonb, p.reopen_at),
                    ('status', {agent}, '"open"'::jsonb, '"solved"'::jsonb, p.res2_at)
                ) e(kind, actor, old, new, at)
                WHERE e.at IS NOT NULL""",
            {**params, **event_params},
        )
        # The first-response clock (4 hours) of customers' conversations: met by the reply, or breached when due.
        cur.execute(
            f"""INSERT INTO tickets_slaevent ({sla_columns})
                SELECT %(org)s, t.id, NULL, 'first_response',
                       CASE WHEN p.r1 <= p.c + interval '4 hours' THEN 'met' ELSE 'breached' END,
                       p.c + interval '4 hours',
                       CASE WHEN p.r1 <= p.c + interval '4 hours' THEN p.r1 ELSE p.c + interval '4 hours' END,
                       CASE WHEN p.assigned THEN {agent} END
                       {sla_extra}
                {join}
                WHERE p.inbound AND (p.r1 IS NOT NULL OR p.c + interval '4 hours' < %(now)s)""",
            {**params, **sla_params},
        )


def seed() -> float:
    """The organization and its 13 months of history (a later run reuses them). Returns the seconds spent."""
    from tickets.models import Contact

    started = time.perf_counter()
    org, *_ = _setup()
    contact_columns, contact_extra, contact_params = _columns(
        Contact, "organization_id name avatar_url email language vip attributes created_at"
    )
    with connection.cursor() as cur:
        cur.execute(
            f"""INSERT INTO tickets_contact ({contact_columns})
                SELECT %(org)s, 'Customer ' || g, '', '', '', false, '{{}}', now() {contact_extra}
                FROM generate_series(1, %(n)s) g""",
            {"org": org.pk, "n": CONTACTS, **contact_params},
        )
    t0 = timezone.now() - timedelta(days=DAYS)
    step = DAYS * 86400 / TICKETS
    for first in range(0, TICKETS, CHUNK):
        _history(org, first, min(first + CHUNK, TICKETS) - 1, t0, step, origin=0)
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    return time.perf_counter() - started


def _seeded() -> bool:
    from tickets.models import Ticket

    org = _organization()
    if org is None:
        return False
    with scopes_disabled():
        count = Ticket.objects.filter(organization=org, number__lte=TICKETS).count()
    if count != TICKETS:
        raise SystemExit(
            f"the bench database holds {count} analytics tickets, not {TICKETS}: "
            "run `make bench ONLY=analytics RESET=1`"
        )
    return True


class _Cpu:
    """CPU seconds of this process and of its PostgreSQL backend (parallel workers not included) over a span."""

    def __init__(self):
        with connection.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            self.backend = psutil.Process(cur.fetchone()[0])
        self.me = psutil.Process()

    def snapshot(self) -> tuple[float, float, float]:
        me, pg = self.me.cpu_times(), self.backend.cpu_times()
        return time.perf_counter(), me.user + me.system, pg.user + pg.system

    @staticmethod
    def text(before, after) -> str:
        wall = after[0] - before[0]
        return (
            f"CPU: python {after[1] - before[1]:.1f} s ({(after[1] - before[1]) / wall * 100:.0f}%), "
            f"its PostgreSQL backend {after[2] - before[2]:.1f} s ({(after[2] - before[2]) / wall * 100:.0f}%) "
            f"of {wall:.1f} s wall ({psutil.cpu_count()} cores)"
        )


def _rebuild(org, cpu: _Cpu) -> tuple[float, int, str]:
    from analytics import services

    before = cpu.snapshot()
    facts = services.rebuild(org)
    after = cpu.snapshot()
    with connection.cursor() as cur:
        # What autovacuum would do soon after: the dashboard's index-only scans need the visibility map.
        cur.execute("VACUUM ANALYZE analytics_ticketfact")
        cur.execute("VACUUM ANALYZE analytics_dailyrollup")
    return after[0] - before[0], facts, _Cpu.text(before, after)


def _consume(org, cpu: _Cpu) -> tuple[float, int, int, str]:
    """New history for CONSUME_TICKETS more tickets (the last days), read by the incremental consumer. Returns
    (seconds, facts added, source rows read, cpu text)."""
    from analytics import services
    from analytics.models import ConsumerCursor, FactSource
    from automation.models import SlaEvent
    from tickets.models import Message, Ticket, TicketEvent

    models = {FactSource.TICKET_EVENT: TicketEvent, FactSource.MESSAGE: Message, FactSource.SLA_EVENT: SlaEvent}
    with scopes_disabled(), transaction.atomic():
        # Everything so far is in the facts (rebuilt): the consumer starts after it.
        for source, model in models.items():
            top = model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
            ConsumerCursor.objects.update_or_create(source=source, defaults={"last_id": top, "horizon_id": top})
        first = Ticket.objects.filter(organization=org).order_by("-number").values_list("number", flat=True)[0]
    # Spread over the last 3 days, so that most of these tickets are still being worked on.
    t0 = timezone.now() - timedelta(days=3)
    _history(org, first, first + CONSUME_TICKETS - 1, t0, 3 * 86400 / CONSUME_TICKETS, origin=first)
    with scopes_disabled():
        rows = sum(
            model.objects.filter(
                services.SOURCE_FILTERS[source], pk__gt=ConsumerCursor.objects.get(source=source).last_id
            ).count()
            for source, model in models.items()
        )
    services.consume(max_batches=1)  # moves each horizon up to what exists now (reads nothing)
    before = cpu.snapshot()
    added = services.consume(max_batches=10**6)
    after = cpu.snapshot()
    with connection.cursor() as cur:
        # Autovacuum's pass after these changes (frequent on these tables: analytics migration 0005), which the
        # dashboards' index-only scans rely on; the measurements below start right after it.
        cur.execute("VACUUM ANALYZE analytics_ticketfact")
        cur.execute("VACUUM ANALYZE analytics_dailyrollup")
    return after[0] - before[0], added, rows, _Cpu.text(before, after)


def _timings(call, samples: int) -> list[float]:
    call()  # warm caches and connections
    timings = []
    for _i in range(samples):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def _result(name: str, timings: list[float], target: float | None, detail: str) -> list[dict]:
    p50 = statistics.median(timings)
    p95 = statistics.quantiles(timings, n=20)[18]
    return [
        {"name": f"{name}.p50", "value": round(p50, 1), "unit": "ms", "target": None, "ok": True, "detail": detail},
        {
            "name": f"{name}.p95",
            "value": round(p95, 1),
            "unit": "ms",
            "target": target,
            "ok": target is None or p95 <= target,
            "detail": detail,
        },
    ]


def _overview(filters) -> dict:
    """The overview page's data: `analytics.dashboards.pages.page_data` once it exists, else the metric selectors
    the overview shows."""
    try:
        from analytics.dashboards.pages import page_data
    except ImportError:
        page_data = None
    if page_data is not None:
        return page_data("overview", filters)
    from analytics import metrics

    return {
        name: getattr(metrics, name)(filters)
        for name in (
            "volume",
            "first_response_time",
            "resolution_time",
            "average_reply_time",
            "response_rate",
            "sla_compliance",
            "reopen_rate",
        )
    }


def _overview_url(org) -> str | None:
    from django.urls import NoReverseMatch, reverse

    for name in ("org:analytics_overview", "org:analytics_dashboard", "org:analytics_dashboards"):
        for kwargs in ({"org_slug": org.slug}, {"slug": org.slug}, {}):
            try:
                return reverse(name, kwargs=kwargs)
            except NoReverseMatch:
                continue
    return None


class _Printed(list):
    """Results, each also printed as soon as measured: a run that fails later (a page under construction) still
    shows the rebuild's figures, which take a quarter of an hour to measure again."""

    def append(self, result: dict) -> None:
        print(f"analytics result: {json.dumps(result, ensure_ascii=False)}", file=sys.stderr, flush=True)
        super().append(result)

    def __iadd__(self, results):
        for result in results:
            self.append(result)
        return self


def run() -> list[dict]:
    from accounts.models import User
    from analytics.metrics import Filters
    from analytics.models import DailyRollup, TicketFact
    from tickets.models import Message, Ticket, TicketEvent

    seeded_now = not _seeded()
    seconds = seed() if seeded_now else None
    org = _organization()
    cpu = _Cpu()
    with scopes_disabled():
        has_facts = TicketFact.objects.filter(organization=org).exists()
        tickets = Ticket.objects.filter(organization=org).count()
        messages = Message.objects.filter(organization=org).count()
        events = TicketEvent.objects.filter(organization=org).count()
    detail = f"1 organization, {tickets} tickets, {messages} messages, {events} ticket events, over {DAYS} days"
    results = _Printed()
    if seconds is not None:
        results.append(
            {
                "name": "analytics.seed_seconds",
                "value": round(seconds, 1),
                "unit": "s",
                "target": None,
                "ok": True,
                "detail": detail + "; SQL (generate_series)",
            }
        )
    if seeded_now or not has_facts or os.environ.get("BENCH_ANALYTICS_REBUILD") == "1":
        rebuild_seconds, facts, cpu_text = _rebuild(org, cpu)
        results.append(
            {
                "name": "analytics.rebuild_seconds",
                "value": round(rebuild_seconds, 1),
                "unit": "s",
                "target": None,
                "ok": True,
                "detail": f"{detail}; {facts} facts ({facts / rebuild_seconds:.0f}/s); {cpu_text}",
            }
        )
    consume_seconds, added, rows, cpu_text = _consume(org, cpu)
    results.append(
        {
            "name": "analytics.consume_facts_per_second",
            "value": round(added / consume_seconds) if consume_seconds else None,
            "unit": "/s",
            "target": None,
            "ok": True,
            "detail": f"{added} facts from {rows} new history rows of {CONSUME_TICKETS} tickets in "
            f"{consume_seconds:.1f} s; {cpu_text}",
        }
    )
    with scopes_disabled():
        rollups = DailyRollup.objects.filter(organization=org).count()
        facts = TicketFact.objects.filter(organization=org).count()
    agents, _teams, conns, tags = _ids(org)
    detail = f"{detail}; {facts} facts, {rollups} rollup rows"

    import zoneinfo

    today = timezone.now().astimezone(zoneinfo.ZoneInfo(org.timezone)).date()
    cases = {
        "30d": {"first_day": today - timedelta(days=29)},
        "365d": {"first_day": today - timedelta(days=364)},
        "30d_channel": {"first_day": today - timedelta(days=29), "connection_ids": frozenset(conns[:1])},
    }
    if "tag_ids" in Filters.__dataclass_fields__:
        cases["30d_tag"] = {"first_day": today - timedelta(days=29), "tag_ids": frozenset(tags[:1])}
    for case, fields in cases.items():
        with scope(organization=org):
            filters = Filters(organization=org, last_day=today, **fields)
            before = cpu.snapshot()
            timings = _timings(lambda filters=filters: _overview(filters), SAMPLES)
            after = cpu.snapshot()
        results += _result(
            f"analytics.overview_data_{case}", timings, TARGET_MS, f"{detail}; {_Cpu.text(before, after)}"
        )
    url = _overview_url(org)
    if url is not None:
        with scopes_disabled():
            manager = User.objects.get(email="manager@analytics-bench.example")
        client = Client()
        client.force_login(manager, backend="django.contrib.auth.backends.ModelBackend")
        pages = {
            "30d": url,
            "365d": f"{url}?from={today - timedelta(days=364)}&to={today}",
            "30d_channel": f"{url}?connection={conns[0]}",
            "30d_tag": f"{url}?tag={tags[0]}",
        }
        for case, page in pages.items():

            def get(page=page):
                response = client.get(page)
                assert response.status_code == 200, (page, response.status_code)

            before = cpu.snapshot()
            timings = _timings(get, SAMPLES)
            after = cpu.snapshot()
            results += _result(
                f"analytics.overview_page_{case}", timings, TARGET_MS, f"{detail}; {page}; {_Cpu.text(before, after)}"
            )
    return list(results)
