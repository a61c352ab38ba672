"""HTTP calls to the LINE Messaging API (`LINE_API_URL`, content on `LINE_API_DATA_URL`; settings, so tests and
`make run` talk to the simulator). Every error answer is `ErrorResponse` `{"message", "details"?, "sentMessages"?}`
(PROTOCOLS.md §3.4); errors become the connector exceptions. Tokens travel in the Authorization header only and are
never logged."""

import logging

import requests
from django.conf import settings

from channels_integrations.connector import AuthFailed, RateLimited, SendRejected, TransientError
from channels_integrations.http import platform_session

logger = logging.getLogger("tsunagu.line")

# LINE sends no Retry-After and no rate-limit headers on a 429 (PROTOCOLS.md §3.4): back off a fixed, modest time
# (the limits are per second; the retry policy stretches further attempts).
RATE_LIMIT_BACKOFF = 30.0
QUOTA_MESSAGE = "You have reached your monthly limit."


class QuotaExhausted(SendRejected):
    """429 "You have reached your monthly limit.": pushes are refused until the month ends or the plan grows."""


def api_url(path: str) -> str:
    return f"{settings.LINE_API_URL.rstrip('/')}/{path.lstrip('/')}"


def data_url(path: str) -> str:
    return f"{settings.LINE_API_DATA_URL.rstrip('/')}/{path.lstrip('/')}"


def _body(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def call(
    method: str,
    url: str,
    *,
    token: str,
    accept: tuple[int, ...] = (),
    headers: dict | None = None,
    timeout: tuple[float, float] | None = None,
    **kwargs,
) -> tuple[int, dict, requests.structures.CaseInsensitiveDict]:
    """One API request: (status, JSON body, headers) for a 2xx or a status in `accept`; otherwise raises
    AuthFailed (401), QuotaExhausted / RateLimited (429), TransientError (5xx, network), SendRejected (other 4xx,
    with LINE's message)."""
    try:
        response = platform_session().request(
            method,
            url,
            headers={"Authorization": f"Bearer {token}", **(headers or {})},
            timeout=timeout or settings.PLATFORM_HTTP_TIMEOUT,
            **kwargs,
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientError(f"LINE could not be reached: {type(exc).__name__}", code=_network_code(exc)) from exc
    body = _body(response)
    if response.status_code < 300 or response.status_code in accept:
        return response.status_code, body, response.headers
    raise error_for(response.status_code, body, where=f"{method} {url.split('?')[0]}", headers=response.headers)


def _network_code(exc: Exception) -> str:
    """ "unsent" when the request surely never left (no connection was made), else "unknown": LINE may have it."""
    if isinstance(exc, requests.ConnectTimeout):
        return "unsent"
    if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.Timeout):
        text = str(exc)
        if "NewConnectionError" in text or "Failed to establish" in text or "Connection refused" in text:
            return "unsent"
    return "unknown"


def error_for(status: int, body: dict, *, where: str, headers=None) -> Exception:
    message = str(body.get("message") or f"HTTP {status}")
    details = body.get("details") if isinstance(body.get("details"), list) else []
    if details:
        message += " (" + "; ".join(f"{d.get('property', '')}: {d.get('message', '')}" for d in details[:5]) + ")"
    request_id = (headers or {}).get("x-line-request-id", "")
    logger.warning("line %s → %s %s request_id=%s", where, status, message, request_id)
    if status == 401:
        return AuthFailed(message, code="401")
    if status == 429:
        if QUOTA_MESSAGE.rstrip(".").lower() in message.lower():
            return QuotaExhausted(message, code="quota")
        return RateLimited(message, retry_after=RATE_LIMIT_BACKOFF, code="429")
    if status >= 500:
        return TransientError(message, code=str(status))
    return SendRejected(message, code=str(status))


def download(url: str, *, token: str, max_bytes: int) -> tuple[bytes, str]:
    """(bytes, content type) of a message's content, streamed with a cap. 202: LINE is still preparing it (video,
    audio) → TransientError, the event is retried; 404/410: gone (content is kept for a limited time)."""
    try:
        response = platform_session().get(
            url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=settings.PLATFORM_HTTP_TIMEOUT,
            stream=True,
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientError(f"LINE could not be reached: {type(exc).__name__}") from exc
    with response:
        if response.status_code == 202:
            raise TransientError("LINE is still preparing this content", code="202")
        if response.status_code >= 300:
            raise error_for(response.status_code, _body(response), where="GET content", headers=response.headers)
        declared = int(response.headers.get("Content-Length") or 0)
        if declared > max_bytes:
            raise SendRejected(f"content of {declared} bytes is larger than allowed", code="too_large")
        chunks, size = [], 0
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise SendRejected("content larger than allowed", code="too_large")
            chunks.append(chunk)
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return b"".join(chunks), content_type


def issue_stateless_token(channel_id: str, channel_secret: str) -> tuple[str, int]:
    """`POST /oauth2/v3/token` (client_credentials): a stateless channel access token valid 15 minutes, which
    cannot be revoked. Returns (token, expires_in seconds). 400 invalid_client → AuthFailed."""
    try:
        response = platform_session().post(
            api_url("oauth2/v3/token"),
            data={"grant_type": "client_credentials", "client_id": channel_id, "client_secret": channel_secret},
            timeout=settings.PLATFORM_HTTP_TIMEOUT,
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientError(f"LINE could not be reached: {type(exc).__name__}") from exc
    body = _body(response)
    if response.status_code == 200 and body.get("access_token"):
        return str(body["access_token"]), int(body.get("expires_in") or 900)
    if response.status_code in (400, 401):
        description = body.get("error_description") or body.get("error") or body.get("message") or "invalid_client"
        logger.warning("line token issue → %s %s", response.status_code, description)
        raise AuthFailed(str(description), code="invalid_client")
    raise error_for(response.status_code, body, where="POST oauth2/v3/token", headers=response.headers)
