"""REST API intake through the real processes: BENCH_API_CLIENTS (8) concurrent clients POST
`/api/v1/orgs/api-bench/tickets/` to uvicorn (config.asgi, production settings), each request a new ticket for a new
customer (by email: a contact, an identity, a ticket number, the message and its analysis, the organization's
automation) with its own `Idempotency-Key`; a Celery worker runs what the ingest queues after each commit. Then every
request is sent again with the same key and body: each must answer 201 again and create nothing.

Then the asynchronous mode: the same clients POST new requests with `Prefer: respond-async` (each answered 202 once
stored as a raw event; after each web process's first 202 through the full stack, the thin ASGI path of
tickets/api/intake_asgi.py takes them; the worker ingests them in batches, as webhooks), then send them all again
(202 replays, through the full stack; nothing stored twice). Reported: the accept rate (202s per second), the 202's
p50/p95, and the end-to-end rate, from the first POST to the last of their tickets stored (the database polled; the
newest ticket's creation time).

Reported: creations/s over the closed-loop run, p50/p95 latency, the replays (answered, tickets created by them),
the queries one creation makes (counted in-process on the same code path) and the CPU per creation by process
(PostgreSQL: the backends of the bench database, and every postgres process of the shared server for comparison).
Target ≥ 500 creations/s on this machine's 2 cores; a peer helpdesk manages 49/s.

Processes and the keep-alive HTTP client come from bench/webhooks.py (imported, not copied). The organization's slug
is "api-bench" (not "bench-…": bench/inbox.py counts the tickets of those). Smoke mode: 40 requests, 4 clients."""

import contextlib
import itertools
import json
import os
import sys
import threading
import time
import uuid
from urllib.parse import urlparse

from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Count
from django_scopes import scope, scopes_disabled

from bench.inbox import EN, JA, PRODUCTS
from bench.webhooks import Poster, Processes, _cpu_snapshot, _free_port, _pct, _r, _wait_up, _web_argv, _worker_argv

SLUG = "api-bench"
OWNER_EMAIL = "owner@api-bench.example"
SMOKE = os.environ.get("BENCH_SMOKE") == "1"
REDIS_DB = 13 if SMOKE else int(os.environ.get("BENCH_REDIS_DB", "12"))
REQUESTS = 40 if SMOKE else int(os.environ.get("BENCH_API_REQUESTS", "2000"))
CLIENTS = 4 if SMOKE else int(os.environ.get("BENCH_API_CLIENTS", "8"))
WORKER_CONCURRENCY = int(os.environ.get("BENCH_API_WORKER_CONCURRENCY", "1"))
# Intake does its work inside the request (the webhook endpoint only stores the raw event), and a process runs Django's
# synchronous views one at a time: most of a creation is waiting on PostgreSQL, so more processes overlap the waits.
WEB_WORKERS = 1 if SMOKE else int(os.environ.get("BENCH_API_WEB_WORKERS", "4"))
TARGET = 500.0


ASYNC_TIMEOUT = float(os.environ.get("BENCH_API_ASYNC_TIMEOUT", "300"))  # seconds for the worker to catch up


def seed():
    """The organization, its owner (sees every channel), one API channel and an API token; the previous run's
    tickets, contacts and idempotency keys deleted, the written tables vacuumed (as bench/webhooks.py does)."""
    from accounts import services
    from accounts.models import Organization, User
    from channels_integrations.models import ChannelConnection, ConnectionStatus, InboundEvent
    from core.models import RealtimeEvent
    from tickets.models import Contact, ContactIdentity, IdempotencyKey, Message, Ticket, TicketEvent

    with scopes_disabled():
        user = User.objects.filter(email=OWNER_EMAIL).first()
        if user is None:
            user = User.objects.create_user(OWNER_EMAIL, "bench-password", name="API Owner")
        organization = Organization.objects.filter(slug=SLUG).first()
        if organization is None:
            with transaction.atomic():
                organization = services.organization_create(name="Bench API", slug=SLUG, owner=user)
    with scope(organization=organization), transaction.atomic():
        Ticket.objects.all().delete()
        Contact.objects.all().delete()
        IdempotencyKey.objects.all().delete()
        InboundEvent.objects.all().delete()
        RealtimeEvent.objects.all().delete()
        connection, _ = ChannelConnection.objects.update_or_create(
            organization=organization,
            platform="api",
            external_account_id="bench-api-channel",
            defaults={"display_name": "Bench form", "status": ConnectionStatus.ACTIVE},
        )
        _token, key = services.api_token_create(organization=organization, actor=user, name="bench")
    written = (Ticket, Message, TicketEvent, Contact, ContactIdentity, IdempotencyKey, RealtimeEvent, InboundEvent)
    with db_connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {', '.join(m._meta.db_table for m in written)}")  # our table names
    return organization, connection, key


