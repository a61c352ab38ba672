"""Twilio's request signature (PROTOCOLS.md §8.1): base64(HMAC-SHA1(auth token, full URL + every POST parameter
name and value, sorted by name)). Shared by the connector (checking) and the simulator (signing): no Django here."""

import base64
import hashlib
import hmac
from collections.abc import Iterable


def signature(url: str, params: Iterable[tuple[str, str]], auth_token: str) -> str:
    """The `X-Twilio-Signature` of a form POST to `url` (the URL exactly as the provider called it, query included)
    with `params` ((name, value) pairs; a repeated name signs each of its values, sorted,
    as twilio-python's RequestValidator does)."""
    data = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def valid(url: str, params: Iterable[tuple[str, str]], auth_token: str, given: str) -> bool:
    """Whether `given` is the signature of this request, compared in constant time."""
    if not auth_token or not given:
        return False
    return hmac.compare_digest(signature(url, params, auth_token).encode(), given.encode())
