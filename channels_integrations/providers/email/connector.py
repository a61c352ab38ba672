"""Email: a mailbox polled over IMAP (UID cursor, UIDVALIDITY changes handled), replies over SMTP that thread in
the customer's mail client, and a per-connection inbound endpoint taking raw MIME (for providers' inbound parse).
Parsing lives in mime.py."""

import hmac
import imaplib
import logging
import re
import smtplib
import socket
import ssl
from contextlib import contextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from typing import ClassVar

from django.conf import settings
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels_integrations.connector import (
    AuthFailed,
    Connector,
    MalformedPayload,
    OutboundMessage,
    PolledEvent,
    PollResult,
    ReplyContext,
    ReplyLimits,
    SendRejected,
    SendResult,
    TransientError,
    WebhookDelivery,
    WebhookRejected,
)
from channels_integrations.inbound import DeliveryUpdate, InboundAttachment, InboundMessage
from channels_integrations.providers.email import authentication, clients, japanese, mime
from core import crypto
from core.outbound_http import OutboundError, OutboundRefused

logger = logging.getLogger("tsunagu.email")

BATCH = 50
REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|返信)\s*[:：]", re.IGNORECASE)


# Inbound tokens by the encrypted credentials they were read from: decrypting them was a tenth of the inbound
# endpoint's work per mail. Keyed by the ciphertext, so a new token (new ciphertext) is read at once; bounded, and
# started afresh when full, so memory does not grow with the number of mailboxes.
_tokens: dict[str, str] = {}
TOKENS_MAX_ENTRIES = 10_000


def _inbound_token(credentials_encrypted: str) -> str:
    token = _tokens.get(credentials_encrypted)
    if token is None:
        token = crypto.decrypt_json(credentials_encrypted).get("inbound_token", "")
        if len(_tokens) >= TOKENS_MAX_ENTRIES:
            _tokens.clear()
        _tokens[credentials_encrypted] = token
    return token