def _bodies(run: str, count: int, phase: str) -> list[bytes]:
    texts = [*JA, *EN]
    return [
        json.dumps(
            {
                "customer": {"email": f"c{run}-{phase}-{i}@example.jp", "name": f"Customer {i}"},
                "subject": PRODUCTS[i % len(PRODUCTS)],
                "text": texts[i % len(texts)],
            },
            ensure_ascii=False,
        ).encode()
        for i in range(count)
    ]


def _send(url: str, key: str, bodies: list[bytes], keys: list[str], *, prefer: str = "") -> dict:
    """Closed loop, CLIENTS keep-alive connections as fast as they go (`prefer`: a Prefer header value)."""
    timings = [0.0] * len(bodies)
    statuses = [0] * len(bodies)
    counter = itertools.count()

    def work() -> None:
        poster = Poster(url)
        while (i := next(counter)) < len(bodies):
            headers = {
                "Authorization": f"Token {key}",
                "Content-Type": "application/json",
                "Idempotency-Key": keys[i],
            }
            if prefer:
                headers["Prefer"] = prefer
            started = time.perf_counter()
            statuses[i] = poster.post(bodies[i], headers)
            timings[i] = (time.perf_counter() - started) * 1000
        poster.close()

    threads = [threading.Thread(target=work, name=f"api-client-{n}") for n in range(CLIENTS)]
    started_at = time.time()
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    return {"wall": wall, "timings": timings, "statuses": statuses, "started_at": started_at}


