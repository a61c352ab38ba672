"""The IMAP and SMTP client classes every mailbox connection uses: the server a tenant typed in goes through the
outbound guard (core.outbound_http.check_host) — resolved once, refused on a private network outside development
(`OUTBOUND_ALLOW_PRIVATE`) — and the socket goes to exactly the address that was checked, never resolved again. TLS
still names the host (SNI and the certificate check), here and in STARTTLS."""

import imaplib
import smtplib
import socket

from django.conf import settings

from core.outbound_http import check_host


def guarded_socket(host: str, port: int, timeout: float | None) -> socket.socket:
    """A TCP connection to the one checked address of `host`; OutboundRefused / OutboundUnresolved otherwise."""
    address = check_host(host, port, allow_private=settings.OUTBOUND_ALLOW_PRIVATE)
    return socket.create_connection((address, port), timeout)


class IMAP4(imaplib.IMAP4):
    def _create_socket(self, timeout):
        if timeout is not None and not timeout:
            raise ValueError("Non-blocking socket (timeout=0) is not supported")
        return guarded_socket(self.host, self.port, timeout)


class IMAP4_SSL(imaplib.IMAP4_SSL):  # noqa: N801 (imaplib's name)
    def _create_socket(self, timeout):
        if timeout is not None and not timeout:
            raise ValueError("Non-blocking socket (timeout=0) is not supported")
        return self.ssl_context.wrap_socket(guarded_socket(self.host, self.port, timeout), server_hostname=self.host)


class SMTP(smtplib.SMTP):
    def _get_socket(self, host, port, timeout):
        if timeout is not None and not timeout:
            raise ValueError("Non-blocking socket (timeout=0) is not supported")
        return guarded_socket(host, port, timeout)


class SMTP_SSL(smtplib.SMTP_SSL):  # noqa: N801 (smtplib's name)
    def _get_socket(self, host, port, timeout):
        if timeout is not None and not timeout:
            raise ValueError("Non-blocking socket (timeout=0) is not supported")
        return self.context.wrap_socket(guarded_socket(host, port, timeout), server_hostname=self._host)
