"""Japanese mail charsets the way Japanese mail clients read and write them.

Mail labelled ISO-2022-JP from Outlook and other Windows clients is really CP50220 (ISO-2022-JP-MS): JIS X 0208 plus
the NEC special characters of row 13 (①, ㈱, Ⅱ, ㍻) and the NEC-selected IBM extensions of rows 89-92. Python's
iso2022_jp codecs reject those rows. Here every JIS X 0208 pair is read with the standard table (euc_jp, so 〜 stays
U+301C as Python's iso2022_jp and browsers give it) and, where that has no character, as CP932 through the JIS to
Shift_JIS arithmetic: the vendor rows are where CP932 puts them. EUC-JP (eucJP-ms) gets the same treatment.

Unlabelled or mislabelled bytes are detected deterministically (escape sequences, valid UTF-8, then CP932 against
EUC-JP by which reads as Japanese). Outgoing ISO-2022-JP is written as CP50220 does: 7-bit, half-width katakana as
full-width, each line and each encoded word ending in ASCII."""

from __future__ import annotations

import base64
import codecs
import functools
import logging
import re
import unicodedata
from email.message import EmailMessage

logger = logging.getLogger("tsunagu.email")

ESC = 0x1B
SO, SI = 0x0E, 0x0F

# Designations read as JIS X 0208 pairs, as JIS X 0201 katakana, or as ASCII / JIS X 0201 Roman.
_TWO_BYTE = (b"\x1b$@", b"\x1b$B", b"\x1b$(@", b"\x1b$(B")
_KATAKANA = (b"\x1b(I",)
_ASCII = (b"\x1b(B",)
_ROMAN = (b"\x1b(J", b"\x1b(H")
_ANNOUNCER = b"\x1b&@"  # "JIS X 0208-1990 follows": precedes ESC $ B, changes nothing
# Designations of other sets (JIS X 0212, JIS X 0213, ISO-2022-JP-2's GB2312/KSC/G2): the segment is handed to the
# Python codec that knows them.
_DELEGATED = {
    b"\x1b$(D": "iso2022_jp_2",
    b"\x1b$A": "iso2022_jp_2",
    b"\x1b$(C": "iso2022_jp_2",
    b"\x1b.A": "iso2022_jp_2",
    b"\x1b.F": "iso2022_jp_2",
    b"\x1b$(O": "iso2022_jp_2004",
    b"\x1b$(Q": "iso2022_jp_2004",
    b"\x1b$(P": "iso2022_jp_2004",
}
_ESCAPE_SET = frozenset((*_TWO_BYTE, *_KATAKANA, *_ASCII, *_ROMAN, _ANNOUNCER, *_DELEGATED))  # 3 or 4 bytes long
_HAS_DESIGNATION = re.compile(rb"\x1b(\$[@AB]|\$\([@BCDOPQ]|\([BHIJ]|\.[AF]|&@)")


def _jis_to_sjis(j1: int, j2: int) -> bytes:
    s1 = (j1 + 1) // 2 + (0x70 if j1 <= 0x5E else 0xB0)
    if j1 % 2:
        s2 = j2 + (0x1F if j2 <= 0x5F else 0x20)
    else:
        s2 = j2 + 0x7E
    return bytes((s1, s2))


@functools.cache  # at most 94 x 94 entries
def _jis_pair(j1: int, j2: int) -> str | None:
    """One JIS X 0208 code (both bytes 0x21-0x7E) as CP5022x decodes it, or None where no character is defined."""
    try:
        return bytes((j1 | 0x80, j2 | 0x80)).decode("euc_jp")
    except UnicodeDecodeError:
        pass
    try:
        return _jis_to_sjis(j1, j2).decode("cp932")
    except UnicodeDecodeError:
        return None


_HIGH = bytes(b | 0x80 for b in range(256))  # JIS X 0208 bytes to EUC-JP's (translate)


def _vendor_pair(error: UnicodeError) -> tuple[str, int]:
    """codecs error handler for euc_jp: a pair that JIS X 0208 leaves empty, read as CP5022x does (CP932 via the
    Shift_JIS arithmetic); anything else stays an error."""
    if isinstance(error, UnicodeDecodeError):
        pair = error.object[error.start : error.start + 2]
        if len(pair) == 2 and pair[0] >= 0xA1 and pair[1] >= 0xA1:
            char = _jis_pair(pair[0] & 0x7F, pair[1] & 0x7F)
            if char is not None:
                return char, error.start + 2
    raise error