def _queries_per_creation(organization, key: str) -> tuple[int, int]:
    """The queries of one creation and of one replay, counted in this process on the same view."""
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    client = APIClient(SERVER_NAME="127.0.0.1")
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    body = _bodies(f"q{uuid.uuid4().hex[:6]}", 2, "queries")
    url = f"/api/v1/orgs/{SLUG}/tickets/"
    idem = str(uuid.uuid4())
    counts = []
    # Committed, as in the server: what the creation runs after its commit counts too.
    client.post(url, body[0], content_type="application/json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))  # warm
    for _ in range(2):
        with CaptureQueriesContext(db_connection) as captured:
            answer = client.post(url, body[1], content_type="application/json", HTTP_IDEMPOTENCY_KEY=idem)
        if answer.status_code != 201:
            raise RuntimeError(f"in-process creation answered {answer.status_code}: {answer.content[:300]!r}")
        counts.append(len(captured))
    return counts[0], counts[1]


def _queries_per_accept(organization, key: str) -> tuple[int, int]:
    """The queries of one 202 (Prefer: respond-async) through the full stack and of its replay, counted in this
    process (Django's test client: no thin ASGI path)."""
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    client = APIClient(SERVER_NAME="127.0.0.1")
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    body = _bodies(f"a{uuid.uuid4().hex[:6]}", 1, "queries")[0]
    url = f"/api/v1/orgs/{SLUG}/tickets/"
    idem = str(uuid.uuid4())
    counts = []
    with _rolled_back():
        for _ in range(2):
            with CaptureQueriesContext(db_connection) as captured:
                answer = client.post(
                    url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=idem, HTTP_PREFER="respond-async"
                )
            if answer.status_code != 202:
                raise RuntimeError(f"in-process accept answered {answer.status_code}: {answer.content[:300]!r}")
            counts.append(len(captured))
    return counts[0], counts[1]


@contextlib.contextmanager
def _rolled_back():
    """Requests made in this process for counting their queries leave nothing: no event waiting for a worker that is
    gone, no task queued on this process's broker (the development one). Inside, a transaction is a savepoint: the
    same number of statements. The request signals' connection check is off meanwhile, as in Django's test client."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        with transaction.atomic():
            yield
            transaction.set_rollback(True)
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _queries_per_thin_accept(organization, key: str) -> int:
    """The queries of one 202 taken by the thin ASGI path (tickets/api/intake_asgi.py), counted in this process: the
    caller is remembered by one request through the full path first (as the server's first request does)."""
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from accounts.tokens import digest
    from tickets.api import intake, intake_asgi

    client = APIClient(SERVER_NAME="127.0.0.1")
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    url = f"/api/v1/orgs/{SLUG}/tickets/"
    bodies = _bodies(f"t{uuid.uuid4().hex[:6]}", 2, "queries")
    with _rolled_back():
        answer = client.post(url, bodies[0], content_type="application/json", HTTP_PREFER="respond-async")
    if answer.status_code != 202:
        raise RuntimeError(f"in-process accept answered {answer.status_code}: {answer.content[:300]!r}")
    # What the ASGI path records from the full stack's first 202 (here without the middleware's headers).
    json_type = [(b"content-type", b"application/json")]
    intake.context_headers_record(intake.context_key(digest(key), SLUG, False), json_type)
    headers = {"host": "127.0.0.1", "authorization": f"Token {key}", "content-type": "application/json"}
    headers.update({"prefer": "respond-async", "idempotency-key": str(uuid.uuid4())})
    scope = {
        "type": "http",
        "method": "POST",
        "path": url,
        "root_path": "",
        "query_string": b"",
        "scheme": "http",
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 50000),
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    with _rolled_back(), CaptureQueriesContext(db_connection) as captured:
        answer, _key = intake_asgi.accept(scope, bodies[1])
    if answer is None or answer[0] != 202:
        raise RuntimeError(f"the thin path did not accept the request: {answer!r}")
    return len(captured)


def _database_cpu() -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving the bench database, by process id. The server is shared with
    the other engineers' tests and benches: counting every `postgres` process would charge their work to this run.
    (A backend that exits between two snapshots is lost; the web pool and the worker keep theirs.)"""
    import psutil

    with db_connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        pids = [row[0] for row in cursor.fetchall()]
    cpu = {}
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        cpu[pid] = times.user + times.system
    return cpu


def _cpu(processes) -> dict:
    snapshot = _cpu_snapshot(processes)
    snapshot["database"] = _database_cpu()
    return snapshot


def _cpu_per(before: dict, after: dict, count: int) -> dict[str, float]:
    """CPU ms per item by process: web, worker, the bench database's PostgreSQL backends, every PostgreSQL process
    of the shared server (other databases' work included), Redis, the load generator (this process: the clients)."""
    used = {k: after[k] - before[k] for k in ("web", "worker", "postgres", "redis", "load generator")}
    used["postgres (bench db)"] = sum(cpu - before["database"].get(pid, 0.0) for pid, cpu in after["database"].items())
    order = ("web", "worker", "postgres (bench db)", "postgres", "redis", "load generator")
    return {k: used[k] * 1000 / max(count, 1) for k in order}


def _cpu_text(cpu: dict[str, float]) -> str:
    text = ", ".join(f"{k} {v:.1f}" for k, v in cpu.items() if k != "postgres")
    return f"{text} (every postgres process of the shared server: {cpu['postgres']:.1f})"


def _wait_for_tickets(organization, count: int, deadline: float) -> tuple[int, float | None]:
    """Poll until `count` tickets exist (or the deadline): (tickets, the newest one's creation as a Unix time)."""
    from django.db.models import Max

    from tickets.models import Ticket

    while True:
        with scope(organization=organization):
            found = Ticket.objects.aggregate(n=Count("pk"), last=Max("created_at"))
        if found["n"] >= count or time.monotonic() > deadline:
            return found["n"], found["last"].timestamp() if found["last"] else None
        time.sleep(0.2)


def _tickets(organization) -> int:
    from tickets.models import Ticket

    with scope(organization=organization):
        return Ticket.objects.count()


def run() -> list[dict]:
    from django.conf import settings

    organization, connection, key = seed()
    redis_url = urlparse(os.environ["REDIS_URL"])._replace(path=f"/{REDIS_DB}").geturl()
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_VERSION", "REDIS_DB")}
    env.update(
        DATABASE_URL=os.environ["DATABASE_URL"],
        REDIS_URL=redis_url,
        DEBUG="0",
        SECRET_KEY=settings.SECRET_KEY,
        TSUNAGU_ENCRYPTION_KEYS=",".join(settings.ENCRYPTION_KEYS),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        DJANGO_SETTINGS_MODULE="config.settings",
        PYTHONUNBUFFERED="1",
    )
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/api/v1/orgs/{SLUG}/tickets/"
    run_id = time.strftime("%H%M%S")
    processes = Processes(env)
    try:
        argv = list(_web_argv(port))
        if "--workers" in argv:  # bench/webhooks.py's own setting: replaced by ours
            del argv[argv.index("--workers") : argv.index("--workers") + 2]
        processes.start("web", argv + (["--workers", str(WEB_WORKERS)] if WEB_WORKERS > 1 else []))
        _wait_up(f"{base}/healthz", processes, "web", time.monotonic() + 60)
        processes.start("worker", _worker_argv(WORKER_CONCURRENCY))
        warm = _send(url, key, _bodies(run_id, 2 * CLIENTS, "warm"), [str(uuid.uuid4()) for _ in range(2 * CLIENTS)])
        if any(s != 201 for s in warm["statuses"]):
            raise RuntimeError(f"warm-up answered {sorted(set(warm['statuses']))}:\n{processes.tail('web')}")

        bodies = _bodies(run_id, REQUESTS, "run")
        keys = [str(uuid.uuid4()) for _ in bodies]
        before = _tickets(organization)
        load_before = os.getloadavg()
        cpu_before = _cpu(processes)
        created = _send(url, key, bodies, keys)
        cpu_after = _cpu(processes)
        load_after = os.getloadavg()
        after = _tickets(organization)
        replayed = _send(url, key, bodies, keys)
        after_replay = _tickets(organization)

        # Asynchronous mode: accepted at once, ingested by the worker.
        async_bodies = _bodies(run_id, REQUESTS, "async")
        async_keys = [str(uuid.uuid4()) for _ in async_bodies]
        async_before = _tickets(organization)
        load_async = os.getloadavg()
        async_cpu_before = _cpu(processes)
        accepted = _send(url, key, async_bodies, async_keys, prefer="respond-async")
        accept_cpu = _cpu(processes)
        load_accept = os.getloadavg()
        accepted_ok = sum(1 for s in accepted["statuses"] if s == 202)
        stored, last_at = _wait_for_tickets(organization, async_before + accepted_ok, time.monotonic() + ASYNC_TIMEOUT)
        async_cpu_after = _cpu(processes)
        load_async_after = os.getloadavg()
        async_replayed = _send(url, key, async_bodies, async_keys, prefer="respond-async")
        time.sleep(1.0)  # a replay that stored something would be ingested by now
        async_after_replay = _tickets(organization)
    finally:
        processes.stop_all()
    first_queries, replay_queries = _queries_per_creation(organization, key)
    accept_queries, accept_replay_queries = _queries_per_accept(organization, key)
    thin_queries = _queries_per_thin_accept(organization, key)

    ok = sum(1 for s in created["statuses"] if s == 201)
    rate = ok / created["wall"] if created["wall"] else 0.0
    others = sorted({s for s in created["statuses"] if s != 201})
    replay_ok = sum(1 for s in replayed["statuses"] if s == 201)
    cpu_text = _cpu_text(_cpu_per(cpu_before, cpu_after, ok))
    detail = (
        f"{ok}/{REQUESTS} answered 201 ({others or 'no other status'}) from {CLIENTS} clients in "
        f"{created['wall']:.1f} s; {after - before} tickets created; {WEB_WORKERS} uvicorn process(es) "
        f"(BENCH_API_WEB_WORKERS), a Celery worker of concurrency {WORKER_CONCURRENCY}; "
        f"{first_queries} queries per creation, {replay_queries} per replay; CPU ms per creation: {cpu_text}; "
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"
    )
    print(f"  api: {detail}", file=sys.stderr)
    p50, p95 = _pct(created["timings"], 50), _pct(created["timings"], 95)
    return [
        {
            "name": "api.creations_per_s",
            "value": round(rate, 1),
            "unit": "1/s",
            "target": f">= {TARGET:.0f}",
            "ok": rate >= TARGET and ok == REQUESTS,
            "detail": detail,
        },
        {
            "name": "api.creation_p50_ms",
            "value": _r(p50),
            "unit": "ms",
            "target": "-",
            "ok": True,
            "detail": f"latency of a creation under {CLIENTS} concurrent clients",
        },
        {
            "name": "api.creation_p95_ms",
            "value": _r(p95),
            "unit": "ms",
            "target": "-",
            "ok": True,
            "detail": f"latency of a creation under {CLIENTS} concurrent clients",
        },
        {
            "name": "api.replays_created",
            "value": after_replay - after,
            "unit": "tickets",
            "target": "0",
            "ok": after_replay == after and replay_ok == REQUESTS,
            "detail": (
                f"every request sent again with its Idempotency-Key: {replay_ok}/{REQUESTS} answered 201 with the "
                f"first answer, {after_replay - after} tickets created; {replayed['wall']:.1f} s "
                f"({REQUESTS / replayed['wall']:.0f} replays/s), p95 {_pct(replayed['timings'], 95):.0f} ms"
            ),
        },
        *_async_entries(
            accepted,
            accepted_ok,
            stored - async_before,
            last_at,
            async_replayed,
            async_after_replay - stored,
            (thin_queries, accept_queries, accept_replay_queries),
            {
                "accept": _cpu_per(async_cpu_before, accept_cpu, accepted_ok),
                "all": _cpu_per(async_cpu_before, async_cpu_after, stored - async_before),
            },
            (load_async[0], load_accept[0], load_async_after[0]),
        ),
    ]


def _async_entries(accepted, accepted_ok, ingested, last_at, replayed, replay_created, queries, cpu, load) -> list:
    accept_rate = accepted_ok / accepted["wall"] if accepted["wall"] else 0.0
    others = sorted({s for s in accepted["statuses"] if s != 202})
    end_to_end = (last_at - accepted["started_at"]) if last_at else None
    e2e_rate = ingested / end_to_end if end_to_end and ingested else 0.0
    replay_ok = sum(1 for s in replayed["statuses"] if s == 202)
    detail = (
        f"{accepted_ok}/{REQUESTS} answered 202 ({others or 'no other status'}) from {CLIENTS} clients with "
        f"Prefer: respond-async in {accepted['wall']:.1f} s; {ingested} tickets stored by the worker "
        f"{f'{end_to_end:.1f} s' if end_to_end else 'never'} after the first POST; queries per accept: "
        f"{queries[0]} on the thin ASGI path (a remembered caller), {queries[1]} through the full stack, "
        f"{queries[2]} per replay; CPU ms per ticket while accepting (per 202): {_cpu_text(cpu['accept'])}; "
        f"CPU ms per ticket from the first POST to the last ticket stored (accept + ingest): "
        f"{_cpu_text(cpu['all'])}; load average {load[0]:.1f} before, {load[1]:.1f} after the accepts, "
        f"{load[2]:.1f} after the ingest"
    )
    print(f"  api async: {detail}", file=sys.stderr)
    p50, p95 = _pct(accepted["timings"], 50), _pct(accepted["timings"], 95)
    return [
        {
            "name": "api.async_accepts_per_s",
            "value": round(accept_rate, 1),
            "unit": "1/s",
            "target": f">= {TARGET:.0f}",
            "ok": accept_rate >= TARGET and accepted_ok == REQUESTS,
            "detail": detail,
        },
        {
            "name": "api.async_end_to_end_per_s",
            "value": round(e2e_rate, 1),
            "unit": "1/s",
            "target": f">= {TARGET:.0f}",
            "ok": e2e_rate >= TARGET and ingested == accepted_ok == REQUESTS,
            "detail": f"first POST to the last ticket stored (database polled): {detail}",
        },
        {
            "name": "api.async_accept_p50_ms",
            "value": _r(p50),
            "unit": "ms",
            "target": "-",
            "ok": True,
            "detail": f"latency of a 202 under {CLIENTS} concurrent clients",
        },
        {
            "name": "api.async_accept_p95_ms",
            "value": _r(p95),
            "unit": "ms",
            "target": "-",
            "ok": True,
            "detail": f"latency of a 202 under {CLIENTS} concurrent clients",
        },
        {
            "name": "api.async_replays_created",
            "value": replay_created,
            "unit": "tickets",
            "target": "0",
            "ok": replay_created == 0 and replay_ok == REQUESTS,
            "detail": (
                f"every async request sent again with its Idempotency-Key: {replay_ok}/{REQUESTS} answered the same "
                f"202, {replay_created} tickets created; {replayed['wall']:.1f} s, "
                f"p95 {_pct(replayed['timings'], 95):.0f} ms"
            ),
        },
    ]
