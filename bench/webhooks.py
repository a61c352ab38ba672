"""Webhook intake and end-to-end latency through the real processes: uvicorn (config.asgi) answers signed Meta
webhooks, a Celery worker ingests them (queue `inbound`), and a WebSocket client subscribed as the organization's
owner receives `message.created`. Nothing is faked: the load generator signs every body with the app secret and
posts it over loopback HTTP, exactly as Meta does.

Phases (each on a fresh "webhooks-bench" organization with one Facebook page):
1. worker concurrency: a short open-loop trial at the target rate with each candidate (BENCH_WEBHOOK_CONCURRENCY,
   default "2,3"); the lower end-to-end p95 is kept for the rest;
2. intake: BENCH_WEBHOOK_INTAKE (2,000) POSTs as fast as 16 threads can send them, each a new conversation (the
   worst case: a contact, a ticket and a number from the organization's counter per message); then the queue drains;
3. sustained: BENCH_WEBHOOK_RATE (200) messages/s for BENCH_WEBHOOK_SECONDS (30), sent at times fixed in advance by
   several sender threads (open loop: a slow answer does not delay the next send); half continue existing
   conversations, half start new ones. End to end = WebSocket receive time - the moment just before the POST;
4. the same at BENCH_WEBHOOK_KEPT_RATE (90) messages/s, a rate this machine keeps up with.

Production settings (DEBUG off), uvicorn with BENCH_WEBHOOK_WEB_WORKERS (1, the Docker image's WEB_CONCURRENCY)
processes: on 2 cores shared with the worker, PostgreSQL and the load generator, a second web process only added
contention (2.4 ms of web CPU per webhook with one, 3.0 with two). The load generator posts over keep-alive HTTP/1.1
connections with a minimal client (`Poster`): it shares the cores with what it measures.

The slug is "webhooks-bench", not "bench-hooks": bench/inbox.py counts the tickets of every `bench-*` organization
and refuses to run when the count differs from its own seed. The children use their own Redis database
(BENCH_REDIS_DB, default 12) on the same server, so a development worker on the same Redis never takes the bench's
tasks (and the bench never takes its tasks). Everything this module starts is stopped in `finally`.

Smoke mode (`python -m bench --smoke`): the same processes and phases for a few seconds (one concurrency candidate,
a 2 s trial, 100 intake POSTs, 3 s at 20 and at 10 msg/s, short waits for stragglers) on Redis database 13."""

import dataclasses
import hashlib
import hmac
import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import psutil
import requests
from django.db import connection as db_connection
from django.db import transaction
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from bench.inbox import EN, JA, PRODUCTS

ROOT = Path(__file__).resolve().parent.parent
SLUG = "webhooks-bench"
OWNER_EMAIL = "owner@webhooks-bench.example"
PAGE_ID = "910000000000001"
SECRET = "bench-meta-app-secret"
SMOKE = os.environ.get("BENCH_SMOKE") == "1"
REDIS_DB = 13 if SMOKE else int(os.environ.get("BENCH_REDIS_DB", "12"))
RATE = 20.0 if SMOKE else float(os.environ.get("BENCH_WEBHOOK_RATE", "200"))
SECONDS = 3.0 if SMOKE else float(os.environ.get("BENCH_WEBHOOK_SECONDS", "30"))
INTAKE_REQUESTS = 100 if SMOKE else int(os.environ.get("BENCH_WEBHOOK_INTAKE", "2000"))
INTAKE_THREADS = 16
SENDER_THREADS = 4 if SMOKE else int(os.environ.get("BENCH_WEBHOOK_SENDERS", "32"))
_CONCURRENCIES = "2" if SMOKE else os.environ.get("BENCH_WEBHOOK_CONCURRENCY", "2,3")
CONCURRENCIES = [int(n) for n in _CONCURRENCIES.split(",") if n.strip()]
TRIAL_SECONDS = 2.0 if SMOKE else float(os.environ.get("BENCH_WEBHOOK_TRIAL_SECONDS", "10"))
# The Docker image's WEB_CONCURRENCY.
WEB_WORKERS = 1 if SMOKE else int(os.environ.get("BENCH_WEBHOOK_WEB_WORKERS", "1"))
# A second open-loop run at a rate this machine keeps up with: the latency when the pipeline is not saturated.
KEPT_RATE = 10.0 if SMOKE else float(os.environ.get("BENCH_WEBHOOK_KEPT_RATE", "90"))
STRAGGLER_SECONDS = 10.0 if SMOKE else 60.0
# A hard cap; the wait normally ends when everything arrived or nothing moved for STRAGGLER_SECONDS.
DRAIN_SECONDS = 60.0 if SMOKE else 900.0
INTAKE_P99_TARGET = 250.0
SIMULATOR = {"url": ""}  # the platform simulator's base URL, once started
E2E_P95_TARGET = 1000.0


# --- payloads ---------------------------------------------------------------------------------------------------


def _texts() -> list[str]:
    rng = random.Random(11)
    return [f"{rng.choice(JA if i % 3 else EN)} {rng.choice(PRODUCTS)} #{i}" for i in range(500)]


TEXTS = _texts()
# The page the payload helpers sign for and the texts they send: the empty organization's by default; the realistic
# organization's phase points them at its own page and texts (the helpers keep their signatures: other benches
# import them).
TARGET = {"page": PAGE_ID, "texts": TEXTS}


def _signed(psid: str, mid: str, text: str) -> tuple[bytes, dict]:
    """One Messenger message in Meta's envelope, serialized like Meta (ASCII-escaped) and signed over those bytes."""
    now = int(time.time() * 1000)
    body = json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": TARGET["page"],
                    "time": now,
                    "messaging": [
                        {
                            "sender": {"id": psid},
                            "recipient": {"id": TARGET["page"]},
                            "timestamp": now,
                            "message": {"mid": mid, "text": text},
                        }
                    ],
                }
            ],
        }
    ).encode()
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}


class Ids:
    """PSIDs and mids unique within a run (numeric PSIDs like Meta's page-scoped ids)."""

    def __init__(self) -> None:
        self.run = time.strftime("%H%M%S")
        self._n = itertools.count(1)
        self.unnamed: list[str] = []

    def psid(self) -> str:
        psid = f"7{self.run}{next(self._n):08d}"
        self.unnamed.append(psid)
        return psid

    def mid(self, phase: str, i: int) -> str:
        return f"m_{self.run}_{phase}_{i}"


def _name_customers(sim_url: str, ids: Ids) -> None:
    """Tell the simulator the names of the customers about to write, so the worker's User Profile API calls for
    new contacts get answers (outside the timed sections)."""
    rng = random.Random(len(ids.unnamed))
    family = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "Smith", "Brown"]
    given = ["陽子", "健", "さくら", "大輔", "Emma", "Liam"]
    while ids.unnamed:
        batch, ids.unnamed = ids.unnamed[:500], ids.unnamed[500:]
        customers = [
            {"account_id": TARGET["page"], "psid": p, "name": f"{rng.choice(family)} {rng.choice(given)}"}
            for p in batch
        ]
        requests.post(f"{sim_url}/_sim/meta/customers", json={"customers": customers}, timeout=30).raise_for_status()


# --- statistics ---------------------------------------------------------------------------------------------------


def _pct(values: list[float], p: float) -> float:
    """Percentile by linear interpolation (p in 0..100); nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def _r(value: float) -> float | None:
    return None if value != value else round(value, 1)  # nan -> None (JSON has no nan)


# --- seed -------------------------------------------------------------------------------------------------------


def seed():
    """The organization, its owner (the owner role sees every channel) and an active Facebook page, created once;
    the previous run's conversations, raw events and stored real-time events are deleted so every run starts from
    the same state, and the tables vacuumed: otherwise autovacuum cleans up after the previous run in the middle of
    this one's measurement (a core for three seconds on every table the ingest writes)."""
    from accounts import services
    from accounts.models import Organization, User
    from channels_integrations.models import ChannelConnection, ConnectionStatus, InboundEvent
    from core.models import RealtimeEvent
    from tickets.models import Contact, ContactIdentity, Message, Ticket, TicketEvent

    with scopes_disabled():
        user = User.objects.filter(email=OWNER_EMAIL).first()
        if user is None:
            user = User.objects.create_user(OWNER_EMAIL, "bench-password", name="Hooks Owner")
        organization = Organization.objects.filter(slug=SLUG).first()
        if organization is None:
            with transaction.atomic():
                organization = services.organization_create(name="Bench webhooks", slug=SLUG, owner=user)
    with scope(organization=organization), transaction.atomic():
        Ticket.objects.all().delete()  # and their messages, events, attachments
        Contact.objects.all().delete()
        InboundEvent.objects.all().delete()
        RealtimeEvent.objects.all().delete()
        connection, _ = ChannelConnection.objects.update_or_create(
            organization=organization,
            platform="facebook",
            external_account_id=PAGE_ID,
            defaults={"display_name": "Bench page", "status": ConnectionStatus.ACTIVE},
        )
    written = (Ticket, Message, TicketEvent, Contact, ContactIdentity, InboundEvent, RealtimeEvent)
    tables = [model._meta.db_table for model in written]
    with db_connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {', '.join(tables)}")  # our table names, not input
    return organization, user, connection


