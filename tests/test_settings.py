"""Settings that depend on how the app is started, read by a fresh interpreter as `make run` starts it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

BASE_DIR = Path(__file__).resolve().parent.parent


def _site_url(**env) -> str:
    environment = {k: v for k, v in os.environ.items() if k not in {"SITE_URL", "HOST", "PORT"}} | env
    code = "from django.conf import settings; print(settings.SITE_URL)"
    command = [sys.executable, "-c", f"import django; django.setup(); {code}"]
    return subprocess.run(command, env=environment, capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"PORT": "8102"}, "http://127.0.0.1:8102"),
        ({"HOST": "0.0.0.0", "PORT": "8102"}, "http://127.0.0.1:8102"),
        ({"HOST": "localhost", "PORT": "9000"}, "http://localhost:9000"),
        ({"PORT": "8102", "SITE_URL": "https://support.example.jp/"}, "https://support.example.jp"),
    ],
)
def test_links_point_where_the_app_serves_unless_site_url_says_otherwise(env, expected):
    assert _site_url(DJANGO_SETTINGS_MODULE="config.settings", **env) == expected


def _start(**env) -> subprocess.CompletedProcess:
    """Load the settings in a fresh interpreter, as a server process would."""
    environment = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "TSUNAGU_PRODUCTION"}} | env
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    return subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True)


PRODUCTION_SECRETS = {
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "SECRET_KEY": "test-only-" + "x" * 40,
    "TSUNAGU_ENCRYPTION_KEYS": "YnVpbGQtb25seS1ub3QtYS1zZWNyZXQtMDEyMzQ1Njc=",
}


def test_a_production_start_refuses_debug():
    started = _start(TSUNAGU_PRODUCTION="1", DEBUG="1", **PRODUCTION_SECRETS)
    assert started.returncode != 0
    assert "ImproperlyConfigured" in started.stderr and "DEBUG" in started.stderr


def test_a_production_start_has_debug_off_unless_told_otherwise():
    started = _start(TSUNAGU_PRODUCTION="1", **PRODUCTION_SECRETS)
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "False"
    # Development (`make run`, `make test`) keeps its default.
    assert _start(DJANGO_SETTINGS_MODULE="config.settings").stdout.strip() == "True"


def _dockerfile_env() -> dict[str, str]:
    text = (BASE_DIR / "Dockerfile").read_text()
    final_stage = text.rsplit("\nFROM ", 1)[-1]
    env = {}
    for line in final_stage.splitlines():
        if line.startswith("ENV "):
            env |= dict(pair.split("=", 1) for pair in line[4:].split())
    return env


def test_the_image_and_compose_start_in_production_mode_without_trusting_forwarded_for():
    env = _dockerfile_env()
    assert env["DEBUG"] == "0" and env["TSUNAGU_PRODUCTION"] == "1"
    compose = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
    for name, service in compose["services"].items():
        if service.get("image") != "tsunagu:latest":
            continue
        environment = service["environment"]
        assert environment["DEBUG"] == "0" and environment["TSUNAGU_PRODUCTION"] == "1", name
        # Port 8000 is published directly: no proxy is trusted unless the operator names one.
        assert environment.get("TRUSTED_PROXIES", "") in {"", "${TRUSTED_PROXIES:-}"}, name
        assert "TRUSTED_PROXY_COUNT" not in environment, name


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TRUSTED_PROXY_COUNT": "1"}, "TRUSTED_PROXIES"),
        ({"TRUSTED_PROXIES": "10.0.0.1,not-an-address"}, "not-an-address"),
    ],
)
def test_forwarded_for_settings_that_would_trust_anyone_stop_the_start(env, message):
    started = _start(DJANGO_SETTINGS_MODULE="config.settings", **env)
    assert started.returncode != 0 and message in started.stderr


def test_a_replica_url_adds_the_replica_database_with_the_primarys_pool():
    code = (
        "import django, json; django.setup(); from django.conf import settings; d = settings.DATABASES; "
        "print(json.dumps([sorted(d), d['replica']['HOST'], d['replica']['NAME'], "
        "d['replica']['OPTIONS'].get('pool', {}).get('max_size'), d['replica']['TEST']['MIRROR']]))"
    )
    environment = dict(os.environ) | {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_REPLICA_URL": "postgresql://reader:pw@replica.internal:5432/tsunagu",
        "DB_POOL": "1",
        "DB_POOL_MAX_SIZE": "7",
    }
    out = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == '[["default", "replica"], "replica.internal", "tsunagu", 7, "default"]'
