"""`make run` end to end: the supervisor migrates, seeds, serves HTTP with a worker and beat, the demo logins work,
and SIGINT (Ctrl-C) stops every child. Runs against its own database on the same PostgreSQL server."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
SMOKE_DB = "tsunagu_make_run_smoke"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smoke_database():
    url = urlparse(os.environ["DATABASE_URL"])
    admin = url._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{SMOKE_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{SMOKE_DB}"')
    yield url._replace(path=f"/{SMOKE_DB}").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{SMOKE_DB}" WITH (FORCE)')


def _wait_for(url: str, deadline: float) -> requests.Response:
    while True:
        try:
            return requests.get(url, timeout=2)
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_make_run_serves_the_demo_and_stops_cleanly(smoke_database):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_VERSION"}  # the children are not tests
    redis = urlparse(os.environ["REDIS_URL"])
    env.update(
        DATABASE_URL=smoke_database,
        REDIS_URL=redis._replace(path="/13").geturl(),
        PORT=str(port),
        WORKER_CONCURRENCY="1",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "config.devserver"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert _wait_for(f"{base}/healthz", time.monotonic() + 120).status_code == 200
        assert requests.get(f"{base}/readyz", timeout=5).json()["status"] == "ok"
        session = requests.Session()
        login_page = session.get(f"{base}/accounts/login/", timeout=5)
        assert login_page.status_code == 200
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text).group(1)
        for role in ("owner", "agent", "analyst"):
            session.cookies.clear()
            token = re.search(
                r'name="csrfmiddlewaretoken" value="([^"]+)"', session.get(f"{base}/accounts/login/", timeout=5).text
            ).group(1)
            response = session.post(
                f"{base}/accounts/login/",
                timeout=10,
                allow_redirects=True,
                headers={"Referer": f"{base}/accounts/login/"},
                data={
                    "csrfmiddlewaretoken": token,
                    "email": f"{role}@demo.tsunagu.example",
                    "password": "tsunagu-demo",
                },
            )
            assert response.status_code == 200 and response.url == f"{base}/demo/", (role, response.url)
            assert "デモ株式会社" in response.text
            if role == "agent":
                # The demo inbox has sample conversations; the agent's team sees LINE and email, not Instagram.
                inbox = session.get(f"{base}/demo/inbox/", timeout=10).text
                assert "山本 美和" in inbox and "aoi_photo" not in inbox
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output[-3000:]
    assert "stopped." in output
    assert "celery@" in output or "worker" in output  # the worker started
