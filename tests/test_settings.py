"""Settings that depend on how the app is started, read by a fresh interpreter as `make run` starts it."""

import os
import subprocess
import sys

import pytest


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