class EmailConnector(Connector):
    platform = "email"
    label = gettext_lazy("Email")
    connect_form = "channels_integrations.providers.email.connect.MailboxForm"
    connect_label = gettext_lazy("Connect a mailbox")
    receives_webhooks = True
    polls = True
    poll_interval_seconds = 60
    idempotent_send = True  # the same Message-ID on a resend: mail clients show it once
    can_initiate = True  # mail reaches any address; the customer's answer threads back by our Message-ID

    # --- the inbound endpoint -------------------------------------------------------------------------------------
    def handshake(self, request, connection):
        raise WebhookRejected("this endpoint takes POSTed raw MIME", status=405)

    def verify_webhook(self, request, connection):
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("bearer "):
            raise WebhookRejected("Authorization: Bearer <token> is missing", status=401)
        expected = _inbound_token(connection.credentials_encrypted)
        if not expected or not hmac.compare_digest(header[7:].strip().encode(), expected.encode()):
            raise WebhookRejected("wrong inbound token", status=403)

    def split_webhook(self, body):
        if not body.strip():
            raise MalformedPayload("the body is empty; POST one raw MIME message")
        headers = mime.parse_headers(body)
        if not mime.looks_like_mail(headers):
            raise MalformedPayload("not a mail message (no From or Message-ID header)")
        # No DNS on the webhook path: the mail is stored marked unchecked (see authentication.stamp_unchecked).
        payload = authentication.stamp_unchecked(body)
        return [WebhookDelivery(account_id="", event_key=_event_key(headers, body), payload=payload)]

    # --- parsing --------------------------------------------------------------------------------------------------
    def parse_event(self, payload, *, account_id):
        mail = mime.parse_message(payload)
        if not mail.headers_found:
            raise MalformedPayload("not a mail message")
        if mail.report_type == "delivery-status" or mail.delivery is not None:
            report = mail.delivery
            if report is None or not report.failed or not report.original_message_id:
                logger.info("delivery report without a failure we can match (%s)", mail.message_id)
                return []
            return [
                DeliveryUpdate(
                    platform_message_id=mime.platform_id(report.original_message_id),
                    state="failed",
                    error=report.error or _("The mail bounced."),
                    timestamp=mail.date,
                )
            ]
        if mail.report_type:
            logger.info("%s report %s ignored", mail.report_type, mail.message_id)
            return []
        if mail.auto_reply:
            logger.info("automatic mail %s ignored: %s", mail.message_id, mail.auto_reply)
            return []
        if account_id and mail.from_address.lower() == account_id.lower():
            return []  # our own mail coming back: never a customer message (no loops)
        checked = authentication.Authentication.from_header(payload)  # recorded on receipt (poll)
        message_id = (
            mime.platform_id(mail.message_id)
            if mail.message_id
            else mime.content_hash(authentication.unstamped(payload))
        )
        return [
            InboundMessage(
                platform_message_id=message_id,
                thread_key=mime.platform_id(mail.thread_root) if mail.message_id or mail.thread_hints else message_id,
                thread_hints=tuple(mime.platform_id(h) for h in mail.thread_hints),
                kind="email",
                author_id=mail.from_address.lower(),
                author_name=mail.from_name,
                author_email=mail.from_address.lower(),
                subject=mail.subject,
                sender_authentication=checked.as_dict() if checked else None,
                text=mail.text or mail.full_text,
                html=mail.html,
                timestamp=mail.date,
                attachments=tuple(
                    InboundAttachment(
                        filename=a.filename, content_type=a.content_type, content=a.content, size=len(a.content)
                    )
                    for a in mail.attachments
                ),
            )
        ]

    # --- IMAP -----------------------------------------------------------------------------------------------------
    # The client classes (clients.py: every connection through the outbound guard); the watcher's read differently.
    imap_classes: ClassVar[tuple[type[imaplib.IMAP4], type[imaplib.IMAP4_SSL]]] = (clients.IMAP4, clients.IMAP4_SSL)
    # TXT lookups for DKIM keys and DMARC policies (public DNS; tests hand in a table).
    dns_txt: ClassVar[authentication.Resolver] = staticmethod(authentication.dns_txt)

    def _imap(self, config: dict) -> imaplib.IMAP4:
        host, port, security = config["imap_host"], int(config["imap_port"]), config.get("imap_security", "ssl")
        timeout = settings.PLATFORM_HTTP_TIMEOUT[1]
        plain, tls = self.imap_classes
        if security == "ssl":
            return tls(host, port, ssl_context=ssl.create_default_context(), timeout=timeout)
        imap = plain(host, port, timeout=timeout)
        if security == "starttls":
            try:
                imap.starttls(ssl_context=ssl.create_default_context())
            except BaseException:
                _logout(imap)
                raise
        return imap

    def _open_folder(self, connection) -> imaplib.IMAP4:
        """Log in and open the folder read-only; the caller logs out. Errors are categories an admin can act on,
        never the server's own words (a tenant chooses the server: its text could be anything's banner)."""
        config, credentials = connection.config, connection.credentials
        host, port = config["imap_host"], config["imap_port"]
        try:
            imap = self._imap(config)
        except OutboundError as exc:
            raise _guard_error(exc, host) from exc
        except (OSError, imaplib.IMAP4.error) as exc:
            raise TransientError(_unreachable(exc, host, port, protocol="IMAP")) from exc
        try:
            imap.login(config.get("username") or connection.external_account_id, credentials.get("password", ""))
        except imaplib.IMAP4.error as exc:
            _logout(imap)
            logger.info("IMAP login to %s:%s refused: %s", host, port, _text(exc))
            raise AuthFailed(_("The mail server refused the login. Check the user name and password.")) from exc
        except OSError as exc:
            _logout(imap)
            raise TransientError(_unreachable(exc, host, port, protocol="IMAP")) from exc
        status, data = imap.select(_quote(config.get("imap_folder") or "INBOX"), readonly=True)
        if status != "OK":
            _logout(imap)
            logger.info("IMAP folder on %s:%s not opened: %s", host, port, _text(data))
            raise TransientError(_("The folder could not be opened. Check its name."))
        return imap

    def on_connect(self, connection) -> None:
        """An admin saved the mailbox form: prove the IMAP login and folder, and the SMTP login, before it counts
        as connected (the form shows what the server answered)."""
        _logout(self._open_folder(connection))
        with self._smtp(connection):
            pass

    def poll(self, connection, cursor):
        imap = self._open_folder(connection)
        try:
            validity = int((imap.untagged_responses.get("UIDVALIDITY") or [b"0"])[0])
            last = int(cursor.get("last_uid", 0)) if int(cursor.get("uidvalidity", validity)) == validity else 0
            status, data = imap.uid("SEARCH", None, f"UID {last + 1}:*")
            uids = sorted(int(u) for u in (data[0] or b"").split() if int(u) > last)
            batch, more = uids[:BATCH], len(uids) > BATCH
            events = []
            trusted = connection.config.get("trusted_authserv_ids") or []
            resolver = authentication.BoundedResolver(type(self).dns_txt)
            for uid in batch:
                status, parts = imap.uid("FETCH", str(uid), "(BODY.PEEK[])")
                raw = next((p[1] for p in parts if isinstance(p, tuple)), None)
                if status != "OK" or raw is None:
                    raise TransientError(_("The mail server did not return message %(uid)s.") % {"uid": uid})
                events.append(
                    PolledEvent(
                        event_key=_event_key(mime.parse_headers(raw), raw, f"uid:{validity}:{uid}"),
                        # The sender checked now, once: parsing stays pure and a retried event reads the same result.
                        payload=authentication.stamp(raw, trusted_hosts=trusted, resolver=resolver),
                    )
                )
            return PollResult(
                events=events, cursor={"uidvalidity": validity, "last_uid": batch[-1] if batch else last}, more=more
            )
        except (OSError, imaplib.IMAP4.abort) as exc:
            raise TransientError(
                _unreachable(exc, connection.config["imap_host"], connection.config["imap_port"], protocol="IMAP")
            ) from exc
        finally:
            _logout(imap)

    # --- SMTP -----------------------------------------------------------------------------------------------------
    def reply_limits(self, connection, context: ReplyContext) -> ReplyLimits:
        return ReplyLimits(
            max_length=None,
            attachment_types=("*/*",),
            max_attachment_bytes=25 * 1024 * 1024,
            notes=(
                _("Email: the reply goes to the customer's address and threads under their mail; files up to 25 MB."),
            ),
        )

    def build(self, connection, outbound: OutboundMessage) -> EmailMessage:
        config = connection.config
        address = config.get("address") or connection.external_account_id
        message = EmailMessage()
        message["From"] = formataddr((outbound.sender_name or config.get("from_name", ""), address))
        message["To"] = formataddr((outbound.recipient_name, outbound.recipient_email or outbound.recipient_id))
        subject = outbound.subject or _("Your inquiry")
        # "Re:" only on an answer: the first mail of a conversation an agent starts answers nothing.
        answers = outbound.reply_to_platform_id or outbound.references
        subject = f"Re: {subject}" if answers and not REPLY_PREFIX.match(subject) else subject
        # ISO-2022-JP only where the mailbox asks for it and every character fits (else UTF-8, logged).
        files = [file.filename for file in outbound.attachments]
        iso2022jp = japanese.use_iso2022jp(config, [subject, outbound.text, *files])
        if iso2022jp:
            japanese.set_header(message, "Subject", subject)
            japanese.set_names(message)
        else:
            message["Subject"] = subject
        # RFC 5322 §3.3: "-0000" would claim the zone is unknown; the time is UTC and says so.
        message["Date"] = format_datetime(datetime.now(UTC))
        domain = address.rpartition("@")[2] or "tsunagu.invalid"
        message["Message-ID"] = f"<{outbound.local_ref}@{domain}>" if outbound.local_ref else make_msgid(domain=domain)
        if outbound.automated:
            # RFC 3834 §5: an automatic response says so, so other responders do not answer it (mail loops).
            message["Auto-Submitted"] = "auto-replied"
        ids = [i for i in outbound.references if i.startswith("<")]
        parent = outbound.reply_to_platform_id
        if parent.startswith("<"):
            message["In-Reply-To"] = parent
            if parent not in ids:
                ids.append(parent)
        if ids:
            # Trimming a long chain keeps the thread's first id (clients thread on it) and the most recent ones.
            message["References"] = " ".join(ids if len(ids) <= 20 else [ids[0], *ids[-19:]])
        html = f"<p>{escape(outbound.text).replace(chr(10), '<br>')}</p>"
        if iso2022jp:
            japanese.set_bodies(message, outbound.text, html)
        else:
            # 7-bit clean bodies (base64 UTF-8): an 8bit body is only allowed to servers announcing 8BITMIME
            # (RFC 6152), which smtplib does not check; Japanese mail clients all read UTF-8 in base64.
            message.set_content(outbound.text, cte="base64")
            message.add_alternative(html, subtype="html", cte="base64")
        for file in outbound.attachments:
            maintype, _slash, subtype = file.content_type.partition("/")
            message.add_attachment(
                file.content,
                maintype=maintype or "application",
                subtype=subtype or "octet-stream",
                filename=file.filename,
            )
            if iso2022jp:
                japanese.set_attachment_name(message.get_payload()[-1], file.filename)
        return message

    @contextmanager
    def _smtp(self, connection):
        """A logged-in SMTP session; errors become connector errors. Until the login succeeds they are categories,
        never the server's words (a tenant chooses the server); a logged-in server's answer about a message (a
        refused address) is shown as it said it."""
        config, credentials = connection.config, connection.credentials
        if not config.get("smtp_host") or not str(config.get("smtp_port", "")).isdigit():
            # A connection stored without its outgoing server (an import, the API): the admin must finish it.
            raise AuthFailed(_("This mailbox has no outgoing (SMTP) server. Set one on the channel's page."))
        host, port, security = config["smtp_host"], int(config["smtp_port"]), config.get("smtp_security", "starttls")
        timeout = settings.PLATFORM_HTTP_TIMEOUT[1]
        try:
            smtp = (
                clients.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
                if security == "ssl"
                else clients.SMTP(host, port, timeout=timeout)
            )
        except OutboundError as exc:
            raise _guard_error(exc, host) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientError(_unreachable(exc, host, port, protocol="SMTP")) from exc
        try:
            with smtp:
                try:
                    if security == "starttls":
                        smtp.starttls(context=ssl.create_default_context())
                    if credentials.get("password"):
                        smtp.login(config.get("username") or connection.external_account_id, credentials["password"])
                except smtplib.SMTPAuthenticationError as exc:
                    logger.info("SMTP login to %s:%s refused: %s", host, port, _text(exc.smtp_error))
                    raise AuthFailed(_("The mail server refused the login. Check the user name and password.")) from exc
                except (smtplib.SMTPException, OSError) as exc:
                    raise TransientError(_unreachable(exc, host, port, protocol="SMTP")) from exc
                try:
                    yield smtp
                except smtplib.SMTPRecipientsRefused as exc:
                    code, reply = next(iter(exc.recipients.values()))
                    if 400 <= code < 500:
                        raise TransientError(_text(reply)) from exc
                    raise SendRejected(
                        _("The mail server refused the address: %(error)s") % {"error": _text(reply)}, code=str(code)
                    ) from exc
                except smtplib.SMTPResponseException as exc:
                    if 400 <= exc.smtp_code < 500:
                        raise TransientError(_text(exc.smtp_error), code=str(exc.smtp_code)) from exc
                    raise SendRejected(_text(exc.smtp_error), code=str(exc.smtp_code)) from exc
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:  # the exchange or QUIT broke
            raise TransientError(_unreachable(exc, host, port, protocol="SMTP")) from exc

    def send(self, connection, outbound: OutboundMessage) -> SendResult:
        message = self.build(connection, outbound)
        with self._smtp(connection) as smtp:
            smtp.send_message(message)
        return SendResult(platform_message_id=message["Message-ID"])