codecs.register_error("tsunagu-jis-vendor", _vendor_pair)


def _jis_run(run: bytes, errors: str, data: bytes, start: int) -> str:
    """A run of JIS X 0208 pairs: euc_jp's table, the vendor rows through _vendor_pair."""
    high = run.translate(_HIGH)
    try:
        return high.decode("euc_jp", "tsunagu-jis-vendor")
    except UnicodeDecodeError as error:
        if errors == "strict":
            raise UnicodeDecodeError(
                "iso-2022-jp-ms", data, start + error.start, start + error.end, "no such character"
            ) from None
    out = []
    for i in range(0, len(run), 2):
        pair = run[i : i + 2]
        char = _jis_pair(pair[0], pair[1]) if len(pair) == 2 else None
        out.append("\ufffd" if char is None else char)
    return "".join(out)


_CONTROL = re.compile(rb"[\x1b\x0e\x0f]")
_JIS_RUNS = re.compile(rb"([\x21-\x7e]+)|[^\x21-\x7e]+")


def decode_iso2022jp(data: bytes, errors: str = "strict") -> str:
    """ISO-2022-JP as CP50220/CP50221/CP50222 (ISO-2022-JP-MS): NEC specials, IBM extensions, ESC ( I and SO/SI
    half-width katakana, 8-bit katakana; other ISO-2022 sets via Python's codecs. errors: strict | replace."""
    try:
        return data.decode("iso2022_jp")  # plain JIS X 0208: Python's codec, 200 times faster, the same result
    except UnicodeDecodeError:
        pass
    out: list[str] = []
    mode = "ascii"
    shifted = False
    i, n = 0, len(data)

    def fail(start: int, end: int, reason: str) -> None:
        if errors == "strict":
            raise UnicodeDecodeError("iso-2022-jp-ms", data, start, end, reason)
        out.append("\ufffd")

    def single(chunk: bytes, start: int) -> None:
        """Bytes outside the two-byte set: ASCII (JIS X 0201 Roman's two differences), katakana, controls."""
        if chunk.isascii() and not (shifted or mode == "kana"):
            text = chunk.decode("ascii")
            out.append(text.replace("\\", "\u00a5").replace("~", "\u203e") if mode == "roman" else text)
            return
        for offset, byte in enumerate(chunk):
            if 0xA1 <= byte <= 0xDF:  # 8-bit JIS X 0201 katakana (CP50222 / "JIS8")
                out.append(chr(0xFF61 + byte - 0xA1))
            elif byte >= 0x80:
                fail(start + offset, start + offset + 1, "8-bit byte in ISO-2022-JP")
            elif (shifted or mode == "kana") and 0x21 <= byte <= 0x5F:
                out.append(chr(0xFF61 + byte - 0x21))
            elif mode == "roman" and byte in (0x5C, 0x7E):
                out.append("\u00a5" if byte == 0x5C else "\u203e")
            else:
                out.append(chr(byte))  # ASCII, and the controls (newlines) in any mode

    while i < n:
        byte = data[i]
        if byte == ESC:
            escape = next((e for e in (data[i : i + 4], data[i : i + 3]) if e in _ESCAPE_SET), None)
            if escape is None:
                fail(i, i + 1, "unknown escape sequence")
                i += 1
                continue
            if escape in _DELEGATED:
                end = data.find(b"\x1b", i + len(escape))
                end = n if end < 0 else end
                try:
                    out.append((data[i:end] + b"\x1b(B").decode(_DELEGATED[escape]))
                except UnicodeDecodeError:
                    fail(i, end, "undecodable segment")
                i = end
                mode = "ascii"
                continue
            i += len(escape)
            if escape in _TWO_BYTE:
                mode = "jis"
            elif escape in _KATAKANA:
                mode = "kana"
            elif escape in _ROMAN:
                mode = "roman"
            elif escape in _ASCII:
                mode = "ascii"
            continue
        if byte in (SO, SI):
            shifted, i = byte == SO, i + 1
            continue
        found = _CONTROL.search(data, i)
        end = found.start() if found else n
        chunk = data[i:end]
        if mode == "jis" and not shifted:
            for match in _JIS_RUNS.finditer(chunk):
                if match.group(1):
                    out.append(_jis_run(match.group(1), errors, data, i + match.start()))
                else:
                    single(match.group(), i + match.start())
        else:
            single(chunk, i)
        i = end
    return "".join(out)


