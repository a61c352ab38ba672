"""Which URLs a rule's "call an external URL" action may be saved with: http(s), no credentials in the URL, and
outside development no address on a private network. This is the early answer shown in the editor; the call itself
goes through core.outbound_http, which checks again at call time and connects only to the address it checked."""

from django.conf import settings

from core.outbound_http import OutboundRefused, OutboundUnresolved, check_host, parse_url


def url_problem(url) -> str:
    """Why this URL cannot be called, or "" if it can. A host that does not resolve yet is accepted here (its DNS
    may be set up later); the call refuses it as long as it does not resolve."""
    try:
        target = parse_url(url)
        if not settings.RULE_WEBHOOKS_ALLOW_PRIVATE:
            check_host(target.host, target.port, allow_private=False)
    except OutboundUnresolved:
        return ""
    except OutboundRefused as exc:
        return str(exc)
    return ""
