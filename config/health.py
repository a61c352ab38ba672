"""/healthz: the process answers. /readyz: PostgreSQL, Redis and the Celery broker answer (503 otherwise)."""

import logging

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger("tsunagu.health")


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_redis() -> None:
    from django.core.cache import cache

    cache.set("readyz", "1", timeout=10)
    if cache.get("readyz") != "1":
        raise RuntimeError("cache round-trip failed")


def _check_broker() -> None:
    from config.celery import app  # only the readiness probe needs the broker's client

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


@never_cache
@require_GET
def readyz(request):
    checks = {}
    for name, check in (("database", _check_database), ("redis", _check_redis), ("broker", _check_broker)):
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:  # any failure means "not ready"; the reason is logged and reported
            logger.warning("readiness check %s failed: %s", name, exc)
            checks[name] = f"error: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)
