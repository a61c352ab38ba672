"""Raw RFC 5322 / MIME bytes to what a support inbox needs: who wrote, about what, the readable text (quoted reply
trimmed), sanitized HTML, attachments, threading ids, and whether the mail is an automatic one (auto-reply, bounce,
read receipt, abuse report) rather than a customer writing.

Pure functions over the standard library's `email` package (policy=default) and `nh3`; nothing here raises on odd
input: broken headers, unknown charsets and missing parts degrade to empty values."""

from __future__ import annotations

import hashlib
import html as html_lib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser, HeaderParser
from email.utils import getaddresses, parsedate_to_datetime

import nh3

from channels_integrations.providers.email import japanese

MAX_ID_LENGTH = 255  # Message.platform_message_id; longer ids are hashed so the same id always maps the same way


# --- results ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MailAttachment:
    filename: str
    content_type: str
    content: bytes
    content_id: str = ""  # without angle brackets; inline images are referenced from the HTML as cid:<content_id>
    inline: bool = False


@dataclass(frozen=True)
class DeliveryReport:
    """The delivery-status part of a bounce (RFC 3464), or what could be read from a plain-text one."""

    action: str  # failed | delayed | delivered | relayed | expanded
    status: str  # e.g. 5.1.1
    diagnostic: str  # the remote server's answer, or the report's human explanation
    recipient: str
    original_message_id: str  # of our message that bounced; "" when the report does not say

    @property
    def failed(self) -> bool:
        return self.action == "failed"

    @property
    def error(self) -> str:
        return f"{self.status} {self.diagnostic}".strip()[:1000]


@dataclass(frozen=True)
class ParsedMail:
    message_id: str
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    from_address: str
    from_name: str
    subject: str
    date: datetime | None
    text: str  # the new part of the message: quoted reply trimmed
    full_text: str
    html: str  # sanitized, untrimmed
    attachments: tuple[MailAttachment, ...] = ()
    auto_reply: str = ""  # why this is an automatic message ("" for a person writing)
    report_type: str = ""  # delivery-status | disposition-notification | feedback-report | ""
    delivery: DeliveryReport | None = None
    to: tuple[str, ...] = ()
    headers_found: bool = True  # From or Message-ID present: this is a mail at all

    @property
    def thread_hints(self) -> tuple[str, ...]:
        return _unique(self.in_reply_to + self.references)

    @property
    def thread_root(self) -> str:
        """The id grouping the conversation: the first References id (the thread's start), else the parent."""
        return (self.references or self.in_reply_to or (self.message_id,))[0]


# --- entry points -----------------------------------------------------------------------------------------------


class _HeaderRegistry(HeaderRegistry):
    """CPython's registry decodes an RFC 2231 parameter with the codec it names and survives only an unknown one:
    ISO-2022-JP bytes it cannot read (①) raise, and every later look at the part (its content type) raises too.
    Such a header is parsed again with the charset hidden; the parameter itself is read from the raw header
    (attachment_filename)."""

    # Parsed headers by (name, value): the email package parses a header again on every look (a part's content
    # type is asked for by each pass over the parts), which was half the cost of parsing a mail. The objects are
    # read-only; the memory is bounded and started afresh when full (never grows with the mail traffic). A parsed
    # 200-character Content-Type holds about 20 KB: at most about 10 MB per process.
    MEMORY_MAX_ENTRIES = 500
    MEMORY_MAX_VALUE = 200  # longer values (a long References chain) are rarely asked for twice

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._memory: dict[tuple[str, str], object] = {}

    def __call__(self, name, value):
        if len(value) > self.MEMORY_MAX_VALUE:
            return self._parse(name, value)
        key = (name, value)
        header = self._memory.get(key)
        if header is None:
            header = self._parse(name, value)
            if len(self._memory) >= self.MEMORY_MAX_ENTRIES:
                self._memory.clear()
            self._memory[key] = header
        return header

    def _parse(self, name, value):
        try:
            return super().__call__(name, value)
        except UnicodeDecodeError:
            return super().__call__(name, _RFC2231_CHARSET.sub(r"\1unknown-8bit'", value))


