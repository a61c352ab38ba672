"""`make run`: one command that owns every process of a development instance.

Starts the embedded PostgreSQL/Redis when DATABASE_URL/REDIS_URL are unset, migrates, seeds the demo organization
(idempotent), then runs the ASGI server (HTTP + WebSocket), a Celery worker, Celery beat and the mailbox watcher (IMAP
IDLE) as children. Ctrl-C (or SIGTERM) stops the children, then the embedded services this command started.
"""

import os
import signal
import subprocess
import sys
import time

from config import embedded

HOST = os.environ.get("HOST", "127.0.0.1")
PORT = os.environ.get("PORT", "8000")
PY = sys.executable


def _children() -> list[tuple[str, list[str]]]:
    return [
        (
            "web",
            [
                PY,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                HOST,
                "--port",
                PORT,
                "--lifespan",
                "off",
                "--no-access-log",
            ],
        ),
        (
            "worker",
            [
                PY,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                "inbound,outbound,default,analytics",
                "--concurrency",
                os.environ.get("WORKER_CONCURRENCY", "2"),
                "-l",
                "INFO",
                "-n",
                "tsunagu@%h",
            ],
        ),
        (
            "beat",
            [
                PY,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "-l",
                "INFO",
                "-s",
                str(embedded.DATA_DIR / "celerybeat-schedule"),
            ],
        ),
        # One IMAP IDLE connection per connected mailbox: new mail is fetched at once, not at the next poll.
        ("mailwatch", [PY, "manage.py", "watch_mailboxes"]),
    ]


SIMULATOR_STATE = embedded.DATA_DIR / "simulator.json"


def _start_simulator(env: dict) -> subprocess.Popen:
    """The platform simulator stands in for Facebook, Instagram and the mail servers; the demo's connections are
    pointed at it, and it keeps a trickle of customer messages coming. Real platform URLs in the environment win."""
    import json

    for name, value in (
        ("META_APP_SECRET", "dev-meta-app-secret"),
        ("META_VERIFY_TOKEN", "dev-meta-verify-token"),
        ("META_APP_ID", "100000000000000"),
        ("X_CLIENT_ID", "dev-x-client-id"),
        ("X_CLIENT_SECRET", "dev-x-client-secret"),
        ("X_CONSUMER_SECRET", "dev-x-consumer-secret"),
    ):
        env.setdefault(name, value)
    SIMULATOR_STATE.unlink(missing_ok=True)
    command = [
        PY,
        "-m",
        "channels_integrations.simulator",
        "--port",
        os.environ.get("SIMULATOR_PORT", "0"),
        "--webhook-base",
        f"http://{HOST}:{PORT}",
        "--state-file",
        str(SIMULATOR_STATE),
        "--trickle",
        os.environ.get("DEMO_TRICKLE_SECONDS", "45"),
    ]
    process = subprocess.Popen(command, env=env, start_new_session=True)
    deadline = time.monotonic() + 20
    while not SIMULATOR_STATE.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise subprocess.CalledProcessError(process.returncode or 1, command)
        time.sleep(0.1)
    base_url = json.loads(SIMULATOR_STATE.read_text())["base_url"]
    for name in (
        "META_GRAPH_URL",
        "META_DIALOG_URL",
        "INSTAGRAM_GRAPH_URL",
        "TELEGRAM_API_URL",
        "LINE_API_URL",
        "LINE_API_DATA_URL",
        "X_API_URL",
        "TWILIO_API_URL",
    ):
        env.setdefault(name, base_url)
    env.setdefault("X_AUTHORIZE_URL", f"{base_url}/i/oauth2/authorize")
    subprocess.run(
        [PY, "manage.py", "connect_demo_channels", "--simulator-state", str(SIMULATOR_STATE)], env=env, check=True
    )
    return process


def main() -> int:
    want_db = not os.environ.get("DATABASE_URL")
    want_redis = not os.environ.get("REDIS_URL")
    before = embedded.running()
    env = dict(os.environ)
    env.update(embedded.service_urls(database=want_db, redis=want_redis))
    processes: list[tuple[str, subprocess.Popen]] = []
    stopping = False

    def request_stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    exit_code = 0
    try:
        for step in (["migrate", "--noinput"], ["seed_demo"]):
            subprocess.run([PY, "manage.py", *step], env=env, check=True)
        simulator = _start_simulator(env)
        processes.append(("simulator", simulator))
        for name, command in _children():
            # Own session: the terminal's Ctrl-C reaches only us, and we stop the children in order.
            processes.append((name, subprocess.Popen(command, env=env, start_new_session=True)))
        print(
            f"\n  Tsunagu is running at http://{HOST}:{PORT}/\n"
            f"  Platform simulator (make a customer write): {env['META_GRAPH_URL']}/_sim/\n"
            "  Demo logins (password: tsunagu-demo):\n"
            + "".join(
                f"    {role:<9} {role}@demo.tsunagu.example\n"
                for role in ("owner", "admin", "manager", "agent", "editor", "approver", "analyst")
            )
            + "  Press Ctrl-C to stop.\n",
            flush=True,
        )
        while not stopping:
            for name, process in processes:
                if process.poll() is not None:
                    print(f"{name} exited with code {process.returncode}; stopping.", file=sys.stderr)
                    exit_code = 1
                    stopping = True
            time.sleep(0.5)
    except subprocess.CalledProcessError as exc:
        print(f"setup step failed: {exc}", file=sys.stderr)
        exit_code = 1
    finally:
        for _name, process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _name, process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
        embedded.stop(database=want_db and not before["postgres"], redis=want_redis and not before["redis"])
        print("stopped.", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
