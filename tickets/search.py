"""Full-text search that works for Japanese as well as English and mixed text, on core PostgreSQL only.

Why this module exists: PostgreSQL's text-search parser splits words on spaces and punctuation. Japanese has no
spaces, so `to_tsvector('simple', '注文した商品がまだ届いていません')` is ONE lexeme and a search for 「商品」 finds
nothing. The usual fixes (pg_trgm, pg_bigm, MeCab/PGroonga) are extensions we cannot rely on.

So we segment in Python at write time and hand PostgreSQL ready-made lexemes:

* text is normalized with NFKC + casefold (ＡＢＣ１２３ == abc123, ｶﾀｶﾅ == カタカナ);
* a run of CJK characters (Han incl. 々〆, Hiragana, Katakana incl. ー) gives one token per character: that
  character and its successor (an overlapping bigram), the last character of the run alone. 「届いて」 gives
  届い, いて, て at consecutive positions. The trailing single character makes one-character searches exact
  (see `tsquery_literal`);
* a run of other letters/digits (Latin, Hangul, ...) is one word token;
* everything else (spaces, punctuation, emoji, ・「」) only separates runs.

The tsvector and tsquery are built as *literals* (`'届い':1 'いて':2`::tsvector, `'届い' <-> 'いて'`::tsquery) and
cast, so PostgreSQL's parser and dictionaries never touch the lexemes. Phrase queries (`<->`) over consecutive
bigram positions give exact substring matching for CJK.

Storing: `Message.objects.filter(pk=pk).update(search_vector=vector_expression(text))`.
Searching: `filter_matching(Message.objects.all(), "届いて").order_by("-created_at")`.
"""

import re
import unicodedata
from collections.abc import Iterator
from typing import NamedTuple

from django.contrib.postgres.search import SearchQueryField, SearchVectorField
from django.db.models import BooleanField, F, Func, QuerySet, TextField, Value
from django.db.models.functions import Cast, Coalesce

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


def document_tokens(*texts: str) -> list[tuple[str, int]]:
    """(token, position) pairs of the texts in order, 1-based, at most MAX_POSITION of them. One position is left
    empty between two texts so that a phrase never matches across them (end of subject + start of body)."""
    result: list[tuple[str, int]] = []
    position = 0
    for text in texts:
        for run in iter_runs(text or ""):
            for token in run_tokens(run):
                position += 1
                if position > MAX_POSITION:
                    return result
                result.append((token, position))
        position += 1
    return result


def quote_lexeme(lexeme: str) -> str:
    """A lexeme quoted for tsvector/tsquery input: inside '...' a backslash escapes the next character and a quote is
    doubled. (Our tokens never contain either, but the literal must be correct for any lexeme.)"""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def index_document(*texts: str) -> str:
    """The tsvector literal of the texts, e.g. `'届い':1,7 'いて':2 'て':3`; "" (an empty tsvector) for no token."""
    positions: dict[str, list[int]] = {}
    for token, position in document_tokens(*texts):
        token_positions = positions.setdefault(token, [])
        if len(token_positions) < MAX_POSITIONS_PER_LEXEME:
            token_positions.append(position)
    return " ".join(f"{quote_lexeme(token)}:{','.join(map(str, pos))}" for token, pos in positions.items())


def _term_operands(run: Run) -> list[str]:
    """The `<->`-joined operands of one search term. A word is a prefix (refund -> refunds). A CJK term of two or
    more characters is its bigrams at consecutive positions: an exact substring. A one-character CJK term X is the
    prefix 'X':*, which matches both the bigrams starting with X and the lone X that ends every run: X anywhere."""
    if not run.cjk or len(run.text) == 1:
        return [f"{quote_lexeme(run.text)}:*"]
    return [quote_lexeme(bigram) for bigram in cjk_bigrams(run.text)]


def _phrase(operands: list[str]) -> str:
    if len(operands) == 1:
        return operands[0]
    return "(" + " <-> ".join(operands) + ")"


def _phrase_query(text: str) -> str | None:
    """A quoted phrase: the document tokens of the phrase at consecutive positions, every run but the last matched
    exactly (a CJK run then includes its trailing character, so it must end where the next run starts), the last run
    as a term (prefix word, or CJK substring). None when the phrase has no token."""
    runs = segment(text)
    if not runs:
        return None
    operands = [quote_lexeme(token) for run in runs[:-1] for token in run_tokens(run)]
    return _phrase(operands + _term_operands(runs[-1]))


def tsquery_literal(query: str) -> str | None:
    """The tsquery literal for what a user typed, or None when it has no searchable token.

    Terms are ANDed. Text between double quotes is a phrase (its terms must be adjacent, in order); an unmatched quote
    is a separator. Every tsquery operator a user may type (& | ! : ( ) ' \\ * <->) is just a separator: the user
    cannot build operators, and no input can produce a syntax error.
    """
    pieces = _QUOTES.split(query[:MAX_QUERY_CHARS])
    parts: list[str] = []
    for index, piece in enumerate(pieces):
        quoted = index % 2 == 1 and index < len(pieces) - 1
        if quoted:
            phrase = _phrase_query(piece)
            if phrase:
                parts.append(phrase)
        else:
            parts.extend(_phrase(_term_operands(run)) for run in iter_runs(piece))
    return " & ".join(parts) or None


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
    tsquery = Cast(Value(literal, output_field=TextField()), output_field=SearchQueryField())
    return queryset.filter(_Matches(F(field), tsquery))
