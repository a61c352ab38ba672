"""The one way to make an HTTP call, or open a connection, on a tenant's instructions (a rule's "call a URL", outgoing
webhooks, external bots, a mailbox's server): no request into our own network through it.

- The URL is http(s) without credentials; the host is resolved exactly once, and the call is refused when that fails
  or when any address it gives is not globally routable (loopback, private, link-local, multicast, reserved, and the
  IPv6 forms that lead back to IPv4: NAT64, 6to4 and IPv4-mapped addresses are judged by, or refused for, the IPv4
  address they carry; Teredo is refused).
- The connection goes to the address that was checked (a second lookup could answer differently: DNS rebinding),
  with the URL's host in the Host header, the TLS server name (SNI) and the certificate check.
- No redirect is followed (a 3xx is the answer), the body is read up to `max_bytes`, and the whole call, headers and
  body included, ends after `total` seconds however slowly the other side trickles bytes.

`allow_private` (development and tests) skips only the judgement of the addresses, never the single lookup."""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import certifi
import urllib3
from django.utils.translation import gettext as _
from urllib3.connection import HTTPConnection, HTTPSConnection

MAX_URL = 2000

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_TEREDO = ipaddress.ip_network("2001::/32")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")


class OutboundError(Exception):
    """A call that did not produce an answer. `retryable`: trying again later could work (network trouble), as
    opposed to a call this guard will never make."""

    retryable = True


class OutboundRefused(OutboundError):
    """The URL or its addresses are not allowed: never connected."""

    retryable = False


class OutboundUnresolved(OutboundError):
    """The host could not be resolved: never connected (the lookup may work later)."""


class OutboundConnectionError(OutboundError):
    """Connecting, TLS, or the exchange failed."""


class OutboundTimeout(OutboundError):
    """No complete answer within the time allowed."""


@dataclass
class OutboundResponse:
    """The answer: status, headers, and at most `max_bytes` of the body (`truncated` when there was more)."""

    status_code: int
    headers: urllib3.HTTPHeaderDict
    content: bytes
    truncated: bool = False
    address: str = field(default="")  # the address connected to

    @property
    def text(self) -> str:
        return self.content.decode(_charset(self.headers.get("Content-Type", "")), errors="replace")


