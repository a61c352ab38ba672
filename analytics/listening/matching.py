"""Whether a post mentions a monitor's terms, Japanese-aware.

Text and terms are compared after the same folding: NFKC (full-width ＴＳＵＮＡＧＵ and half-width ﾂﾅｸﾞ become
TSUNAGU and ツナグ), case-folding, runs of white space as one space, and katakana as hiragana, so ツナグ, ﾂﾅｸﾞ
and つなぐ are one term. A term written with a leading "=" keeps its script (=ツナグ does not match つなぐ): for
brands whose hiragana spelling is an everyday word.

Japanese has no spaces between words, so a Japanese term matches anywhere (ツナグ in #ツナグ and in ツナグさん).
A term that begins or ends with a Latin letter or digit must stand as a word on that side: "Zen" does not match
"Zendesk", "zen" matches "Zen!" and "Zenの新機能", and "tsunagu" matches "#tsunagu" and "tsunagu_jp".
"""

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

_SPACE = re.compile(r"\s+")
# After case-folding: ASCII letters and digits, and the Latin letters with accents (é, ß, ł...).
_LATIN = "0-9a-z\u00df-\u00f6\u00f8-\u00ff\u0100-\u024f"
_LATIN_CHAR = re.compile(f"[{_LATIN}]")
_KATAKANA = {code: code - 0x60 for code in range(0x30A1, 0x30F7)} | {0x30FD: 0x309D, 0x30FE: 0x309E}


def fold(text: str, *, kana: bool = True) -> str:
    """The form text and terms are compared in (see the module's docstring)."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    folded = _SPACE.sub(" ", folded).strip()
    return folded.translate(_KATAKANA) if kana else folded


@dataclass(frozen=True)
class Term:
    pattern: re.Pattern
    kana: bool  # compared with katakana folded into hiragana


def compile_term(term: str) -> Term | None:
    """A term as a pattern; None for an empty one."""
    exact = term.strip().startswith("=")
    folded = fold(term.strip().removeprefix("="), kana=not exact)
    if not folded:
        return None
    pattern = re.escape(folded)
    if _LATIN_CHAR.fullmatch(folded[0]):
        pattern = f"(?<![{_LATIN}])" + pattern
    if _LATIN_CHAR.fullmatch(folded[-1]):
        pattern += f"(?![{_LATIN}])"
    return Term(re.compile(pattern), kana=not exact)


class Matcher:
    """The compiled terms of one monitor: `matches(text)` when a term is found and no excluded term is."""

    def __init__(self, terms: Iterable[str], excluded: Iterable[str] = ()):
        self.terms = [t for t in map(compile_term, terms) if t is not None]
        self.excluded = [t for t in map(compile_term, excluded) if t is not None]

    def matches(self, text: str) -> bool:
        forms = {True: fold(text), False: fold(text, kana=False)}
        if not any(t.pattern.search(forms[t.kana]) for t in self.terms):
            return False
        return not any(t.pattern.search(forms[t.kana]) for t in self.excluded)


def hashtags_for(terms: Iterable[str]) -> list[str]:
    """Instagram hashtags to search for a monitor's terms: each term without spaces or punctuation, folded but in
    its own script (Instagram's hashtags are not kana-insensitive), without the leading #. Emoji and empty
    results are left out (the Hashtag Search API does not take emoji)."""
    tags = []
    for term in terms:
        text = fold(term.strip().removeprefix("=").removeprefix("#"), kana=False)
        tag = "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN" or ch == "_")
        if tag and tag not in tags:
            tags.append(tag)
    return tags
