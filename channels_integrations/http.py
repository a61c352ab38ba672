"""The HTTP session connectors call their platform's API with (the platforms' fixed hosts; calls to hosts a tenant
chooses go through core.outbound_http instead)."""

import threading

import requests

_local = threading.local()


def platform_session() -> requests.Session:
    """One keep-alive session per thread: a new TCP and TLS connection per call cost more than the call. requests
    sessions are not shared between threads."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session
