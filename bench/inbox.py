"""Inbox at scale: 1,000,000 tickets and 5,000,000 messages across 10 organizations (BENCH_TICKETS scales it),
seeded with SQL (independent pseudo-random status, priority, channel and assignee per ticket) from a pool of
realistic Japanese and English texts. Each ticket's search vector holds its subject and its five messages, as
ingestion does. Measured in-process: the server time of the inbox list with common filters, the conversation page,
and a Japanese and an English search. In smoke mode (`python -m bench --smoke`): 1,000 tickets in 2 organizations."""

import os
import random
import statistics
import time
from datetime import timedelta

from django.db import connection, transaction
from django.db.models.expressions import DatabaseDefault
from django.test import Client
from django.utils import timezone
from django_scopes import scope, scopes_disabled

SMOKE = os.environ.get("BENCH_SMOKE") == "1"
TICKETS = 1000 if SMOKE else int(os.environ.get("BENCH_TICKETS", "1000000"))
MESSAGES_PER_TICKET = 5
ORGS = 2 if SMOKE else 10  # each organization has 7 users, a third of a second of password hashing each
CONTACTS_PER_ORG = 100 if SMOKE else 20000
AGENTS_PER_ORG = 5
# Each organization's connections (platform, granted to the measured agent): the agent sees some of them, not all.
CONNECTIONS = [
    ("line", True),
    ("email", True),
    ("line", False),
    ("email", False),
    ("telegram", True),
    ("telegram", False),
]
# This suite's organizations only: other suites share the database and may name theirs "bench-something".
_SLUGS = [f"bench-{n}" for n in range(ORGS)]
TARGET = 50  # ms, p95 of every page (issue 22)
SAMPLES = 20 if SMOKE else int(os.environ.get("BENCH_SAMPLES", "40"))

JA = [
    "注文した商品がまだ届いていません。至急確認してください。",
    "返品・交換の方法を教えてください。",
    "請求書の金額が間違っているようです。",
    "パスワードを忘れてログインできません。",
    "配送先の住所を変更したいです。",
    "商品が破損して届きました。交換をお願いします。",
    "キャンペーンのクーポンが使えません。",
    "店舗の営業時間を教えてください。",
    "いつも迅速な対応ありがとうございます！",
    "アプリが起動しなくなりました。",
]
EN = [
    "Where is my refund? It has been two weeks.",
    "My order arrived damaged, please send a replacement.",
    "How do I change my delivery address?",
    "The app crashes when I open the settings page.",
    "Thanks for the quick help yesterday!",
    "I was charged twice for the same order.",
    "Can I cancel my subscription online?",
    "The coupon code does not work at checkout.",
]
PRODUCTS = [
    "iPhone 15",
    "ワイヤレスイヤホン",
    "コーヒーメーカー",
    "ランニングシューズ",
    "Smart Watch",
    "電気ケトル",
    "Backpack",
]


def _pool() -> list[str]:
    rng = random.Random(7)
    texts = []
    for i in range(600):
        base = rng.choice(JA if i % 3 else EN)
        texts.append(f"{base} {rng.choice(PRODUCTS)} 注文番号 {100000 + i}")
    return texts


def _seeded() -> bool:
    from accounts.models import Organization
    from tickets.models import Message, Ticket
    from tickets.search import VERSION_MARK, quote_lexeme

    if not Organization.objects.filter(slug__in=_SLUGS).exists():
        return False
    with scopes_disabled():
        existing = Ticket.objects.filter(organization__slug__in=_SLUGS).count()
        messages = Message.objects.filter(organization__slug__in=_SLUGS).count()
    # A seed that stopped half-way (as when the message INSERT failed) left all the tickets and no messages.
    if (existing, messages) != (TICKETS, TICKETS * MESSAGES_PER_TICKET):
        raise SystemExit(
            f"the bench database holds {existing} tickets and {messages} messages, not {TICKETS} and "
            f"{TICKETS * MESSAGES_PER_TICKET}: run `make bench RESET=1`"
        )
    from channels_integrations.models import ChannelConnection

    with scopes_disabled():
        channels = ChannelConnection.objects.filter(organization__slug="bench-0").count()
    if channels != len(CONNECTIONS):
        raise SystemExit("the bench database was seeded without the agent's channel grants: run `make bench RESET=1`")
    # Vectors seeded before the word analyser (issue 16) would be searched by the legacy query only.
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM (SELECT search_vector FROM tickets_ticket LIMIT 100) t WHERE NOT search_vector @@ %s",
            [quote_lexeme(VERSION_MARK)],
        )
        if cur.fetchone()[0]:
            raise SystemExit("the bench database holds search vectors of an older analyser: run `make bench RESET=1`")
    return True


