"""HTTP calls to the X API v2 (`X_API_URL`, api.x.com; a setting, so tests and `make run` talk to the simulator).

Every answer carries `x-rate-limit-limit / -remaining / -reset` (unix seconds, PROTOCOLS.md §2.5): they come back
with the body so a poller can pause when its window is spent. Errors, in either shape X uses (v2's problem JSON
`{"title", "detail", "status"}` or v1.1's `{"errors": [{"code", "message"}]}`), become the connector exceptions:
401 → AuthFailed, 429 → RateLimited until the window resets, 5xx → TransientError, other 4xx → SendRejected with
X's own words (the connector turns the ones agents meet into translated sentences)."""

import logging
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings

from channels_integrations.connector import AuthFailed, RateLimited, SendRejected, TransientError
from channels_integrations.http import platform_session

logger = logging.getLogger("tsunagu.x")

# Hosts that may receive the account's token: the API and DM media (ton.twitter.com; ton.x.com).
MEDIA_HOSTS = ("ton.twitter.com", "ton.x.com", "api.x.com", "api.twitter.com")


@dataclass(frozen=True)
class Answer:
    body: dict
    remaining: int | None
    reset: int | None


def api_url(path: str) -> str:
    return f"{settings.X_API_URL.rstrip('/')}/{path.lstrip('/')}"


def token_url() -> str:
    return api_url("2/oauth2/token")


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def retry_after(reset: int | None) -> float:
    """Seconds until the rate-limit window resets (at least one; 15 minutes when X did not say)."""
    if reset is None:
        return 900.0
    return max(float(reset) - time.time(), 1.0)


def error_text(body) -> str:
    if not isinstance(body, dict):
        return ""
    if body.get("detail") or body.get("title"):
        return str(body.get("detail") or body.get("title"))
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("message") or errors[0].get("detail") or "")
    return str(body.get("error_description") or body.get("error") or "")


def call(method: str, path: str, *, token: str, timeout: tuple[float, float] | None = None, **kwargs) -> Answer:
    """One API request with the user's token; returns the body and the rate-limit window, or raises."""
    url = api_url(path)
    try:
        response = platform_session().request(
            method,
            url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout or settings.PLATFORM_HTTP_TIMEOUT,
            **kwargs,
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientError(f"X could not be reached: {type(exc).__name__}") from exc
    remaining = _int(response.headers.get("x-rate-limit-remaining"))
    reset = _int(response.headers.get("x-rate-limit-reset"))
    try:
        body = response.json() if response.content else {}
    except ValueError:
        body = {}
    status = response.status_code
    if status < 400:
        return Answer(body if isinstance(body, dict) else {}, remaining, reset)
    message = error_text(body) or f"HTTP {status}"
    logger.warning(
        "x %s %s → %s %s (remaining=%s reset=%s)", method, path.split("?")[0], status, message, remaining, reset
    )
    if status == 401:
        raise AuthFailed(message, code="401")
    if status == 429:
        raise RateLimited(message, retry_after=retry_after(reset), code="429")
    if status >= 500:
        raise TransientError(message, code=str(status))
    raise SendRejected(message, code=str(status))


def download(url: str, *, token: str, max_bytes: int) -> tuple[bytes, str]:
    """DM media (only the account's token opens it): the bytes and their content type, at most `max_bytes`."""
    host = urlsplit(url).hostname or ""
    api_host = urlsplit(settings.X_API_URL).hostname or ""
    if host not in MEDIA_HOSTS and host != api_host:
        raise SendRejected(f"media on an unexpected host ({host}) is not fetched with the account's token")
    try:
        response = platform_session().get(
            url, headers={"Authorization": f"Bearer {token}"}, timeout=settings.PLATFORM_HTTP_TIMEOUT, stream=True
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientError(f"X could not be reached: {type(exc).__name__}") from exc
    with response:
        if response.status_code == 401:
            raise AuthFailed("media download: unauthorized", code="401")
        if response.status_code == 429:
            raise RateLimited(
                "media download: rate limited",
                retry_after=retry_after(_int(response.headers.get("x-rate-limit-reset"))),
            )
        if response.status_code >= 500:
            raise TransientError(f"media download: HTTP {response.status_code}")
        if response.status_code >= 400:
            raise SendRejected(f"media download: HTTP {response.status_code}", code=str(response.status_code))
        chunks, size = [], 0
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise SendRejected("media larger than allowed")
            chunks.append(chunk)
        return b"".join(chunks), response.headers.get("Content-Type", "").split(";")[0].strip()


def token_request(data: dict) -> dict:
    """POST /2/oauth2/token (refresh). A confidential client authenticates with HTTP Basic, a public one sends its
    client_id in the body (§2.6). invalid_grant (a revoked or already used refresh token) → AuthFailed."""
    auth = (settings.X_CLIENT_ID, settings.X_CLIENT_SECRET) if settings.X_CLIENT_SECRET else None
    if auth is None:
        data = {**data, "client_id": settings.X_CLIENT_ID}
    try:
        response = platform_session().post(token_url(), data=data, auth=auth, timeout=settings.PLATFORM_HTTP_TIMEOUT)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientError(f"X could not be reached: {type(exc).__name__}") from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code < 400 and isinstance(body, dict) and body.get("access_token"):
        return body
    message = error_text(body) or f"HTTP {response.status_code}"
    if response.status_code >= 500:
        raise TransientError(message)
    if response.status_code == 429:
        raise RateLimited(message, retry_after=retry_after(_int(response.headers.get("x-rate-limit-reset"))))
    raise AuthFailed(message, code=str(body.get("error", response.status_code)) if isinstance(body, dict) else "")
