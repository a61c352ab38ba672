"""HTTP calls to the Telegram Bot API (`<TELEGRAM_API_URL>/bot<token>/<method>`; the base URL is a setting, so tests
and `make run` talk to the simulator). Every answer is `{"ok": …, "result" | "error_code", "description",
"parameters"}` (PROTOCOLS.md §4); errors become the connector exceptions.

The token is part of every URL (methods and file downloads): no URL is ever logged, stored or put in an error, and
network exceptions are not chained (requests puts the URL in their messages)."""

import json
import logging

import requests
from django.conf import settings

from channels_integrations.connector import AuthFailed, RateLimited, SendRejected, TransientError

logger = logging.getLogger("tsunagu.telegram")


def method_url(token: str, method: str) -> str:
    return f"{settings.TELEGRAM_API_URL.rstrip('/')}/bot{token}/{method}"


def file_url(token: str, file_path: str) -> str:
    return f"{settings.TELEGRAM_API_URL.rstrip('/')}/file/bot{token}/{file_path.lstrip('/')}"


def call(
    token: str,
    method: str,
    *,
    http_timeout: tuple[float, float] | float | None = None,
    files: dict | None = None,
    **params,
) -> object:
    """One Bot API call; returns `result` or raises AuthFailed / RateLimited / TransientError / SendRejected (the
    error's `code` is Telegram's `error_code`, its message Telegram's `description`). With `files` (name ->
    (filename, bytes, content type)) the call is a multipart upload and structured parameters travel as JSON."""
    timeout = http_timeout or settings.PLATFORM_HTTP_TIMEOUT
    try:
        if files:
            data = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items() if v is not None}
            response = requests.post(method_url(token, method), data=data, files=files, timeout=timeout)
        else:
            response = requests.post(method_url(token, method), json=params, timeout=timeout)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientError(f"Telegram could not be reached: {type(exc).__name__}") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if response.status_code < 400 and body.get("ok") is True:
        return body.get("result")
    try:
        code = int(body.get("error_code") or response.status_code)
    except (TypeError, ValueError):
        code = response.status_code
    description = str(body.get("description") or f"HTTP {response.status_code}")
    parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    logger.warning("telegram %s → %s %s", method, code, description)
    if code == 429 or "retry_after" in parameters:
        # ResponseParameters.retry_after: "the number of seconds left to wait before the request can be repeated".
        try:
            retry_after = float(parameters.get("retry_after"))
        except (TypeError, ValueError):
            retry_after = 60.0
        raise RateLimited(description, retry_after=retry_after, code="429")
    if code in (401, 404):  # python-telegram-bot: InvalidToken (a revoked or mistyped token)
        raise AuthFailed(description, code=str(code))
    if code >= 500 or code == 409:  # 409: a webhook is set while polling (or two pollers); try again later
        raise TransientError(description, code=str(code))
    raise SendRejected(description, code=str(code))


def download(token: str, file_path: str, *, max_bytes: int) -> bytes:
    """A file's bytes (`/file/bot<token>/<file_path>`), streamed and cut off past `max_bytes` (SendRejected)."""
    try:
        response = requests.get(file_url(token, file_path), timeout=settings.PLATFORM_HTTP_TIMEOUT, stream=True)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientError(f"Telegram could not be reached: {type(exc).__name__}") from None
    with response:
        if response.status_code >= 500:
            raise TransientError(f"file download: HTTP {response.status_code}")
        if response.status_code >= 400:  # an expired file_path (valid for an hour) or a file Telegram will not give
            raise SendRejected(f"file download: HTTP {response.status_code}", code=str(response.status_code))
        content = bytearray()
        try:
            for chunk in response.iter_content(64 * 1024):
                content += chunk
                if len(content) > max_bytes:
                    raise SendRejected(f"the file is larger than {max_bytes // (1024 * 1024)} MB")
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(f"file download interrupted: {type(exc).__name__}") from None
    return bytes(content)
