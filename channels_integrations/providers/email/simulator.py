"""The mail part of the platform simulator: a small IMAP4rev1 server (what imaplib needs: LOGIN, SELECT/EXAMINE,
UID SEARCH, UID FETCH, NOOP, LOGOUT, and IDLE per RFC 2177 so the mailbox watcher hears of new mail at once) and an
SMTP server (aiosmtpd) that records what Tsunagu sends, on loopback ports without TLS. Customers' mails are real
MIME (ISO-2022-JP on request), appended to a mailbox for the poller or POSTed raw to Tsunagu's inbound endpoint."""

from __future__ import annotations

import html
import random
import re
import socket
import socketserver
import threading
import time
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, make_msgid

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from channels_integrations.simulator.core import Request, Response, SimulatorPart

NAMES = {
    "ja": [("松本 由紀", "yuki.matsumoto"), ("井上 翔", "sho.inoue"), ("木村 恵", "megumi.kimura")],
    "en": [("Sarah Miller", "sarah.miller"), ("James Lee", "james.lee")],
}


def _free_port(host: str) -> int:
    # aiosmtpd's Controller connects to its own port to check it started, so it cannot be given port 0.
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class Mailbox:
    def __init__(self, address: str, username: str, password: str):
        self.address, self.username, self.password = address, username, password
        self.uidvalidity = int(time.time()) % 100000 + 1
        self.messages: list[tuple[int, bytes]] = []
        self.next_uid = 1

    def append(self, raw: bytes) -> int:
        uid = self.next_uid
        self.messages.append((uid, raw))
        self.next_uid += 1
        return uid