def _session_key(user) -> str:
    """A session exactly as django.contrib.auth.login() stores it."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = user._meta.pk.value_to_string(user)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return store.session_key


# --- processes --------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    """Children in their own process groups, logs in a temporary directory; `stop_all` leaves no orphan."""

    def __init__(self, env: dict) -> None:
        self.env = env
        self.logs = Path(tempfile.mkdtemp(prefix="tsunagu-bench-webhooks-"))
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.running[name] = process
        return process

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self, name: str) -> None:
        process = self.running.pop(name, None)
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # the main process shuts its children down (warm shutdown)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(process.pid, signal.SIGKILL)  # whatever is left in the group (a stuck pool child)
        except ProcessLookupError:
            pass
        process.wait()

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)


def _wait_up(url: str, processes: Processes, name: str, deadline: float) -> None:
    """Until `url` answers 200; fails with the process's log when it exits or the deadline passes."""
    while True:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        if processes.running[name].poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start:\n{processes.tail(name)}")
        time.sleep(0.2)


# --- the WebSocket client ---------------------------------------------------------------------------------------


class Listener(threading.Thread):
    """The owner's browser: one WebSocket, the receive time of every `message.created` by message id."""

    def __init__(self, url: str, origin: str, session_key: str, cookie_name: str) -> None:
        super().__init__(name="ws-listener", daemon=True)
        self.url, self.origin = url, origin
        self.cookie = f"{cookie_name}={session_key}"
        self.received: dict[int, float] = {}
        self.frames = 0
        self.ready = threading.Event()
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.closed_early = False

    def run(self) -> None:
        from websockets.sync.client import connect

        try:
            with connect(
                self.url, origin=self.origin, additional_headers={"Cookie": self.cookie}, open_timeout=20
            ) as ws:
                hello = json.loads(ws.recv(timeout=20))
                if hello.get("type") != "hello":
                    raise RuntimeError(f"unexpected first frame {hello}")
                self.ready.set()
                while not self.done.is_set():
                    try:
                        raw = ws.recv(timeout=0.5)
                    except TimeoutError:
                        continue
                    at = time.monotonic()
                    self.frames += 1
                    event = json.loads(raw)
                    if event.get("type") == "message.created":
                        self.received.setdefault(int(event["payload"]["message_id"]), at)
        except BaseException as exc:  # reported by the main thread
            if not self.done.is_set():
                self.error = exc
                self.closed_early = True
        finally:
            self.ready.set()


# --- load generation --------------------------------------------------------------------------------------------


