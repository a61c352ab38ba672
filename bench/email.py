"""Email intake through the real processes: uvicorn (config.asgi) takes raw MIME on a mailbox's inbound endpoint
(`/webhooks/email/<connection uuid>/`, Bearer token, as a provider's inbound parse posts it), a Celery worker
ingests it (queue `inbound`). Nothing is faked: every mail is built as bytes the way Japanese and Western mail
clients write them and posted over loopback HTTP.

The mails (BENCH_EMAIL_MAILS, 2,000; seeded, the same every run):
- a third each ISO-2022-JP (7bit, RFC 2047 B-encoded subject), Shift_JIS with CP932's characters (①, ㈱: 8bit
  body, labelled "Shift_JIS" as Outlook does) and UTF-8 (base64 or 8bit);
- plain, multipart/alternative and HTML-only bodies;
- one in five with an attachment whose Japanese name is RFC 2231 encoded (UTF-8 or ISO-2022-JP percent-encoded)
  or RFC 2047 encoded in quotes (Outlook's way);
- 30 % replies (In-Reply-To and References, with the quoted mail below an attribution line), some to replies; a
  third of the replies are posted before the mail they answer, and one reply in five has only In-Reply-To (mail
  clients that drop References), some answering an original that itself references a mail we never saw (the case
  where a reply's thread id differs from its original's).

Measured: mails/s from the first POST to the last message stored (its `created_at`, the database's clock), with
16 sender threads as fast as they go; then checks: every mail stored once, its text, subject and attachment names
exactly the source's (100 % decoded), every reply in its original's ticket, one ticket per conversation. CPU per
process and per mail as bench/webhooks.py reports it (its process helpers are reused).

The organization is "email-bench" (not "bench-*", which bench/inbox.py counts); the children use their own Redis
database (BENCH_EMAIL_REDIS_DB, 11; 10 in smoke mode) and a temporary MEDIA_ROOT for the attachments.

Smoke mode: 120 mails, the same checks."""

import base64
import html
import itertools
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import quote, urlparse

import psutil
from django.db import connection as db_connection
from django.db import transaction
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from bench.webhooks import (
    Poster,
    Processes,
    _cpu_snapshot,
    _cpu_text,
    _free_port,
    _r,
    _wait_up,
    _web_argv,
    _worker_argv,
)

SLUG = "email-bench"
OWNER_EMAIL = "owner@email-bench.example"
ADDRESS = "support@email-bench.example"
TOKEN = "bench-inbound-token-0123456789abcdef"
SMOKE = os.environ.get("BENCH_SMOKE") == "1"
REDIS_DB = 10 if SMOKE else int(os.environ.get("BENCH_EMAIL_REDIS_DB", "11"))
MAILS = 120 if SMOKE else int(os.environ.get("BENCH_EMAIL_MAILS", "2000"))
THREADS = 4 if SMOKE else 16
CONCURRENCY = int(os.environ.get("BENCH_EMAIL_CONCURRENCY", "2"))
REPLY_SHARE = 0.30
TARGET = 400.0
PEER = 38.0
WARM_UP_SECONDS = 180.0
QUIET_SECONDS = 15.0 if SMOKE else 60.0  # the wait for the last mails ends after this long without progress

JA_LINES = [
    "いつもお世話になっております。",
    "先日注文した商品がまだ届いておりません。",
    "お手数ですが、配送状況をご確認いただけますでしょうか。",
    "請求書の宛名を株式会社つなぐ商事に変更してください。",
    "返品の手続きについて教えてください。",
    "添付の写真のとおり、箱が破損しておりました。",
    "来週の打ち合わせの日程を調整させてください。",
    "ポイントの有効期限はいつまでですか。",
]
CP932_LINES = ["① 注文番号をご確認ください。", "㈱つなぐ商事 経理部", "② 数量：３個"]
EN_LINES = [
    "Hello, I have a question about my order.",
    "The parcel arrived damaged; photos are attached.",
    "Could you change the delivery address, please?",
    "Thanks for the quick answer last time.",
]
SUBJECTS = ["配送について", "請求書の件", "返品のお願い", "Order question", "ポイントについて", "お打ち合わせ日程"]
NAMES = ["山田 太郎", "佐藤 花子", "鈴木 一郎", "高橋 美咲", "John Smith", "田中 健"]
FILES = ["見積書.pdf", "破損した箱の写真.jpg", "請求書（12月分）.pdf", "注文一覧.xlsx", "契約書_最終版.docx"]


