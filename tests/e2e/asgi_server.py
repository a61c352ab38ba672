"""A real ASGI server (uvicorn: HTTP + WebSocket) in a subprocess, on the test database, for browser tests."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def subprocess_database_url() -> str:
    """The URL of the database this test process uses (the test database), for subprocesses."""
    settings = connection.settings_dict
    host = settings["HOST"]
    netloc = f"{settings['USER']}@" + ("" if host.startswith("/") else f"{host}:{settings['PORT'] or 5432}")
    query = f"?host={host}" if host.startswith("/") else ""
    return f"postgresql://{netloc}/{settings['NAME']}{query}"


class AsgiServer:
    def __init__(self, **extra_env: str):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(
            os.environ,
            DATABASE_URL=subprocess_database_url(),
            DJANGO_SETTINGS_MODULE="config.settings",
            SITE_URL=self.url,  # links (the OAuth callback...) point at this server
            **extra_env,
        )
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--lifespan",
                "off",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass  # not listening yet, or too slow to answer on a busy machine: ask again until the deadline
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError("the ASGI server did not start")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