_RFC2231_CHARSET = re.compile(r"(\*=\s*\"?)[A-Za-z0-9_.:-]+'")
POLICY = policy.default.clone(header_factory=_HeaderRegistry())


def parse_message(raw: bytes) -> ParsedMail:
    msg = BytesParser(policy=POLICY).parsebytes(raw)
    return parse_parsed(msg)


def parse_headers(raw: bytes) -> EmailMessage:
    """Only the header block (cheap on a 20 MB mail)."""
    return BytesHeaderParser(policy=POLICY).parsebytes(raw)


def looks_like_mail(msg: Message) -> bool:
    return bool(raw_header(msg, "From") or raw_header(msg, "Message-ID"))  # present: no need to decode them


def content_hash(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def platform_id(message_id: str) -> str:
    """A Message-ID as stored: kept as written (angle brackets included) unless it is too long for the column."""
    if len(message_id) <= MAX_ID_LENGTH:
        return message_id
    return "sha256:" + hashlib.sha256(message_id.encode("utf-8", "surrogateescape")).hexdigest()


def parse_parsed(msg: Message) -> ParsedMail:
    from_name, from_address = first_address(msg, "From")
    message_id = first_id(raw_header(msg, "Message-ID"))
    subject = header_text(msg, "Subject")
    text_part, html_part = _body_parts(msg)
    full_text = _normalize_newlines(_part_text(text_part)) if text_part is not None else ""
    raw_html = _part_text(html_part) if html_part is not None else ""
    if not full_text.strip() and raw_html:
        full_text = html_to_text(raw_html)
    report_type, delivery = _report(msg, from_address, subject)
    return ParsedMail(
        message_id=message_id,
        in_reply_to=message_ids(raw_header(msg, "In-Reply-To")),
        references=message_ids(raw_header(msg, "References")),
        from_address=from_address,
        from_name=from_name,
        subject=subject,
        date=_date(raw_header(msg, "Date")),
        text=trim_reply(full_text),
        full_text=full_text.strip(),
        html=sanitize_html(raw_html) if raw_html else "",
        attachments=tuple(_attachments(msg, {id(text_part), id(html_part)})),
        auto_reply=auto_reply_reason(msg, subject),
        report_type=report_type,
        delivery=delivery,
        to=tuple(addr for _name, addr in all_addresses(msg, "To")),
        headers_found=bool(from_address or message_id),
    )


# --- headers ----------------------------------------------------------------------------------------------------


def raw_header(msg: Message, name: str) -> str:
    """The header's source text (unfolded, not decoded): ids and tokens are read from this, never from the
    header registry's parse, which rejects some real-world values."""
    lower = name.lower()
    for key, value in msg.raw_items():
        if key.lower() == lower:
            value = value if isinstance(value, str) else str(value)
            return re.sub(r"\r?\n[ \t]", " ", value).strip()
    return ""


def header_text(msg: Message, name: str) -> str:
    """A header decoded for display (RFC 2047 words in any charset; raw 8-bit bytes guessed)."""
    raw = raw_header(msg, name)
    if _own_decoding(raw):
        return " ".join(decode_words(raw).split())
    try:
        value = msg.get(name)
    except Exception:  # the registry's parser can raise on malformed input
        value = None
    text = str(value) if value is not None else ""
    if not text:
        if not raw:
            return ""
        try:
            text = str(make_header(decode_header(raw)))
        except Exception:
            text = raw
    return " ".join(_fix_surrogates(text).split())


# RFC 2047 words in the Japanese charsets, and raw ISO-2022-JP escapes: the header registry decodes words with
# Python's strict codecs and leaves a word it cannot read (① in ISO-2022-JP) undecoded, so these are read here.
_JAPANESE_WORD = re.compile(r"=\?(iso-2022-jp|csiso2022jp|cp5022|shift.?jis|x?-?sjis|windows-31j|cp932|euc-?jp)", re.I)


def _own_decoding(raw: str) -> bool:
    if not raw or any("\udc80" <= ch <= "\udcff" for ch in raw):
        return False  # raw 8-bit bytes: the registry's path and _fix_surrogates read them
    return "\x1b" in raw or bool(_JAPANESE_WORD.search(raw))


def decode_words(value: str) -> str:
    """RFC 2047 encoded words (and raw ISO-2022-JP escapes between them) decoded with decode_bytes."""
    try:
        parts = decode_header(value)
    except Exception:
        return value
    out = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            out.append(decode_bytes(chunk.encode("utf-8", "surrogateescape"), None) if "\x1b" in chunk else chunk)
        else:
            out.append(decode_bytes(chunk, charset))
    return "".join(out)


def first_address(msg: Message, name: str) -> tuple[str, str]:
    found = all_addresses(msg, name)
    return found[0] if found else ("", "")


# One mailbox as nearly every client writes it: an optional phrase (atoms, encoded words, or one quoted string
# without escapes) and the address in angle brackets, or the bare address. No group, comment or second address.
_ONE_MAILBOX = re.compile(
    r'\s*(?:(?P<name>[^"<>(),;:\\@\[\]]*|"[^"\\]*")\s*<(?P<a>[^<>\s@]+@[^<>\s@]+)>'
    r'|(?P<bare>[^<>\s@",;:()]+@[^<>\s@",;:()]+))\s*'
)


def all_addresses(msg: Message, name: str) -> list[tuple[str, str]]:
    """(display name, lower-cased address) pairs; addresses without an @ are dropped."""
    pairs: list[tuple[str, str]] = []
    raw = raw_header(msg, name)
    one = _ONE_MAILBOX.fullmatch(raw) if raw.isascii() else None
    if one is not None:
        # Read without the header registry's parser, which costs more than the rest of a mail's headers together:
        # for this shape the two agree (encoded words decoded, quotes removed).
        display = (one["name"] or "").strip()
        display = display[1:-1] if display.startswith('"') else display
        display = decode_words(display) if "=?" in display else display
        return [(" ".join(display.split()), (one["a"] or one["bare"]).lower())]
    try:
        if _own_decoding(raw):
            raise ValueError("Japanese encoded words: read the raw header")  # the registry left them undecoded
        header = msg.get(name)
        for address in getattr(header, "addresses", ()) or ():
            pairs.append((address.display_name, address.addr_spec))
    except Exception:
        pairs = []
    if not pairs and _own_decoding(raw):
        pairs = getaddresses([raw])  # names decoded below (decode_words), not with Python's strict codecs
    elif not pairs:
        try:
            pairs = [(str(make_header(decode_header(n))) if n else "", a) for n, a in getaddresses([raw])]
        except Exception:
            pairs = getaddresses([raw])
    result = []
    for display, address in pairs:
        address = _fix_surrogates(address).strip().strip("<>").lower()
        if "@" not in address:
            continue
        if _own_decoding(display or ""):
            display = decode_words(display)
        result.append((" ".join(_fix_surrogates(display or "").split()).strip('"'), address))
    return result


_ID = re.compile(r"<[^<>]*>")


def message_ids(value: str) -> tuple[str, ...]:
    """The ids of an In-Reply-To / References value, angle brackets kept, whitespace (folding) removed. Values
    without brackets (broken clients) are split on whitespace and commas."""
    if not value:
        return ()
    found = [re.sub(r"\s+", "", m) for m in _ID.findall(value)]
    if not found and "@" in value:
        found = [t for t in re.split(r"[\s,]+", value) if "@" in t]
    return _unique(i for i in found if len(i) > 2)


def first_id(value: str) -> str:
    ids = message_ids(value)
    if ids:
        return ids[0]
    return re.sub(r"\s+", "", value)


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:  # "-0000": the sender did not know its zone; RFC 5322 says treat it as UTC
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def _fix_surrogates(text: str) -> str:
    """Raw 8-bit header bytes reach us as surrogate escapes: decode them as UTF-8 or the Japanese charset that
    reads them (japanese.detect), else Latin-1."""
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    data = text.encode("utf-8", "surrogateescape")
    found = japanese.detect(data)
    return found if found is not None else data.decode("latin-1")


def _unique(items) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for item in items:
        if item and item not in seen:
            seen[item] = None
    return tuple(seen)


# --- bodies -----------------------------------------------------------------------------------------------------

# Superset codecs for labels that are used for more than the label says.
_CHARSET_FALLBACKS = {
    "us-ascii": ("ascii", "utf-8"),
    "ascii": ("ascii", "utf-8"),
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "ks_c_5601-1987": ("cp949",),
    "euc-kr": ("cp949",),
}
_NOT_ISO2022 = ("us-ascii", "ascii", "iso-8859-1", "latin-1", "windows-1252", "utf-8", "")


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes in a declared charset as a Japanese mail client reads them: ISO-2022-JP as CP50220, Shift_JIS as CP932,
    EUC-JP as eucJP-ms (japanese.py); bytes the label does not fit (or no label) detected before any fallback, so
    U+FFFD appears only when no Japanese charset or UTF-8 reads the bytes."""
    label = (charset or "").strip().strip('"').lower().partition("*")[0]  # RFC 2231 "charset*lang"
    if label in japanese.ISO2022JP_LABELS or (label in _NOT_ISO2022 and b"\x1b" in data):
        decoders = [japanese.decode_iso2022jp]  # a 7-bit text with JIS escapes is ISO-2022-JP whatever it says
    elif label in japanese.SHIFT_JIS_LABELS:
        decoders = [japanese.decode_shift_jis]
    elif label in japanese.EUC_JP_LABELS:
        decoders = [japanese.decode_euc_jp]
    else:
        decoders = [lambda d, c=codec: d.decode(c) for codec in _CHARSET_FALLBACKS.get(label, (label or "ascii",))]
    for decoder in decoders:
        try:
            return decoder(data)
        except (LookupError, UnicodeDecodeError):
            continue
    found = japanese.detect(data)
    if found is not None:
        return found
    if label in japanese.ISO2022JP_LABELS and not any(b >= 0x80 for b in data):
        return japanese.decode_iso2022jp(data, errors="replace")
    return data.decode("utf-8", "replace")


def _part_text(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if payload is None:
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    return decode_bytes(payload, charset)


def _normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _body_parts(msg: Message) -> tuple[Message | None, Message | None]:
    """The text/plain and text/html parts that make the message body (a multipart/alternative's two sides)."""
    if msg.is_multipart():
        try:
            text_part = msg.get_body(preferencelist=("plain",))
            html_part = msg.get_body(preferencelist=("html",))
        except Exception:
            text_part = html_part = None
        if text_part is None and html_part is None and msg.get_content_type() == "multipart/report":
            first = msg.get_payload(0) if msg.get_payload() else None
            text_part = first if first is not None and first.get_content_maintype() == "text" else None
        return text_part, html_part
    if isinstance(msg.get_payload(), str) and msg.get_content_maintype() == "multipart":
        return msg, None  # a multipart without its boundary: the body is plain text (CPython msg_41)
    ctype = msg.get_content_type()
    if ctype == "text/html":
        return None, msg
    if msg.get_content_maintype() == "text" and not msg.is_attachment():
        return msg, None
    return None, None


def _children(part: Message) -> list[Message]:
    payload = part.get_payload()
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []


def _attachments(msg: Message, body_ids: set[int]) -> list[MailAttachment]:
    found: list[MailAttachment] = []

    def visit(part: Message) -> None:
        ctype = part.get_content_type()
        if part.get_content_maintype() == "multipart":
            for child in _children(part):
                visit(child)
            return
        if id(part) in body_ids or ctype in ("message/delivery-status", "message/disposition-notification"):
            return
        if ctype == "message/feedback-report" or ctype == "text/rfc822-headers":
            return
        try:
            disposition = part.get_content_disposition()
        except Exception:
            disposition = raw_header(part, "Content-Disposition").partition(";")[0].strip().lower() or None
        filename = attachment_filename(part)
        content_id = raw_header(part, "Content-ID").strip().strip("<>")
        is_text = ctype in ("text/plain", "text/html")
        if is_text and disposition != "attachment" and not filename:
            return  # another body part of a mixed message, not a file
        if ctype == "message/rfc822":
            inner = _children(part)
            content = inner[0].as_bytes(policy=policy.compat32) if inner else b""
            filename = filename or (header_text(inner[0], "Subject") if inner else "") or "message"
            if not filename.lower().endswith(".eml"):
                filename += ".eml"
        else:
            try:
                content = part.get_payload(decode=True) or b""
            except Exception:
                content = b""
        found.append(
            MailAttachment(
                filename=_clean_filename(filename or "", ctype, len(found) + 1),
                content_type=ctype,
                content=content,
                content_id=content_id,
                inline=disposition != "attachment" and bool(content_id),
            )
        )

    if msg.get_content_maintype() == "multipart":
        for child in _children(msg):
            visit(child)
    elif id(msg) not in body_ids and msg.get_content_maintype() not in ("text", "multipart"):
        visit(msg)
    return found


def attachment_filename(part: Message) -> str | None:
    """The part's filename from its raw headers: RFC 2231 (filename*=ISO-2022-JP''%1B%24B...) with its bytes
    decoded by decode_bytes, the RFC 2047 words in quotes that Outlook writes (decoded later by _clean_filename),
    raw 8-bit names. Content-Disposition's filename first, then Content-Type's name. The header registry's
    get_filename() decodes RFC 2231 with Python's strict codecs (U+FFFD for ①) and is only the last resort."""
    for header, param in (("Content-Disposition", "filename"), ("Content-Type", "name")):
        raw = raw_header(part, header)
        if not raw:
            continue
        holder = Message()  # compat32: parameters as written, RFC 2231 values as (charset, language, raw bytes)
        holder[header] = _fix_surrogates(raw)  # raw 8-bit names (compat32 would turn them into U+FFFD)
        try:
            value = holder.get_param(param, header=header)
        except Exception:
            continue
        if isinstance(value, tuple):
            charset, _language, text = value
            return decode_bytes(bytes(text, "raw-unicode-escape"), charset or "us-ascii")
        if value is not None:
            return str(value)
    try:
        return part.get_filename()
    except Exception:
        return None


def _clean_filename(name: str, content_type: str, number: int) -> str:
    import mimetypes

    name = _fix_surrogates(name)
    if "=?" in name or "\x1b" in name:
        name = decode_words(name)
    name = re.sub(r"[\x00-\x1f\x7f/\\]+", "_", name).strip(" .")
    if not name:
        name = f"attachment-{number}{mimetypes.guess_extension(content_type) or '.bin'}"
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 250 - len(ext)] + dot + ext) if dot and len(ext) < 10 else name[:255]
    return name