def _columns(model, names: str) -> tuple[str, str, dict]:
    """For a raw `INSERT INTO <table> (...) SELECT <values of names>`: the column list, the SELECT items to append and
    their parameters, so that each column the seeder does not name gets what `Model.objects.create` would write (the
    field's default, '' for text, the time for auto_now). A NOT NULL column added to the model later, as
    `Message.send_attempts` was (a Python-side default: the column has none in the database), is then filled instead
    of failing the seed. Columns with a database default, and nullable ones without a default, are left to the
    database; a NOT NULL column without any default (a new foreign key, say) stops the seed with its name."""
    named = names.split()
    blank = model()  # the defaults, as a new instance gets them
    columns, items, params = list(named), [], {}
    for field in model._meta.concrete_fields:
        if field.column in named or field.primary_key or field.generated:
            continue
        value = field.pre_save(blank, True)
        if isinstance(value, DatabaseDefault) or (value is None and field.null):
            continue
        if value is None:
            raise RuntimeError(f"bench/inbox.py must set {model._meta.db_table}.{field.column} (NOT NULL, no default)")
        key = f"default_{field.column}"
        columns.append(field.column)
        items.append(f", %({key})s::{field.db_type(connection)}")  # typed: an untyped literal in a SELECT is text
        params[key] = field.get_db_prep_save(value, connection)
    return ", ".join(columns), "".join(items), params


