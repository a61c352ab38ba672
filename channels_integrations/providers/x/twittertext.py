"""A post's length as X counts it: twitter-text's weighted length, configuration v3 (twitter-text `config/v3.json`,
the rule the 280 limit is enforced with). Pure Python, mirrored by `xWeightedLength` in static/js/inbox.js — change
both together.

- The text is NFC-normalized, then each Unicode code point weighs 100 when it falls in one of the light ranges
  (Latin, Greek, Cyrillic, Hebrew, Arabic... up to U+10FF, general punctuation), 200 otherwise (CJK, kana, Hangul).
- A URL weighs `transformedURLLength` (23) × 100 whatever its length (X wraps it in t.co).
- An emoji, a whole sequence included (ZWJ families, skin tones, flags, keycaps), weighs 200.
- The length is the sum divided by the scale (100); a post is valid up to 280.

The URL and emoji recognizers are simpler than twitter-text's full grammars (which know every TLD and the Unicode
emoji data): URLs with a scheme or `www.`, and bare domains under the common TLDs; emoji by the Extended_Pictographic
blocks. A text they misjudge is rare, and X itself has the last word (a refused post fails with its reason)."""

import re
import unicodedata

MAX_WEIGHTED_LENGTH = 280
SCALE = 100
DEFAULT_WEIGHT = 200
TRANSFORMED_URL_LENGTH = 23
RANGES = ((0, 4351, 100), (8192, 8205, 100), (8208, 8223, 100), (8242, 8247, 100))

# URLs: a scheme or www., or a bare domain under a common TLD (twitter-text links those too).
_TLDS = "com|net|org|info|biz|io|co|jp|me|tv|app|dev|ly|gl|us|uk|de|fr|cn|kr|tw|edu|gov|ai|so|to"
URL_RE = re.compile(
    r"(?:https?://|www\.)[^\s<>\"]+"
    rf"|(?<![A-Za-z0-9_@.-])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:{_TLDS})(?![A-Za-z0-9_])(?:/[^\s<>\"]*)?",
    re.IGNORECASE,
)
_TRAILING = ".,:;!?)]}'\"、。！？」』）"  # punctuation ending a sentence is not part of the link


def is_pictographic(cp: int) -> bool:
    """Extended_Pictographic, by block (Unicode emoji-data.txt, approximately)."""
    return (
        0x1F000 <= cp <= 0x1FAFF
        or 0x2600 <= cp <= 0x27BF
        or 0x2300 <= cp <= 0x23FF
        or 0x2B00 <= cp <= 0x2BFF
        or 0x2190 <= cp <= 0x21FF
        or 0x25A0 <= cp <= 0x25FF
        or cp in (0x00A9, 0x00AE, 0x203C, 0x2049, 0x2122, 0x2139, 0x24C2, 0x3030, 0x303D, 0x3297, 0x3299)
    )


def _is_modifier(cp: int) -> bool:
    # Variation selector-16, skin tones, tag characters (subdivision flags), the combining keycap.
    return cp == 0xFE0F or 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F or cp == 0x20E3


def _weight(cp: int) -> int:
    for start, end, weight in RANGES:
        if start <= cp <= end:
            return weight
    return DEFAULT_WEIGHT


def _url_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for match in URL_RE.finditer(text):
        start, end = match.span()
        while end > start and text[end - 1] in _TRAILING:
            end -= 1
        if end > start:
            spans.append((start, end))
    return spans


def weighted_length(text: str) -> int:
    """The length X counts for `text` (compare with MAX_WEIGHTED_LENGTH)."""
    text = unicodedata.normalize("NFC", text)
    spans = _url_spans(text)
    total, i, n = 0, 0, len(text)
    while i < n:
        if spans and spans[0][0] == i:
            total += TRANSFORMED_URL_LENGTH * SCALE
            i = spans.pop(0)[1]
            continue
        cp = ord(text[i])
        if is_pictographic(cp) or 0x1F1E6 <= cp <= 0x1F1FF or (text[i] in "#*0123456789" and _keycap(text, i)):
            i = _emoji_end(text, i)
            total += DEFAULT_WEIGHT
            continue
        total += _weight(cp)
        i += 1
    return total // SCALE


def _keycap(text: str, i: int) -> bool:
    rest = text[i + 1 : i + 3]
    return rest.startswith("\u20e3") or rest == "\ufe0f\u20e3"


def _emoji_end(text: str, i: int) -> int:
    """The index after the emoji sequence starting at `i`."""
    n = len(text)
    cp = ord(text[i])
    if 0x1F1E6 <= cp <= 0x1F1FF:  # a flag is a pair of regional indicators
        return i + 2 if i + 1 < n and 0x1F1E6 <= ord(text[i + 1]) <= 0x1F1FF else i + 1
    i += 1
    while i < n:
        cp = ord(text[i])
        if _is_modifier(cp):
            i += 1
        elif cp == 0x200D and i + 1 < n and is_pictographic(ord(text[i + 1])):
            i += 2
        else:
            break
    return i
