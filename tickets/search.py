"""Full-text search that works for Japanese as well as English and mixed text, on core PostgreSQL only.

Why this module exists: PostgreSQL's text-search parser splits words on spaces and punctuation. Japanese has no
spaces, so `to_tsvector('simple', '注文した商品がまだ届いていません')` is ONE lexeme and a search for 「商品」 finds
nothing. The usual fixes (pg_trgm, pg_bigm, MeCab/PGroonga) are extensions we cannot rely on.

So we segment in Python at write time, with the morphological analyser Sudachi (SudachiPy + SudachiDict core), and
hand PostgreSQL ready-made lexemes, as Elasticsearch's kuromoji and Sudachi's search mode do:

* the text is NFKC-normalized, then cut into words (Sudachi's long units, SplitMode.C); each word takes one position;
* a Japanese word's lexeme is its Sudachi normalized form, NFKC + casefolded: okurigana and kana variants and widths
  fold together (引落し == 引き落とし, ｶﾀｶﾅ == カタカナ, 届いて -> 届く + て), and a compound also gives its short
  units (SplitMode.A) at the same position, so 配送 finds 配送料 while 本 does not find 日本 and 京都 not 東京都;
* a word without Japanese characters is split into letters/digits runs (iphone, 15, abc, 1234), one position each;
* a Japanese word the dictionary does not know (a new name, a shop) also gives its overlapping character bigrams,
  prefixed with FALLBACK so they never mix with real words, at positions of their own after the word's;
* everything else (spaces, punctuation, emoji) only separates words.

The tsvector and tsquery are built as *literals* (`'届く':1 'て':2`::tsvector, `'届く' <-> 'て'`::tsquery) and cast,
so PostgreSQL's parser and dictionaries never touch the lexemes. A query term (what is between spaces) is its words
as a phrase; terms are ANDed; an unknown word may also match by its bigrams (ranked last, see `rank_queries`).

Vectors written before the morphological analyser (bigrams of every character) carry no VERSION_MARK: while
LEGACY_QUERIES is on, a query also matches them the old way, so nothing stops matching between a deploy and the end of
`manage.py reindex_search`.

Storing: `Message.objects.filter(pk=pk).update(search_vector=vector_expression(text))`.
Searching: `filter_matching(Message.objects.all(), "届いて").order_by("-created_at")`.
"""

import functools
import re
import threading
import unicodedata
from collections.abc import Iterator
from typing import NamedTuple

from django.conf import settings
from django.contrib.postgres.search import SearchQueryField, SearchVectorField
from django.db.models import BooleanField, Case, F, Func, IntegerField, Q, QuerySet, TextField, Value, When
from django.db.models.functions import Cast, Coalesce
from sudachipy import Dictionary, SplitMode

# PostgreSQL stores positions 1..16383 (larger ones are silently clamped to 16383, which would break `<->`), so we
# index at most that many tokens: every stored position is then the token's real place in the document.
MAX_POSITION = 16383
# PostgreSQL keeps at most 256 positions per lexeme and silently drops the rest; we drop them explicitly.
MAX_POSITIONS_PER_LEXEME = 256
# Raw characters looked at per text: bounds the Python work for a huge email. Each token consumes at least one
# character, so this is more than enough to reach MAX_POSITION tokens for any ordinary text.
MAX_INPUT_CHARS = 200_000
# A letters/digits run longer than this (base64, hashes) is cut, on both the document and the query side, so it stays
# far below PostgreSQL's 2046-byte lexeme limit ("word is too long" would be an error in a tsvector literal).
MAX_WORD_CHARS = 100
# Search box input beyond this is ignored: keeps the tsquery small whatever is pasted into it.
MAX_QUERY_CHARS = 200

