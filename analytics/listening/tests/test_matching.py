"""Japanese-aware matching of monitor terms (listening.matching), on real Japanese and English posts."""

import pytest

from analytics.listening.matching import Matcher, fold, hashtags_for


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ツナグのサポートが早くて助かった", True),
        ("ﾂﾅｸﾞのｻﾎﾟｰﾄ最高", True),  # half-width katakana with a separate voiced mark
        ("#ツナグ で問い合わせ管理", True),  # in a hashtag
        ("つなぐ、という名前がいい", True),  # hiragana spelling of the same brand
        ("ＴＳＵＮＡＧＵ使ってます", True),  # full-width Latin next to Japanese
        ("tsunagu_jp の中の人", True),
        ("Loving #Tsunagu today", True),
        ("tsunaguapp is another thing", False),  # a Latin term inside a longer word
        ("今日は天気がいい", False),
    ],
)
def test_brand_terms_match_across_widths_kana_and_case(text, expected):
    assert Matcher(["ツナグ", "Tsunagu"]).matches(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("We moved from Zendesk last year", False),  # "Zen" inside "Zendesk" is not a mention of Zen
        ("Kaizen every day", False),  # nor at the end of "Kaizen"
        ("Zen is cheaper than you think", True),
        ("Zenの新機能が気になる", True),  # a Latin term followed by Japanese is a word
        ("ｚｅｎ、どうなの？", True),
        ("zen-like calm", True),  # a hyphen ends a word
    ],
)
def test_latin_terms_need_word_boundaries(text, expected):
    assert Matcher(["Zen"]).matches(text) is expected


def test_excluded_terms_veto_a_match():
    matcher = Matcher(["ツナグ"], excluded=["求人", "#ad"])
    assert matcher.matches("ツナグいいね")
    assert not matcher.matches("ツナグ 求人のお知らせ")
    assert not matcher.matches("ツナグ最高 #AD")


def test_an_exact_term_keeps_its_script():
    matcher = Matcher(["=ツナグ"])
    assert matcher.matches("ﾂﾅｸﾞ最高")  # width still folds
    assert not matcher.matches("人と人をつなぐ")  # the everyday verb is not the brand


def test_japanese_terms_match_inside_words_and_empty_terms_never_match():
    assert Matcher(["サポート"]).matches("カスタマーサポートが丁寧")
    assert not Matcher(["", "  "]).matches("anything")


def test_fold():
    assert fold("ﾂﾅｸﾞ　ＡＢＣ") == "つなぐ abc"
    assert fold("ツナグ", kana=False) == "ツナグ"


def test_hashtags_for_terms():
    assert hashtags_for(["ツナグ", "#Tsunagu", "Tsunagu Inbox", "ﾂﾅｸﾞ", "🙂"]) == ["ツナグ", "tsunagu", "tsunaguinbox"]