# --- HTML -------------------------------------------------------------------------------------------------------

_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "center", "cite", "code", "col", "colgroup", "dd", "del",
    "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li",
    "ol", "p", "pre", "q", "s", "small", "span", "strike", "strong", "sub", "sup", "table", "tbody", "td",
    "tfoot", "th", "thead", "tr", "tt", "u", "ul",
}  # fmt: skip
_CELL = {"colspan", "rowspan", "align", "valign"}
_ALLOWED_ATTRIBUTES = {
    "*": {"dir", "lang", "title"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": _CELL,
    "th": _CELL,
    "table": {"border", "cellpadding", "cellspacing"},
    "ol": {"start"},
    "font": {"color"},
}


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    lowered = value.strip().lower()
    if tag == "img" and attribute == "src":
        # Remote images are trackers (the sender learns the agent opened the mail) and a privacy leak.
        return value if lowered.startswith(("cid:", "data:image/")) else None
    if tag == "a" and attribute == "href" and lowered.startswith(("data:", "cid:")):
        return None
    return value


_CLEANER = nh3.Cleaner(
    tags=_ALLOWED_TAGS,
    clean_content_tags={"script", "style", "title", "noscript", "template", "iframe", "object", "svg", "math"},
    attributes=_ALLOWED_ATTRIBUTES,
    attribute_filter=_attribute_filter,
    url_schemes={"http", "https", "mailto", "tel", "cid", "data"},
    link_rel="noopener noreferrer",
    strip_comments=True,
)


def sanitize_html(html: str) -> str:
    return _CLEANER.clean(html).strip()


_TEXT_CLEANER = nh3.Cleaner(
    tags=set(),
    clean_content_tags={"script", "style", "title", "head", "noscript", "template"},
    attributes={},
    strip_comments=True,
    link_rel=None,
)


def html_to_text(html: str) -> str:
    text = re.sub(r"(?i)<br\s*/?>", "\n", html)
    text = re.sub(r"(?i)</(p|div|li|tr|h[1-6]|blockquote|table|pre)\s*>", "\n", text)
    text = html_lib.unescape(_TEXT_CLEANER.clean(text)).replace("\xa0", " ")
    lines = [line.rstrip() for line in _normalize_newlines(text).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --- quoted replies ---------------------------------------------------------------------------------------------

_SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(original message|元のメッセージ|オリジナル\s*メッセージ)\s*-{2,}\s*$|^\s*_{10,}\s*$", re.IGNORECASE
)
_OUTLOOK_FROM = re.compile(r"^\s*(\*?From\*?|差出人|送信者)\s*[:：]", re.IGNORECASE)
_OUTLOOK_FIELD = re.compile(r"^\s*\*?(Sent|Date|To|Cc|Subject|送信日時|日付|宛先|件名|CC)\*?\s*[:：]", re.IGNORECASE)
_FORWARD = re.compile(r"forwarded message|begin forwarded message|転送されたメッセージ|転送メッセージ", re.IGNORECASE)
_ATTRIBUTION_START = re.compile(r"^(On|Am|Le|El|Il|Op)\s|^\d{4}\s*[年/.-]", re.IGNORECASE)
_ATTRIBUTIONS = (
    re.compile(r"^(On|Op)\s.{4,}\swrote\s*:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^Am\s.{4,}\sschrieb.*:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^Le\s.{4,}\sa\s+écrit\s*:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"書きました\s*[:：]?\s*$"),
    re.compile(r"^(?=.*(@|\d)).*の(メール|メッセージ)\s*[:：]\s*$"),
    re.compile(r"^\d{4}\s*[年/.-]\s*\d{1,2}\s*[月/.-]\s*\d{1,2}.*@.*[:：]\s*$"),
)


def trim_reply(text: str) -> str:
    """The new text of a reply: everything from the quoted-reply header on, and a trailing block of "> " lines,
    are cut. Returns the full text when trimming would leave nothing."""
    text = _normalize_newlines(text)
    lines = text.split("\n")
    cut = _reply_header_index(lines)
    kept = lines[:cut] if cut is not None else lines
    end = len(kept)
    while end and (not kept[end - 1].strip() or kept[end - 1].lstrip().startswith(">")):
        end -= 1
    trimmed = "\n".join(kept[:end]).strip()
    return trimmed or text.strip()


def _reply_header_index(lines: list[str]) -> int | None:
    for i, line in enumerate(lines):
        if not line.strip() or line.lstrip().startswith(">"):
            continue
        if _SEPARATOR.match(line):
            following = [candidate for candidate in lines[i + 1 : i + 4] if candidate.strip()]
            if "_" not in line or (following and _OUTLOOK_FROM.match(following[0])):
                return i
            continue
        if _OUTLOOK_FROM.match(line) and _outlook_header(lines, i):
            return i
        span = _attribution_span(lines, i)
        if span and not _interleaved(lines[i + span :]):
            return i
    return None


def _outlook_header(lines: list[str], i: int) -> bool:
    previous = next((candidate for candidate in reversed(lines[:i]) if candidate.strip()), "")
    if _FORWARD.search(previous):
        return False  # a forwarded mail's header: the forwarded content is what the customer is sending us
    fields = sum(1 for candidate in lines[i + 1 : i + 6] if _OUTLOOK_FIELD.match(candidate))
    return fields >= 2


def _attribution_span(lines: list[str], i: int) -> int:
    first = lines[i].strip()
    for span in (1, 2, 3):
        chunk = lines[i : i + span]
        if len(chunk) < span or not chunk[-1].strip():
            break
        if span > 1 and not _ATTRIBUTION_START.match(first):
            break
        joined = " ".join(part.strip() for part in chunk)
        if any(pattern.search(joined) for pattern in _ATTRIBUTIONS):
            return span
    return 0


def _interleaved(rest: list[str]) -> bool:
    """Quoted lines followed by new text: the customer answered inline, nothing may be cut."""
    seen_quote = False
    for line in rest:
        if line.lstrip().startswith(">"):
            seen_quote = True
        elif line.strip() and seen_quote:
            return True
    return False


# --- automatic mail ---------------------------------------------------------------------------------------------

_AUTO_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto(matic)?[- ]?response|autoreply|auto:|out of (the )?office|自動応答|自動返信|不在)",
    re.IGNORECASE,
)