def address_is_global(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True only for an address on the public internet."""
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return address_is_global(address.ipv4_mapped)
        if any(address in network for network in _NAT64) or address in _TEREDO:
            return False  # translated to an IPv4 address by a gateway we cannot see: refuse outright
        if address in _SIX_TO_FOUR:
            return address.sixtofour is not None and address_is_global(address.sixtofour)
        if address.is_site_local:
            return False
    elif address in _THIS_NETWORK:
        return False
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


def _ascii_host(host: str) -> str:
    host = host.strip().rstrip(".").lower()
    if not host:
        raise OutboundRefused(_("The address has no host."))
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise OutboundRefused(_("The host name is not valid.")) from None


def check_host(host: str, port: int, *, allow_private: bool) -> str:
    """Resolve `host` once and return the address to connect to (the first one), or raise OutboundUnresolved /
    OutboundRefused. Connect to exactly this address, giving `host` as the TLS server name; never resolve again."""
    name = _ascii_host(host)
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise OutboundUnresolved(_("The host %(host)s could not be resolved.") % {"host": name}) from None
    addresses = []
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone
        try:
            addresses.append(ipaddress.ip_address(text))
        except ValueError:
            raise OutboundRefused(_("The host %(host)s resolved to an invalid address.") % {"host": name}) from None
    if not addresses:
        raise OutboundUnresolved(_("The host %(host)s could not be resolved.") % {"host": name})
    if not allow_private and not all(address_is_global(address) for address in addresses):
        raise OutboundRefused(_("This address is on a private network and cannot be called."))
    return str(addresses[0])


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # ASCII, no brackets
    port: int
    path: str  # path and query
    host_header: str


def parse_url(url) -> Target:
    """The parts of an http(s) URL without credentials, or OutboundRefused."""
    if not isinstance(url, str) or len(url) > MAX_URL:
        raise OutboundRefused(_("Give a URL of at most 2000 characters."))
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise OutboundRefused(_("Give an http:// or https:// URL.")) from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise OutboundRefused(_("Give an http:// or https:// URL."))
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise OutboundRefused(_("Do not put credentials in the URL; verify the signature header instead."))
    host = _ascii_host(parts.hostname)
    bracketed = f"[{host}]" if ":" in host else host
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default = 443 if parts.scheme == "https" else 80
    return Target(
        scheme=parts.scheme,
        host=host,
        port=port or default,
        path=path,
        host_header=bracketed if port is None else f"{bracketed}:{port}",
    )


def connection_for(target: Target, address: str, *, connect_timeout: float, ca_certs: str | None = None):
    """A connection to `address` that speaks to `target.host`: TLS with its name as SNI and its certificate checked
    against that name."""
    if target.scheme == "https":
        return HTTPSConnection(
            address,
            target.port,
            timeout=connect_timeout,
            cert_reqs=ssl.CERT_REQUIRED,
            ca_certs=ca_certs or certifi.where(),
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    return HTTPConnection(address, target.port, timeout=connect_timeout)


def guarded_request(
    method: str,
    url: str,
    *,
    allow_private: bool,
    timeout: float | tuple[float, float] = (5, 10),
    total: float | None = None,
    max_bytes: int = 1024 * 1024,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
    ca_certs: str | None = None,
) -> OutboundResponse:
    """Make one call (see the module's docstring). `timeout` is (connect, read per wait) in seconds; `total` caps
    the whole call (default: their sum). Raises an OutboundError subclass; a 3xx is returned, not followed."""
    connect_timeout, read_timeout = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    total = connect_timeout + read_timeout if total is None else total
    started = time.monotonic()
    target = parse_url(url)
    address = check_host(target.host, target.port, allow_private=allow_private)
    connection = connection_for(target, address, connect_timeout=min(connect_timeout, total), ca_certs=ca_certs)
    sent_headers = {key: value for key, value in (headers or {}).items() if key.lower() != "host"}
    sent_headers["Host"] = target.host_header
    sent_headers.setdefault("Accept-Encoding", "identity")  # the size cap counts the bytes we would keep
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        sock = getattr(connection, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    watchdog = threading.Timer(max(total - (time.monotonic() - started), 0), cut)
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.connect()
        connection.timeout = read_timeout
        connection.request(method, target.path, body=data, headers=sent_headers, preload_content=False)
        response = connection.getresponse()
        chunks, size, truncated = [], 0, False
        while True:
            chunk = response.read1(min(64 * 1024, max_bytes - size + 1), decode_content=False)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                truncated = True
                break
            if expired.is_set():
                break
        if expired.is_set():
            raise OutboundTimeout(_("No complete answer within %(seconds)s seconds.") % {"seconds": total})
        content = b"".join(chunks)[:max_bytes]
        return OutboundResponse(
            status_code=response.status,
            headers=response.headers,
            content=content,
            truncated=truncated,
            address=address,
        )
    except OutboundError:
        raise
    except urllib3.exceptions.NewConnectionError as exc:  # a subclass of urllib3's ConnectTimeoutError
        raise OutboundConnectionError(f"{type(exc).__name__}: {exc}") from None
    except (TimeoutError, urllib3.exceptions.TimeoutError) as exc:
        raise OutboundTimeout(_("No answer in time: %(error)s") % {"error": exc}) from None
    except (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError, ValueError) as exc:
        if expired.is_set():
            raise OutboundTimeout(_("No complete answer within %(seconds)s seconds.") % {"seconds": total}) from None
        raise OutboundConnectionError(f"{type(exc).__name__}: {exc}") from None
    finally:
        watchdog.cancel()
        connection.close()


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        key, _sep, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            try:
                "".encode(value.strip('"'))
                return value.strip('"')
            except LookupError:
                break
    return "utf-8"