def decode_euc_jp(data: bytes, errors: str = "strict") -> str:
    """EUC-JP as eucJP-ms: JIS X 0208 with the same NEC/IBM rows as CP50220, SS2 katakana, SS3 JIS X 0212."""
    try:
        return data.decode("euc_jp", "tsunagu-jis-vendor")
    except UnicodeDecodeError:
        pass
    out: list[str] = []  # byte by byte, to say where it fails or to replace what fails
    i, n = 0, len(data)
    while i < n:
        byte = data[i]
        if byte < 0x80:
            out.append(chr(byte))
            i += 1
            continue
        if byte == 0x8F and i + 2 < n:  # SS3: JIS X 0212
            char = _decode_or_none(data[i : i + 3], "euc_jp")
            width = 3
        elif byte == 0x8E and i + 1 < n:  # SS2: half-width katakana
            char = _decode_or_none(data[i : i + 2], "euc_jp")
            width = 2
        elif 0xA1 <= byte <= 0xFE and i + 1 < n and 0xA1 <= data[i + 1] <= 0xFE:
            char = _jis_pair(byte & 0x7F, data[i + 1] & 0x7F)
            width = 2
        else:
            char, width = None, 1
        if char is None:
            if errors == "strict":
                raise UnicodeDecodeError("euc-jp-ms", data, i, i + width, "no such character")
            char = "\ufffd"
        out.append(char)
        i += width
    return "".join(out)


def decode_cp932(data: bytes) -> str:
    """CP932 (Shift_JIS as Windows writes it), without Python's mappings of the lone bytes 0x80, 0xA0 and 0xFD-0xFF
    (to U+0080 and private-use characters): no Japanese text has them, and with them CP932 "decodes" any bytes."""
    text = data.decode("cp932")
    for position, char in enumerate(text):
        if char == "\x80" or "\uf8f0" <= char <= "\uf8f3":
            raise UnicodeDecodeError("cp932", data, position, position + 1, "lone byte outside Shift_JIS")
    return text