def auto_reply_reason(msg: Message, subject: str = "", own_address: str = "") -> str:
    """Why this mail was sent by a machine (RFC 3834 and the de-facto headers), or "" for a person writing.

    X-Auto-Response-Suppress alone is no evidence: Outlook puts it on ordinary mail to mean "do not auto-reply to
    me". It only confirms an automatic-looking subject."""
    submitted = raw_header(msg, "Auto-Submitted").lower()
    token = re.split(r"[\s;(]", submitted, maxsplit=1)[0] if submitted else ""
    if token and token != "no":
        return f"auto-submitted: {token}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        value = raw_header(msg, name).lower()
        if value and value not in ("no", "false", "0"):
            return name.lower()
    precedence = raw_header(msg, "Precedence").lower().strip()
    if precedence in ("bulk", "junk", "list", "auto_reply", "auto-reply"):
        return f"precedence: {precedence}"
    if raw_header(msg, "X-Auto-Response-Suppress") and _AUTO_SUBJECT.match(subject or header_text(msg, "Subject")):
        return "automatic subject"
    list_id = raw_header(msg, "List-Id")
    if list_id or raw_header(msg, "List-Unsubscribe"):
        # A Google Group in front of the support address puts its own List-Id (<support.example.com>) on every
        # customer's mail: that list is the mailbox itself, not a newsletter.
        own_list = own_address.replace("@", ".").lower()
        if not (own_list and own_list in list_id.lower()):
            return "mailing list"
    return_path = raw_header(msg, "Return-Path")
    if return_path and re.fullmatch(r"<\s*>", return_path):
        return "null return path"
    return ""


