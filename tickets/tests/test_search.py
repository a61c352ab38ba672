"""Japanese + English full-text search (tickets.search) against the real PostgreSQL: segmentation, literals, storing
vectors, matching, tenant scoping, injection safety and GIN index use."""

import random

import pytest
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.core.paginator import Paginator
from django.db import connection
from django_scopes import scopes_disabled

from channels_integrations.models import ChannelConnection
from tickets.models import Contact, Message, Ticket
from tickets.search import (
    MAX_POSITION,
    MAX_POSITIONS_PER_LEXEME,
    Run,
    document_tokens,
    filter_matching,
    index_document,
    normalize,
    quote_lexeme,
    run_tokens,
    segment,
    tsquery_literal,
    vector_expression,
)

pytestmark = pytest.mark.django_db

NOT_DELIVERED = "注文した商品がまだ届いていません。至急確認してください。"
IPHONE = "iPhone 15の画面が割れました"
RETURNS = "返品・交換について教えてください"
CANCEL = "キャンセルしたいです。カスタマーサポートに連絡しました"
REFUND = "Where is my refunds? I ordered two weeks ago."

CUSTOMER_TEXTS = [NOT_DELIVERED, IPHONE, RETURNS, CANCEL, REFUND]


def words(text: str) -> list[str]:
    return [run.text for run in segment(text)]


# --- pure segmentation -------------------------------------------------------------------------------------------


def test_normalize_folds_width_and_case():
    assert normalize("ＡＢＣ１２３") == "abc123"
    assert normalize("ｶﾀｶﾅ") == "カタカナ"
    assert normalize("ｶﾞｲﾄﾞ") == "ガイド"  # half-width voiced marks are composed
    assert normalize("ｰ") == "ー"
    assert normalize("Straße") == "strasse"


def test_japanese_sentence_splits_on_punctuation_only():
    assert segment(NOT_DELIVERED) == [Run("注文した商品がまだ届いていません", True), Run("至急確認してください", True)]


def test_cjk_run_gives_bigrams_then_its_last_character():
    assert run_tokens(Run("届いて", True)) == ["届い", "いて", "て"]
    assert run_tokens(Run("届", True)) == ["届"]
    # Bigrams are the old segmenter's (kept for SEARCH_LEGACY_QUERIES); a document is indexed by words now.
    assert [token for token, _ in document_tokens("キャンセル")] == ["キャンセル"]


def test_latin_digits_and_cjk_are_separate_runs():
    assert segment(IPHONE) == [Run("iphone", False), Run("15", False), Run("の画面が割れました", True)]
    assert segment("ｉＰｈｏｎｅ１５") == [Run("iphone15", False)]
    assert words(REFUND)[:4] == ["where", "is", "my", "refunds"]


def test_middle_dot_brackets_emoji_separate_runs():
    assert words(RETURNS) == ["返品", "交換について教えてください"]
    assert words("「キャンセル」😀お願いします！") == ["キャンセル", "お願いします"]


def test_long_vowel_mark_and_iteration_marks_stay_inside_the_run():
    assert words("カスタマーサポート") == ["カスタマーサポート"]
    assert "マー" in run_tokens(Run("カスタマーサポート", True))
    assert words("人々の〆切") == ["人々の〆切"]
    assert words("ｶｽﾀﾏｰｻﾎﾟｰﾄ") == ["カスタマーサポート"]


def test_positions_are_consecutive_with_a_gap_between_texts():
    assert document_tokens("届いて", "hi") == [("届く", 1), ("て", 2), ("hi", 4)]


def test_compound_gives_its_parts_at_its_position_and_unknown_words_their_bigrams():
    assert document_tokens("配送料が") == [("配送料", 1), ("配送", 1), ("料", 1), ("が", 2)]
    assert document_tokens("京都府宇治市") == [
        ("京都府宇治市", 1),
        ("京都府", 1),
        ("宇治市", 1),
        ("京都", 1),
        ("府", 1),
        ("宇治", 1),
        ("市", 1),
    ]
    assert document_tokens("ツナグマートの") == [
        ("ツナグマート", 1),
        ("#ツナ", 1),
        ("#ナグ", 2),
        ("#グマ", 3),
        ("#マー", 4),
        ("#ート", 5),
        ("の", 6),
    ]
    # normalized forms: okurigana, kana spelling, width; a verb's continuative form also gives its noun
    assert document_tokens("引落し")[0][0] == document_tokens("引き落とし")[0][0] == "引き落とし"
    assert document_tokens("ｺﾝﾋﾟｭｰﾀ")[0][0] == document_tokens("コンピューター")[0][0] == "コンピューター"
    assert ("問い合わせ", 1) in document_tokens("問い合わせました")
    # hiragana is read by context: alone しょうじ is 障子, before a name it is not; its spelling matches either way
    assert ("しょうじ", 1) in document_tokens("しょうじ さだお")
    assert tsquery_literal("しょうじ", legacy=False) == "('障子' | 'しょうじ')"


