"""HTTP calls to Meta's Graph API (graph.facebook.com / graph.instagram.com; base URLs are settings, so tests and
`make run` talk to the simulator). Graph errors become the connector exceptions."""

import json
import logging

import requests
from django.conf import settings

from channels_integrations.connector import AuthFailed, RateLimited, SendRejected, TransientError
from channels_integrations.http import platform_session

logger = logging.getLogger("tsunagu.meta")

AUTH_CODES = {190, 102}
TRANSIENT_CODES = {1, 2}
# 4 app, 17 user, 32 page, 613 custom throttling; Business Use Case limits (page and system-user tokens): 80001 Pages,
# 80002 Instagram, 80006 Messenger, 80007 WhatsApp (graph-api/overview/rate-limiting).
RATE_CODES = {4, 17, 32, 613, 80001, 80002, 80006, 80007}


def graph_url(path: str, *, instagram: bool = False) -> str:
    base = settings.INSTAGRAM_GRAPH_URL if instagram else settings.META_GRAPH_URL
    return f"{base.rstrip('/')}/{settings.META_GRAPH_VERSION}/{path.lstrip('/')}"


def _retry_after(response: requests.Response) -> float:
    if response.headers.get("Retry-After", "").isdigit():
        return float(response.headers["Retry-After"])
    minutes = 0.0
    for header in ("X-Business-Use-Case-Usage", "X-App-Usage", "X-Page-Usage"):
        try:
            usage = json.loads(response.headers.get(header) or "{}")
        except ValueError:
            continue
        rows = [r for v in usage.values() if isinstance(v, list) for r in v] if isinstance(usage, dict) else []
        for row in rows:
            minutes = max(minutes, float(row.get("estimated_time_to_regain_access") or 0))
    return minutes * 60 if minutes else 60.0


def call(method: str, url: str, *, token: str, timeout: tuple[float, float] | None = None, **kwargs) -> dict:
    """One Graph request; returns the JSON body or raises AuthFailed / RateLimited / TransientError / SendRejected."""
    try:
        response = platform_session().request(
            method,
            url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout or settings.PLATFORM_HTTP_TIMEOUT,
            **kwargs,
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientError(f"Meta could not be reached: {type(exc).__name__}") from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code < 400 and "error" not in body:
        return body
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    code = int(error.get("code") or 0)
    message = error.get("error_user_msg") or error.get("message") or f"HTTP {response.status_code}"
    logger.warning(
        "graph %s %s → %s code=%s subcode=%s trace=%s",
        method,
        url.split("?")[0],
        response.status_code,
        code,
        error.get("error_subcode"),
        error.get("fbtrace_id"),
    )
    if code in AUTH_CODES or (code == 10 and error.get("error_subcode") in (458, 460, 463, 467)):
        raise AuthFailed(message, code=str(code))
    if code in RATE_CODES or response.status_code == 429:
        raise RateLimited(message, retry_after=_retry_after(response), code=str(code))
    if code in TRANSIENT_CODES or error.get("is_transient") is True or response.status_code >= 500:
        raise TransientError(message, code=str(code))
    raise SendRejected(message, code=str(code))