# --- reports (bounces, read receipts, abuse reports) ------------------------------------------------------------

_REPORT_PARTS = {
    "message/delivery-status": "delivery-status",
    "message/disposition-notification": "disposition-notification",
    "message/feedback-report": "feedback-report",
}
_DAEMONS = ("mailer-daemon", "postmaster", "mail-daemon", "maildaemon")


def _report(msg: Message, from_address: str, subject: str) -> tuple[str, DeliveryReport | None]:
    if msg.get_content_type() == "multipart/report":
        report_type = (msg.get_param("report-type") or "").__str__().strip().lower()
        parts = _children(msg)
        status_part = next((p for p in parts if p.get_content_type() in _REPORT_PARTS), None)
        if not report_type and status_part is not None:
            report_type = _REPORT_PARTS[status_part.get_content_type()]
        report_type = report_type or "unknown"
        if report_type != "delivery-status":
            return report_type, None
        return report_type, _delivery_status(msg, parts, status_part)
    local = from_address.partition("@")[0]
    if local in _DAEMONS or raw_header(msg, "X-Failed-Recipients"):
        return "delivery-status", _plain_bounce(msg, subject)
    return "", None


def _fields(block: Message) -> dict[str, str]:
    return {key.lower(): " ".join(str(value).split()) for key, value in block.raw_items()}