_CJK_RANGES: tuple[tuple[int, int], ...] = (
    (0x3005, 0x3007),  # 々 〆 〇
    (0x303B, 0x303B),  # 〻
    (0x3041, 0x309F),  # Hiragana (incl. ゝゞ)
    (0x30A1, 0x30FF),  # Katakana incl. ー ヽヾ (・ U+30FB is punctuation and fails the letter check)
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK unified ideographs extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x3134F),  # CJK unified ideographs extensions B..G
)
_QUOTES = re.compile('["“”＂]')

_SEPARATOR, _WORD, _CJK, _MARK = 0, 1, 2, 3


class Run(NamedTuple):
    """A maximal stretch of CJK characters (`cjk=True`) or of other letters/digits (`cjk=False`)."""

    text: str
    cjk: bool


def normalize(text: str) -> str:
    """NFKC + casefold, so full-width/half-width forms and letter case never decide whether a search matches."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _CJK_RANGES)


def _classify(char: str) -> int:
    """Letters and digits are CJK or word characters; a combining mark (_MARK) continues a word (Devanagari vowel
    signs, leftover accents) and otherwise separates; anything else separates."""
    category = unicodedata.category(char)[0]
    if category in "LN":
        return _CJK if _is_cjk(char) else _WORD
    return _MARK if category == "M" else _SEPARATOR


# Every text of every message is segmented at least twice (its message and its ticket), character by character:
# each character's class is worked out once per process. At most every Unicode character, a few MB.
_CLASSES: dict[str, int] = {}


def iter_runs(text: str) -> Iterator[Run]:
    """Yield the runs of `text` (normalized here) lazily, so callers can stop early on huge texts."""
    normalized = normalize(text[:MAX_INPUT_CHARS])
    classes = _CLASSES
    current: list[str] = []
    current_class = _SEPARATOR
    for char in normalized:
        char_class = classes.get(char)
        if char_class is None:
            char_class = classes[char] = _classify(char)
        if char_class == _MARK:
            char_class = _WORD if current_class == _WORD else _SEPARATOR
        if char_class != current_class and current:
            yield _make_run(current, current_class)
            current = []
        current_class = char_class
        if char_class != _SEPARATOR:
            current.append(char)
    if current:
        yield _make_run(current, current_class)


def _make_run(chars: list[str], char_class: int) -> Run:
    if char_class == _CJK:
        return Run("".join(chars), True)
    return Run("".join(chars[:MAX_WORD_CHARS]), False)


def segment(text: str) -> list[Run]:
    """The runs of `text`: 「iPhone 15の画面」 -> iphone, 15, の画面 (CJK)."""
    return list(iter_runs(text))


def run_tokens(run: Run) -> list[str]:
    """The indexed tokens of one run: a word is itself; a CJK run gives, for each character, that character and its
    successor, so 「届いて」 -> 届い, いて, て (a one-character run -> that character)."""
    if not run.cjk:
        return [run.text]
    return [run.text[i : i + 2] for i in range(len(run.text))]


def cjk_bigrams(text: str) -> list[str]:
    """Overlapping character bigrams of a CJK run, in order (a one-character run -> that character)."""
    if len(text) < 2:
        return [text]
    return [text[i : i + 2] for i in range(len(text) - 1)]


# --- morphological analysis ----------------------------------------------------------------------------------------

# Prefix of the bigram lexemes of unknown words. `#` is never part of a word (it separates runs), so a fallback
# lexeme can only be matched by a fallback operand.
FALLBACK = "#"
# A lexeme without position in every vector written by this analyser (see SEARCH_LEGACY_QUERIES).
VERSION_MARK = "#morph1"
# While vectors written by the bigram segmenter may remain (until `manage.py reindex_search` has run once after the
# deploy), a query also matches a vector without VERSION_MARK with the old bigram query: settings.SEARCH_LEGACY_QUERIES,
# on by default; turn it off (SEARCH_LEGACY_QUERIES=0) once reindexed.
# Sudachi refuses input over 49,149 bytes: the text is fed in lines, each cut to this many characters (3 bytes each).
_CHUNK_CHARS = 4000
_HIRAGANA = re.compile("[\u3041-\u309fー]+")
_SURROGATES = re.compile("[\ud800-\udfff]")
_LINES = re.compile(r"[^\n。！？]*[\n。！？]?")

_dictionary: Dictionary | None = None
_dictionary_lock = threading.Lock()
_local = threading.local()


def _tokenizer():
    """The Sudachi tokenizer of this thread. The dictionary (tens of MB, memory-mapped) is loaded once per process;
    a tokenizer keeps per-call state, so each thread gets its own."""
    global _dictionary
    tokenizer = getattr(_local, "tokenizer", None)
    if tokenizer is None:
        with _dictionary_lock:
            if _dictionary is None:
                _dictionary = Dictionary(dict="core")
        tokenizer = _local.tokenizer = _dictionary.tokenizer(mode=SplitMode.C)
    return tokenizer


class Unit(NamedTuple):
    """One word of a text: its lexemes at its position (the normalized word, then a compound's parts), and for an
    unknown Japanese word its FALLBACK bigrams at that position and the following ones. `word` marks a letters/digits
    word (no Japanese), which a query may match as a prefix."""

    lexemes: tuple[str, ...]
    fallback: tuple[str, ...] = ()
    word: bool = False
    kana: str = ""  # a hiragana word's own spelling when its normalized form differs (しょうじ, read 障子)

    @property
    def width(self) -> int:
        return max(1, len(self.fallback))


def _chunks(text: str) -> Iterator[str]:
    """The text in pieces Sudachi accepts: lines and sentences, a longer one cut after a space where there is one."""
    for line in _LINES.findall(text):
        while len(line) > _CHUNK_CHARS:
            cut = line.rfind(" ", 0, _CHUNK_CHARS) + 1 or _CHUNK_CHARS
            yield line[:cut]
            line = line[cut:]
        if line:
            yield line


def _japanese_unit(morpheme) -> Unit:
    """A Japanese word: its normalized form, then its middle and short units (京都府宇治市 -> 京都府, 宇治市, 京都,
    府, 宇治, 市), then, for a verb's continuative form that is also a noun (問い合わせ(る), 払戻し), the noun."""
    lexemes = [morpheme.normalized_form()]
    # Hiragana is read by context (しょうじ is 障子 alone, a name after it): its spelling is a lexeme too.
    surface = normalize(morpheme.surface())
    kana = surface if _HIRAGANA.fullmatch(surface) and surface != normalize(lexemes[0]) else ""
    lexemes.append(kana)
    for mode in (SplitMode.B, SplitMode.A):
        parts = morpheme.split(mode)
        if len(parts) > 1:
            lexemes += [part.normalized_form() for part in parts]
    part_of_speech = morpheme.part_of_speech()
    if part_of_speech[0] == "動詞" and part_of_speech[5].startswith("連用形"):
        lexemes += _nouns(morpheme.surface())
    fallback: tuple[str, ...] = ()
    if morpheme.is_oov():
        letters = "".join(run.text for run in iter_runs(morpheme.surface()))[:MAX_WORD_CHARS]
        if len(letters) > 1:
            fallback = tuple(FALLBACK + bigram for bigram in cjk_bigrams(letters))
    normalized = (normalize(lexeme)[:MAX_WORD_CHARS] for lexeme in lexemes)
    return Unit(tuple(dict.fromkeys(lexeme for lexeme in normalized if lexeme)), fallback, kana=kana)


@functools.lru_cache(maxsize=20_000)
def _nouns(surface: str) -> tuple[str, ...]:
    """The normalized form of `surface` read alone when that is one noun (問い合わせ, whose verb reading inside a
    sentence is 問い合わせる), so the noun a user types finds the verb's continuative form."""
    morphemes = _tokenizer().tokenize(surface)
    if len(morphemes) == 1 and morphemes[0].part_of_speech()[0] == "名詞":
        return (morphemes[0].normalized_form(),)
    return ()


def analyse(text: str) -> Iterator[Unit]:
    """The words of `text` in order, lazily (callers stop early on huge texts)."""
    tokenizer = _tokenizer()
    # Sudachi takes UTF-8 only: a lone surrogate (possible in a Python str, never in valid text) separates words.
    text = _SURROGATES.sub(" ", text[:MAX_INPUT_CHARS])
    for chunk in _chunks(unicodedata.normalize("NFKC", text)):
        for morpheme in tokenizer.tokenize(chunk):
            surface = morpheme.surface()
            runs = list(iter_runs(surface))
            if any(run.cjk for run in runs):
                yield _japanese_unit(morpheme)
            else:
                yield from (Unit((run.text,), word=True) for run in runs)


# A message's text is indexed more than once while it is stored (a new ticket's vector holds its subject, often the
# text's first line, and the text; the message's own vector the text again): the words of the last few short texts
# are kept, so Sudachi reads each text once. Bounded in entries and in the length of a text kept.
_UNITS_CACHED_CHARS = 2000


@functools.lru_cache(maxsize=64)
def _units(text: str) -> tuple[Unit, ...]:
    return tuple(analyse(text))


def document_tokens(*texts: str) -> list[tuple[str, int]]:
    """(lexeme, position) pairs of the texts in order, 1-based, at most MAX_POSITION positions. One position is left
    empty between two texts so that a phrase never matches across them (end of subject + start of body)."""
    result: list[tuple[str, int]] = []
    position = 0
    for text in texts:
        text = text or ""
        for unit in _units(text) if len(text) <= _UNITS_CACHED_CHARS else analyse(text):
            if position + unit.width > MAX_POSITION:
                return result
            result += [(lexeme, position + 1) for lexeme in unit.lexemes]
            result += [(bigram, position + 1 + i) for i, bigram in enumerate(unit.fallback)]
            position += unit.width
        position += 1
    return result


def quote_lexeme(lexeme: str) -> str:
    """A lexeme quoted for tsvector/tsquery input: inside '...' a backslash escapes the next character and a quote is
    doubled. (Our tokens never contain either, but the literal must be correct for any lexeme.)"""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def index_document(*texts: str) -> str:
    """The tsvector literal of the texts, e.g. `'届く':1,7 'て':2 '#morph1'`; "" (an empty tsvector) for no word."""
    positions: dict[str, list[int]] = {}
    for token, position in document_tokens(*texts):
        token_positions = positions.setdefault(token, [])
        if len(token_positions) < MAX_POSITIONS_PER_LEXEME and position not in token_positions[-1:]:
            token_positions.append(position)
    if not positions:
        return ""
    lexemes = " ".join(f"{quote_lexeme(token)}:{','.join(map(str, pos))}" for token, pos in positions.items())
    return f"{lexemes} {quote_lexeme(VERSION_MARK)}"


# --- queries -------------------------------------------------------------------------------------------------------


def _operand(unit: Unit, last: bool, fallback: bool) -> str:
    """One word of a query. The last word of a term, when it is letters only, is a prefix (refund -> refunds); an
    unknown Japanese word may also match by its bigrams when `fallback`."""
    word = quote_lexeme(unit.lexemes[0])
    if unit.kana:
        word = f"({word} | {quote_lexeme(unit.kana)})"
    if unit.word and last and unit.lexemes[0].isalpha():
        return word + ":*"
    if fallback and unit.fallback:
        return f"({word} | ({' <-> '.join(map(quote_lexeme, unit.fallback))}))"
    return word


def _phrase(units: list[Unit], fallback: bool) -> str:
    """The units at their document distances: `<->` after a one-position word, `<N>` after an unknown word that
    took N positions (its bigrams)."""
    parts = []
    for index, unit in enumerate(units):
        parts.append(_operand(unit, index == len(units) - 1, fallback))
        if index < len(units) - 1:
            parts.append("<->" if unit.width == 1 else f"<{unit.width}>")
    return parts[0] if len(parts) == 1 else "(" + " ".join(parts) + ")"


def _terms(query: str) -> list[list[Unit]]:
    """The terms of what a user typed: what is between double quotes is one term, the rest is split at spaces. An
    unmatched quote is a separator. Terms without a word are dropped."""
    pieces = _QUOTES.split(query[:MAX_QUERY_CHARS])
    terms: list[list[Unit]] = []
    for index, piece in enumerate(pieces):
        quoted = index % 2 == 1 and index < len(pieces) - 1
        for text in [piece] if quoted else piece.split():
            units = list(analyse(text))
            if units:
                terms.append(units)
    return terms


def _legacy_term_operands(run: Run) -> list[str]:
    """The bigram segmenter's operands of one search term (kept for vectors it wrote: SEARCH_LEGACY_QUERIES)."""
    if not run.cjk or len(run.text) == 1:
        return [f"{quote_lexeme(run.text)}:*"]
    return [quote_lexeme(bigram) for bigram in cjk_bigrams(run.text)]


def _legacy_literal(query: str) -> str | None:
    """The query the bigram segmenter made (without quoted phrases: every run is a term)."""
    parts = []
    for run in iter_runs(_QUOTES.sub(" ", query[:MAX_QUERY_CHARS])):
        operands = _legacy_term_operands(run)
        parts.append(operands[0] if len(operands) == 1 else "(" + " <-> ".join(operands) + ")")
    return " & ".join(parts) or None


def tsquery_literal(query: str, *, fallback: bool = True, legacy: bool | None = None) -> str | None:
    """The tsquery literal for what a user typed, or None when it has no searchable word.

    Terms are ANDed; each term is its words as a phrase. Every tsquery operator a user may type (& | ! : ( ) ' \\ *
    <->) is just a separator: the user cannot build operators, and no input can produce a syntax error. `fallback`:
    unknown words may match by their bigrams; `legacy` (default settings.SEARCH_LEGACY_QUERIES): vectors without
    VERSION_MARK are matched with the bigram segmenter's query.
    """
    terms = _terms(query)
    if not terms:
        return None
    literal = " & ".join(_phrase(units, fallback) for units in terms)
    old = _legacy_literal(query) if (settings.SEARCH_LEGACY_QUERIES if legacy is None else legacy) else None
    if old:
        return f"({literal}) | (!{quote_lexeme(VERSION_MARK)} & ({old}))"
    return literal


def rank_queries(query: str) -> list[str]:
    """The tsquery literals of the better tiers of a search, best first; a match of the query that matches none of
    them comes last. Tiers: the whole input as one exact phrase (with several terms), then all terms by their words
    (an unknown word's bigrams not counted). Empty when every match is in the same tier."""
    terms = _terms(query)
    tiers = []
    if len(terms) > 1:
        tiers.append(_phrase([unit for units in terms for unit in units], fallback=False))
    if any(unit.fallback for units in terms for unit in units):
        tiers.append(" & ".join(_phrase(units, fallback=False) for units in terms))
    return tiers


def vector_expression(*texts: str) -> Cast:
    """An expression that stores the texts' search vector, for `.update(search_vector=...)` or
    `Model(search_vector=...)`. The literal travels as a query parameter and is cast with `::tsvector`."""
    return document_expression(index_document(*texts))


def document_expression(document: str) -> Cast:
    """`vector_expression` of a document already made by `index_document` (one text indexed once, stored twice)."""
    return Cast(Value(document, output_field=TextField()), output_field=SearchVectorField())


class _Concat(Func):
    """`a || b` on tsvectors: PostgreSQL shifts b's positions past a's, so phrases never span the join."""

    arg_joiner = " || "
    template = "(%(expressions)s)"
    output_field = SearchVectorField()


def append_expression(field: str, *texts: str) -> _Concat:
    """`field || vector(texts)` for `.update(...)`: adds words to a ticket's search vector."""
    empty = Cast(Value("", output_field=TextField()), output_field=SearchVectorField())
    return _Concat(Coalesce(F(field), empty), vector_expression(*texts))


def append_sql(column: str) -> str:
    """`append_expression` as SQL text, for the hand-written statement a new message makes on its ticket
    (`tickets.services.ticket_message_update`); its parameter is an `index_document`."""
    return f"COALESCE({column}, ''::tsvector) || %s::tsvector"


class _Matches(Func):
    """`vector @@ query` as a boolean expression; `filter()` accepts it directly."""

    arg_joiner = " @@ "
    template = "(%(expressions)s)"
    output_field = BooleanField()


def filter_matching(queryset: QuerySet, query: str, field: str = "search_vector") -> QuerySet:
    """`queryset` narrowed to rows whose `field` matches what the user typed (none for a query without a token).

    The tsquery literal is a query parameter cast with `::tsquery`: user input never becomes SQL text, and a constant
    right-hand side of `@@` lets PostgreSQL use the GIN index on the vector. `field` may span relations
    ("ticket__search_vector").
    """
    literal = tsquery_literal(query)
    if literal is None:
        return queryset.none()
    return queryset.filter(_matches(field, literal))


def _matches(field: str, literal: str) -> _Matches:
    return _Matches(F(field), Cast(Value(literal, output_field=TextField()), output_field=SearchQueryField()))


def rank_expression(query: str, field: str = "search_vector") -> Case | None:
    """The tier of a matching row (0 best, see `rank_queries`) for `.annotate(...)`, or None when every match is in
    the same tier. It is worked out for every matching row: on a large result prefer `filter_tier` page by page."""
    tiers = rank_queries(query)
    if not tiers:
        return None
    whens = [When(_matches(field, literal), then=Value(tier)) for tier, literal in enumerate(tiers)]
    return Case(*whens, default=Value(len(tiers)), output_field=IntegerField())


def tier_expression(query: str, field: str = "search_vector") -> Case | Value:
    """A row's tier (`rank_expression`) when it matches the query, NULL when it does not: one expression that both
    tests and ranks a row as a walk reads it (tickets.selectors._newest_matches). The tiers are only tested on a
    match."""
    literal = tsquery_literal(query)
    if literal is None:
        return Value(None, output_field=IntegerField())
    rank = rank_expression(query, field) or Value(0)
    return Case(When(_matches(field, literal), then=rank), default=None, output_field=IntegerField())


def filter_tier(
    queryset: QuerySet, query: str, tier: int, field: str = "search_vector", window: Q | None = None
) -> QuerySet:
    """`filter_matching` narrowed to the rows of one tier (0 .. len(rank_queries(query))), as ONE `@@` with a
    constant tsquery, so each tier is read like a plain search: from the GIN index, or along a recency index. The
    tiers are nested (the exact phrase implies all the terms, which imply the query), so tier i is "matches tier i's
    query and not tier i-1's". With `window`, only rows inside it are ranked above the last tier: the others are all
    in the last tier (bounded ranking, see tickets.selectors.RANKED_WINDOW)."""
    literal = tsquery_literal(query)
    if literal is None:
        return queryset.none()
    tiers = [*rank_queries(query), literal]
    narrowed = f"({literal})"
    if tier < len(tiers) - 1:
        narrowed += f" & ({tiers[tier]})"
    if tier > 0:
        narrowed += f" & !({tiers[tier - 1]})"
    condition = Q(_matches(field, narrowed))
    if window is not None and tier < len(tiers) - 1:
        condition &= window
    elif window is not None and tier > 0:
        condition |= Q(_matches(field, literal)) & ~window
    return queryset.filter(condition)