class EmailSimulator(SimulatorPart):
    name = "email"

    def __init__(self, sim):
        super().__init__(sim)
        self.mailboxes: dict[str, Mailbox] = {}  # by username
        self.outbox: list[dict] = []
        self.fail_rcpt: str = ""  # e.g. "550 5.1.1 User unknown" for the next RCPT
        # IMAP IDLE (RFC 2177) is advertised and served; tests turn it off to play a server without it.
        self.idle = True
        # RFC 3501 §5.4: an inactivity autologout timer, if any, is at least 30 minutes; RFC 2177 lets a server end an
        # IDLE after it (clients re-issue IDLE within 29 minutes). Tests shorten it.
        self.autologout_seconds: float = 30 * 60
        self.sessions: set[ImapSession] = set()  # open IMAP connections (guarded by sim.lock)
        self.logins = self.logouts = self.idles = 0  # LOGINs accepted, LOGOUTs, IDLE commands started
        self.imap_port = self.smtp_port = 0
        self._imap = None
        self._smtp = None

    # --- lifecycle ------------------------------------------------------------------------------------------------
    def start(self) -> None:
        part = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                self.connection.settimeout(part.autologout_seconds)
                session = ImapSession(part, self.rfile, self.wfile, self.connection)
                with part.sim.lock:
                    part.sessions.add(session)
                try:
                    session.run()
                except OSError:  # the client went away, or the autologout timer ran out (answered in run)
                    pass
                finally:
                    with part.sim.lock:
                        part.sessions.discard(session)

        self._imap = socketserver.ThreadingTCPServer((self.sim.host, 0), Handler)
        self._imap.daemon_threads = True
        self.imap_port = self._imap.server_address[1]
        threading.Thread(target=self._imap.serve_forever, name="simulator-imap", daemon=True).start()
        self._smtp = Controller(
            SmtpHandler(self),
            hostname=self.sim.host,
            port=_free_port(self.sim.host),
            authenticator=self._authenticate,
            auth_require_tls=False,
            auth_required=False,
        )
        self._smtp.start()
        self.smtp_port = self._smtp.port

    def stop(self) -> None:
        if self._imap is not None:
            self._imap.shutdown()
            self._imap.server_close()
        if self._smtp is not None:
            self._smtp.stop()

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            box = self.mailboxes.get(auth_data.login.decode())
            if box and box.password == auth_data.password.decode():
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    # --- operator / tests -----------------------------------------------------------------------------------------
    def add_mailbox(self, address: str, username: str, password: str) -> Mailbox:
        with self.sim.lock:
            box = self.mailboxes.get(username)
            if box is None:
                box = self.mailboxes[username] = Mailbox(address, username, password)
            box.password = password
            return box

    def _box_for(self, address: str) -> Mailbox | None:
        return next((b for b in self.mailboxes.values() if b.address.lower() == address.lower()), None)

    def bump_uidvalidity(self, address: str) -> None:
        with self.sim.lock:
            box = self._box_for(address)
            box.uidvalidity += 1
            box.messages = [(i + 1, raw) for i, (_uid, raw) in enumerate(box.messages)]
            box.next_uid = len(box.messages) + 1

    def build(
        self,
        *,
        to: str,
        from_addr: str,
        from_name: str,
        subject: str,
        text: str,
        charset: str = "utf-8",
        in_reply_to: str | None = None,
        references: tuple = (),
        html_body: str | None = None,
        attachments: tuple = (),
        headers: dict | None = None,
    ) -> bytes:
        body = MIMEText(text, "plain", charset)
        if html_body or attachments:
            message = MIMEMultipart("mixed")
            if html_body:
                alternative = MIMEMultipart("alternative")
                alternative.attach(body)
                alternative.attach(MIMEText(html_body, "html", charset))
                message.attach(alternative)
            else:
                message.attach(body)
            for filename, content_type, content in attachments:
                part = MIMEApplication(content, _subtype=content_type.split("/")[-1])
                part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", filename))
                message.attach(part)
        else:
            message = body
        message["Subject"] = Header(subject, charset)
        message["From"] = formataddr((str(Header(from_name, charset)), from_addr)) if from_name else from_addr
        message["To"] = to
        message["Date"] = formatdate()
        message["Message-ID"] = make_msgid(domain=from_addr.rpartition("@")[2] or "example.jp")
        if in_reply_to:
            message["In-Reply-To"] = in_reply_to
            message["References"] = " ".join(
                [*references, in_reply_to] if in_reply_to not in references else references
            )
        for name, value in (headers or {}).items():
            message[name] = value
        return message.as_bytes()

    def customer_email(
        self,
        *,
        to: str,
        from_addr: str,
        from_name: str = "",
        subject: str = "",
        text: str = "",
        charset: str = "utf-8",
        deliver: str = "imap",
        inbound_path: str | None = None,
        token: str | None = None,
        **extra,
    ) -> bytes:
        raw = self.build(
            to=to, from_addr=from_addr, from_name=from_name, subject=subject, text=text, charset=charset, **extra
        )
        if deliver == "webhook":
            self.sim.deliver(inbound_path, raw, {"Content-Type": "message/rfc822", "Authorization": f"Bearer {token}"})
        else:
            with self.sim.lock:
                box = self._box_for(to)
                if box is None:
                    raise KeyError(f"no mailbox {to}")
                box.append(raw)
            self._mailbox_changed(box)
        return raw

    def _mailbox_changed(self, box: Mailbox) -> None:
        """Tell every connection that has this mailbox selected; those in IDLE push `* n EXISTS` now, the others at
        their next command (RFC 3501 §7.3.1)."""
        with self.sim.lock:
            sessions = [s for s in self.sessions if s.box is box]
        for session in sessions:
            session.mailbox_changed()

    def idling(self, address: str) -> int:
        """How many connections are in IDLE on this mailbox now."""
        with self.sim.lock:
            return sum(1 for s in self.sessions if s.idling and s.box is not None and s.box.address == address)

    def drop_connections(self) -> int:
        """Cut every open IMAP connection without a word (a server restart, a NAT dropping the flow)."""
        with self.sim.lock:
            sessions = list(self.sessions)
        for session in sessions:
            session.drop()
        return len(sessions)

    def auto_reply(self, *, to: str, from_addr: str, subject: str) -> bytes:
        return self.build(
            to=to,
            from_addr=from_addr,
            from_name="",
            subject=f"Automatic reply: {subject}",
            text="I am out of the office until Monday.",
            headers={"Auto-Submitted": "auto-replied"},
        )

    def bounce(self, original_message_id: str, *, recipient: str, to: str, status: str = "5.1.1") -> bytes:
        """A DSN (RFC 3464) from the receiving server saying our message could not be delivered."""
        # Written out by hand: the email package cannot generate a message/delivery-status part from text.
        boundary = f"dsn-{random.randrange(10**12)}"
        raw = (
            f"Subject: Undelivered Mail Returned to Sender\r\n"
            f"From: MAILER-DAEMON@mx.example.jp\r\n"
            f"To: {to}\r\n"
            f"Date: {formatdate()}\r\n"
            f"Message-ID: {make_msgid(domain='mx.example.jp')}\r\n"
            f"Auto-Submitted: auto-replied\r\n"
            f"MIME-Version: 1.0\r\n"
            f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
            f"\r\n"
            f"--{boundary}\r\n"
            f"Content-Type: text/plain; charset=us-ascii\r\n\r\n"
            f"Delivery to {recipient} failed permanently.\r\n"
            f"--{boundary}\r\n"
            f"Content-Type: message/delivery-status\r\n\r\n"
            f"Reporting-MTA: dns; mx.example.jp\r\n\r\n"
            f"Final-Recipient: rfc822; {recipient}\r\n"
            f"Action: failed\r\n"
            f"Status: {status}\r\n"
            f"Diagnostic-Code: smtp; 550 {status} User unknown\r\n"
            f"\r\n--{boundary}\r\n"
            f"Content-Type: text/rfc822-headers\r\n\r\n"
            f"Message-ID: {original_message_id}\r\n"
            f"To: {recipient}\r\n"
            f"From: {to}\r\n"
            f"\r\n--{boundary}--\r\n"
        )
        return raw.encode("ascii")

    def sent(self) -> list[dict]:
        with self.sim.lock:
            return list(self.outbox)

    def trickle(self, text: str, lang: str) -> None:
        if not self.mailboxes:
            return
        box = random.choice(list(self.mailboxes.values()))
        name, local = random.choice(NAMES[lang])
        charset = random.choice(["iso-2022-jp", "utf-8"]) if lang == "ja" else "utf-8"
        subject = text.split("。")[0][:30] if lang == "ja" else text.split(".")[0][:40]
        self.customer_email(
            to=box.address, from_addr=f"{local}@example.jp", from_name=name, subject=subject, text=text, charset=charset
        )

    def state(self) -> dict:
        with self.sim.lock:
            return {
                "ports": {"imap": self.imap_port, "smtp": self.smtp_port},
                "mailboxes": {b.address: len(b.messages) for b in self.mailboxes.values()},
                "imap_sessions": [
                    {"user": s.user.username if s.user else "", "idling": s.idling} for s in self.sessions
                ],
                "imap_commands": {"logins": self.logins, "logouts": self.logouts, "idles": self.idles},
                "sent": [{"to": m["rcpt"], "subject": m["subject"]} for m in self.outbox],
            }

    def reset(self) -> None:
        self.outbox.clear()

    def operator_html(self) -> str:
        options = "".join(f"<option>{html.escape(b.address)}</option>" for b in self.mailboxes.values())
        return (
            '<form method="post" action="/_sim/email/messages"><label>To <select name="to">'
            + options
            + "</select></label>"
            '<label>From name <input name="from_name" value="山田 花子"></label>'
            '<label>From address <input name="from_addr" value="hanako@example.jp"></label>'
            '<label>Subject <input name="subject" value="注文について"></label>'
            '<label>Text <textarea name="text">注文した商品がまだ届いていません。</textarea></label>'
            '<label><input type="checkbox" name="charset" value="iso-2022-jp"> ISO-2022-JP</label>'
            "<button>Send mail</button></form>"
        )

    def routes(self):
        return [
            ("POST", r"/_sim/email/mailboxes", self._op_mailbox),
            ("POST", r"/_sim/email/messages", self._op_message),
        ]

    def _op_mailbox(self, r: Request, m) -> Response:
        p = r.json() or r.form()
        self.add_mailbox(p["address"], p.get("username") or p["address"], p["password"])
        return Response(body={"host": self.sim.host, "imap_port": self.imap_port, "smtp_port": self.smtp_port})

    def _op_message(self, r: Request, m) -> Response:
        p = r.json() or r.form()
        raw = self.customer_email(
            to=p["to"],
            from_addr=p.get("from_addr", "hanako@example.jp"),
            from_name=p.get("from_name", ""),
            subject=p.get("subject", ""),
            text=p.get("text", ""),
            charset=p.get("charset") or "utf-8",
        )
        return Response(body={"bytes": len(raw)})


