"""IMAP IDLE (RFC 2177) for the mailbox watcher, on imaplib (which has no idle() before Python 3.14).

The IDLE exchange: the client sends `<tag> IDLE`, the server answers with a continuation (`+ idling`) and from then on
sends untagged responses as the mailbox changes (`* 5 EXISTS` when a mail arrives); the client ends it with `DONE`
and the server answers `<tag> OK`. A server may log off a client that idled past its inactivity timer (at least 30
minutes, RFC 3501 §5.4), so a client re-issues IDLE at least every 29 minutes.

imaplib reads through a buffered socket file that cannot say whether a response is waiting without blocking (and
that is unusable after one read timeout). The classes here read through their own buffer instead, with imaplib's
documented `read`/`readline` hooks, so `waiting()` can wait for the server *or* the watcher's wake-up socket with
select(); every read and write of a connection stays in one thread (an SSL connection may not be shared)."""

from __future__ import annotations

import imaplib
import itertools
import re
import select
import socket
import ssl
import time
from collections.abc import Callable

from channels_integrations.providers.email import clients

# RFC 2177 §3: "clients using IDLE are advised to terminate the IDLE and re-issue it at least every 29 minutes".
RENEW_SECONDS = 29 * 60

_EXISTS = re.compile(rb"\* (\d+) EXISTS\b", re.IGNORECASE)
_EXPUNGE = re.compile(rb"\* (\d+) EXPUNGE\b", re.IGNORECASE)
_BYE = re.compile(rb"\* BYE\b", re.IGNORECASE)
_LITERAL = re.compile(rb"\{(\d+)\}\r?\n\Z")
_MAX_LINE = 1_000_000  # as imaplib: a server sending more without a line break is broken


class IdleError(Exception):
    """The connection broke or the server ended it (BYE, a refused or failed IDLE): connect again later."""


class _OwnBuffer:
    """imaplib reading through a buffer of its own instead of a socket file (see the module's docstring)."""

    def open(self, *args, **kwargs):
        self._inbox = bytearray()
        super().open(*args, **kwargs)

    def readline(self) -> bytes:
        while (end := self._inbox.find(b"\n")) < 0:
            if len(self._inbox) > _MAX_LINE:
                raise self.error(f"got more than {_MAX_LINE} bytes without a line break")
            chunk = self.sock.recv(65536)
            if not chunk:  # end of stream: what is left (imaplib treats b"" as EOF)
                end = len(self._inbox) - 1
                break
            self._inbox += chunk
        line = bytes(self._inbox[: end + 1])
        del self._inbox[: end + 1]
        return line

    def read(self, size: int) -> bytes:
        while len(self._inbox) < size:
            chunk = self.sock.recv(max(65536, size - len(self._inbox)))
            if not chunk:
                break
            self._inbox += chunk
        data = bytes(self._inbox[:size])
        del self._inbox[:size]
        return data

    def waiting(self, timeout: float, wake: socket.socket | None = None) -> str | None:
        """ "server" when a response can be read, "wake" when the wake-up socket is readable, None after `timeout`."""
        if self._inbox or (isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()):
            return "server"
        readable, _w, _x = select.select([self.sock] if wake is None else [self.sock, wake], [], [], max(0, timeout))
        if self.sock in readable:
            return "server"
        return "wake" if readable else None


class IMAP4(_OwnBuffer, clients.IMAP4):
    pass


class IMAP4_SSL(_OwnBuffer, clients.IMAP4_SSL):  # noqa: N801 (imaplib's name)
    pass


