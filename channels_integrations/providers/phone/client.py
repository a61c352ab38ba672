"""HTTP calls to Twilio's REST API (`<TWILIO_API_URL>/2010-04-01/Accounts/{AccountSid}…`, HTTP basic auth with the
Account SID and Auth Token; the base URL is a setting, so tests and `make run` talk to the simulator). Errors come
as `{"code", "message", "more_info", "status"}`; they become the connector exceptions."""

import logging

import requests
from django.conf import settings

from channels_integrations.connector import AuthFailed, ConnectorError, RateLimited, SendRejected, TransientError

logger = logging.getLogger("tsunagu.phone")

API_VERSION = "2010-04-01"


def account_url(account_sid: str, path: str = "") -> str:
    return f"{settings.TWILIO_API_URL.rstrip('/')}/{API_VERSION}/Accounts/{account_sid}{path}.json"


def call(method: str, account_sid: str, auth_token: str, path: str = "", **kwargs) -> dict:
    """One REST call; the decoded JSON, or AuthFailed (401: wrong SID or token) / RateLimited (429, Twilio's 20429) /
    TransientError (5xx, unreachable) / SendRejected (another 4xx, with Twilio's message)."""
    try:
        response = requests.request(
            method,
            account_url(account_sid, path),
            auth=(account_sid, auth_token),
            timeout=settings.PLATFORM_HTTP_TIMEOUT,
            **kwargs,
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientError(f"Twilio could not be reached: {type(exc).__name__}") from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if response.status_code < 400:
        return body
    code = str(body.get("code") or response.status_code)
    message = str(body.get("message") or f"HTTP {response.status_code}")
    logger.warning("twilio %s %s → %s %s %s", method, path or "account", response.status_code, code, message)
    if response.status_code == 401:
        raise AuthFailed(message, code=code)
    if response.status_code == 429:
        try:
            retry_after = float(response.headers.get("Retry-After") or 60)
        except ValueError:
            retry_after = 60.0
        raise RateLimited(message, retry_after=retry_after, code=code)
    if response.status_code >= 500:
        raise TransientError(message, code=code)
    if response.status_code == 404:
        raise ConnectorError(message, code=code)
    raise SendRejected(message, code=code)


def download(url: str, account_sid: str, auth_token: str, *, max_bytes: int) -> tuple[bytes, str]:
    """(bytes, content type) of a recording, streamed with a cap. 404: deleted → ConnectorError (the call keeps its
    link); 5xx or unreachable → TransientError (the event is retried)."""
    try:
        response = requests.get(
            url, auth=(account_sid, auth_token), timeout=settings.PLATFORM_HTTP_TIMEOUT, stream=True
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientError(f"Twilio could not be reached: {type(exc).__name__}") from exc
    with response:
        if response.status_code >= 500:
            raise TransientError(f"recording download: HTTP {response.status_code}")
        if response.status_code == 401:
            raise AuthFailed("recording download: 401", code="401")
        if response.status_code >= 400:
            raise ConnectorError(f"recording download: HTTP {response.status_code}", code=str(response.status_code))
        chunks, size = [], 0
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise ConnectorError("recording larger than allowed", code="too_large")
            chunks.append(chunk)
        return b"".join(chunks), response.headers.get("Content-Type", "").split(";")[0].strip()