def _status_blocks(part: Message | None) -> list[dict[str, str]]:
    if part is None:
        return []
    payload = part.get_payload()
    if isinstance(payload, list):
        return [_fields(block) for block in payload if isinstance(block, Message)]
    text = _part_text(part)
    return [_fields(HeaderParser().parsestr(chunk)) for chunk in re.split(r"\n\s*\n", text) if chunk.strip()]


def _delivery_status(msg: Message, parts: list[Message], status_part: Message | None) -> DeliveryReport:
    recipients = [b for b in _status_blocks(status_part) if "action" in b or "final-recipient" in b]
    chosen = next((b for b in recipients if b.get("action", "").lower() == "failed"), None)
    chosen = chosen or (recipients[0] if recipients else {})
    status_field = chosen.get("status", "")
    status = status_field.split(" ", 1)[0]
    comment = status_field[len(status) :].strip().strip("()")
    diagnostic = _strip_type(chosen.get("diagnostic-code", "")) or comment
    human = parts[0] if parts and parts[0].get_content_maintype() == "text" else None
    if not diagnostic and human is not None:
        diagnostic = next((line.strip() for line in _part_text(human).splitlines() if line.strip()), "")
    original = _original_message_id(parts)
    if not original:
        text = _part_text(human) if human is not None else ""
        original = _id_in_text(text) or (message_ids(raw_header(msg, "In-Reply-To")) or ("",))[0]
    return DeliveryReport(
        action=chosen.get("action", "failed" if status.startswith("5") else "").lower().split(" ")[0],
        status=status,
        diagnostic=diagnostic,
        recipient=_strip_type(chosen.get("final-recipient", "") or chosen.get("original-recipient", "")),
        original_message_id=original,
    )


