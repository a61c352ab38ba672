"""REST API intake through the real processes: BENCH_API_CLIENTS (8) concurrent clients POST
`/api/v1/orgs/api-bench/tickets/` to uvicorn (config.asgi, production settings), each request a new ticket for a new
customer (by email: a contact, an identity, a ticket number, the message and its analysis, the organization's
automation) with its own `Idempotency-Key`; a Celery worker runs what the ingest queues after each commit. Then every
request is sent again with the same key and body: each must answer 201 again and create nothing.

Reported: creations/s over the closed-loop run, p50/p95 latency, the replays (answered, tickets created by them),
the queries one creation makes (counted in-process on the same code path) and the CPU per creation by process.
Target ≥ 500 creations/s on this machine's 2 cores; a peer helpdesk manages 49/s.

Processes and the keep-alive HTTP client come from bench/webhooks.py (imported, not copied). The organization's slug
is "api-bench" (not "bench-…": bench/inbox.py counts the tickets of those). Smoke mode: 40 requests, 4 clients."""

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


def seed():
    """The organization, its owner (sees every channel), one API channel and an API token; the previous run's
    tickets, contacts and idempotency keys deleted, the written tables vacuumed (as bench/webhooks.py does)."""
    from accounts import services
    from accounts.models import Organization, User
    from channels_integrations.models import ChannelConnection, ConnectionStatus
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
        RealtimeEvent.objects.all().delete()
        connection, _ = ChannelConnection.objects.update_or_create(
            organization=organization,
            platform="api",
            external_account_id="bench-api-channel",
            defaults={"display_name": "Bench form", "status": ConnectionStatus.ACTIVE},
        )
        _token, key = services.api_token_create(organization=organization, actor=user, name="bench")
    written = (Ticket, Message, TicketEvent, Contact, ContactIdentity, IdempotencyKey, RealtimeEvent)
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


def _send(url: str, key: str, bodies: list[bytes], keys: list[str]) -> dict:
    """Closed loop, CLIENTS keep-alive connections as fast as they go."""
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
            started = time.perf_counter()
            statuses[i] = poster.post(bodies[i], headers)
            timings[i] = (time.perf_counter() - started) * 1000
        poster.close()

    threads = [threading.Thread(target=work, name=f"api-client-{n}") for n in range(CLIENTS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"wall": time.perf_counter() - started, "timings": timings, "statuses": statuses}


def _queries_per_creation(organization, key: str) -> tuple[int, int]:
    """The queries of one creation and of one replay, counted in this process on the same view."""
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    client = APIClient(SERVER_NAME="127.0.0.1")
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    body = _bodies(f"q{uuid.uuid4().hex[:6]}", 2, "queries")
    url = f"/api/v1/orgs/{SLUG}/tickets/"
    client.post(url, body[0], content_type="application/json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))  # warm
    idem = str(uuid.uuid4())
    counts = []
    for _ in range(2):
        with CaptureQueriesContext(db_connection) as captured:
            answer = client.post(url, body[1], content_type="application/json", HTTP_IDEMPOTENCY_KEY=idem)
        if answer.status_code != 201:
            raise RuntimeError(f"in-process creation answered {answer.status_code}: {answer.content[:300]!r}")
        counts.append(len(captured))
    return counts[0], counts[1]


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
        cpu_before = _cpu_snapshot(processes)
        created = _send(url, key, bodies, keys)
        cpu_after = _cpu_snapshot(processes)
        load_after = os.getloadavg()
        after = _tickets(organization)
        replayed = _send(url, key, bodies, keys)
        after_replay = _tickets(organization)
    finally:
        processes.stop_all()
    first_queries, replay_queries = _queries_per_creation(organization, key)

    ok = sum(1 for s in created["statuses"] if s == 201)
    rate = ok / created["wall"] if created["wall"] else 0.0
    others = sorted({s for s in created["statuses"] if s != 201})
    replay_ok = sum(1 for s in replayed["statuses"] if s == 201)
    cpu = {k: (cpu_after[k] - cpu_before[k]) * 1000 / max(ok, 1) for k in ("web", "worker", "postgres", "redis")}
    cpu_text = ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
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
    ]
