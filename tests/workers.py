"""A real Celery worker in a subprocess, on the test database and the test Redis, for tests that need the broker
path (fault tests: kill it mid-task, start another)."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.e2e.asgi_server import subprocess_database_url

ROOT = Path(__file__).resolve().parents[1]


class CeleryWorker:
    def __init__(self, *, queues: str = "inbound,outbound,default", **extra_env: str):
        env = dict(
            os.environ,
            DATABASE_URL=subprocess_database_url(),
            DJANGO_SETTINGS_MODULE="config.settings",
            CELERY_REAL_WORKER="1",
            **extra_env,
        )
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                queues,
                "--concurrency",
                "1",
                "--pool",
                "prefork",
                "-l",
                "WARNING",
                "-n",
                f"test-{os.getpid()}-{id(self)}@%h",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=env,
            start_new_session=True,  # its own process group: kill() reaches the pool children too
        )

    def kill(self) -> None:
        """SIGKILL the worker and its pool: no chance to acknowledge or requeue anything."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
