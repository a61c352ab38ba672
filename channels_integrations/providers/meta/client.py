"""HTTP calls to Meta's Graph API (graph.facebook.com / graph.instagram.com; base URLs are settings, so tests and
`make run` talk to the simulator). The request and the reading of its errors are meta.graph's (shared with
WhatsApp); here, what each Messenger/Instagram error means as a connector exception."""

import logging

from channels_integrations.connector import AuthFailed, RateLimited, SendRejected, TransientError
from channels_integrations.providers.meta import graph
from channels_integrations.providers.meta.graph import graph_url

__all__ = ["call", "graph_url"]

logger = logging.getLogger("tsunagu.meta")

AUTH_CODES = {190, 102}
TRANSIENT_CODES = {1, 2}
# 4 app, 17 user, 32 page, 613 custom throttling; Business Use Case limits (page and system-user tokens): 80001 Pages,
# 80002 Instagram, 80006 Messenger, 80007 WhatsApp (graph-api/overview/rate-limiting).
RATE_CODES = {4, 17, 32, 613, 80001, 80002, 80006, 80007}
# Code 10 (permission denied) with these subcodes: the user or page took the app's access away.
AUTH_SUBCODES = {458, 460, 463, 467}


def call(method: str, url: str, *, token: str, timeout: tuple[float, float] | None = None, **kwargs) -> dict:
    """One Graph request; returns the JSON body or raises AuthFailed / RateLimited / TransientError / SendRejected."""
    body, error = graph.request(method, url, token=token, timeout=timeout, service="Meta", logger=logger, **kwargs)
    if error is None:
        return body
    code = str(error.code)
    if error.code in AUTH_CODES or (error.code == 10 and error.subcode in AUTH_SUBCODES):
        raise AuthFailed(error.message, code=code)
    if error.code in RATE_CODES or error.status == 429:
        raise RateLimited(error.message, retry_after=error.wait or 60.0, code=code)
    if error.code in TRANSIENT_CODES or error.transient or error.status >= 500:
        raise TransientError(error.message, code=code)
    raise SendRejected(error.message, code=code)