class Poster:
    """One sender's keep-alive HTTP/1.1 connection: it writes each request in one piece and reads the answer's status
    line, headers and Content-Length body. The load generator shares the cores with the system it measures, and
    http.client parsed every answer's headers with the email package (a fifth of the generator's CPU); requests
    cost several times more again."""

    def __init__(self, url: str) -> None:
        parts = urlparse(url)
        self.host, self.port, self.path = parts.hostname, parts.port, parts.path
        self.sock: socket.socket | None = None
        self.pending = b""  # bytes read past the previous answer

    def post(self, body: bytes, headers: dict) -> int:
        """The answer's status; 0 when the request failed (the connection is opened again next time)."""
        try:
            if self.sock is None:
                self.sock = socket.create_connection((self.host, self.port), timeout=30)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.pending = b""
            lines = [f"POST {self.path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
            lines += [f"{name}: {value}" for name, value in headers.items()]
            self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            return self._answer()
        except (OSError, ValueError, IndexError):
            self.close()
            return 0

    def _answer(self) -> int:
        data = self.pending
        while b"\r\n\r\n" not in data:
            data += self._recv()
        head, _, rest = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.split(b"\r\n")
        fields = {}
        for line in header_lines:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip()
        if b"content-length" not in fields:  # not how our server answers: read nothing more, start afresh
            self.close()
            return int(status_line.split()[1])
        length = int(fields[b"content-length"])
        while len(rest) < length:
            rest += self._recv()
        self.pending = rest[length:]
        if fields.get(b"connection", b"").lower() == b"close":
            self.close()
        return int(status_line.split()[1])

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise OSError("connection closed by the server")
        return chunk

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def _intake(url: str, ids: Ids) -> dict:
    """Closed loop, as fast as INTAKE_THREADS can go: every message a new conversation."""
    payloads = [_signed(ids.psid(), ids.mid("intake", i), TEXTS[i % len(TEXTS)]) for i in range(INTAKE_REQUESTS)]
    _name_customers(SIMULATOR["url"], ids)
    timings = [0.0] * INTAKE_REQUESTS
    statuses = [0] * INTAKE_REQUESTS
    counter = itertools.count()

    def work() -> None:
        poster = Poster(url)
        while (i := next(counter)) < INTAKE_REQUESTS:
            body, headers = payloads[i]
            started = time.perf_counter()
            statuses[i] = poster.post(body, headers)
            timings[i] = (time.perf_counter() - started) * 1000
        poster.close()

    threads = [threading.Thread(target=work, name=f"intake-{n}") for n in range(INTAKE_THREADS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    mids = [ids.mid("intake", i) for i in range(INTAKE_REQUESTS)]
    ok = [m for m, s in zip(mids, statuses, strict=True) if s == 200]
    psids = [json.loads(b)["entry"][0]["messaging"][0]["sender"]["id"] for b, _ in payloads]
    return {"wall": wall, "timings": timings, "statuses": statuses, "mids": ok, "psids": psids}


def _sustained(url: str, ids: Ids, phase: str, rate: float, seconds: float, known_psids: list[str], sampler) -> dict:
    """Open loop: send i at t0 + i/rate whatever happened to earlier sends; even i start a conversation, odd i
    continue one (an earlier conversation of the intake phase, or one this phase started at least a second ago)."""
    rng = random.Random(5)
    count = int(rate * seconds)
    offsets = [i / rate for i in range(count)]
    pool = list(known_psids)
    new_psids: list[tuple[float, str]] = []
    grown = 0
    plan = []
    for i in range(count):
        while grown < len(new_psids) and new_psids[grown][0] <= offsets[i] - 1.0:
            pool.append(new_psids[grown][1])
            grown += 1
        if i % 2 == 0 or not pool:
            psid = ids.psid()
            new_psids.append((offsets[i], psid))
        else:
            psid = rng.choice(pool)
        texts = TARGET["texts"]
        plan.append(_signed(psid, ids.mid(phase, i), texts[(i * 7) % len(texts)]))
    _name_customers(SIMULATOR["url"], ids)
    sent = [0.0] * count
    lag = [0.0] * count
    timings = [0.0] * count
    statuses = [0] * count
    counter = itertools.count()
    t0 = time.monotonic() + 0.5

    def work() -> None:
        poster = Poster(url)
        while (i := next(counter)) < count:
            due = t0 + offsets[i]
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            body, headers = plan[i]
            sent[i] = time.monotonic()
            lag[i] = sent[i] - due
            statuses[i] = poster.post(body, headers)
            timings[i] = (time.monotonic() - sent[i]) * 1000
            if statuses[i] == 200:
                sampler.note_sent()
        poster.close()

    threads = [threading.Thread(target=work, name=f"sender-{n}") for n in range(SENDER_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = max(sent) - min(sent) if count > 1 else 0.0
    mids = [ids.mid(phase, i) for i in range(count)]
    return {
        "count": count,
        "wall": wall,
        "sent": {m: s for m, s, st in zip(mids, sent, statuses, strict=True) if st == 200},
        "timings": timings,
        "statuses": statuses,
        "lag_ms": [x * 1000 for x in lag],
        "new_psids": [p for _, p in new_psids],
    }


class Sampler(threading.Thread):
    """Every 0.25 s: the Celery `inbound` queue length in Redis and the messages in flight (answered 200, not yet
    seen on the WebSocket). Keeps the maxima of the current phase."""

    def __init__(self, redis_url: str, listener: Listener) -> None:
        super().__init__(name="sampler", daemon=True)
        import redis

        self.redis = redis.Redis.from_url(redis_url)
        self.listener = listener
        self.stop_flag = threading.Event()
        self._lock = threading.Lock()
        self.reset()

    def note_sent(self) -> None:
        with self._lock:
            self.sent += 1

    def reset(self) -> None:
        self.sent = 0
        self.base_received = len(self.listener.received)
        self.max_queue = 0
        self.max_in_flight = 0

    def run(self) -> None:
        while not self.stop_flag.wait(0.25):
            try:
                self.max_queue = max(self.max_queue, int(self.redis.llen("inbound")))
            except Exception:  # a sample lost is not a result lost
                pass
            in_flight = self.sent - (len(self.listener.received) - self.base_received)
            self.max_in_flight = max(self.max_in_flight, in_flight)


# --- CPU accounting ---------------------------------------------------------------------------------------------


def _tree_cpu(pid: int) -> float:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _named_cpu(prefix: str) -> float:
    """CPU of every process whose name starts with `prefix`, plus what their exited children used (PostgreSQL
    backends come and go with each connection; the postmaster reaps them)."""
    total = 0.0
    for p in psutil.process_iter(["name"]):
        if not (p.info["name"] or "").startswith(prefix):
            continue
        try:
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            pass
    return total


def _cpu_snapshot(processes: Processes) -> dict:
    me = psutil.Process().cpu_times()
    system = psutil.cpu_times()
    return {
        "at": time.monotonic(),
        "busy": system.user + system.nice + system.system + system.irq + system.softirq,
        "web": _tree_cpu(processes.running["web"].pid) if "web" in processes.running else 0.0,
        "worker": _tree_cpu(processes.running["worker"].pid) if "worker" in processes.running else 0.0,
        "postgres": _named_cpu("postgres"),
        "redis": _named_cpu("redis"),
        "load generator": me.user + me.system,
    }


def _cpu_text(before: dict, after: dict) -> str:
    seconds = after["at"] - before["at"]
    if seconds <= 0:
        return ""
    share = {k: (after[k] - before[k]) / seconds * 100 for k in before if k != "at"}
    parts = ", ".join(f"{k} {share[k]:.0f}%" for k in ("web", "worker", "postgres", "redis", "load generator"))
    return f"CPU ({psutil.cpu_count()} cores = {psutil.cpu_count() * 100}%): all {share['busy']:.0f}% ({parts})"


# --- waiting for the pipeline -----------------------------------------------------------------------------------


def _batch_text(organization, since) -> str:
    """How many events each ingest batch took (the events of one batch share their `processed_at`)."""
    from django.db.models import Count

    from channels_integrations.models import InboundEvent

    with scope(organization=organization):
        sizes = list(
            InboundEvent.objects.filter(processed_at__gte=since)
            .order_by()
            .values_list("processed_at")
            .annotate(n=Count("id"))
            .values_list("n", flat=True)
        )
    if not sizes:
        return "no batches"
    return (
        f"{len(sizes)} ingest batches, events per batch mean {sum(sizes) / len(sizes):.1f}, "
        f"p50 {_pct(sizes, 50):.0f}, max {max(sizes)}"
    )


def _event_counts(organization) -> dict:
    from django.db.models import Count

    from channels_integrations.models import InboundEvent

    with scope(organization=organization):
        return dict(InboundEvent.objects.order_by().values_list("status").annotate(n=Count("id")))


def _stored(connection, mids: list[str]) -> dict[str, int]:
    """platform message id -> message id of the stored messages."""
    from tickets.models import Message

    found: dict[str, int] = {}
    with scope(organization=connection.organization):
        for start in range(0, len(mids), 2000):
            chunk = mids[start : start + 2000]
            found.update(
                (mid, pk)
                for pk, mid in Message.objects.filter(connection=connection, platform_message_id__in=chunk)
                .order_by()
                .values_list("pk", "platform_message_id")
            )
    return found


def _await_delivery(connection, mids: list[str], listener: Listener, quiet: float = STRAGGLER_SECONDS) -> dict:
    """Wait until every accepted message is stored and seen on the WebSocket. Gives up after `quiet` seconds in
    which nothing more was stored or delivered (a backlog still draining is progress), or after DRAIN_SECONDS.
    Returns the map mid -> message id, how many are delivered, and the seconds waited."""
    started = last_progress = time.monotonic()
    seen = (-1, -1, -1)
    stored: dict[str, int] = {}
    last_lookup = 0.0
    while True:
        now = time.monotonic()
        # The harness must not load the database it measures: while the WebSocket keeps receiving, the stored
        # messages are looked up every few seconds, and only those not found yet.
        if len(stored) < len(mids) and (now - last_lookup >= 5 or now - last_progress >= 1):
            stored.update(_stored(connection, [mid for mid in mids if mid not in stored]))
            last_lookup = now
        delivered = sum(1 for pk in stored.values() if pk in listener.received)
        if (len(stored), delivered, len(listener.received)) != seen:
            seen, last_progress = (len(stored), delivered, len(listener.received)), now
        if (
            delivered == len(mids)
            or now - last_progress > quiet
            or now - started > DRAIN_SECONDS
            or listener.closed_early
        ):
            return {"stored": stored, "delivered": delivered, "waited": now - started}
        time.sleep(0.5)


def _e2e(run: dict, stored: dict[str, int], listener: Listener) -> dict:
    latencies = []
    not_stored = not_delivered = 0
    for mid, sent_at in run["sent"].items():
        pk = stored.get(mid)
        if pk is None:
            not_stored += 1
        elif pk not in listener.received:
            not_delivered += 1
        else:
            latencies.append((listener.received[pk] - sent_at) * 1000)
    last = max((listener.received[pk] for pk in stored.values() if pk in listener.received), default=0.0)
    first = min(run["sent"].values(), default=0.0)
    return {
        "latencies": latencies,
        "not_stored": not_stored,
        "not_delivered": not_delivered,
        "throughput": len(latencies) / (last - first) if last > first else 0.0,
    }


# --- the suite --------------------------------------------------------------------------------------------------


def _start_simulator(processes: Processes, connection, base: str) -> None:
    """The platform simulator answers the worker's Graph API calls (the User Profile API for new contacts), as
    Meta would; the page's token comes from it."""
    sim_port = _free_port()
    SIMULATOR["url"] = url = f"http://127.0.0.1:{sim_port}"
    processes.start(
        "simulator",
        [sys.executable, "-m", "channels_integrations.simulator", "--port", str(sim_port), "--webhook-base", base],
    )
    _wait_up(f"{url}/_sim/state", processes, "simulator", time.monotonic() + 30)
    page = {"id": PAGE_ID, "name": "Bench page", "ig_id": "17841400000009999", "ig_username": "bench"}
    answer = requests.post(f"{url}/_sim/meta/provision", json={"pages": [page]}, timeout=10)
    answer.raise_for_status()
    token = next(p["access_token"] for p in answer.json()["pages"] if p["id"] == PAGE_ID)
    with scope(organization=connection.organization):
        connection.set_credentials({"access_token": token})
        connection.save(update_fields=["credentials_encrypted"])
    processes.env.update(META_GRAPH_URL=url, INSTAGRAM_GRAPH_URL=url, META_DIALOG_URL=url)


def _worker_argv(concurrency: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "-Q",
        "inbound,default",
        "--concurrency",
        str(concurrency),
        "-l",
        "WARNING",
        "-n",
        f"bench-webhooks-{concurrency}@%h",
    ]


def _web_argv(port: int) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "config.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--lifespan",
        "off",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    return argv + (["--workers", str(WEB_WORKERS)] if WEB_WORKERS > 1 else [])


def _warm_up(url: str, ids: Ids, connection, listener: Listener, processes: Processes, tag: str) -> None:
    """A few messages through the whole pipeline: the worker is consuming, its connections and imports are warm."""
    mids = []
    for i in range(20):
        mid = ids.mid(f"warm{tag}", i)
        psid = ids.psid()
        _name_customers(SIMULATOR["url"], ids)
        body, headers = _signed(psid, mid, TEXTS[i])
        answer = requests.post(url, data=body, headers=headers, timeout=30)
        if answer.status_code != 200:
            raise RuntimeError(f"warm-up webhook answered {answer.status_code}: {answer.text[:300]}")
        mids.append(mid)
    waited = _await_delivery(connection, mids, listener, quiet=30)
    if waited["delivered"] != len(mids):
        raise RuntimeError(
            f"warm-up: {len(waited['stored'])}/{len(mids)} stored, {waited['delivered']} seen on the WebSocket "
            f"(listener error: {listener.error!r})\nworker log:\n{processes.tail('worker')}"
        )


def _per_message(before: dict, after: dict, messages: int) -> str:
    """CPU milliseconds each message cost every part of the pipeline, and the ceiling that puts on this machine."""
    if messages <= 0:
        return ""
    cost = {k: (after[k] - before[k]) * 1000 / messages for k in ("web", "worker", "postgres", "redis")}
    total = sum(cost.values())
    parts = ", ".join(f"{k} {v:.1f}" for k, v in cost.items())
    return (
        f"CPU per message over intake + drain: {total:.1f} ms ({parts}), a ceiling of about "
        f"{psutil.cpu_count() * 1000 / total:.0f} msg/s on {psutil.cpu_count()} cores with nothing else running"
    )


def _bench_env(redis_url: str) -> dict:
    """The children's environment: production settings on the bench's own Redis database."""
    from django.conf import settings

    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_VERSION", "REDIS_DB")}
    env.update(
        DATABASE_URL=os.environ["DATABASE_URL"],
        REDIS_URL=redis_url,
        META_APP_SECRET=SECRET,
        META_APP_ID="bench-app",
        # Production settings (DEBUG off: no query log, no debug checks), on plain loopback HTTP
        DEBUG="0",
        SECRET_KEY=settings.SECRET_KEY,
        TSUNAGU_ENCRYPTION_KEYS=",".join(settings.ENCRYPTION_KEYS),  # the seed encrypted the page token with these
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        DJANGO_SETTINGS_MODULE="config.settings",
        PYTHONUNBUFFERED="1",
    )
    return env


def _run_empty() -> list[dict]:
    """Phases 1-4 on the organization without automation (the figures from before issue 22)."""
    from django.conf import settings

    organization, user, connection = seed()
    session_key = _session_key(user)
    redis_url = urlparse(os.environ["REDIS_URL"])._replace(path=f"/{REDIS_DB}").geturl()
    import redis

    redis.Redis.from_url(redis_url).flushdb()  # the bench's own database: stale tasks of an interrupted run
    env = _bench_env(redis_url)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    hook = f"{base}/webhooks/meta/"
    ids = Ids()
    processes = Processes(env)
    listener = sampler = None
    try:
        _start_simulator(processes, connection, base)
        processes.start("web", _web_argv(port))
        _wait_up(f"{base}/healthz", processes, "web", time.monotonic() + 60)
        listener = Listener(f"ws://127.0.0.1:{port}/ws/orgs/{SLUG}/", base, session_key, settings.SESSION_COOKIE_NAME)
        listener.start()
        listener.ready.wait(30)
        if listener.error is not None or not listener.is_alive():
            raise RuntimeError(f"the WebSocket did not open: {listener.error!r}\n{processes.tail('web')}")
        sampler = Sampler(redis_url, listener)
        sampler.start()

        # 1. worker concurrency: the lower p95 at the target rate wins (fewer messages lost first)
        trials: dict[int, tuple[float, int, float]] = {}
        for n in CONCURRENCIES:
            processes.start("worker", _worker_argv(n))
            _warm_up(hook, ids, connection, listener, processes, f"t{n}")
            trial = _sustained(hook, ids, f"trial{n}", RATE, TRIAL_SECONDS, [], sampler)
            waited = _await_delivery(connection, list(trial["sent"]), listener)
            e2e = _e2e(trial, waited["stored"], listener)
            lost = trial["count"] - len(e2e["latencies"])
            trials[n] = (_pct(e2e["latencies"], 95), lost, e2e["throughput"])
            print(
                f"  worker concurrency {n}: {TRIAL_SECONDS:.0f} s trial p95 {trials[n][0]:.0f} ms, "
                f"{e2e['throughput']:.0f} msg/s delivered, {lost} not delivered",
                file=sys.stderr,
            )
            processes.stop("worker")
        concurrency = min(trials, key=lambda n: (trials[n][1], trials[n][0]))
        trial_text = "; ".join(
            f"concurrency {n}: p95 {p95:.0f} ms, {rate:.0f} msg/s delivered, {lost} not delivered"
            for n, (p95, lost, rate) in trials.items()
        )
        processes.start("worker", _worker_argv(concurrency))
        _warm_up(hook, ids, connection, listener, processes, "main")

        # 2. intake, then the backlog it left
        sampler.reset()
        cpu_start = _cpu_snapshot(processes)
        intake = _intake(hook, ids)
        cpu_answered = _cpu_snapshot(processes)
        max_queue_intake = sampler.max_queue
        intake_waited = _await_delivery(connection, intake["mids"], listener)
        cpu_drained = _cpu_snapshot(processes)
        intake_counts = _event_counts(organization)

        # 3. sustained end to end
        sampler.reset()
        sustained_from = timezone.now()
        cpu_before = _cpu_snapshot(processes)
        load_before = os.getloadavg()
        sustained = _sustained(hook, ids, "e2e", RATE, SECONDS, intake["psids"], sampler)
        cpu_sustained = _cpu_text(cpu_before, _cpu_snapshot(processes))
        load_after = os.getloadavg()
        waited = _await_delivery(connection, list(sustained["sent"]), listener)
        max_queue, max_in_flight = sampler.max_queue, sampler.max_in_flight
        final_counts = _event_counts(organization)
        batches = _batch_text(organization, sustained_from)
        e2e = _e2e(sustained, waited["stored"], listener)

        # 4. the same at a rate the machine keeps up with
        kept_from = timezone.now()
        kept = _sustained(hook, ids, "kept", KEPT_RATE, SECONDS, intake["psids"], sampler)
        kept_waited = _await_delivery(connection, list(kept["sent"]), listener)
        kept_e2e = _e2e(kept, kept_waited["stored"], listener)
        kept_batches = _batch_text(organization, kept_from)
        if listener.closed_early:
            print(f"  the WebSocket closed during the run: {listener.error!r}", file=sys.stderr)
    finally:
        if sampler is not None:
            sampler.stop_flag.set()
        if listener is not None:
            listener.done.set()
            listener.join(5)
        processes.stop_all()

    # --- results ------------------------------------------------------------------------------------------------
    cores = psutil.cpu_count()
    web = f"uvicorn --workers {WEB_WORKERS}" if WEB_WORKERS > 1 else "uvicorn (one process)"
    setup = (
        f"{web}, Celery worker -Q inbound,default --concurrency {concurrency} (chosen from {TRIAL_SECONDS:.0f} s "
        f"trials at {RATE:.0f} msg/s: {trial_text}), DEBUG=0, INGEST_BATCH={settings.INGEST_BATCH}, PostgreSQL and "
        f"Redis and the load generator on the same {cores} cores"
    )
    timings = intake["timings"]
    errors = sum(1 for s in intake["statuses"] if s != 200)
    rps = INTAKE_REQUESTS / intake["wall"]
    intake_ok = len(intake["mids"])
    drained_after = intake_waited["waited"]
    intake_detail = (
        f"{INTAKE_REQUESTS} signed Messenger webhooks (one message each, every one a new conversation) from "
        f"{INTAKE_THREADS} threads over loopback keep-alive in {intake['wall']:.1f} s; {errors} non-200. "
        f"{_cpu_text(cpu_start, cpu_answered)}. The backlog (max `inbound` queue {max_queue_intake}) was delivered "
        f"{drained_after:.1f} s after the last answer: {intake_waited['delivered']}/{intake_ok} on the WebSocket, "
        f"{intake_ok / (intake['wall'] + drained_after):.0f} msg/s through the whole pipeline. "
        f"{_per_message(cpu_start, cpu_drained, intake_ok)}. Events by status so far {intake_counts}. {setup}."
    )
    lat = e2e["latencies"]
    accepted = len(sustained["sent"])
    received = len(lat)
    lost = e2e["not_stored"] + e2e["not_delivered"]
    achieved = (sustained["count"] - 1) / sustained["wall"] if sustained["wall"] > 0 else 0.0
    answer = sustained["timings"]
    e2e_detail = (
        f"open loop {RATE:.0f} msg/s for {SECONDS:.0f} s ({sustained['count']} messages, half new conversations, "
        f"half continuing one) from {SENDER_THREADS} sender threads; achieved send rate {achieved:.1f} msg/s "
        f"(lag behind schedule p99 {_pct(sustained['lag_ms'], 99):.0f} ms, max {max(sustained['lag_ms']):.0f} ms); "
        f"webhook answers p50 {_pct(answer, 50):.0f} ms, p99 {_pct(answer, 99):.0f} ms, "
        f"{sustained['count'] - accepted} non-200. Delivered over the WebSocket {received}/{accepted}"
        f"{' - LOSS: ' if lost else ' ('}{e2e['not_stored']} never stored, {e2e['not_delivered']} stored but "
        f"never delivered{'' if lost else ')'}; e2e p99 {_pct(lat, 99):.0f} ms, max {max(lat, default=0):.0f} ms; "
        f"{e2e['throughput']:.0f} msg/s delivered from first send to last delivery; the last arrived "
        f"{waited['waited']:.1f} s after the last send; max backlog: `inbound` queue {max_queue}, in flight "
        f"(answered, not yet on the WebSocket) {max_in_flight}; events by status {final_counts}; {batches}. "
        f"{cpu_sustained}; "
        f"load average {load_before[0]:.1f} -> {load_after[0]:.1f}. {setup}. Latency = monotonic receive time in "
        f"the client's thread - monotonic time just before the POST; messages delivered late count with their "
        f"real latency, the wait for stragglers ends after {STRAGGLER_SECONDS:.0f} s without progress."
    )
    p50, p95 = _pct(lat, 50), _pct(lat, 95)
    kept_lat = kept_e2e["latencies"]
    kept_lost = kept_e2e["not_stored"] + kept_e2e["not_delivered"]
    kept_achieved = (kept["count"] - 1) / kept["wall"] if kept["wall"] > 0 else 0.0
    kept_detail = (
        f"open loop {KEPT_RATE:.0f} msg/s for {SECONDS:.0f} s ({kept['count']} messages, as above) right after the "
        f"{RATE:.0f} msg/s run had drained; achieved {kept_achieved:.1f} msg/s; delivered {len(kept_lat)}/"
        f"{len(kept['sent'])} ({kept_lost} lost); e2e p50 {_pct(kept_lat, 50):.0f} ms, "
        f"p95 {_pct(kept_lat, 95):.0f} ms, p99 {_pct(kept_lat, 99):.0f} ms, max {max(kept_lat, default=0):.0f} ms; "
        f"{kept_batches}. {setup}."
    )
    return [
        {
            "name": "webhooks.intake_rps",
            "value": round(rps, 1),
            "unit": "req/s",
            "target": ">=200",
            "ok": rps >= 200 and errors == 0,
            "detail": intake_detail,
        },
        {
            "name": "webhooks.intake_p50_ms",
            "value": _r(_pct(timings, 50)),
            "unit": "ms",
            "target": None,
            "ok": errors == 0,
            "detail": intake_detail,
        },
        {
            "name": "webhooks.intake_p99_ms",
            "value": _r(_pct(timings, 99)),
            "unit": "ms",
            "target": f"<={INTAKE_P99_TARGET:.0f}",
            "ok": _pct(timings, 99) <= INTAKE_P99_TARGET and errors == 0,
            "detail": f"target: p99 <= {INTAKE_P99_TARGET:.0f} ms with {INTAKE_THREADS} concurrent senders "
            f"(Meta expects an answer within seconds; 250 ms leaves room). " + intake_detail,
        },
        {
            "name": "webhooks.e2e_p50_ms",
            "value": _r(p50),
            "unit": "ms",
            "target": None,
            "ok": lost == 0 and received > 0,
            "detail": e2e_detail,
        },
        {
            "name": "webhooks.e2e_p95_ms",
            "value": _r(p95),
            "unit": "ms",
            "target": f"<={E2E_P95_TARGET:.0f}",
            "ok": received > 0 and p95 <= E2E_P95_TARGET and lost == 0 and achieved >= 0.95 * RATE,
            "detail": f"target: p95 <= {E2E_P95_TARGET:.0f} ms at {RATE:.0f} msg/s, nothing lost, the send rate "
            f"achieved. " + e2e_detail,
        },
        {
            "name": f"webhooks.e2e_p95_ms_at_{KEPT_RATE:.0f}",
            "value": _r(_pct(kept_lat, 95)),
            "unit": "ms",
            "target": f"<={E2E_P95_TARGET:.0f}",
            "ok": bool(kept_lat) and _pct(kept_lat, 95) <= E2E_P95_TARGET and kept_lost == 0,
            "detail": kept_detail,
        },
    ]


# --- a realistic organization (issue 22, items 1 and 8) ------------------------------------------------------------

REAL_SLUG = "webhooks-real-bench"
REAL_OWNER_EMAIL = "owner@webhooks-real-bench.example"
REAL_PAGE_ID = "910000000000002"
REAL_RULES = 20 if SMOKE else int(os.environ.get("BENCH_WEBHOOK_REAL_RULES", "200"))
REAL_AGENTS = 5 if SMOKE else int(os.environ.get("BENCH_WEBHOOK_REAL_AGENTS", "20"))
# Open tickets per agent at most: binding only if routing were unfair (the run opens about RATE/2 × SECONDS tickets).
REAL_CAPACITY = 40 if SMOKE else int(os.environ.get("BENCH_WEBHOOK_REAL_CAPACITY", "200"))
REAL_CONCURRENCY = 2 if SMOKE else int(os.environ.get("BENCH_WEBHOOK_REAL_CONCURRENCY", "3"))
ACK_TEXT = "お問い合わせありがとうございます。担当者より順番にご連絡いたします。"
ACK_TEXT_EN = "Thank you for your message. We will get back to you shortly."
# Organizations that each receive one message (item 8): RSS of the web and worker after the first MEMORY_FIRST and
# after all of them.
MEMORY_ORGS = 20 if SMOKE else int(os.environ.get("BENCH_WEBHOOK_MEMORY_ORGS", "5000"))
MEMORY_FIRST = 5 if SMOKE else 100
MEMORY_RATE = 20.0 if SMOKE else 200.0
MEMORY_PAGE_BASE = 930000000000000
MEMORY_TOTAL_TARGET_MB = 2048
# Which parts run: "empty" (phases 1-4 above), "realistic" (item 1 and the memory figures of item 8), "orgs" (the
# 5,000 organizations of item 8).
PHASES = [p.strip() for p in os.environ.get("BENCH_WEBHOOK_PHASES", "empty,realistic,orgs").split(",") if p.strip()]


def _real_texts() -> list[str]:
    """The customers' messages: the empty run's, and one in three a text the rules look for (refunds, late
    deliveries, order numbers, angry exclamations…), so rules match and act as they would in a real inbox."""
    from bench.rules import TEXTS as RULE_TEXTS

    rng = random.Random(23)
    return [rng.choice(RULE_TEXTS) if i % 3 == 0 else text for i, text in enumerate(TEXTS)]


def _real_rules(connection_id: int, team_id: int) -> list[dict]:
    """REAL_RULES rules of bench/rules.py's shapes (Japanese and English keywords, regular expressions, tags,
    sentiment, channel, business hours) with actions that change the ticket: tag, set priority, add a note; one
    "ticket created" rule routes every new conversation to the support team. Three rules in four also name a
    product: bench/rules.py's keyword families are each shared by about 20 rules, so on these texts a message
    matched 6.5 of them on average (up to 56); narrowed, 1.5 (up to 14), as in an inbox whose rules were written
    for different cases."""
    from automation.models import RuleTrigger
    from bench.inbox import PRODUCTS
    from bench.rules import _rule_shapes

    rng = random.Random(5)
    rules = [
        {
            "name": "Route to support",
            "trigger": RuleTrigger.TICKET_CREATED,
            "conditions": {"all": [{"field": "message.kind", "op": "in", "value": ["direct"]}]},
            "actions": [{"type": "assign_team", "team": team_id}],
        }
    ]
    for i, conditions in enumerate(_rule_shapes(rng, [connection_id])):
        if i % 4:
            product = {"field": "message.text", "op": "contains_any", "value": [PRODUCTS[i % len(PRODUCTS)]]}
            conditions = {"all": [conditions, product]}
        if i % 10 == 3:
            actions = [{"type": "add_note", "text": f"自動メモ {i}: 内容を確認してください"}]
        elif i % 5 == 1:
            actions = [{"type": "set_priority", "priority": "high"}, {"type": "add_tags", "tags": [f"r{i}"]}]
        else:
            actions = [{"type": "add_tags", "tags": [f"r{i}"]}]
        rules.append(
            {"name": f"rule {i}", "trigger": RuleTrigger.MESSAGE_RECEIVED, "conditions": conditions, "actions": actions}
        )
    return rules[:REAL_RULES]


def seed_realistic():
    """The realistic organization, created once and reset each run: REAL_RULES enabled rules, a round-robin team of
    REAL_AGENTS available agents with a capacity, an SLA policy on a business calendar with Japanese holidays, a
    first-contact acknowledgement on the page. The previous run's conversations are deleted, as in `seed`."""
    from accounts import services
    from accounts.models import Membership, Organization, Role, Team, User
    from automation.models import AutoResponse, AutoResponseKind, BusinessCalendar, Rule, SlaPolicy
    from channels_integrations.models import ChannelConnection, ConnectionStatus, InboundEvent
    from core.models import RealtimeEvent
    from tickets.models import CannedResponse, CannedResponseVariant, Contact, Message, Ticket, TicketEvent

    with scopes_disabled():
        owner = User.objects.filter(email=REAL_OWNER_EMAIL).first() or User.objects.create_user(
            REAL_OWNER_EMAIL, "bench-password", name="Real Owner"
        )
        organization = Organization.objects.filter(slug=REAL_SLUG).first()
        if organization is None:
            with transaction.atomic():
                organization = services.organization_create(name="Bench realistic", slug=REAL_SLUG, owner=owner)
    with scope(organization=organization), transaction.atomic():
        Ticket.objects.all().delete()
        Contact.objects.all().delete()
        InboundEvent.objects.all().delete()
        RealtimeEvent.objects.all().delete()
        connection, _ = ChannelConnection.objects.update_or_create(
            organization=organization,
            platform="facebook",
            external_account_id=REAL_PAGE_ID,
            defaults={"display_name": "Realistic page", "status": ConnectionStatus.ACTIVE},
        )
        agent_role = Role.objects.get(key="agent")
        agents = []
        for n in range(REAL_AGENTS):
            user, _created = User.objects.get_or_create(
                email=f"agent{n}@webhooks-real-bench.example", defaults={"name": f"担当 {n:02d}"}
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
            assignment_strategy="round_robin", default_capacity=REAL_CAPACITY, match_skills=False, require_online=True
        )
        Membership.objects.filter(user__in=agents).update(
            availability="available", capacity=None, notify_email=[], last_assigned_at=None
        )
        services.connection_access_set(organization=organization, actor=owner, connection=connection, teams=[team])
        calendar = BusinessCalendar.objects.filter(is_default=True).first() or BusinessCalendar.objects.create(
            organization=organization, name="平日 9:00-18:00", is_default=True, japanese_holidays=True
        )
        for priority in ("low", "normal", "high", "urgent"):
            SlaPolicy.objects.update_or_create(
                organization=organization,
                priority=priority,
                connection=None,
                defaults={
                    "name": f"SLA {priority}",
                    "calendar": calendar,
                    "first_response_minutes": 60,
                    "next_response_minutes": 120,
                    "resolution_minutes": 24 * 60,
                },
            )
        response = CannedResponse.objects.filter(shortcut="ack").first()
        if response is None:
            response = CannedResponse.objects.create(organization=organization, title="受付のお知らせ", shortcut="ack")
            CannedResponseVariant.objects.create(
                organization=organization, response=response, language="ja", body=ACK_TEXT
            )
            CannedResponseVariant.objects.create(
                organization=organization,
                response=response,
                language="en",
                body=ACK_TEXT_EN,
            )
        AutoResponse.objects.update_or_create(
            organization=organization,
            connection=connection,
            kind=AutoResponseKind.FIRST_CONTACT,
            defaults={"response": response, "enabled": True, "window_hours": 24},
        )
        wanted = _real_rules(connection.pk, team.pk)
        if Rule.objects.count() != len(wanted) or Rule.objects.filter(name="Route to support").count() != 1:
            Rule.objects.all().delete()
            Rule.objects.bulk_create(
                Rule(organization=organization, position=i, enabled=True, **rule) for i, rule in enumerate(wanted)
            )
    written = (Ticket, Message, TicketEvent, Contact, InboundEvent, RealtimeEvent)
    with db_connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {', '.join(m._meta.db_table for m in written)}")  # our table names
    return organization, owner, connection, team, agents


class Heartbeats(threading.Thread):
    """The agents' open inboxes: every 20 s a heartbeat per agent, written with core.presence's own commands into
    the bench's Redis database (the one the worker reads presence from)."""

    def __init__(self, redis_url: str, organization_id: int, user_ids: list[int]) -> None:
        super().__init__(name="heartbeats", daemon=True)
        import redis

        self.redis = redis.Redis.from_url(redis_url)
        self.organization_id, self.user_ids = organization_id, user_ids
        self.stop_flag = threading.Event()
        self.beat()

    def beat(self) -> None:
        from core.presence import _queue_online_touch

        pipe = self.redis.pipeline(transaction=True)
        for user_id in self.user_ids:
            _queue_online_touch(pipe, self.organization_id, user_id, f"bench-tab-{user_id}", time.time())
        pipe.execute()

    def run(self) -> None:
        while not self.stop_flag.wait(20):
            self.beat()


# --- memory -------------------------------------------------------------------------------------------------------


def _tree_memory(pid: int) -> tuple[float, float]:
    """(RSS, PSS) in MB of a process and its children; PSS shares the pages several processes map among them, so
    PSS figures add up to what the machine really holds."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0, 0.0
    return _memory_of(procs)


def _memory_of(procs) -> tuple[float, float]:
    rss = pss = 0.0
    for p in procs:
        try:
            info = p.memory_full_info()
        except psutil.Error:
            try:
                info = p.memory_info()
            except psutil.Error:
                continue
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
    return rss / 2**20, pss / 2**20


def _named_procs(prefix: str) -> list:
    return [p for p in psutil.process_iter(["name"]) if (p.info["name"] or "").startswith(prefix)]


def _server_procs(prefix: str, url: str) -> list:
    """The server listening on `url`'s port (the postmaster and its backends, or redis-server), not another
    instance on the machine (another bench may run its own PostgreSQL); every process named so when the port is
    not found."""
    from urllib.parse import parse_qs

    parts = urlparse(url)
    socket_dir = (parse_qs(parts.query).get("host") or [""])[0]  # a Unix socket's directory (embedded servers)
    named = _named_procs(prefix)
    for p in named:
        try:
            if socket_dir:
                if p.parent() is not None and (p.parent().name() or "").startswith(prefix):
                    continue  # a backend: its postmaster names the directory
                found = any(socket_dir in arg for arg in p.cmdline())
            else:
                found = any(
                    c.status == psutil.CONN_LISTEN and c.laddr.port == parts.port for c in p.net_connections("inet")
                )
            if found:
                return [p, *p.children(recursive=True)]
        except psutil.Error:
            continue
    return named


def _memory_snapshot(processes: Processes) -> dict[str, tuple[float, float]]:
    """(RSS, PSS) MB of every process of the stack: ours by process tree, PostgreSQL and Redis as the servers the
    bench uses (shared with the other engineers: their backends and data count too)."""
    snapshot = {name: _tree_memory(p.pid) for name, p in processes.running.items()}
    snapshot["postgres"] = _memory_of(_server_procs("postgres", os.environ["DATABASE_URL"]))
    snapshot["redis"] = _memory_of(_server_procs("redis", os.environ["REDIS_URL"]))
    return snapshot


class MemorySampler(threading.Thread):
    """The largest (RSS, PSS) of each process (and of the total PSS) while a phase runs, every second."""

    def __init__(self, processes: Processes) -> None:
        super().__init__(name="memory-sampler", daemon=True)
        self.processes = processes
        self.stop_flag = threading.Event()
        self.peak: dict[str, tuple[float, float]] = {}
        self.peak_total = 0.0

    def run(self) -> None:
        while not self.stop_flag.wait(1.0):
            snapshot = _memory_snapshot(self.processes)
            for name, (rss, pss) in snapshot.items():
                old = self.peak.get(name, (0.0, 0.0))
                self.peak[name] = (max(old[0], rss), max(old[1], pss))
            self.peak_total = max(self.peak_total, sum(pss for _, pss in snapshot.values()))


def _memory_text(snapshot: dict[str, tuple[float, float]]) -> str:
    return ", ".join(f"{name} {rss:.0f} MB RSS ({pss:.0f} PSS)" for name, (rss, pss) in snapshot.items())


# --- the realistic run ----------------------------------------------------------------------------------------------


def _beat_argv(directory: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "beat",
        "-l",
        "WARNING",
        "-s",
        str(directory / "celerybeat-schedule"),
    ]


def _full_worker_argv(concurrency: int) -> list[str]:
    """The worker of `make run` (every queue), named apart from the empty run's."""
    argv = _worker_argv(concurrency)
    argv[argv.index("-Q") + 1] = "inbound,outbound,default,analytics"
    argv[argv.index("-n") + 1] = f"bench-real-{concurrency}@%h"
    return argv


def _provision_pages(pages: list[dict]) -> dict[str, str]:
    """Pages the simulator knows, with their tokens (page id -> token)."""
    answer = requests.post(f"{SIMULATOR['url']}/_sim/meta/provision", json={"pages": pages}, timeout=120)
    answer.raise_for_status()
    return {p["id"]: p["access_token"] for p in answer.json()["pages"]}


def _sim_sent() -> list[dict]:
    answer = requests.get(f"{SIMULATOR['url']}/_sim/state", timeout=60)
    answer.raise_for_status()
    return answer.json().get("meta", {}).get("sent", [])


def _acks(psids: set[str], quiet: float) -> tuple[dict[str, int], float]:
    """Automatic replies the simulator's Send API received per customer among `psids`, once the count stopped
    moving for `quiet` seconds (they are sent by the outbound queue after the ingest commits)."""
    started = time.monotonic()
    last, last_change = -1, time.monotonic()
    while True:
        counts: dict[str, int] = {}
        for sent in _sim_sent():
            if (
                sent.get("kind") == "message"
                and sent.get("page") == REAL_PAGE_ID
                and sent.get("text") in (ACK_TEXT, ACK_TEXT_EN)
            ):
                counts[sent["recipient"]] = counts.get(sent["recipient"], 0) + 1
        total = sum(counts.values())
        if total != last:
            last, last_change = total, time.monotonic()
        matched = sum(1 for p in psids if counts.get(p))
        if (matched == len(psids) and time.monotonic() - last_change > 3) or time.monotonic() - last_change > quiet:
            return counts, time.monotonic() - started
        time.sleep(1.0)


def _routing(organization, team, agents, since) -> dict:
    """How the new conversations of the run were spread over the agents, and each agent's open tickets."""
    from django.db.models import Count

    from tickets.models import Ticket

    with scope(organization=organization):
        created = Ticket.objects.filter(created_at__gte=since, merged_into__isnull=True)
        by_agent = dict(created.filter(assignee__isnull=False).values_list("assignee").annotate(n=Count("id")))
        unassigned = created.filter(assignee__isnull=True).count()
        open_now = dict(
            Ticket.objects.filter(status__in=("new", "open"), assignee__isnull=False)
            .values_list("assignee")
            .annotate(n=Count("id"))
        )
    counts = [by_agent.get(a.pk, 0) for a in agents]
    return {
        "counts": counts,
        "spread": max(counts) - min(counts) if counts else 0,
        "unassigned": unassigned,
        "max_open": max(open_now.values(), default=0),
    }


def _cpu_by_process(processes: Processes) -> dict:
    snapshot = _cpu_snapshot(processes)
    for name in ("beat", "simulator"):
        snapshot[name] = _tree_cpu(processes.running[name].pid) if name in processes.running else 0.0
    return snapshot


def _cpu_per_message(before: dict, after: dict, messages: int) -> str:
    if messages <= 0:
        return ""
    names = ("web", "worker", "beat", "simulator", "postgres", "redis")
    cost = {k: (after[k] - before[k]) * 1000 / messages for k in names}
    return f"CPU per message {sum(cost.values()):.1f} ms (" + ", ".join(f"{k} {v:.2f}" for k, v in cost.items()) + ")"


def _query_profile(organization, connection) -> str:
    """The automation's queries for one message of each kind (a new conversation, a continued one), counted on
    this process's connection inside a transaction that is rolled back: what each message costs PostgreSQL."""
    from django.db import connection as dbc
    from django.test.utils import CaptureQueriesContext

    from channels_integrations.inbound import InboundMessage
    from tickets.services.ingest import message_ingest

    counts = []
    with scope(organization=organization):
        for how in ("new", "continued"):
            thread = f"profile-{time.time_ns()}"
            with transaction.atomic():
                inbound = InboundMessage(
                    platform_message_id=f"{thread}-1",
                    thread_key=thread,
                    kind="direct",
                    author_id=thread,
                    author_name="佐藤 陽子",
                    text=_real_texts()[0],
                )
                if how == "continued":
                    message_ingest(organization=organization, connection=connection, inbound=inbound)
                    inbound = dataclasses.replace(inbound, platform_message_id=f"{thread}-2")
                with CaptureQueriesContext(dbc) as captured:
                    message_ingest(organization=organization, connection=connection, inbound=inbound)
                counts.append(f"{how} conversation {len(captured.captured_queries)} queries")
                transaction.set_rollback(True)
    return "message_ingest with the realistic setup: " + ", ".join(counts)


def _run_realistic() -> list[dict]:
    """Item 1 and item 8's memory figures: the realistic organization at RATE msg/s through web, worker (every
    queue), beat and the simulator, then the organizations of item 8."""
    from django.conf import settings

    organization, owner, connection, team, agents = seed_realistic()
    queries = _query_profile(organization, connection)
    session_key = _session_key(owner)
    redis_url = urlparse(os.environ["REDIS_URL"])._replace(path=f"/{REDIS_DB}").geturl()
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    hook = f"{base}/webhooks/meta/"
    ids = Ids()
    processes = Processes(_bench_env(redis_url))
    listener = sampler = heartbeats = memory = None
    saved_target = dict(TARGET)
    results: list[dict] = []
    try:
        _start_simulator(processes, connection, base)  # provisions the empty run's page; ours next
        token = _provision_pages([{"id": REAL_PAGE_ID, "name": "Realistic page"}])[REAL_PAGE_ID]
        with scope(organization=organization):
            connection.set_credentials({"access_token": token})
            connection.save(update_fields=["credentials_encrypted"])
        heartbeats = Heartbeats(redis_url, organization.pk, [a.pk for a in agents])
        heartbeats.start()
        processes.start("web", _web_argv(port))
        _wait_up(f"{base}/healthz", processes, "web", time.monotonic() + 60)
        processes.start("worker", _full_worker_argv(REAL_CONCURRENCY))
        processes.start("beat", _beat_argv(processes.logs))
        listener = Listener(
            f"ws://127.0.0.1:{port}/ws/orgs/{REAL_SLUG}/", base, session_key, settings.SESSION_COOKIE_NAME
        )
        listener.start()
        listener.ready.wait(30)
        if listener.error is not None or not listener.is_alive():
            raise RuntimeError(f"the WebSocket did not open: {listener.error!r}\n{processes.tail('web')}")
        sampler = Sampler(redis_url, listener)
        sampler.start()
        TARGET.update(page=REAL_PAGE_ID, texts=_real_texts())
        warm_psids = [ids.psid() for _ in range(20)]
        warm_mids = []
        _name_customers(SIMULATOR["url"], ids)
        for i, psid in enumerate(warm_psids):
            mid = ids.mid("realwarm", i)
            body, headers = _signed(psid, mid, TARGET["texts"][i])
            if requests.post(hook, data=body, headers=headers, timeout=30).status_code != 200:
                raise RuntimeError(f"warm-up webhook refused\n{processes.tail('web')}")
            warm_mids.append(mid)
        waited = _await_delivery(connection, warm_mids, listener, quiet=30)
        if waited["delivered"] != len(warm_mids):
            raise RuntimeError(f"realistic warm-up: {waited['delivered']}/20 delivered\n{processes.tail('worker')}")
        time.sleep(5)  # the acknowledgements' sends and echoes settle: idle
        idle = _memory_snapshot(processes)

        memory = MemorySampler(processes)
        memory.start()
        sampler.reset()
        since = timezone.now()
        cpu_before = _cpu_by_process(processes)
        load_before = os.getloadavg()
        run = _sustained(hook, ids, "real", RATE, SECONDS, warm_psids, sampler)
        cpu_sent = _cpu_by_process(processes)
        load_after = os.getloadavg()
        waited = _await_delivery(connection, list(run["sent"]), listener)
        cpu_after = _cpu_by_process(processes)
        e2e = _e2e(run, waited["stored"], listener)
        sent_psids = {p for p in run["new_psids"]}
        acks, ack_wait = _acks(sent_psids | set(warm_psids), quiet=STRAGGLER_SECONDS)
        # The acknowledgements are work the messages caused too, but the outbound queue may still be sending them
        # (and ingesting their echoes and receipts) when the last inbound message is delivered: the CPU once they
        # have all been sent and their echoes settled, as a second figure.
        time.sleep(5)
        cpu_acked = _cpu_by_process(processes)
        memory.stop_flag.set()
        routing = _routing(organization, team, agents, since)
        max_queue = sampler.max_queue
        batches = _batch_text(organization, since)
        orgs = _run_orgs(processes, hook) if "orgs" in PHASES else None
    finally:
        TARGET.update(saved_target)
        for thread in (sampler, heartbeats, memory):
            if thread is not None:
                thread.stop_flag.set()
        if listener is not None:
            listener.done.set()
            listener.join(5)
        processes.stop_all()

    lat = e2e["latencies"]
    accepted = len(run["sent"])
    lost = e2e["not_stored"] + e2e["not_delivered"]
    achieved = (run["count"] - 1) / run["wall"] if run["wall"] > 0 else 0.0
    p95 = _pct(lat, 95)
    expected = sent_psids | set(warm_psids)
    missing = sorted(p for p in expected if not acks.get(p))
    twice = sorted(p for p, n in acks.items() if n > 1)
    strangers = sorted(p for p in acks if p not in expected)
    new_count = len(sent_psids)
    setup = (
        f"organization '{REAL_SLUG}': {REAL_RULES} enabled rules (one routes every new conversation to a round-robin "
        f"team of {REAL_AGENTS} available agents online by presence heartbeats, capacity {REAL_CAPACITY}; the others "
        f"tag, set priority or add a note on Japanese/English keywords, regexes, tags, sentiment, channel, business "
        f"hours), SLA policies on a 9-18 calendar with Japanese holidays, a first-contact acknowledgement sent "
        f"through the simulator's Send API, language and sentiment on every message; uvicorn, Celery worker -Q "
        f"inbound,outbound,default,analytics --concurrency {REAL_CONCURRENCY}, Celery beat and the simulator as "
        f"processes, DEBUG=0, on {psutil.cpu_count()} cores shared with PostgreSQL, Redis, the load generator and "
        f"other engineers (load average {load_before[0]:.1f} -> {load_after[0]:.1f})"
    )
    detail = (
        f"open loop {RATE:.0f} msg/s for {SECONDS:.0f} s ({run['count']} messages, {new_count} new conversations); "
        f"achieved {achieved:.1f} msg/s; delivered over the WebSocket {len(lat)}/{accepted} ({e2e['not_stored']} "
        f"never stored, {e2e['not_delivered']} not delivered); e2e p50 {_pct(lat, 50):.0f} ms, p99 "
        f"{_pct(lat, 99):.0f} ms, max {max(lat, default=0):.0f} ms; max `inbound` queue {max_queue}; {batches}; "
        f"{_cpu_text(cpu_before, cpu_sent)}; {_cpu_per_message(cpu_before, cpu_after, len(lat))} (sending + "
        f"draining); once every acknowledgement was sent and its echoes settled ({ack_wait + 5:.0f} s later, idle "
        f"time included): {_cpu_per_message(cpu_before, cpu_acked, len(lat))}; {queries}. {setup}."
    )
    ack_detail = (
        f"{len(expected)} new conversations (the run's and 20 warm-up ones): acknowledgements received by the "
        f"simulator's Send API {sum(acks.values())}, conversations without one {len(missing)}, with more than one "
        f"{len(twice)}, to customers who did not start a conversation {len(strangers)}; counted {ack_wait:.0f} s "
        f"after the last delivery"
    )
    routing_detail = (
        f"new conversations per agent {sorted(routing['counts'])}: spread (max - min) {routing['spread']}, "
        f"{routing['unassigned']} left unassigned (queued); most open tickets held by one agent "
        f"{routing['max_open']} (capacity {REAL_CAPACITY})"
    )
    total_idle = sum(pss for _, pss in idle.values())
    mem_detail = (
        f"idle (warmed up, no load): {_memory_text(idle)}; during the {RATE:.0f} msg/s run (peak per process): "
        f"{_memory_text(memory.peak)}. Totals are PSS (shared pages counted once); PostgreSQL and Redis are the "
        f"shared development servers (other engineers' backends and data included). mailwatch not started (no "
        f"mailbox; `make run` starts it: one idle Python process)."
    )
    results += [
        {
            "name": "webhooks.realistic.e2e_p95_ms",
            "value": _r(p95),
            "unit": "ms",
            "target": f"<={E2E_P95_TARGET:.0f}",
            "ok": bool(lat) and p95 <= E2E_P95_TARGET and lost == 0 and achieved >= 0.95 * RATE,
            "detail": detail,
        },
        {
            "name": "webhooks.realistic.lost",
            "value": lost,
            "unit": "msgs",
            "target": "0",
            "ok": lost == 0 and bool(lat),
            "detail": detail,
        },
        {
            "name": "webhooks.realistic.acks_not_exactly_once",
            "value": len(missing) + len(twice) + len(strangers),
            "unit": "convs",
            "target": "0",
            "ok": not missing and not twice and not strangers and bool(acks),
            "detail": ack_detail,
        },
        {
            "name": "webhooks.realistic.routing_spread",
            "value": routing["spread"],
            "unit": "tickets",
            "target": "<=1",
            "ok": routing["spread"] <= 1 and routing["max_open"] <= REAL_CAPACITY,
            "detail": routing_detail,
        },
        {
            "name": "webhooks.realistic.cpu_ms_per_msg",
            "value": round(
                sum((cpu_after[k] - cpu_before[k]) for k in ("web", "worker", "beat", "simulator", "postgres", "redis"))
                * 1000
                / max(len(lat), 1),
                1,
            ),
            "unit": "ms",
            "target": None,
            "ok": True,
            "detail": detail,
        },
        {
            "name": "webhooks.memory.total_idle_mb",
            "value": round(total_idle),
            "unit": "MB",
            "target": f"<={MEMORY_TOTAL_TARGET_MB}",
            "ok": total_idle <= MEMORY_TOTAL_TARGET_MB,
            "detail": mem_detail,
        },
        {
            "name": "webhooks.memory.total_peak_mb",
            "value": round(memory.peak_total),
            "unit": "MB",
            "target": f"<={MEMORY_TOTAL_TARGET_MB}",
            "ok": memory.peak_total <= MEMORY_TOTAL_TARGET_MB,
            "detail": mem_detail,
        },
    ]
    if orgs is not None:
        results += orgs
    return results


def _seed_orgs() -> list[str]:
    """MEMORY_ORGS bare organizations with one Facebook page each (created once, in bulk: the measurement is of
    the processes receiving their messages, not of signing up). Returns their page ids."""
    from accounts.models import Organization
    from channels_integrations.models import ChannelConnection, ConnectionStatus

    slugs = [f"memory-bench-{n:05d}" for n in range(MEMORY_ORGS)]
    with scopes_disabled(), transaction.atomic():
        have = set(Organization.objects.filter(slug__in=slugs).values_list("slug", flat=True))
        Organization.objects.bulk_create(
            Organization(name=f"Memory bench {s[-5:]}", slug=s, timezone="Asia/Tokyo", default_language="ja")
            for s in slugs
            if s not in have
        )
        orgs = dict(Organization.objects.filter(slug__in=slugs).values_list("slug", "pk"))
        pages = {s: str(MEMORY_PAGE_BASE + n) for n, s in enumerate(slugs)}
        existing = set(
            ChannelConnection.objects.filter(organization_id__in=orgs.values()).values_list(
                "organization_id", flat=True
            )
        )
        ChannelConnection.objects.bulk_create(
            ChannelConnection(
                organization_id=orgs[s],
                platform="facebook",
                external_account_id=pages[s],
                display_name=f"Page {s[-5:]}",
                status=ConnectionStatus.ACTIVE,
            )
            for s in slugs
            if orgs[s] not in existing
        )
    return [pages[s] for s in slugs]


def _forget_orgs_events() -> None:
    """Drop the raw events an earlier run left to the memory organizations (a run stopped halfway, or one whose
    Redis database another bench flushed): the beat's stuck-event sweeper would otherwise re-queue them during the
    realistic run, and the worker would meet thousands of these organizations before the measurement starts."""
    from channels_integrations.models import InboundEvent

    with scopes_disabled():
        InboundEvent.objects.filter(organization__slug__startswith="memory-bench-").delete()


def _run_orgs(processes: Processes, hook: str) -> list[dict]:
    """One message to each of MEMORY_ORGS organizations (a new conversation each) at MEMORY_RATE msg/s; the web
    and worker RSS after the first MEMORY_FIRST organizations and after all of them."""
    from channels_integrations.models import ChannelConnection, InboundEvent
    from tickets.models import Message

    pages = _seed_orgs()
    tokens = {}
    for start in range(0, len(pages), 1000):
        tokens.update(_provision_pages([{"id": p, "name": f"Page {p}"} for p in pages[start : start + 1000]]))
    with scopes_disabled():
        for conn in ChannelConnection.objects.filter(external_account_id__in=pages, platform="facebook"):
            conn.set_credentials({"access_token": tokens[conn.external_account_id]})
            conn.save(update_fields=["credentials_encrypted"])
        conn_ids = list(
            ChannelConnection.objects.filter(external_account_id__in=pages, platform="facebook").values_list(
                "pk", flat=True
            )
        )
        InboundEvent.objects.filter(connection_id__in=conn_ids).delete()
    stamp = time.strftime("%H%M%S")

    def send(chunk: list[str], tag: str) -> None:
        customers = [{"account_id": p, "psid": f"8{stamp}{n:06d}", "name": "田中 健"} for n, p in enumerate(chunk)]
        requests.post(f"{SIMULATOR['url']}/_sim/meta/customers", json={"customers": customers}, timeout=60)
        poster = Poster(hook)
        t0 = time.monotonic()
        for n, page in enumerate(chunk):
            delay = t0 + n / MEMORY_RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            TARGET["page"] = page
            body, headers = _signed(f"8{stamp}{n:06d}", f"m_{stamp}_{tag}_{n}", TEXTS[n % len(TEXTS)])
            poster.post(body, headers)
        poster.close()

    def stored() -> int:
        with scopes_disabled():
            return Message.objects.filter(
                connection_id__in=conn_ids, platform_message_id__startswith=f"m_{stamp}_"
            ).count()

    def settle(expected: int) -> int:
        last, last_change = -1, time.monotonic()
        while time.monotonic() - last_change < STRAGGLER_SECONDS:
            n = stored()
            if n == expected:
                time.sleep(3)  # what the message set off (acknowledgement-free: bare organizations) settles
                return n
            if n != last:
                last, last_change = n, time.monotonic()
            time.sleep(1)
        return last

    send(pages[:MEMORY_FIRST], "first")
    first_stored = settle(MEMORY_FIRST)
    first = {name: _tree_memory(processes.running[name].pid) for name in ("web", "worker")}
    send(pages[MEMORY_FIRST:], "rest")
    all_stored = settle(len(pages))
    after = {name: _tree_memory(processes.running[name].pid) for name in ("web", "worker")}
    growth = {name: after[name][0] - first[name][0] for name in after}
    detail = (
        f"{len(pages)} organizations with one Facebook page each, one new conversation each at {MEMORY_RATE:.0f} "
        f"msg/s through the same web and worker processes as the realistic run; stored {first_stored}/"
        f"{MEMORY_FIRST} then {all_stored}/{len(pages)}. RSS after {MEMORY_FIRST} organizations: web "
        f"{first['web'][0]:.0f} MB, worker (with its children) {first['worker'][0]:.0f} MB; after {len(pages)}: web "
        f"{after['web'][0]:.0f} MB, worker {after['worker'][0]:.0f} MB. PSS (shared pages counted once) after "
        f"{MEMORY_FIRST} / {len(pages)}: web {first['web'][1]:.0f} / {after['web'][1]:.0f} MB, worker "
        f"{first['worker'][1]:.0f} / {after['worker'][1]:.0f} MB; load average {os.getloadavg()[0]:.1f}"
    )
    return [
        {
            "name": f"webhooks.memory.{name}_growth_{MEMORY_FIRST}_to_{len(pages)}_orgs_mb",
            "value": round(growth[name], 1),
            "unit": "MB",
            "target": "<=50",
            "ok": growth[name] <= 50 and all_stored == len(pages),
            "detail": detail,
        }
        for name in ("web", "worker")
    ]


def run() -> list[dict]:
    """The phases BENCH_WEBHOOK_PHASES names (default all): the empty organization's figures, the realistic
    organization's, and the organizations of item 8 (run with the realistic processes)."""
    results: list[dict] = []
    if "empty" in PHASES:
        results += _run_empty()
    if "realistic" in PHASES or "orgs" in PHASES:
        if "orgs" in PHASES:
            _forget_orgs_events()
        results += _run_realistic()
    return results