# --- the mails --------------------------------------------------------------------------------------------------


class Mail:
    """One mail: what it says (the source the stored message is compared with) and its bytes."""

    def __init__(self, n: int, charset: str, *, reply_to: "Mail | None", only_in_reply_to: bool, external_ref: bool):
        rng = random.Random(n)
        self.n = n
        self.charset = charset  # iso-2022-jp | shift_jis | utf-8
        self.message_id = f"<m{n}.{rng.randrange(10**9)}@{'mail.example.jp' if n % 2 else 'client.example.com'}>"
        self.reply_to = reply_to
        self.root: Mail = reply_to.root if reply_to else self
        self.customer = reply_to.customer if reply_to else n % 700
        self.address = f"customer{self.customer}@example.jp"
        self.name = NAMES[self.customer % len(NAMES)]
        base = self.root.subject_text if reply_to else f"{rng.choice(SUBJECTS)} #{n}"
        self.subject_text = base
        self.subject = f"Re: {base}" if reply_to else base
        lines = rng.sample(JA_LINES, 2) + ([rng.choice(EN_LINES)] if n % 3 == 0 else [])
        if charset == "shift_jis":
            lines.append(rng.choice(CP932_LINES))  # CP932's own characters, as Windows clients write them
        lines.append(f"{self.name} (No. {n})")
        self.text = "\n".join(lines)
        self.style = ("plain", "alternative", "html")[n % 3]
        self.filename = FILES[n % len(FILES)] if n % 5 == 0 else ""
        self.filename_style = ("rfc2231-utf8", "rfc2231-jis", "rfc2047")[(n // 5) % 3]
        self.in_reply_to = reply_to.message_id if reply_to else ""
        if reply_to is None:
            # An original that answers a mail sent outside this mailbox (its References name a mail never seen here).
            self.references = [f"<newsletter-{n}@mailer.example>"] if external_ref else []
        elif only_in_reply_to:
            self.references = []
        else:
            self.references = [*(reply_to.references or []), reply_to.message_id][-10:]
        self.date = datetime(2026, 12, 1, 9, 0, tzinfo=UTC) + timedelta(minutes=n)
        self.raw = self._bytes()

    # RFC 2047 encoded words of at most 12 characters each (a Japanese client's folding), in the mail's charset.
    def _words(self, text: str) -> str:
        if text.isascii():
            return text
        label, codec = {"iso-2022-jp": ("ISO-2022-JP", "iso2022_jp"), "shift_jis": ("Shift_JIS", "cp932")}.get(
            self.charset, ("UTF-8", "utf-8")
        )
        chunks = [text[i : i + 12] for i in range(0, len(text), 12)]
        return "\r\n ".join(f"=?{label}?B?{base64.b64encode(c.encode(codec)).decode()}?=" for c in chunks)

    def _body(self, text: str, subtype: str) -> tuple[list[str], bytes]:
        """Headers and encoded body of one text part."""
        from channels_integrations.providers.email import japanese

        if self.charset == "iso-2022-jp":
            return [f"Content-Type: text/{subtype}; charset=ISO-2022-JP", "Content-Transfer-Encoding: 7bit"], (
                # As Outlook writes it (CP50220): a quoted Shift_JIS mail's ① fits too.
                japanese.encode_iso2022jp(text.replace("\n", "\r\n"))
            )
        if self.charset == "shift_jis":
            return [f'Content-Type: text/{subtype}; charset="Shift_JIS"', "Content-Transfer-Encoding: 8bit"], (
                text.replace("\n", "\r\n").encode("cp932")
            )
        if self.n % 2:
            encoded = base64.encodebytes(text.encode("utf-8")).replace(b"\n", b"\r\n").rstrip()
            return [f"Content-Type: text/{subtype}; charset=UTF-8", "Content-Transfer-Encoding: base64"], encoded
        return [f"Content-Type: text/{subtype}; charset=utf-8", "Content-Transfer-Encoding: 8bit"], (
            text.replace("\n", "\r\n").encode("utf-8")
        )

    def _full_text(self) -> str:
        if self.reply_to is None:
            return self.text
        quoted = "\n".join(f"> {line}" for line in self.reply_to.text.split("\n"))
        return f"{self.text}\n\n2026年12月1日(火) 9:{self.n % 60:02d} Tsunagu <{ADDRESS}>:\n{quoted}\n"

    def _html(self) -> str:
        lines = "<br>\n".join(html.escape(line) for line in self._full_text().split("\n"))
        return f'<html><body><div style="font-family: sans-serif">{lines}</div></body></html>'

    def _attachment(self, boundary: str) -> list[bytes]:
        name = self.filename
        if self.filename_style == "rfc2231-utf8":
            disposition = f"attachment; filename*=UTF-8''{quote(name.encode('utf-8'), safe='')}"
            type_name = ""
        elif self.filename_style == "rfc2231-jis":
            disposition = f"attachment; filename*=ISO-2022-JP''{quote(name.encode('iso2022_jp'), safe='')}"
            type_name = ""
        else:  # Outlook: RFC 2047 words inside the quotes, on both headers
            word = f"=?ISO-2022-JP?B?{base64.b64encode(name.encode('iso2022_jp')).decode()}?="
            disposition = f'attachment; filename="{word}"'
            type_name = f'; name="{word}"'
        content = (f"%PDF-1.4 bench attachment {self.n}\n".encode() * 40)[:1500]
        return [
            f"--{boundary}".encode(),
            f"Content-Type: application/octet-stream{type_name}".encode(),
            b"Content-Transfer-Encoding: base64",
            f"Content-Disposition: {disposition}".encode(),
            b"",
            base64.encodebytes(content).replace(b"\n", b"\r\n").rstrip(),
        ]

    def _bytes(self) -> bytes:
        headers = [
            f"From: {self._words(self.name)} <{self.address}>",
            f"To: {ADDRESS}",
            f"Subject: {self._words(self.subject)}",
            f"Date: {format_datetime(self.date)}",
            f"Message-ID: {self.message_id}",
            "MIME-Version: 1.0",
        ]
        if self.in_reply_to:
            headers.append(f"In-Reply-To: {self.in_reply_to}")
        if self.references:
            headers.append("References: " + "\r\n ".join(self.references))
        text = self._full_text()
        if self.style == "plain":
            part_headers, body = self._body(text, "plain")
            parts = [(part_headers, body)]
        elif self.style == "alternative":
            parts = [self._body(text, "plain"), self._body(self._html(), "html")]
        else:
            parts = [self._body(self._html(), "html")]
        if len(parts) == 1 and not self.filename:
            return "\r\n".join(headers + parts[0][0]).encode() + b"\r\n\r\n" + parts[0][1] + b"\r\n"
        if len(parts) == 2:
            inner = f"alt-{self.n}"
            alternative = [f'Content-Type: multipart/alternative; boundary="{inner}"'.encode(), b""]
            for part_headers, body in parts:
                alternative += [f"--{inner}".encode(), *(h.encode() for h in part_headers), b"", body]
            alternative.append(f"--{inner}--".encode())
        else:
            alternative = [*(h.encode() for h in parts[0][0]), b"", parts[0][1]]
        if not self.filename:
            head = [h.encode() for h in headers]
            return b"\r\n".join(head + alternative) + b"\r\n"
        outer = f"mixed-{self.n}"
        head = [h.encode() for h in headers] + [f'Content-Type: multipart/mixed; boundary="{outer}"'.encode(), b""]
        lines = [*head, f"--{outer}".encode(), *alternative, *self._attachment(outer), f"--{outer}--".encode()]
        return b"\r\n".join(lines) + b"\r\n"


def mails(count: int) -> list[Mail]:
    """`count` mails in the order they are posted: 30 % replies, a third of those posted before what they answer."""
    rng = random.Random(2026)
    charsets = itertools.cycle(["iso-2022-jp", "shift_jis", "utf-8"])
    replies = round(count * REPLY_SHARE)
    made: list[Mail] = []
    originals: list[Mail] = []
    for n in range(count - replies):
        mail = Mail(n, next(charsets), reply_to=None, only_in_reply_to=False, external_ref=n % 10 == 3)
        made.append(mail)
        originals.append(mail)
    answerable = list(originals)
    for n in range(count - replies, count):
        parent = rng.choice(answerable)
        mail = Mail(n, next(charsets), reply_to=parent, only_in_reply_to=n % 5 == 0, external_ref=False)
        answerable.append(mail)
        made.append(mail)
    # The order of posting: originals and replies interleaved; a third of the replies go before their parent.
    order = list(made)
    rng.shuffle(order)
    position = {id(m): i for i, m in enumerate(order)}
    for mail in made:
        if mail.reply_to is None:
            continue
        early = mail.n % 3 == 0
        mine, parents = position[id(mail)], position[id(mail.reply_to)]
        if early != (mine < parents):
            order[mine], order[parents] = order[parents], order[mine]
            position[id(mail)], position[id(mail.reply_to)] = parents, mine
    return order


# --- seed -------------------------------------------------------------------------------------------------------


def seed():
    """The organization, its owner and an active mailbox with an inbound token, created once; the previous run's
    conversations and raw events deleted and the tables vacuumed (as bench/webhooks.py, for the same reason)."""
    from accounts import services
    from accounts.models import Organization, User
    from channels_integrations.models import ChannelConnection, ConnectionStatus, InboundEvent
    from core.models import RealtimeEvent
    from tickets.models import Attachment, Contact, ContactIdentity, Message, Ticket, TicketEvent

    with scopes_disabled():
        user = User.objects.filter(email=OWNER_EMAIL).first()
        if user is None:
            user = User.objects.create_user(OWNER_EMAIL, "bench-password", name="Mail Owner")
        organization = Organization.objects.filter(slug=SLUG).first()
        if organization is None:
            with transaction.atomic():
                organization = services.organization_create(name="Bench email", slug=SLUG, owner=user)
    with scope(organization=organization), transaction.atomic():
        Ticket.objects.all().delete()
        Contact.objects.all().delete()
        InboundEvent.objects.all().delete()
        RealtimeEvent.objects.all().delete()
        connection, _ = ChannelConnection.objects.update_or_create(
            organization=organization,
            platform="email",
            external_account_id=ADDRESS,
            defaults={
                "display_name": "Bench mailbox",
                "status": ConnectionStatus.ACTIVE,
                "config": {"address": ADDRESS},
            },
        )
        connection.set_credentials({"inbound_token": TOKEN})
        # Mail reaches this mailbox only through its inbound endpoint: it has no IMAP server to poll, so the poll is
        # put off (another suite's beat, sharing the bench database, would otherwise poll it every 15 s and fail).
        connection.next_poll_at = timezone.now() + timedelta(days=3650)
        connection.save(update_fields=["credentials_encrypted", "next_poll_at"])
    written = (Ticket, Message, TicketEvent, Contact, ContactIdentity, InboundEvent, RealtimeEvent, Attachment)
    with db_connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {', '.join(m._meta.db_table for m in written)}")  # our table names
    return organization, connection


# --- the run ----------------------------------------------------------------------------------------------------


def _post_all(url: str, order: list[Mail]) -> dict:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "message/rfc822"}
    statuses = [0] * len(order)
    counter = itertools.count()

    def work() -> None:
        poster = Poster(url)
        while (i := next(counter)) < len(order):
            statuses[i] = poster.post(order[i].raw, headers)
        poster.close()

    threads = [threading.Thread(target=work, name=f"mail-{n}") for n in range(THREADS)]
    first_post = datetime.now(UTC)
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"first_post": first_post, "wall": time.perf_counter() - started, "statuses": statuses}


