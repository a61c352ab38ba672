"""HTTP calls to the WhatsApp Cloud API (Meta's Graph API: the base URL is META_GRAPH_URL, so tests and `make run`
talk to the simulator). The request and the reading of its errors are meta.graph's (one protocol with Messenger and
Instagram); here, what the Cloud API error codes (PROTOCOLS.md §5.4) mean as connector exceptions, with sentences an
agent can act on."""

import logging

import requests
from django.conf import settings
from django.utils.translation import gettext as _

from channels_integrations.connector import AuthFailed, ConnectorError, RateLimited, SendRejected, TransientError
from channels_integrations.http import platform_session
from channels_integrations.providers.meta import graph
from channels_integrations.providers.meta.graph import graph_url

__all__ = ["call", "download", "graph_url", "raise_for", "rejection_sentence"]

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


def raise_for(error: graph.GraphError) -> None:
    """The connector exception for a Graph error answer (or a failed status's error)."""
    code = str(error.code)
    original = error.details or error.message
    if error.code in AUTH_CODES or error.status == 401:
        raise AuthFailed(_("WhatsApp refused the access token (%(error)s).") % {"error": original}, code=code)
    if error.code in RATE_CODES or error.status == 429:
        raise RateLimited(
            _("WhatsApp's rate limit was reached (%(error)s).") % {"error": original},
            retry_after=error.wait or RATE_CODES.get(error.code, 60.0),
            code=code,
        )
    if error.code in TRANSIENT_CODES or error.transient or error.status >= 500:
        raise TransientError(original, code=code)
    sentence = rejection_sentence(error.code)
    raise SendRejected(f"{sentence} ({code})" if sentence else f"{original} ({code})", code=code)


def call(method: str, url: str, *, token: str, timeout=None, **kwargs) -> dict:
    """One Graph request; the JSON body, or AuthFailed / RateLimited / TransientError / SendRejected."""
    body, error = graph.request(method, url, token=token, timeout=timeout, service="WhatsApp", logger=logger, **kwargs)
    if error is not None:
        raise_for(error)
    return body


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