def test_document_is_capped():
    tokens = document_tokens("あ" * 50_000)
    assert len(tokens) == MAX_POSITION
    assert tokens[-1] == ("ああ", MAX_POSITION)
    assert len(segment("x" * 5000)[0].text) == 100  # giant "words" are cut far below PostgreSQL's lexeme limit


def test_index_document_groups_positions_per_lexeme():
    assert index_document("届いて、届いた") == "'届く':1,3 'て':2 'た':4 '#morph1'"
    assert index_document("", "!!!") == ""
    assert index_document("ab " * 1000).count(",") == MAX_POSITIONS_PER_LEXEME - 1


def test_quote_lexeme_escapes_quote_and_backslash():
    assert quote_lexeme("it's") == "'it''s'"
    assert quote_lexeme("a\\b") == "'a\\\\b'"


def test_tsquery_literal():
    def literal(query):
        return tsquery_literal(query, legacy=False)

    assert literal("届いて") == "('届く' <-> 'て')"
    assert literal("商品") == "'商品'"
    assert literal("未だ") == "'未だ'"
    assert literal("まだ") == "('未だ' | 'まだ')"  # a hiragana word also by its spelling (read by context)
    assert literal("refund") == "'refund':*"
    assert literal("ＩＰＨＯＮＥ　画面") == "'iphone':* & '画面'"
    assert literal('"where is my refund"') == "('where' <-> 'is' <-> 'my' <-> 'refund':*)"
    assert literal('"返品・交換" 至急') == "('返品' <-> '交換') & '至急'"
    assert literal('"unbalanced') == "'unbalanced':*"
    assert literal("＂返品 交換＂") == literal("“返品 交換”") == "('返品' <-> '交換')"
    assert literal("ABC-1234") == "('abc' <-> '1234')"  # a product code is one term: its parts adjacent
    assert literal("ツナグマート") == "('ツナグマート' | ('#ツナ' <-> '#ナグ' <-> '#グマ' <-> '#マー' <-> '#ート'))"
    assert (
        literal("ツナグマートの")
        == "(('ツナグマート' | ('#ツナ' <-> '#ナグ' <-> '#グマ' <-> '#マー' <-> '#ート')) <5> 'の')"
    )
    assert tsquery_literal("返品") == "('返品') | (!'#morph1' & ('返品'))"  # vectors not yet reindexed


@pytest.mark.parametrize("query", ["", "   ", "' & | ! :* <-> \\ (", "()", '""', "。、！？😀", "-- ; /* */"])
def test_tsquery_literal_without_tokens_is_none(query):
    assert tsquery_literal(query) is None


def test_operators_typed_by_users_are_separators():
    """Inside a term they separate words of one phrase (as the hyphen of a product code); alone they are dropped."""
    assert tsquery_literal("refund&!cancel|(届):*", legacy=False) == "('refund' <-> 'cancel' <-> '届け')"
    assert tsquery_literal("refund & ! cancel | :*", legacy=False) == "'refund':* & 'cancel':*"


# --- database ----------------------------------------------------------------------------------------------------


def make_ticket(tenant) -> Ticket:
    with tenant.scope():
        connection_ = ChannelConnection.objects.create(
            organization=tenant.organization, platform="line", display_name="LINE", external_account_id="U1"
        )
        contact = Contact.objects.create(organization=tenant.organization, name="山田太郎")
        return Ticket.objects.create(
            organization=tenant.organization,
            number=1,
            connection=connection_,
            contact=contact,
            external_thread_key="thread-1",
        )


def add_message(ticket: Ticket, text: str) -> Message:
    """Create the message, then store its vector the way the write path will: an UPDATE with vector_expression."""
    message = Message.objects.create(
        organization=ticket.organization,
        ticket=ticket,
        connection=ticket.connection,
        direction="inbound",
        kind="direct",
        text=text,
    )
    Message.objects.filter(pk=message.pk).update(search_vector=vector_expression(text))
    return message