def _strip_type(value: str) -> str:
    """ "smtp; 550 5.1.1 ..." -> "550 5.1.1 ..." (RFC 3464 typed fields)."""
    return re.sub(r"^\s*[A-Za-z0-9-]{1,20}\s*;\s*", "", value).strip()


def _original_message_id(parts: list[Message]) -> str:
    for part in parts:
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            inner = _children(part)
            if inner:
                found = first_id(raw_header(inner[0], "Message-ID"))
                if found:
                    return found
        elif ctype == "text/rfc822-headers":
            headers = HeaderParser().parsestr(_part_text(part).lstrip(), headersonly=True)
            found = first_id(raw_header(headers, "Message-ID"))
            if found:
                return found
    return ""


_MARKER = re.compile(
    r"^[ \t]*-{2,}[ \t]*(original message|元のメッセージ|original message follows)|^[ \t]*-{2,}.*(returned message|"
    r"undelivered message)",
    re.IGNORECASE | re.MULTILINE,
)
_ID_LINE = re.compile(r"^[ \t]*Message-ID[ \t]*:[ \t]*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)


def _id_in_text(text: str) -> str:
    marker = _MARKER.search(text)
    found = _ID_LINE.search(text, marker.end() if marker else 0) or _ID_LINE.search(text)
    return found.group(1) if found else ""


_ENHANCED_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_DELAYED = re.compile(r"\bdelay(ed)?\b|will (continue to )?retry|遅延|再送を試み", re.IGNORECASE)


def _plain_bounce(msg: Message, subject: str) -> DeliveryReport:
    """A bounce that is not multipart/report (Gmail's classic DSN, Exim, many Japanese ISPs): the text says it."""
    nested = _original_message_id([p for p in msg.walk() if p is not msg]) if msg.is_multipart() else ""
    body_part, _html = _body_parts(msg)
    text = _normalize_newlines(_part_text(body_part)) if body_part is not None else ""
    head = text.split("\n\n", 3)
    explained = " ".join(head[:3])
    code = _ENHANCED_STATUS.search(text)
    lines = [line.strip() for line in text.split("\n")]
    diagnostic = ""
    for i, line in enumerate(lines):
        if re.search(r"error that the other server returned was|remote server returned|diagnostic", line, re.I):
            diagnostic = next((later for later in lines[i + 1 :] if later), "")
            break
    if not diagnostic and code:
        diagnostic = next((line for line in lines if code.group(1) in line), "")
    if not diagnostic:
        diagnostic = next((line for line in lines if line), "")
    delayed = bool(_DELAYED.search(subject) or _DELAYED.search(explained))
    return DeliveryReport(
        action="delayed" if delayed else "failed",
        status=code.group(1) if code else "",
        diagnostic=diagnostic,
        recipient=raw_header(msg, "X-Failed-Recipients").split(",")[0].strip(),
        original_message_id=nested or _id_in_text(text),
    )


__all__ = [
    "DeliveryReport",
    "MailAttachment",
    "ParsedMail",
    "auto_reply_reason",
    "content_hash",
    "decode_bytes",
    "html_to_text",
    "looks_like_mail",
    "message_ids",
    "parse_headers",
    "parse_message",
    "parse_parsed",
    "platform_id",
    "sanitize_html",
    "trim_reply",
]

_ = field  # dataclass import kept for subclasses' default factories