def _stored_count(connection) -> int:
    from tickets.models import Message

    with scope(organization=connection.organization):
        return Message.objects.filter(connection=connection).count()


def _await_stored(connection, expected: int) -> float:
    """Seconds waited until `expected` messages are stored, or nothing moved for QUIET_SECONDS."""
    started = time.monotonic()
    last, moved = -1, time.monotonic()
    while True:
        count = _stored_count(connection)
        if count >= expected:
            return time.monotonic() - started
        if count != last:
            last, moved = count, time.monotonic()
        elif time.monotonic() - moved > QUIET_SECONDS:
            return time.monotonic() - started
        time.sleep(0.05)


def _squash(text: str) -> str:
    return " ".join(text.split())


def _check(connection, order: list[Mail]) -> dict:
    """What was stored against what was sent."""
    from django.db.models import Max

    from channels_integrations.providers.email.mime import platform_id
    from tickets.models import Attachment, Message, Ticket

    with scope(organization=connection.organization):
        rows = {
            m["platform_message_id"]: m
            for m in Message.objects.filter(connection=connection).values(
                "id", "platform_message_id", "ticket_id", "text", "ticket__subject", "created_at"
            )
        }
        names: dict[int, list[str]] = {}
        for message_id, filename in Attachment.objects.values_list("message_id", "filename"):
            names.setdefault(message_id, []).append(filename)
        last_stored = Message.objects.filter(connection=connection).aggregate(last=Max("created_at"))["last"]
        # A reply that came before its parent opens a ticket that is merged into the original's once the parent
        # links them: the conversations are the tickets not merged away.
        tickets = Ticket.objects.filter(connection=connection, merged_into__isnull=True).count()
        merged = Ticket.objects.filter(connection=connection, merged_into__isnull=False).count()
    missing, wrong_text, wrong_subject, wrong_files, astray = [], [], [], [], []
    for mail in order:
        row = rows.get(platform_id(mail.message_id))
        if row is None:
            missing.append(mail.n)
            continue
        if _squash(row["text"]) != _squash(mail.text):
            wrong_text.append((mail.n, mail.charset, mail.style, row["text"][:80]))
        # The ticket's subject is its first stored mail's: the original's, or "Re: " it when a reply came first.
        if row["ticket__subject"].removeprefix("Re: ") != mail.root.subject_text:
            wrong_subject.append((mail.n, mail.charset, row["ticket__subject"]))
        if names.get(row["id"], []) != ([mail.filename] if mail.filename else []):
            wrong_files.append((mail.n, mail.filename_style, names.get(row["id"])))
        if mail.reply_to is not None:
            original = rows.get(platform_id(mail.root.message_id))
            if original is not None and original["ticket_id"] != row["ticket_id"]:
                astray.append(mail.n)
    conversations = sum(1 for m in order if m.reply_to is None)
    return {
        "stored": len(rows),
        "missing": missing,
        "wrong_text": wrong_text,
        "wrong_subject": wrong_subject,
        "wrong_files": wrong_files,
        "astray": astray,
        "tickets": tickets,
        "merged": merged,
        "conversations": conversations,
        "last_stored": last_stored,
    }


