"""The language of a customer message: "ja", "en", another ISO 639-1 code, or "" when it cannot be told.

Scripts decide first, because a statistical model guesses badly on the short texts an inbox is full of:
- Any kana → "ja". Only Japanese writes hiragana and katakana, so mixed text such as 「Amazonで買ったiPhoneケース」 is
  Japanese. (The middle dot ・ and the long-vowel mark ー are not counted: they turn up in other text too.)
- Hangul → "ko", for the same reason.
- Han characters without kana (了解, 返金希望, 東京都渋谷区) could be Chinese or Japanese. py3langid answers "zh" for
  most short Japanese kanji strings (了解 0.97, 至急返金希望商品未着 0.97), so we do not ask it: the answer is "ja", as
  the inbox belongs to a Japanese business, unless the text uses characters that Japanese does not. Han characters that
  cp932 (JIS X 0208 plus the vendor kanji Japanese systems use) cannot encode are simplified Chinese (谢, 们, 订) or
  Chinese-only (你, 吗). Traditional Chinese written only with characters Japanese shares (請問營業時間) is reported as
  "ja": a known limitation.
- Otherwise py3langid (its bundled model, nothing downloaded), restricted to LANGUAGES so that "ok" is not called
  Serbian, with a probability floor: "ok", "Hi" and "thx" are "" rather than a guess.
"""

import threading

# The languages of Japan's largest groups of visitors and foreign residents, and the main European ones.
LANGUAGES = ("ja", "en", "zh", "ko", "th", "vi", "id", "tl", "ne", "pt", "es", "fr", "de", "it", "ru")
# Below this normalised probability py3langid's answer is a guess. With 15 languages a uniform answer is 0.07. Right
# answers for short text: "Sent you a DM" en 0.98, "Love it!" en 0.49, "Terrible customer service." en 0.42, "Danke"
# de 0.40; wrong ones: "Best ramen in Tokyo" de 0.33, "hola" en 0.25; "ok" and "Hi" stay at 0.07.
CONFIDENCE_FLOOR = 0.4
# At least this share of the Han characters must be non-Japanese before a kana-less text is called Chinese, so that
# one rare kanji in a Japanese name (𠮷) does not flip a long text.
CHINESE_ONLY_SHARE = 0.2

_identifier = None
_lock = threading.Lock()


def detect_language(text: str) -> str:
    """Return the ISO 639-1 code of `text`, or "" when it is too short or has no letters (emoji, numbers, URLs)."""
    kana = hangul = han = other = 0
    for ch in text:
        if _is_kana(ch):
            kana += 1
        elif _is_hangul(ch):
            hangul += 1
        elif _is_han(ch):
            han += 1
        elif ch.isalpha():
            other += 1
    if kana:
        return "ja"
    if hangul and hangul >= han:
        return "ko"
    # One Han character carries about as much as two or three Latin letters: 「iPhone返品希望」 is Japanese, while
    # "Thanks for the ramen at 一蘭" is English.
    if han and 2 * han >= other:
        return "zh" if _looks_chinese(text, han) else "ja"
    if not other:
        return ""
    language, probability = _get_identifier().classify(text)
    return language if probability >= CONFIDENCE_FLOOR else ""


def _is_kana(ch: str) -> bool:
    code = ord(ch)
    return (
        0x3041 <= code <= 0x309F  # hiragana
        or 0x30A1 <= code <= 0x30FA  # katakana, without ・ (30FB) and ー (30FC)
        or 0x31F0 <= code <= 0x31FF  # small katakana for Ainu
        or 0xFF66 <= code <= 0xFF9D  # half-width katakana
    )


def _is_hangul(ch: str) -> bool:
    code = ord(ch)
    return 0xAC00 <= code <= 0xD7A3 or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F


def _is_han(ch: str) -> bool:
    code = ord(ch)
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x3FFFF
        or code == 0x3005  # 々, the Japanese repetition mark
    )


def _looks_chinese(text: str, han: int) -> bool:
    foreign = 0
    for ch in text:
        if _is_han(ch):
            try:
                ch.encode("cp932")
            except UnicodeEncodeError:
                foreign += 1
    return foreign > 0 and foreign >= CHINESE_ONLY_SHARE * han


def _get_identifier():
    """py3langid's model, loaded once per process (about 0.8 s): web and Celery processes import this module."""
    global _identifier
    if _identifier is None:
        with _lock:
            if _identifier is None:
                _identifier = _load_identifier()  # published only once set up; classify() only reads it
    return _identifier


def _load_identifier():
    # Built from the model's columns for LANGUAGES only. LanguageIdentifier.set_languages() would keep the table of
    # all 140 languages (27 MB) beside them, in every web and worker process.
    import numpy as np
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier
    from py3langid.modelio import load_model

    ptc, pc, classes, nextmove, row, output = load_model(MODEL_DIR / MODEL_FILE)
    keep = [classes.index(code) for code in LANGUAGES]
    return LanguageIdentifier(
        np.ascontiguousarray(ptc[:, keep]),
        np.ascontiguousarray(pc[keep]),
        [classes[i] for i in keep],
        nextmove,
        output,
        norm_probs=True,
        tk_row=row,
    )


def load() -> None:
    """Load the model now (at worker start) rather than on the first message."""
    _get_identifier()