def _decode_or_none(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return None


def has_iso2022_escapes(data: bytes) -> bool:
    return bool(_HAS_DESIGNATION.search(data))


def _japanese_score(text: str) -> int:
    """How much a decoding reads as Japanese: kana count for it, and kanji too where there is kana (Japanese text
    without any kana is rare, kanji-only decodings are what half-width katakana bytes become read as EUC-JP);
    private-use and control characters (what stray bytes become) against it. Half-width katakana are neutral: they
    are what EUC-JP bytes become read as CP932, and also what old Shift_JIS systems really write."""
    kana = kanji = bad = 0
    for char in text:
        code = ord(char)
        if 0x3040 <= code <= 0x30FF:
            kana += 1
        elif 0x4E00 <= code <= 0x9FFF or 0x3000 <= code <= 0x303F:
            kanji += 1
        elif 0xE000 <= code <= 0xF8FF or (code < 0x20 and char not in "\r\n\t"):
            bad += 1
    return 2 * kana + (kanji if kana else 0) - 3 * bad


def decode_shift_jis(data: bytes) -> str:
    """Shift_JIS-labelled bytes as CP932, unless they are EUC-JP that CP932 also reads (as half-width katakana):
    then as EUC-JP, which reads as Japanese. Real Shift_JIS kana (0x82, 0x83 leads) never decode as EUC-JP."""
    text = decode_cp932(data)
    try:
        other = decode_euc_jp(data)
    except UnicodeDecodeError:
        return text
    return other if _japanese_score(other) > _japanese_score(text) else text


def detect(data: bytes) -> str | None:
    """Unlabelled or mislabelled bytes as text, when some Japanese mail charset (or UTF-8) reads them cleanly:
    escape sequences mean ISO-2022-JP; valid UTF-8 is UTF-8; else CP932 or EUC-JP, whichever reads more like
    Japanese; then the JIS X 0213 codecs. None when nothing decodes without an error."""
    eight_bit = any(b >= 0x80 for b in data)
    if not eight_bit and has_iso2022_escapes(data):
        try:
            return decode_iso2022jp(data)
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    candidates = []
    for decoder in (decode_cp932, decode_euc_jp):  # the first wins a tie: CP932 is the more common
        try:
            candidates.append(decoder(data))
        except UnicodeDecodeError:
            continue
    if candidates:
        return max(candidates, key=_japanese_score)  # max keeps the first (CP932) on a tie
    for codec in ("shift_jis_2004", "euc_jis_2004", "iso2022_jp_2004"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return None


# --- encoding (outgoing ISO-2022-JP, as CP50220 writes it) ------------------------------------------------------

# Characters written as another that every Japanese client shows the same: U+00A5/U+203E exist only in JIS X 0201
# Roman, which Windows clients show as a backslash and a tilde; the full-width forms are in JIS X 0208.
_SUBSTITUTES = {"\u00a5": "\uffe5", "\u203e": "\uffe3"}


@functools.cache
def _jis_table() -> dict[str, bytes]:
    """Every character CP50220 can write in JIS X 0208 (with the NEC and NEC-selected IBM rows), mapped to its pair;
    the first (standard) row wins where a character appears twice, as CP50220 does."""
    table: dict[str, bytes] = {}
    for j1 in range(0x21, 0x7F):
        for j2 in range(0x21, 0x7F):
            char = _jis_pair(j1, j2)
            if char is not None and char not in table:
                table[char] = bytes((j1, j2))
    return table


def _sjis_to_jis(s1: int, s2: int) -> bytes | None:
    if not (0x81 <= s1 <= 0x9F or 0xE0 <= s1 <= 0xEF):
        return None
    s1 -= 0xB0 if s1 >= 0xE0 else 0x70
    if s2 >= 0x9F:
        return bytes((s1 * 2, s2 - 0x7E))
    return bytes((s1 * 2 - 1, s2 - (0x20 if s2 >= 0x80 else 0x1F)))


def _jis_for(char: str) -> bytes | None:
    pair = _jis_table().get(char)
    if pair is not None:
        return pair
    try:  # the CP932 forms of the JIS characters (U+FF5E for 〜, U+2225 for ‖, U+FFE2 for ¬ ...)
        encoded = char.encode("cp932")
    except UnicodeEncodeError:
        return None
    return _sjis_to_jis(encoded[0], encoded[1]) if len(encoded) == 2 else None


def _prepared(text: str) -> str:
    # Half-width katakana as full-width (CP50220): NFKC on the run joins ｶﾞ into ガ.
    text = re.sub("[\uff61-\uff9f]+", lambda m: unicodedata.normalize("NFKC", m.group()), text)
    return "".join(_SUBSTITUTES.get(char, char) for char in text)


def iso2022jp_unencodable(text: str) -> str:
    """The characters of text that ISO-2022-JP (CP50220) cannot carry (emoji, kanji outside JIS X 0208 and the
    vendor rows), each once, in order; "" when all can."""
    missing: dict[str, None] = {}
    for char in _prepared(text):
        if ord(char) >= 0x80 and _jis_for(char) is None:
            missing[char] = None
    return "".join(missing)


def encode_iso2022jp(text: str) -> bytes:
    """Text as 7-bit ISO-2022-JP (CP50220), back in ASCII before every line end and at the end.
    Raises UnicodeEncodeError for a character it cannot carry (check with iso2022jp_unencodable first)."""
    out = bytearray()
    in_jis = False
    for position, char in enumerate(_prepared(text)):
        if ord(char) < 0x80:
            if in_jis:
                out += b"\x1b(B"
                in_jis = False
            out.append(ord(char))
            continue
        pair = _jis_for(char)
        if pair is None:
            raise UnicodeEncodeError("iso-2022-jp", text, position, position + 1, "not in ISO-2022-JP (CP50220)")
        if not in_jis:
            out += b"\x1b$B"
            in_jis = True
        out += pair
    if in_jis:
        out += b"\x1b(B"
    return bytes(out)


def encoded_words(text: str, *, max_bytes: int = 30) -> list[str]:
    """RFC 2047 B-encoded ISO-2022-JP words for a header, each one self-contained (it starts and ends in ASCII, so
    a client decoding words one by one reads them) and short enough to fold: about 58 characters."""
    words: list[str] = []
    chunk = ""
    for char in text:
        candidate = chunk + char
        if chunk and len(encode_iso2022jp(candidate)) > max_bytes:
            words.append(_word(chunk))
            chunk = char
        else:
            chunk = candidate
    if chunk:
        words.append(_word(chunk))
    return words


def _word(chunk: str) -> str:
    return "=?ISO-2022-JP?B?" + base64.b64encode(encode_iso2022jp(chunk)).decode("ascii") + "?="


ISO2022JP_LABELS = frozenset(
    {"iso-2022-jp", "csiso2022jp", "iso-2022-jp-ms", "cp50220", "cp50221", "cp50222", "iso2022jp", "x-cp50220"}
)
SHIFT_JIS_LABELS = frozenset(
    {"shift_jis", "shift-jis", "sjis", "x-sjis", "windows-31j", "cp932", "ms932", "ms_kanji", "csshiftjis"}
)
EUC_JP_LABELS = frozenset({"euc-jp", "x-euc-jp", "eucjp", "eucjp-ms", "euc-jp-ms", "cseucpkdfmtjapanese"})


# --- an outgoing message in ISO-2022-JP (EmailConnector.build) --------------------------------------------------

ISO2022JP = "iso-2022-jp"  # the mailbox option's value (config["outgoing_charset"]); the default is "utf-8"
MAX_7BIT_LINE = 998  # RFC 5322 §2.1.1, in bytes without the line end


def use_iso2022jp(config: dict, texts: list[str]) -> bool:
    """Whether this message goes out in ISO-2022-JP: the mailbox asks for it and every character fits. Otherwise it
    goes out in UTF-8 (logged): a reply must never lose characters, and refusing it would stop an agent over an
    emoji or a name written in a kanji outside JIS X 0208 (𠮷) that a customer typed and the agent quoted."""
    if config.get("outgoing_charset") != ISO2022JP:
        return False
    missing = iso2022jp_unencodable("".join(texts))
    if missing:
        logger.warning(
            "mail from %s sent in UTF-8, not ISO-2022-JP: it cannot carry %s",
            config.get("address", ""),
            " ".join(f"U+{ord(char):04X}" for char in missing),
        )
        return False
    return True


def set_header(message: EmailMessage, name: str, text: str) -> None:
    """A header in ISO-2022-JP encoded words, folded here: set_raw keeps it as written (the header registry would
    re-encode it as UTF-8)."""
    if text.isascii():
        message[name] = text
        return
    message.set_raw(name, "\n ".join(encoded_words(text)))


def set_bodies(message: EmailMessage, text: str, html: str) -> None:
    """text/plain and its text/html alternative in ISO-2022-JP: 7bit as Japanese clients send it, or base64 when a
    line would pass RFC 5322's 998 bytes (an agent's paragraph with no line break)."""
    for number, (content, subtype) in enumerate(((text, "plain"), (html, "html"))):
        data = encode_iso2022jp(content.replace("\r\n", "\n"))
        cte = "7bit" if all(len(line) <= MAX_7BIT_LINE for line in data.split(b"\n")) else "base64"
        add = message.set_content if number == 0 else message.add_alternative
        add(data, maintype="text", subtype=subtype, cte=cte, params={"charset": "ISO-2022-JP"})


def set_attachment_name(part: EmailMessage, filename: str) -> None:
    """An attachment's name as Outlook writes it in ISO-2022-JP: RFC 2047 words in quotes, in both
    Content-Disposition's filename and Content-Type's name; the clients that want ISO-2022-JP predate RFC 2231."""
    if filename.isascii():
        return
    quoted = '"' + "\n ".join(encoded_words(filename)) + '"'
    content_type = part.get_content_type()
    del part["Content-Type"], part["Content-Disposition"]
    part.set_raw("Content-Type", f"{content_type};\n name={quoted}")
    part.set_raw("Content-Disposition", f"attachment;\n filename={quoted}")


def set_names(message: EmailMessage) -> None:
    """The From and To display names in ISO-2022-JP words too (a client that cannot read UTF-8 bodies cannot read
    UTF-8 names either); a name ISO-2022-JP cannot carry (𠮷田) stays in UTF-8, the rest of the message does not
    depend on it."""
    for name in ("From", "To"):
        header = message[name]
        addresses = getattr(header, "addresses", ())
        if len(addresses) != 1:
            continue
        display, address = addresses[0].display_name, addresses[0].addr_spec
        if display.isascii() or iso2022jp_unencodable(display):
            continue
        del message[name]
        message.set_raw(name, "\n ".join(encoded_words(display)) + f"\n <{address}>")
