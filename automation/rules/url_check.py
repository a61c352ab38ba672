"""Which URLs a rule's "call an external URL" action may call: http(s), no credentials in the URL, and outside
development no address on a private network (no requests into our own network through a rule)."""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _


def url_problem(url) -> str:
    """Why this URL cannot be called, or "" if it can."""
    if not isinstance(url, str) or len(url) > 2000:
        return _("Give a URL of at most 2000 characters.")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return _("Give an http:// or https:// URL.")
    if parts.username or parts.password:
        return _("Do not put credentials in the URL; verify the signature header instead.")
    if not settings.RULE_WEBHOOKS_ALLOW_PRIVATE and _private(parts.hostname):
        return _("This address is on a private network and cannot be called.")
    return ""


def _private(hostname: str) -> bool:
    """True for loopback, private, link-local and other non-public addresses (no calls into our own network)."""
    try:
        infos = socket.getaddrinfo(hostname, None)
    except OSError:
        return False  # unresolvable now: the call itself will fail and be logged
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            return True
    return False