@pytest.fixture
def messages(tenant_a) -> dict[str, Message]:
    ticket = make_ticket(tenant_a)
    with tenant_a.scope():
        return {text: add_message(ticket, text) for text in CUSTOMER_TEXTS}


def found(tenant, query: str) -> set[str]:
    with tenant.scope():
        return set(filter_matching(Message.objects.all(), query).values_list("text", flat=True))


def lexemes(message: Message) -> dict[str, list[int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT lexeme, positions FROM tickets_message, unnest(search_vector) WHERE id = %s", [message.pk]
        )
        return dict(cursor.fetchall())


def test_update_stores_lexemes_with_positions(tenant_a, messages):
    stored = lexemes(messages[NOT_DELIVERED])
    assert stored["届く"] == [7] and stored["て"] == [8, 15] and stored["ず"] == [11] and stored["至急"] == [12]
    assert stored["#morph1"] is None  # the version mark has no position


def test_create_stores_vector(tenant_a):
    ticket = make_ticket(tenant_a)
    with tenant_a.scope():
        message = Message.objects.create(
            organization=ticket.organization,
            ticket=ticket,
            connection=ticket.connection,
            direction="inbound",
            kind="direct",
            text="届いて",
            search_vector=vector_expression("届いて"),
        )
    assert lexemes(message) == {"届く": [1], "て": [2], "#morph1": None}


def test_quote_and_backslash_survive_the_database():
    """The tsvector/tsquery input syntax: doubled quote, escaped backslash; no parser touches the lexemes."""
    tricky = ["it's", "a\\b", "'", "\\", "x y", "&|!"]
    literal = " ".join(f"{quote_lexeme(lexeme)}:{i}" for i, lexeme in enumerate(tricky, 1))
    with connection.cursor() as cursor:
        cursor.execute("SELECT lexeme FROM unnest(%s::tsvector) ORDER BY positions[1]", [literal])
        assert [row[0] for row in cursor.fetchall()] == tricky
        for lexeme in tricky:
            cursor.execute("SELECT %s::tsvector @@ %s::tsquery", [literal, quote_lexeme(lexeme)])
            assert cursor.fetchone()[0] is True


@pytest.mark.parametrize(
    "query",
    [
        "届いて",
        "商品",
        "まだ届いて",
        "届く",
        "未だ",
        "注文した商品がまだ届いていません",
        "至急　確認",
        '"ません。至急"',
    ],
)
def test_japanese_queries_find_the_not_delivered_message(tenant_a, messages, query):
    assert NOT_DELIVERED in found(tenant_a, query)


@pytest.mark.parametrize("query", ["返金", "届まだ", "品", "商品 返金", "品交", "まだ届かない", "注"])
def test_japanese_queries_that_must_not_match(tenant_a, messages, query):
    assert NOT_DELIVERED not in found(tenant_a, query)


def test_a_short_word_does_not_match_inside_another_word(tenant_a, messages):
    """Word boundaries: 品 is part of 商品 and 返品 but no word of them; 注 neither of 注文."""
    assert found(tenant_a, "品") == set()
    assert found(tenant_a, "注") == set()
    assert found(tenant_a, "返品") == {RETURNS}


def test_katakana_in_full_and_half_width(tenant_a, messages):
    assert found(tenant_a, "キャンセル") == {CANCEL}
    assert found(tenant_a, "ｷｬﾝｾﾙ") == {CANCEL}
    assert found(tenant_a, "サポート") == {CANCEL}
    assert found(tenant_a, "ｶｽﾀﾏｰｻﾎﾟｰﾄ") == {CANCEL}
    assert found(tenant_a, "ー") == set()  # a long vowel mark is no word


def test_latin_words_any_width_and_case(tenant_a, messages):
    assert found(tenant_a, "iphone") == {IPHONE}
    assert found(tenant_a, "ＩＰＨＯＮＥ") == {IPHONE}
    assert found(tenant_a, "iphone 画面") == {IPHONE}
    assert found(tenant_a, "１５") == {IPHONE}
    assert found(tenant_a, "android") == set()


def test_english_prefix_and_phrase(tenant_a, messages):
    assert found(tenant_a, "refund") == {REFUND}
    assert found(tenant_a, "REFUNDS ordered") == {REFUND}
    assert found(tenant_a, '"where is my refund"') == {REFUND}
    assert found(tenant_a, '"my where"') == set()


def test_quoted_phrase_is_its_words_in_order(tenant_a, messages):
    """A quoted phrase is its words adjacent and in order, whatever spaces separate them; unquoted, terms are ANDed."""
    assert found(tenant_a, '"至急 確認"') == {NOT_DELIVERED}
    assert found(tenant_a, '"確認 至急"') == set()
    assert found(tenant_a, "確認 至急") == {NOT_DELIVERED}
    assert found(tenant_a, '"返品 交換"') == {RETURNS}  # the ・ between them is a run boundary too


def test_single_character_queries(tenant_a, messages):
    """A one-character query is a word: found where it is one, not inside other words (the bigram segmenter found
    届, 交 and 品 anywhere)."""
    assert found(tenant_a, "交") == set()
    assert found(tenant_a, "の") == {IPHONE}


def test_operator_garbage_returns_nothing_without_error(tenant_a, messages):
    with tenant_a.scope():
        assert list(filter_matching(Message.objects.all(), "' & | ! :* <-> \\ (")) == []
        # words around operators still search normally
        assert list(filter_matching(Message.objects.all(), "refund & !'where' :*").values_list("text", flat=True)) == [
            REFUND
        ]


def test_any_input_gives_valid_literals():
    """Whatever is typed or stored, the literals parse: random strings over quotes, backslashes, operators, NUL,
    lone surrogates, emoji and mixed scripts."""
    alphabet = "'\\\"&|!:*()<->-_ \x00\ud800😀aZ9ａ１届いｶﾞー・。、「」\t\n"
    rng = random.Random(20240601)
    with connection.cursor() as cursor:
        for _ in range(300):
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
            literal = tsquery_literal(text)
            cursor.execute("SELECT %s::tsvector @@ %s::tsquery", [index_document(text), literal or "x"])
            # No "a text matches itself" here: Sudachi reads a word by its context, so a random string cut into
            # terms may be read otherwise than whole (ａｶ is か next to Z, カ at the end). Real words: the other tests.


def test_injection_attempt_is_only_text(tenant_a, messages):
    with tenant_a.scope():
        assert list(filter_matching(Message.objects.all(), "'); DROP TABLE tickets_message; --")) == []
        assert Message.objects.count() == len(CUSTOMER_TEXTS)


def test_filter_matching_composes_with_filter_order_count_and_pagination(tenant_a, messages):
    ticket = messages[NOT_DELIVERED].ticket
    with tenant_a.scope():
        for i in range(5):
            add_message(ticket, f"商品{i}はまだですか")
        matching = filter_matching(Message.objects.filter(ticket=ticket), "商品").order_by("-id")
        assert matching.count() == 6
        page = Paginator(matching, 4).page(2)
        assert [m.text for m in page] == ["商品0はまだですか", NOT_DELIVERED]
        assert filter_matching(Message.objects.all(), "まだ").filter(text__startswith="商品").count() == 5
        # the field may live on a related model
        Ticket.objects.filter(pk=ticket.pk).update(search_vector=vector_expression("配送遅延のお問い合わせ"))
        assert filter_matching(Message.objects.all(), "配送", field="ticket__search_vector").count() == 10


def test_ten_thousand_character_document(tenant_a):
    ticket = make_ticket(tenant_a)
    text = ("お世話になっております。先日注文した商品がまだ届いていません。" * 400)[:9_999] + "鰻"
    assert len(text) == 10_000
    with tenant_a.scope():
        add_message(ticket, text)
        assert found(tenant_a, "届いていません") == {text}
        assert found(tenant_a, "鰻") == {text}


def test_huge_document_is_capped_not_rejected():
    """A huge email: only the first MAX_POSITION tokens are indexed, each at its exact position, a repeated lexeme
    keeps its first 256 positions (PostgreSQL's limit), and the cast succeeds."""
    text = "ご注文ありがとうございます。" * 1000 + " ".join(str(i) for i in range(100_000))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT max(positions[cardinality(positions)]), max(cardinality(positions)), count(*)"
            " FROM unnest(%s::tsvector)",
            [index_document(text)],
        )
        # 「ご注文ありがとうございます」: 5 words per sentence, 8 lexemes (ご, ありがとう, ござい: their spelling too)
        last_word = MAX_POSITION - 5 * 1000
        assert cursor.fetchone() == (MAX_POSITION, MAX_POSITIONS_PER_LEXEME, 8 + last_word + 1)  # + VERSION_MARK