def _per_mail(before: dict, after: dict, count: int) -> str:
    if count <= 0:
        return ""
    cost = {k: (after[k] - before[k]) * 1000 / count for k in ("web", "worker", "postgres", "redis")}
    total = sum(cost.values())
    parts = ", ".join(f"{k} {v:.2f}" for k, v in cost.items())
    return (
        f"CPU per mail from the first POST to the last stored: {total:.2f} ms ({parts}), a ceiling of about "
        f"{psutil.cpu_count() * 1000 / total:.0f} mails/s on {psutil.cpu_count()} cores with nothing else running"
    )


def run() -> list[dict]:
    from django.conf import settings

    order = mails(MAILS)
    organization, connection = seed()
    redis_url = urlparse(os.environ["REDIS_URL"])._replace(path=f"/{REDIS_DB}").geturl()
    import redis

    redis.Redis.from_url(redis_url).flushdb()  # the bench's own database: stale tasks of an interrupted run
    media = tempfile.mkdtemp(prefix="tsunagu-bench-email-media-")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_VERSION", "REDIS_DB")}
    env.update(
        DATABASE_URL=os.environ["DATABASE_URL"],
        REDIS_URL=redis_url,
        MEDIA_ROOT=media,
        DEBUG="0",
        SECRET_KEY=settings.SECRET_KEY,
        TSUNAGU_ENCRYPTION_KEYS=",".join(settings.ENCRYPTION_KEYS),  # the seed encrypted the token with these
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        DJANGO_SETTINGS_MODULE="config.settings",
        PYTHONUNBUFFERED="1",
    )
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/webhooks/email/{connection.uuid}/"
    processes = Processes(env)
    try:
        processes.start("web", _web_argv(port))
        _wait_up(f"{base}/healthz", processes, "web", time.monotonic() + 60)
        argv = _worker_argv(CONCURRENCY)
        argv[argv.index("-n") + 1] = f"bench-email-{CONCURRENCY}@%h"
        processes.start("worker", argv)
        # Warm-up: a few mails of another conversation through both processes (imports, connections).
        warm = [Mail(10_000 + i, cs, reply_to=None, only_in_reply_to=False, external_ref=False) for i, cs in
                enumerate(["iso-2022-jp", "shift_jis", "utf-8"] * 3)]  # fmt: skip
        poster = Poster(url)
        for mail in warm:
            status = poster.post(mail.raw, {"Authorization": f"Bearer {TOKEN}"})
            if status != 200:
                raise RuntimeError(f"warm-up mail answered {status}:\n{processes.tail('web')}")
        poster.close()
        # The worker's first task waits for its start (the language models load first): wait for the mails, not
        # for a quiet time.
        deadline = time.monotonic() + WARM_UP_SECONDS
        while _stored_count(connection) < len(warm) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _stored_count(connection) < len(warm):
            raise RuntimeError(f"warm-up mails not stored:\n{processes.tail('worker')}")
        time.sleep(1)
        load_before = os.getloadavg()
        cpu_start = _cpu_snapshot(processes)
        posted = _post_all(url, order)
        cpu_answered = _cpu_snapshot(processes)
        waited = _await_stored(connection, len(warm) + sum(1 for s in posted["statuses"] if s == 200))
        cpu_stored = _cpu_snapshot(processes)
        load_after = os.getloadavg()
    finally:
        processes.stop_all()
        shutil.rmtree(media, ignore_errors=True)

    checked = _check(connection, order)
    errors = sum(1 for s in posted["statuses"] if s != 200)
    span = (checked["last_stored"] - posted["first_post"]).total_seconds() if checked["last_stored"] else 0.0
    rate = len(order) / span if span > 0 and not checked["missing"] else 0.0
    decoded = len(order) - len(checked["missing"]) - len({x[0] for x in checked["wrong_text"]} |
                                                          {x[0] for x in checked["wrong_subject"]} |
                                                          {x[0] for x in checked["wrong_files"]})  # fmt: skip
    replies = [m for m in order if m.reply_to is not None]
    early = sum(1 for m in replies if m.n % 3 == 0)
    in_place = len(replies) - len(checked["astray"]) - sum(1 for m in replies if m.n in checked["missing"])
    mix = (
        f"{len(order)} mails ({len(order) - len(replies)} new conversations, {len(replies)} replies of which "
        f"{early} posted before the mail they answer; ISO-2022-JP, Shift_JIS/CP932, UTF-8 in turn; plain, "
        f"multipart/alternative, HTML-only in turn; {sum(1 for m in order if m.filename)} with a Japanese-named "
        f"attachment, RFC 2231 UTF-8 / RFC 2231 ISO-2022-JP / RFC 2047 in turn)"
    )
    setup = (
        f"uvicorn (one process), Celery worker -Q inbound,default --concurrency {CONCURRENCY}, DEBUG=0, "
        f"INGEST_BATCH={settings.INGEST_BATCH}, PostgreSQL, Redis and the load generator on the same "
        f"{psutil.cpu_count()} cores; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"
    )
    detail = (
        f"{mix} POSTed as raw MIME to the mailbox's inbound endpoint from {THREADS} threads over loopback "
        f"keep-alive: all answered in {posted['wall']:.2f} s ({len(order) / posted['wall']:.0f} req/s), {errors} "
        f"non-200; the last was stored {span:.2f} s after the first POST ({waited:.2f} s after the last answer). "
        f"{_cpu_text(cpu_start, cpu_answered)} while posting; {_cpu_text(cpu_answered, cpu_stored)} while draining. "
        f"{_per_mail(cpu_start, cpu_stored, len(order))}. {setup}. Peer helpdesk: {PEER:.0f} mails/s."
    )
    problems = (
        f"missing {checked['missing'][:10]}, text differs {checked['wrong_text'][:3]}, subject differs "
        f"{checked['wrong_subject'][:3]}, attachment names differ {checked['wrong_files'][:3]}, replies in another "
        f"ticket than their original {checked['astray'][:10]}"
    )
    print(f"  email: {detail}\n  email checks: {problems}", file=sys.stderr)
    return [
        {
            "name": "email.intake_mails_per_s",
            "value": _r(rate),
            "unit": "mail/s",
            "target": f">={TARGET:.0f}",
            "ok": rate >= TARGET and errors == 0 and not checked["missing"],
            "detail": detail,
        },
        {
            "name": "email.decoded_pct",
            "value": _r(100.0 * decoded / len(order)),
            "unit": "%",
            "target": "100",
            "ok": decoded == len(order),
            "detail": f"stored text (quoted part trimmed), ticket subject and attachment names equal to the "
            f"source's, whitespace aside: {decoded}/{len(order)}. {problems}. {mix}.",
        },
        {
            "name": "email.replies_threaded_pct",
            "value": _r(100.0 * in_place / len(replies)) if replies else None,
            "unit": "%",
            "target": "100",
            "ok": in_place == len(replies) and checked["tickets"] == checked["conversations"] + len(warm),
            "detail": f"replies in their original's ticket: {in_place}/{len(replies)} ({early} posted before the "
            f"mail they answer); tickets {checked['tickets']} for {checked['conversations']} conversations "
            f"(+{len(warm)} warm-up mails, each its own), {checked['merged']} more merged into their original's "
            f"by automation (opened by a reply that came before its parent). {problems}.",
        },
    ]
