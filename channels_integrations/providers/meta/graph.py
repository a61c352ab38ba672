"""Meta's Graph API as one protocol, shared by the Messenger/Instagram client (meta.client) and the WhatsApp Cloud API
client (whatsapp.client): the URL of a path, one authenticated request, and how an error answer reads (its code,
subcode, message, details, whether Meta calls it transient, and how long the answer asks to wait).

What an error means differs by product (WhatsApp has codes of its own and sentences for agents), so each client
keeps its own mapping to the connector exceptions; the reading is here, once."""

import json
import logging
from dataclasses import dataclass

import requests
from django.conf import settings

from channels_integrations.connector import TransientError
from channels_integrations.http import platform_session

USAGE_HEADERS = ("X-Business-Use-Case-Usage", "X-App-Usage", "X-Page-Usage")


def graph_url(path: str, *, instagram: bool = False) -> str:
    base = settings.INSTAGRAM_GRAPH_URL if instagram else settings.META_GRAPH_URL
    return f"{base.rstrip('/')}/{settings.META_GRAPH_VERSION}/{path.lstrip('/')}"


@dataclass(frozen=True)
class GraphError:
    """The `error` object of a Graph answer (an empty one when the body has none), with the HTTP status."""

    status: int
    code: int  # 0 when Graph gave none
    subcode: int | None
    message: str  # error_user_msg, else message, else "HTTP <status>"
    details: str  # error_data.details (WhatsApp's precise reason), else ""
    transient: bool  # Graph's own is_transient flag
    trace: str  # fbtrace_id, for Meta's support
    wait: float | None  # seconds the answer asks to wait (Retry-After, usage headers); None when it names none

    @classmethod
    def read(cls, status: int, body, response: requests.Response | None = None) -> "GraphError":
        error = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else {}
        data = error.get("error_data")
        return cls(
            status=status,
            code=_number(error.get("code")) or 0,
            subcode=_number(error.get("error_subcode")),
            message=error.get("error_user_msg") or error.get("message") or f"HTTP {status}",
            details=(data.get("details") or "") if isinstance(data, dict) else "",
            transient=error.get("is_transient") is True,
            trace=error.get("fbtrace_id") or "",
            wait=usage_wait(response),
        )


def _number(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def usage_wait(response: requests.Response | None) -> float | None:
    """Seconds the answer asks to wait: its Retry-After, else the longest `estimated_time_to_regain_access` (minutes)
    in the usage headers; None when it names no wait (the caller then knows best how long)."""
    if response is None:
        return None
    if response.headers.get("Retry-After", "").isdigit():
        return float(response.headers["Retry-After"])
    minutes = 0.0
    for header in USAGE_HEADERS:
        try:
            usage = json.loads(response.headers.get(header) or "{}")
        except ValueError:
            continue
        # Business Use Case headers: {"<id>": [{"type": ..., "estimated_time_to_regain_access": N}, ...]}
        rows = [r for v in usage.values() if isinstance(v, list) for r in v] if isinstance(usage, dict) else []
        for row in rows:
            if isinstance(row, dict):
                try:
                    minutes = max(minutes, float(row.get("estimated_time_to_regain_access") or 0))
                except (TypeError, ValueError):
                    continue
    return minutes * 60 if minutes else None


def request(
    method: str, url: str, *, token: str, service: str, logger: logging.Logger, timeout=None, **kwargs
) -> tuple[dict, GraphError | None]:
    """One Graph request with the bearer token: the JSON body (a non-object body as {"data": ...}) and, when the
    answer is an error (a failed status or an `error` object), the error read and logged. A network failure is a
    TransientError naming `service` ("Meta", "WhatsApp")."""
    try:
        response = platform_session().request(
            method,
            url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout or settings.PLATFORM_HTTP_TIMEOUT,
            **kwargs,
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientError(f"{service} could not be reached: {type(exc).__name__}") from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {"data": body}
    if response.status_code < 400 and "error" not in body:
        return body, None
    error = GraphError.read(response.status_code, body, response)
    logger.warning(
        "graph %s %s → %s code=%s subcode=%s trace=%s",
        method,
        url.split("?")[0],
        response.status_code,
        error.code,
        error.subcode,
        error.trace,
    )
    return body, error