def test_other_tenants_messages_never_appear(tenant_a, tenant_b, messages):
    ticket_b = make_ticket(tenant_b)
    with tenant_b.scope():
        secret = add_message(ticket_b, "商品が届いていません（B社）")
    assert found(tenant_a, "届いて") == {NOT_DELIVERED}
    assert found(tenant_b, "届いて") == {secret.text}
    with scopes_disabled():
        assert filter_matching(Message.objects.all(), "届いて").count() == 2


def test_postgres_parser_cannot_find_a_japanese_word_inside_a_sentence(tenant_a, messages):
    """Why this module exists: to_tsvector('simple', …) keeps a whole Japanese clause as one lexeme (under this
    database's C.UTF-8 locale it splits only at punctuation such as 。), so 「商品」 is not found; ours finds it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_tsvector('simple', %s)::text", [NOT_DELIVERED])
        assert cursor.fetchone()[0] == "'注文した商品がまだ届いていません':1 '至急確認してください':2"
    with tenant_a.scope():
        by_parser = Message.objects.annotate(v=SearchVector("text", config="simple")).filter(
            v=SearchQuery("商品", config="simple")
        )
        assert not by_parser.exists()
    assert found(tenant_a, "商品") == {NOT_DELIVERED}


def test_search_uses_the_gin_index(tenant_a):
    """The `@@` has a constant right-hand side, so the planner picks the GIN index. Freshly inserted rows sit in GIN's
    pending list (fastupdate) until (auto)vacuum merges them, and while that list is big the planner prefers a
    sequential scan; we merge it with the core function gin_clean_pending_list (VACUUM cannot run in a transaction)."""
    ticket = make_ticket(tenant_a)
    filler = ["ご返信ありがとうございます。よろしくお願いします。", "Thanks, talk soon.", "了解しました"]
    with tenant_a.scope():
        Message.objects.bulk_create(
            Message(
                organization=ticket.organization,
                ticket=ticket,
                connection=ticket.connection,
                direction="inbound",
                kind="direct",
                text=filler[i % 3],
                search_vector=vector_expression(filler[i % 3]),
            )
            for i in range(3000)
        )
        add_message(ticket, NOT_DELIVERED)
        with connection.cursor() as cursor:
            cursor.execute("SELECT gin_clean_pending_list('tickets_message_search'::regclass)")
            cursor.execute("ANALYZE tickets_message")
        for query in ["届いて", "届く", "refund"]:
            matching = filter_matching(Message.objects.all(), query).order_by("-created_at")
            assert " @@ " in str(matching.query)
            plan = matching.explain()
            assert "Bitmap Index Scan on tickets_message_search" in plan, plan
        assert found(tenant_a, "届いて") == {NOT_DELIVERED}
        assert filter_matching(Message.objects.all(), "届く").count() == 1


def test_a_new_conversation_reads_each_of_its_texts_once(tenant_a, monkeypatch):
    """A new ticket's vector holds its subject (here the message's only line), the customer's name and the text, and
    the message's vector the text again: Sudachi reads each distinct text once, and the vectors are unchanged."""
    from tickets import search
    from tickets.services.ingest import message_ingest
    from tickets.tests.factories import connection as make_connection
    from tickets.tests.factories import inbound

    conn = make_connection(tenant_a, "facebook")
    text = "注文した商品がまだ届きません 一度だけ読まれる文 #once"
    search._units.cache_clear()
    read: list[str] = []
    real = search._tokenizer

    class Counting:
        def __init__(self, tokenizer):
            self.tokenizer = tokenizer

        def tokenize(self, chunk, *args):
            read.append(chunk)
            return self.tokenizer.tokenize(chunk, *args)

    monkeypatch.setattr(search, "_tokenizer", lambda: Counting(real()))
    with tenant_a.scope():
        message, _ = message_ingest(organization=tenant_a.organization, connection=conn, inbound=inbound(text))
        ticket = Ticket.objects.get(pk=message.ticket_id)
        stored = Message.objects.filter(pk=message.pk).values_list("search_vector", flat=True).get()
    assert read.count(text) == 1
    search._units.cache_clear()
    monkeypatch.setattr(search, "_tokenizer", real)
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::tsvector::text", [index_document(text)])
        assert stored == cursor.fetchone()[0]
    assert ticket.subject == text