def seed() -> float:
    """Create the data once (a later run reuses it). Returns the seconds spent."""
    from accounts import services
    from accounts.models import Membership, Role, User
    from channels_integrations.models import ChannelConnection
    from tickets.models import Contact, Message, Ticket
    from tickets.search import index_document

    contact_columns, contact_extra, contact_params = _columns(
        Contact, "organization_id name avatar_url email language vip attributes created_at search_vector"
    )
    ticket_columns, ticket_extra, ticket_params = _columns(
        Ticket,
        """organization_id number connection_id contact_id subject status priority assignee_id language sentiment
           external_thread_key last_message_at last_customer_message_at created_at updated_at search_vector""",
    )
    message_columns, message_extra, message_params = _columns(
        Message,
        """organization_id ticket_id connection_id direction kind author_contact_id text html platform_message_id
           reply_to_platform_id delivery_state delivery_error is_public language sentiment created_at search_vector""",
    )
    started = time.perf_counter()
    orgs, connections, agents = [], [], []
    with scopes_disabled(), transaction.atomic():
        for n in range(ORGS):
            owner = User.objects.create_user(f"owner{n}@bench.example", "bench-password", name=f"Owner {n}")
            org = services.organization_create(name=f"Bench {n}", slug=f"bench-{n}", owner=owner)
            agent_role = Role.objects.get(organization=org, key="agent")
            manager_role = Role.objects.get(organization=org, key="manager")
            manager = User.objects.create_user(f"manager{n}@bench.example", "bench-password", name=f"Manager {n}")
            Membership.objects.create(organization=org, user=manager, role=manager_role)
            org_agents = []
            for a in range(AGENTS_PER_ORG):
                agent = User.objects.create_user(f"agent{n}-{a}@bench.example", "bench-password", name=f"Agent {n}-{a}")
                Membership.objects.create(organization=org, user=agent, role=agent_role)
                org_agents.append(agent.pk)
            granted = []
            for c, (platform, grant) in enumerate(CONNECTIONS):
                channel = ChannelConnection.objects.create(
                    organization=org,
                    platform=platform,
                    display_name=f"{platform} {n}-{c}",
                    external_account_id=f"b{n}-{c}",
                    # Data only, no account behind it: never polled by the beat of a suite sharing this database.
                    next_poll_at=timezone.now() + timedelta(days=3650),
                )
                connections.append(channel.pk)
                if grant:
                    granted.append(channel)
            # The first agent works a full queue on some of the channels: grants to half of the connections.
            first_agent = User.objects.get(pk=org_agents[0])
            for channel in granted:
                services.connection_access_set(organization=org, actor=owner, connection=channel, users=[first_agent])
            orgs.append(org.pk)
            agents.append(org_agents)
    texts = _pool()
    with connection.cursor() as cur:
        cur.execute("CREATE TEMP TABLE bench_pool (i int PRIMARY KEY, body text, vec tsvector)")
        cur.executemany(
            "INSERT INTO bench_pool VALUES (%s, %s, %s::tsvector)",
            [(i, t, index_document(t)) for i, t in enumerate(texts)],
        )
        cur.execute(
            f"""INSERT INTO tickets_contact ({contact_columns})
                SELECT o, 'Customer ' || g, '', '', '', false, '{{}}', now(), to_tsvector('simple', 'customer ' || g)
                       {contact_extra}
                FROM unnest(%(orgs)s::bigint[]) o, generate_series(1, %(cpo)s) g""",
            {"orgs": orgs, "cpo": CONTACTS_PER_ORG, **contact_params},
        )
        cur.execute("SELECT organization_id, min(id) FROM tickets_contact GROUP BY organization_id")
        contact_base = dict(cur.fetchall())
        chunk = 100000
        # Ticket g belongs to organization g % ORGS, with number g / ORGS + 1 there.
        for start in range(0, TICKETS, chunk):
            cur.execute(
                f"""INSERT INTO tickets_ticket ({ticket_columns})
                    SELECT (%(orgs)s::bigint[])[g %% %(norgs)s + 1],
                           g / %(norgs)s + 1,
                           (%(conns)s::bigint[])
                               [(g %% %(norgs)s) * %(ncon)s + abs(hashint4(g + 5)) %% %(ncon)s + 1],
                           (%(cbase)s::bigint[])[g %% %(norgs)s + 1] + (g / %(norgs)s) %% %(cpo)s,
                           left(p.body, 80),
                           (ARRAY['new','open','open','pending','on_hold','solved','solved','closed'])
                               [abs(hashint4(g + 1)) %% 8 + 1],
                           (ARRAY['low','normal','normal','normal','high','urgent'])[abs(hashint4(g + 2)) %% 6 + 1],
                           CASE WHEN abs(hashint4(g + 3)) %% 3 = 0 THEN NULL
                                ELSE (%(agents)s::bigint[])
                                    [(g %% %(norgs)s) * %(apo)s + abs(hashint4(g + 4)) %% %(apo)s + 1] END,
                           '', '', 'bench-' || g,
                           now() - g * interval '13 seconds', now() - g * interval '13 seconds',
                           now() - g * interval '13 seconds', now(),
                           p.vec || m1.vec || m2.vec || m3.vec || m4.vec || m5.vec
                           {ticket_extra}
                    FROM generate_series(%(start)s, %(stop)s) g
                    JOIN bench_pool p ON p.i = g %% 600
                    JOIN bench_pool m1 ON m1.i = ((g / %(norgs)s + 1) * 7 + 1) %% 600
                    JOIN bench_pool m2 ON m2.i = ((g / %(norgs)s + 1) * 7 + 2) %% 600
                    JOIN bench_pool m3 ON m3.i = ((g / %(norgs)s + 1) * 7 + 3) %% 600
                    JOIN bench_pool m4 ON m4.i = ((g / %(norgs)s + 1) * 7 + 4) %% 600
                    JOIN bench_pool m5 ON m5.i = ((g / %(norgs)s + 1) * 7 + 5) %% 600""",
                {
                    "orgs": orgs,
                    "norgs": ORGS,
                    "conns": connections,
                    "ncon": len(CONNECTIONS),
                    "cbase": [contact_base[o] for o in orgs],
                    "cpo": CONTACTS_PER_ORG,
                    "agents": [a for org_agents in agents for a in org_agents],
                    "apo": AGENTS_PER_ORG,
                    "start": start,
                    "stop": min(start + chunk, TICKETS) - 1,
                    **ticket_params,
                },
            )
        cur.execute("SELECT min(id), max(id) FROM tickets_ticket WHERE organization_id = ANY(%s)", [orgs])
        low, high = cur.fetchone()
        for start in range(low, high + 1, chunk):
            cur.execute(
                f"""INSERT INTO tickets_message ({message_columns})
                    SELECT t.organization_id, t.id, t.connection_id,
                           CASE WHEN k %% 2 = 1 THEN 'inbound' ELSE 'outbound' END, 'direct', t.contact_id,
                           p.body, '', 'bm-' || t.id || '-' || k, '', CASE WHEN k %% 2 = 1 THEN '' ELSE 'sent' END,
                           '', false, '', '', t.created_at + k * interval '1 minute', p.vec
                           {message_extra}
                    FROM tickets_ticket t CROSS JOIN generate_series(1, %(per)s) k
                    JOIN bench_pool p ON p.i = (t.number * 7 + k) %% 600
                    WHERE t.id BETWEEN %(start)s AND %(stop)s""",
                {
                    "per": MESSAGES_PER_TICKET,
                    "start": start,
                    "stop": min(start + chunk, high + 1) - 1,
                    **message_params,
                },
            )
        for index in ("tickets_message_search", "tickets_ticket_search", "tickets_contact_search"):
            cur.execute("SELECT gin_clean_pending_list(%s::regclass)", [index])
        cur.execute("ANALYZE")
    return time.perf_counter() - started