class SmtpHandler:
    def __init__(self, part: EmailSimulator):
        self.part = part

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.part.fail_rcpt:
            reply, self.part.fail_rcpt = self.part.fail_rcpt, ""
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content or envelope.content
        subject = re.search(rb"^Subject: (.*)$", data, re.MULTILINE | re.IGNORECASE)
        with self.part.sim.lock:
            self.part.outbox.append(
                {
                    "mail_from": envelope.mail_from,
                    "rcpt": list(envelope.rcpt_tos),
                    "data": data,
                    "subject": subject.group(1).decode("ascii", "replace") if subject else "",
                }
            )
        return "250 Message accepted for delivery"


class ImapSession:
    """One IMAP connection: just enough of RFC 3501 for a poller, and IDLE (RFC 2177) for the mailbox watcher."""

    def __init__(self, part: EmailSimulator, rfile, wfile, sock=None):
        self.part, self.rfile, self.wfile, self.sock = part, rfile, wfile, sock
        self.box: Mailbox | None = None
        self.user: Mailbox | None = None
        self.idling = False
        self.reported = 0  # the message count this client was last told (EXISTS)
        self.write_lock = threading.Lock()  # a delivery pushes EXISTS from another thread while the client idles

    def send(self, line: str | bytes) -> None:
        with self.write_lock:
            self.wfile.write((line.encode() if isinstance(line, str) else line) + b"\r\n")

    def capabilities(self) -> str:
        return "IMAP4rev1 AUTH=PLAIN" + (" IDLE" if self.part.idle else "")

    def run(self) -> None:
        self.send(f"* OK [CAPABILITY {self.capabilities()}] Tsunagu simulator IMAP ready")
        while True:
            try:
                line = self.rfile.readline()
            except TimeoutError:
                self.send("* BYE Autologout; idle for too long")
                return
            if not line:
                return
            parts = line.decode("utf-8", "replace").strip().split(" ", 2)
            if len(parts) < 2:
                self.send("* BAD empty command")
                continue
            tag, command, args = parts[0], parts[1].upper(), parts[2] if len(parts) > 2 else ""
            if command == "LOGOUT":
                self.send("* BYE logging out")
                self.send(f"{tag} OK LOGOUT completed")
                with self.part.sim.lock:
                    self.part.logouts += 1
                return
            if command == "IDLE" and self.part.idle:
                if not self.idle(tag, args):
                    return
                continue
            handler = getattr(self, f"cmd_{command}", None)
            if handler is None:
                self.send(f"{tag} BAD unknown command {command}")
                continue
            handler(tag, args)

    # --- IDLE (RFC 2177) ------------------------------------------------------------------------------------------
    def idle(self, tag: str, args: str) -> bool:
        """Wait for "DONE", pushing `* n EXISTS` as mail is delivered meanwhile; False when the connection ended."""
        if args.strip():
            self.send(f"{tag} BAD IDLE takes no arguments")
            return True
        if self.user is None:
            self.send(f"{tag} NO not authenticated")
            return True
        with self.part.sim.lock:
            self.part.idles += 1
        with self.write_lock:
            self.wfile.write(b"+ idling\r\n")
            self.idling = True
            self._report_exists()  # what arrived since the client was last told, at once
        try:
            line = self.rfile.readline()
        except TimeoutError:  # RFC 2177 §3: the server may log off a client idling past its autologout timer
            self.send("* BYE Autologout; idle for too long")
            return False
        finally:
            with self.write_lock:
                self.idling = False
        if not line:
            return False
        if line.strip().upper() != b"DONE":
            self.send(f"{tag} BAD expected DONE")
            return True
        with self.write_lock:
            self._report_exists()
            self.wfile.write(f"{tag} OK IDLE completed\r\n".encode())
        return True

    def mailbox_changed(self) -> None:
        with self.write_lock:
            if self.idling:
                try:
                    self._report_exists()
                except OSError:  # the connection is going away; its own thread notices
                    pass

    def _report_exists(self) -> None:
        """`* n EXISTS` when the selected mailbox grew since the client was last told (call with write_lock)."""
        if self.box is None:
            return
        with self.part.sim.lock:
            count = len(self.box.messages)
        if count > self.reported:  # RFC 3501 §7.3.1: never a smaller count without EXPUNGE (nothing is expunged here)
            self.wfile.write(f"* {count} EXISTS\r\n".encode())
            self.reported = count

    def drop(self) -> None:
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # --- commands -------------------------------------------------------------------------------------------------
    def cmd_CAPABILITY(self, tag, args):
        self.send(f"* CAPABILITY {self.capabilities()}")
        self.send(f"{tag} OK CAPABILITY completed")

    def cmd_NOOP(self, tag, args):
        with self.write_lock:
            self._report_exists()  # RFC 3501 §6.1.2: NOOP is how a client without IDLE asks for updates
        self.send(f"{tag} OK NOOP completed")

    def cmd_LOGIN(self, tag, args):
        user, password = [a.strip('"') for a in _split_args(args)][:2]
        box = self.part.mailboxes.get(user)
        if box is None or box.password != password:
            self.send(f"{tag} NO [AUTHENTICATIONFAILED] Invalid credentials")
            return
        self.user = box
        with self.part.sim.lock:
            self.part.logins += 1
        self.send(f"{tag} OK [CAPABILITY {self.capabilities()}] LOGIN completed")

    def cmd_SELECT(self, tag, args, readonly=False):
        if self.user is None:
            self.send(f"{tag} NO not authenticated")
            return
        self.box = self.user
        with self.part.sim.lock:
            count, validity, next_uid = len(self.box.messages), self.box.uidvalidity, self.box.next_uid
        self.send(f"* {count} EXISTS")
        self.reported = count
        self.send("* 0 RECENT")
        self.send(r"* FLAGS (\Answered \Flagged \Deleted \Seen \Draft)")
        self.send(f"* OK [UIDVALIDITY {validity}] UIDs valid")
        self.send(f"* OK [UIDNEXT {next_uid}] Predicted next UID")
        self.send(f"{tag} OK [{'READ-ONLY' if readonly else 'READ-WRITE'}] SELECT completed")

    def cmd_EXAMINE(self, tag, args):
        self.cmd_SELECT(tag, args, readonly=True)

    def cmd_UID(self, tag, args):
        sub, _, rest = args.partition(" ")
        if self.box is None:
            self.send(f"{tag} NO no mailbox selected")
            return
        with self.part.sim.lock:
            messages = list(self.box.messages)
        if sub.upper() == "SEARCH":
            wanted = _uid_set(rest.upper().replace("UID", "").strip(), messages)
            self.send("* SEARCH" + "".join(f" {uid}" for uid, _raw in messages if uid in wanted))
            self.send(f"{tag} OK SEARCH completed")
        elif sub.upper() == "FETCH":
            uid_set, _, items = rest.partition(" ")
            wanted = _uid_set(uid_set, messages)
            for seq, (uid, raw) in enumerate(messages, start=1):
                if uid in wanted:
                    with self.write_lock:
                        self.wfile.write(
                            f"* {seq} FETCH (UID {uid} RFC822.SIZE {len(raw)} BODY[] {{{len(raw)}}}\r\n".encode()
                        )
                        self.wfile.write(raw + b")\r\n")
            self.send(f"{tag} OK FETCH completed")
        else:
            self.send(f"{tag} BAD UID {sub} not supported")


def _split_args(args: str) -> list[str]:
    return re.findall(r'"(?:[^"\\]|\\.)*"|\S+', args)


def _uid_set(spec: str, messages: list[tuple[int, bytes]]) -> set[int]:
    highest = max((uid for uid, _raw in messages), default=0)
    wanted: set[int] = set()
    for piece in spec.split(","):
        piece = piece.strip()
        if not piece:
            continue
        if ":" in piece:
            low, high = piece.split(":")
            low_n = highest if low == "*" else int(low)
            high_n = highest if high == "*" else int(high)
            low_n, high_n = min(low_n, high_n), max(low_n, high_n)
            wanted |= {uid for uid, _raw in messages if low_n <= uid <= high_n}
        else:
            wanted.add(highest if piece == "*" else int(piece))
    return wanted
