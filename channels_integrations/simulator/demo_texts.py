"""What the demo's simulated customers write (the trickle): everyday support traffic of a Japanese shop."""

TEXTS = {
    "ja": [
        "注文した商品がまだ届いていません。確認していただけますか？",
        "サイズ交換をお願いしたいのですが、手続きを教えてください。",
        "昨日届いた商品に傷がありました。写真を送りますので対応をお願いします。",
        "領収書の発行は可能でしょうか。宛名は株式会社ミドリでお願いします。",
        "ポイントが反映されていないようです。会員番号は 0048213 です。",
        "新商品の発売日はいつ頃になりますか？楽しみにしています！",
        "店舗の営業時間を教えてください。日曜日も開いていますか？",
        "配送先の住所を変更したいです。まだ間に合いますか？",
        "とても使いやすくて気に入っています。ありがとうございました。",
        "クーポンコードが使えません。エラーが表示されます。",
        "返品の送料はどちらの負担になりますか？",
        "ギフト包装はお願いできますか？のし紙も付けてほしいです。",
    ],
    "en": [
        "Hi, my order hasn't arrived yet. Could you check the status?",
        "Do you ship to Singapore? I couldn't find it in the FAQ.",
        "The discount code isn't working at checkout.",
        "I'd like to exchange the medium for a large, please.",
        "Love the new collection! When will the blue one be back in stock?",
        "I was charged twice for the same order. Please help.",
        "Can I change the delivery address on my order?",
        "Thanks for the fast reply yesterday, everything is sorted now.",
    ],
}