def _measure(client: Client, urls: list[str], before=None, samples: int = SAMPLES) -> list[float]:
    for url in urls[:3]:
        client.get(url)  # warm caches and connections
    timings = []
    for i in range(samples):
        url = urls[i % len(urls)]
        if before is not None:
            before()
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return timings


def _result(name: str, timings: list[float], target: float, detail: str) -> list[dict]:
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


def run() -> list[dict]:
    from django.core.cache import cache

    from accounts.models import Membership, Organization, User
    from inbox.selectors import latest_event_id
    from tickets.models import ACTIVE_STATUSES, Message, Ticket

    seconds = seed() if not _seeded() else 0.0
    load_before = os.getloadavg()[0]
    with scopes_disabled():
        org = Organization.objects.get(slug="bench-0")
        manager = User.objects.get(email="manager0@bench.example")
        agent = User.objects.get(email="agent0-0@bench.example")
        total_tickets = Ticket.objects.filter(organization__slug__in=_SLUGS).count()
        total_messages = Message.objects.filter(organization__slug__in=_SLUGS).count()
    with scope(organization=org):
        sample_tickets = list(Ticket.objects.order_by("?").values_list("pk", flat=True)[:20])
        agent_queue = Ticket.objects.filter(assignee=agent, status__in=ACTIVE_STATUSES).count()
        # The agent sees the tickets of the channels granted to them (the seed grants half of them).
        membership = Membership.objects.get(organization=org, user=agent)
        from channels_integrations.permissions import connections_visible_to

        granted = list(connections_visible_to(membership).values_list("pk", flat=True))
        agent_visible_queue = Ticket.objects.filter(
            assignee=agent, status__in=ACTIVE_STATUSES, connection_id__in=granted
        ).count()
        line = next(iter(connections_visible_to(membership).filter(platform="line").values_list("pk", flat=True)))
    client = Client()
    client.force_login(manager, backend="django.contrib.auth.backends.ModelBackend")
    base = f"/{org.slug}/inbox/"
    detail = f"{total_tickets} tickets / {total_messages} messages in {ORGS} organizations; seeded in {seconds:.0f} s"
    results = [
        {
            "name": "inbox.seed_seconds",
            "value": round(seconds, 1),
            "unit": "s",
            "target": None,
            "ok": True,
            "detail": detail,
        }
    ]
    list_urls = [
        f"{base}list/",
        f"{base}list/?view=unassigned",
        f"{base}list/?status=open",
        f"{base}list/?platform=line&priority=high",
        f"{base}list/?sort=oldest",
    ]
    results += _result(
        "inbox.list",
        _measure(client, list_urls),
        TARGET,
        detail + "; filters: default, unassigned, status=open, platform+priority, oldest first (manager: all channels)",
    )
    # Combinations that match nothing in the seed (no ticket has a sentiment or a tag, none is that old): the list
    # must find that out without walking the organization's tickets.
    empty_urls = [
        f"{base}list/?status=new&priority=urgent&sentiment=negative",
        f"{base}list/?tag=vip&status=open",
        f"{base}list/?until=2020-01-01",
        f"{base}list/?platform=telegram&sentiment=positive&view=unassigned",
        f"{base}list/?status=closed&assignee={agent.pk}&sentiment=neutral&sort=oldest",
    ]
    results += _result(
        "inbox.list_empty",
        _measure(client, empty_urls),
        TARGET,
        detail + "; filter combinations that match nothing: sentiment, tag, date range, platform, assignee (manager)",
    )
    agent_client = Client()
    agent_client.force_login(agent, backend="django.contrib.auth.backends.ModelBackend")
    agent_detail = (
        f"{detail}; an agent granted {len(granted)} of {len(CONNECTIONS)} channels, {agent_queue} active tickets "
        f"assigned ({agent_visible_queue} on the granted channels)"
    )
    results += _result(
        "inbox.list_agent_mine",
        _measure(agent_client, [f"{base}list/?view=mine", f"{base}list/?view=mine&sort=oldest"]),
        TARGET,
        agent_detail + "; Mine, newest and oldest first",
    )
    results += _result(
        "inbox.list_agent",
        _measure(
            agent_client,
            [
                f"{base}list/",
                f"{base}list/?view=unassigned",
                f"{base}list/?status=pending",
                f"{base}list/?connection={line}",
                f"{base}list/?view=mine&priority=urgent&sentiment=negative",
            ],
        ),
        TARGET,
        agent_detail + "; all visible, unassigned, status=pending, one channel, a Mine combination matching nothing",
    )

    def fresh_counts() -> None:
        # As after a new event: the counts cached for the newest event do not serve the next request.
        with scope(organization=org):
            as_of = latest_event_id()
        for user in (manager, agent):
            cache.delete(f"inbox:counts:{org.pk}:{user.pk}:{as_of}")

    results += _result(
        "inbox.views_pane",
        _measure(client, [f"{base}views/"], before=fresh_counts)
        + _measure(agent_client, [f"{base}views/"], before=fresh_counts),
        TARGET,
        detail + "; the left pane with its counts computed afresh (manager, then the agent with grants)",
    )
    results += _result(
        "inbox.conversation",
        _measure(client, [f"{base}tickets/{t}/conversation/" for t in sample_tickets]),
        TARGET,
        detail,
    )
    results += _result(
        "inbox.search_ja",
        _measure(client, [f"{base}list/?q=届いて", f"{base}list/?q=返品", f"{base}list/?q=破損"]),
        TARGET,
        detail + "; Japanese one-term queries (words, inflections): most recent first",
    )
    results += _result(
        "inbox.search_ja_ranked",
        _measure(client, [f"{base}list/?q=商品+交換", f"{base}list/?q=注文+届いて", f"{base}list/?q=配送先+住所"]),
        TARGET,
        detail + "; two-term queries, ranked: exact phrase, then both terms, each tier read most recent first",
    )
    results += _result(
        "inbox.search_en",
        _measure(client, [f"{base}list/?q=refund", f"{base}list/?q=damaged", f"{base}list/?q=coupon+code"]),
        TARGET,
        detail,
    )
    results += _result(
        "inbox.search_empty",
        _measure(client, [f"{base}list/?q=ロボット掃除機", f"{base}list/?q=xylophone", f"{base}list/?q=返品+xylo"]),
        TARGET,
        detail + "; searches that match nothing (Japanese, English, one known and one unknown word)",
    )
    # Two common words: matched together by about one ticket in sixteen, so the ranked page's first walk does not
    # fill its window (tickets.selectors.RANKED_SCAN_MORE); and the same words as a quoted phrase, which no ticket
    # holds (they never stand side by side): proving that means testing every ticket of the organization with both
    # words. No target: these show how far such searches are from the others (fewer samples, they take longer).
    results += _result(
        "inbox.search_common_pair",
        _measure(client, [f"{base}list/?q=refund+order"], samples=max(4, SAMPLES // 4)),
        None,
        detail + "; two common English words, ranked (most tickets with both hold them apart)",
    )
    results += _result(
        "inbox.search_phrase_apart",
        _measure(client, [f"{base}list/?q=%22refund+order%22"], samples=max(4, SAMPLES // 8)),
        None,
        detail + "; a quoted phrase of two common words that never stand side by side: matches nothing",
    )
    # The machine is shared (2 cores): the figures are worth what the load let them be.
    load = f"; load average {load_before:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    return [{**r, "detail": r["detail"] + load} for r in results]