def _event_key(headers, raw: bytes, fallback: str = "") -> str:
    message_id = mime.first_id(mime.raw_header(headers, "Message-ID"))
    if message_id:
        return "msgid:" + mime.platform_id(message_id)[:190]
    return fallback or mime.content_hash(raw)


def _guard_error(exc: OutboundError, host: str):
    """The outbound guard's refusal as a connector error: a private address will not become public by waiting."""
    logger.info("mail server %s refused by the outbound guard: %s", host, exc)
    if isinstance(exc, OutboundRefused):
        return AuthFailed(_("%(host)s is on a private network; a mailbox's servers must be public.") % {"host": host})
    return TransientError(_("The server name %(host)s was not found. Check its spelling.") % {"host": host})


def _unreachable(exc: Exception, host: str, port, *, protocol: str) -> str:
    """Why a mail server could not be reached, in words an admin can act on (not `[Errno -2] Name or service not
    known`), and never the other side's text; the technical detail stays in the log."""
    logger.info("mail server %s:%s unreachable: %r", host, port, exc)
    if isinstance(exc, socket.gaierror):
        return _("The server name %(host)s was not found. Check its spelling.") % {"host": host}
    if isinstance(exc, ConnectionRefusedError):
        return _("%(host)s refused the connection on port %(port)s. Check the port.") % {"host": host, "port": port}
    if isinstance(exc, TimeoutError | socket.timeout):
        return _("%(host)s did not answer in time. Check the server name and port.") % {"host": host}
    if isinstance(exc, ssl.SSLError):
        return _("The secure connection to %(host)s failed. Check the security setting (SSL/TLS or STARTTLS).") % {
            "host": host
        }
    if isinstance(exc, imaplib.IMAP4.error | smtplib.SMTPException):
        return _("%(host)s did not answer as an %(protocol)s server on port %(port)s. Check the port.") % {
            "host": host,
            "protocol": protocol,
            "port": port,
        }
    return _("The mail server %(host)s could not be reached.") % {"host": host}


def _logout(imap: imaplib.IMAP4) -> None:
    try:
        imap.logout()
    except (OSError, imaplib.IMAP4.error):
        pass


def _quote(folder: str) -> str:
    return folder if folder.isalnum() else '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list | tuple):
        return " ".join(_text(v) for v in value)
    return str(value)