class IdleSession:
    """A logged-in connection (one of the classes above) with the folder open read-only. Whether the server offers
    IDLE is `supported`; `idle()` runs one IDLE command."""

    def __init__(self, imap: IMAP4):
        self.imap = imap
        # Servers may announce more once logged in (RFC 3501 §6.2.3), so ask again rather than trust the greeting.
        status, data = imap.capability()
        words = data[-1] if status == "OK" and data and data[-1] else " ".join(imap.capabilities).encode()
        self.capabilities = frozenset(words.decode("ascii", "replace").upper().split())
        self.exists = int((imap.untagged_responses.get("EXISTS") or [b"0"])[-1] or 0)  # from SELECT/EXAMINE
        self._tags = itertools.count(1)
        _keep_alive(imap.sock)

    @property
    def supported(self) -> bool:
        return "IDLE" in self.capabilities

    def idle(
        self,
        *,
        seconds: float,
        on_new_mail: Callable[[int], None],
        on_idling: Callable[[], None] | None = None,
        wake: socket.socket | None = None,
    ) -> bool:
        """One IDLE command: start it (`on_idling` once the server accepted it), call `on_new_mail(count)` whenever
        the server reports that the mailbox grew, and after `seconds` — or as soon as `wake` is readable — end it
        with DONE and read the server's OK. True when woken. Raises IdleError when the connection fails."""
        # imaplib's tags are four letters A-P and a number: one with a W never collides.
        tag = b"W%d" % next(self._tags)
        self._send(tag + b" IDLE\r\n")
        while not (line := self._line()).startswith(b"+"):
            if line.startswith(tag + b" "):
                raise IdleError(f"the server refused IDLE: {_text(line)}")
            self._untagged(line, on_new_mail)
        if on_idling is not None:
            on_idling()
        woken = False
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            ready = self._waiting(remaining, wake)
            if ready is None:
                break
            if ready == "wake":
                woken = True
                break
            grew = self._untagged(self._line())
            while self._waiting(0) == "server":  # a burst of responses: one check for all of them
                grew = self._untagged(self._line()) or grew
            if grew:
                on_new_mail(self.exists)
        self._send(b"DONE\r\n")
        while not (line := self._line()).startswith(tag + b" "):
            self._untagged(line, on_new_mail)
        if not line[len(tag) + 1 :].upper().startswith(b"OK"):
            raise IdleError(f"IDLE ended with {_text(line)}")
        return woken

    def close(self, *, logout: bool) -> None:
        """LOGOUT (a clean end), or just close the socket of a connection that broke."""
        try:
            if logout:
                self.imap.logout()
            else:
                self.imap.shutdown()
        except (OSError, imaplib.IMAP4.error):
            pass

    # --- reading --------------------------------------------------------------------------------------------------
    def _send(self, data: bytes) -> None:
        try:
            self.imap.send(data)
        except OSError as exc:
            raise IdleError(f"the connection failed: {exc}") from exc

    def _waiting(self, timeout: float, wake: socket.socket | None = None) -> str | None:
        try:
            return self.imap.waiting(timeout, wake)
        except (OSError, ValueError) as exc:  # ValueError: select() on a socket already closed
            raise IdleError(f"the connection failed: {exc}") from exc

    def _line(self) -> bytes:
        """One response line, its literals ({n} followed by n bytes) included."""
        try:
            line = self.imap.readline()
            while literal := _LITERAL.search(line):
                line += self.imap.read(int(literal.group(1))) + self.imap.readline()
        except (OSError, imaplib.IMAP4.error) as exc:  # TimeoutError too: the server stopped mid-response
            raise IdleError(f"the connection failed: {exc}") from exc
        if not line.endswith(b"\n"):
            raise IdleError("the server closed the connection")
        return line

    def _untagged(self, line: bytes, on_new_mail: Callable[[int], None] | None = None) -> bool:
        """Follow the message count; True when it grew (and then `on_new_mail`, if given, is told)."""
        if _BYE.match(line):
            raise IdleError(f"the server ended the connection: {_text(line)}")
        if exists := _EXISTS.match(line):
            count, before = int(exists.group(1)), self.exists
            self.exists = count
            if count > before:
                if on_new_mail is not None:
                    on_new_mail(count)
                return True
        elif _EXPUNGE.match(line):
            self.exists = max(0, self.exists - 1)
        return False


def _keep_alive(sock: socket.socket) -> None:
    """TCP keepalive, so a connection that died silently (a NAT forgetting it, a server gone) fails within minutes
    instead of at the next renewal."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 20), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


def _text(line: bytes) -> str:
    return line.decode("utf-8", "replace").strip()
