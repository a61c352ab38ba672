"""HTTP calls to the WhatsApp Cloud API (Meta's Graph API: the base URL is META_GRAPH_URL, so tests and `make run`
talk to the simulator). Cloud API error codes (PROTOCOLS.md §5.4) become the connector exceptions, with sentences
an agent can act on."""

import json
import logging

import requests
from django.conf import settings
from django.utils.translation import gettext as _

from channels_integrations.connector import AuthFailed, ConnectorError, RateLimited, SendRejected, TransientError
from channels_integrations.http import platform_session

logger = logging.getLogger("tsunagu.whatsapp")

AUTH_CODES = {190, 102}
TRANSIENT_CODES = {1, 2, 131000, 131016}
# Seconds to wait when Meta gives no Retry-After: app (4) and WABA (80007) limits last up to an hour (the usage
# headers say how long); throughput (130429) clears within seconds; one message to the same user every 6 s (131056).
RATE_CODES = {4: 60.0, 613: 60.0, 80007: 60.0, 130429: 5.0, 131056: 6.0, 131048: 600.0, 131064: 60.0}
WINDOW_CLOSED = 131047


def rejection_sentence(code: int) -> str:
    """What an agent reads when WhatsApp refuses a message; "" for codes without one of ours."""
    sentences = {
        WINDOW_CLOSED: _(
            "More than 24 hours have passed since the customer's last message: WhatsApp now delivers only an approved "
            "template. Choose a template in the reply box."
        ),
        131026: _(
            "WhatsApp could not deliver the message: the number may not use WhatsApp, or the customer has not "
            "accepted the latest terms or uses an old app version."
        ),
        131051: _("WhatsApp does not support this type of message."),
        131052: _("WhatsApp could not download the customer's media file."),
        131053: _("WhatsApp could not upload the file; check its type and size."),
        131021: _("The message cannot be sent to the business's own number."),
        131031: _("The WhatsApp Business account is locked or restricted; see WhatsApp Manager."),
        368: _("The WhatsApp Business account is temporarily blocked for policy reasons; see WhatsApp Manager."),
        132000: _("The number of template parameters does not match the template approved in WhatsApp Manager."),
        132001: _("This template does not exist in this language, or it is not approved yet."),
        132005: _("The template's text with its parameters filled in is too long."),
        132007: _("The template's parameters break WhatsApp's format rules (new lines, tabs, more than 4 spaces)."),
        132015: _("The template is paused because of low quality ratings; edit it in WhatsApp Manager."),
        132016: _("The template was disabled because of low quality ratings; create a new one."),
        131009: _("WhatsApp refused a parameter of the message (a value is missing or invalid)."),
        100: _("WhatsApp refused a parameter of the message (a value is missing or invalid)."),
    }
    return sentences.get(code, "")


def graph_url(path: str) -> str:
    return f"{settings.META_GRAPH_URL.rstrip('/')}/{settings.META_GRAPH_VERSION}/{path.lstrip('/')}"


def _retry_after(response: requests.Response, code: int) -> float:
    if response.headers.get("Retry-After", "").isdigit():
        return float(response.headers["Retry-After"])
    minutes = 0.0
    for header in ("X-Business-Use-Case-Usage", "X-App-Usage"):
        try:
            usage = json.loads(response.headers.get(header) or "{}")
        except ValueError:
            continue
        rows = [r for v in usage.values() if isinstance(v, list) for r in v] if isinstance(usage, dict) else []
        for row in rows:
            if isinstance(row, dict):
                minutes = max(minutes, float(row.get("estimated_time_to_regain_access") or 0))
    return minutes * 60 if minutes else RATE_CODES.get(code, 60.0)


def raise_for(status: int, body: dict, response: requests.Response | None = None) -> None:
    """The connector exception for a Graph error answer (or a failed status's error)."""
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    code = int(error.get("code") or 0)
    details = (error.get("error_data") or {}).get("details") if isinstance(error.get("error_data"), dict) else ""
    original = details or error.get("error_user_msg") or error.get("message") or f"HTTP {status}"
    if code in AUTH_CODES or status == 401:
        raise AuthFailed(_("WhatsApp refused the access token (%(error)s).") % {"error": original}, code=str(code))
    if code in RATE_CODES or status == 429:
        raise RateLimited(
            _("WhatsApp's rate limit was reached (%(error)s).") % {"error": original},
            retry_after=_retry_after(response, code) if response is not None else RATE_CODES.get(code, 60.0),
            code=str(code),
        )
    if code in TRANSIENT_CODES or error.get("is_transient") is True or status >= 500:
        raise TransientError(original, code=str(code))
    sentence = rejection_sentence(code)
    raise SendRejected(f"{sentence} ({code})" if sentence else f"{original} ({code})", code=str(code))


def call(method: str, url: str, *, token: str, timeout=None, **kwargs) -> dict:
    """One Graph request; the JSON body, or AuthFailed / RateLimited / TransientError / SendRejected."""
    try:
        response = platform_session().request(
            method,
            url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout or settings.PLATFORM_HTTP_TIMEOUT,
            **kwargs,
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientError(f"WhatsApp could not be reached: {type(exc).__name__}") from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {"data": body}
    if response.status_code < 400 and "error" not in body:
        return body
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    logger.warning(
        "whatsapp %s %s → %s code=%s trace=%s",
        method,
        url.split("?")[0],
        response.status_code,
        error.get("code"),
        error.get("fbtrace_id"),
    )
    raise_for(response.status_code, body, response)
    raise AssertionError("unreachable")


def download(url: str, *, token: str, max_bytes: int) -> tuple[bytes, str]:
    """A media file's bytes (streamed, at most `max_bytes`) and its content type. The media URL needs the same
    bearer token as the API."""
    try:
        response = platform_session().get(
            url, headers={"Authorization": f"Bearer {token}"}, timeout=settings.PLATFORM_HTTP_TIMEOUT, stream=True
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientError(f"WhatsApp media could not be reached: {type(exc).__name__}") from exc
    with response:
        if response.status_code in (401, 403):
            raise AuthFailed(_("WhatsApp refused the access token for a media file."), code=str(response.status_code))
        if response.status_code == 404:
            raise ConnectorError("the media file is no longer available", code="404")
        if response.status_code >= 500:
            raise TransientError(f"media download answered {response.status_code}")
        if response.status_code >= 400:
            raise ConnectorError(f"media download answered {response.status_code}", code=str(response.status_code))
        chunks, size = [], 0
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise ConnectorError(f"the media file is larger than {max_bytes} bytes", code="too_large")
            chunks.append(chunk)
        return b"".join(chunks), response.headers.get("Content-Type", "").split(";")[0].strip()
