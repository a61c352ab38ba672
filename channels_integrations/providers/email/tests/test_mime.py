"""Mail parsing on raw messages shaped like what Japanese and English mail clients send: RFC 2047 headers in
ISO-2022-JP and UTF-8 (B and Q), multipart/alternative, attachments with RFC 2231 Japanese file names, quoted-reply
trimming in both languages, auto-replies, bounces (RFC 3464), and input that is not mail at all."""

import base64
from datetime import UTC, datetime
from email.header import Header

import pytest

from channels_integrations.connector import MalformedPayload
from channels_integrations.inbound import DeliveryUpdate, InboundMessage
from channels_integrations.providers.email import mime
from channels_integrations.providers.email.connector import EmailConnector


def crlf(text: str) -> bytes:
    return text.strip("\n").replace("\n", "\r\n").encode("ascii") + b"\r\n"


def iso2022(text: str) -> str:
    return base64.b64encode(text.encode("iso-2022-jp")).decode()


BODY_JA = "お世話になっております。\r\n先週注文した商品がまだ届いておりません。\r\n確認をお願いできますでしょうか。\r\n"

# What a Japanese desktop client (Thunderbird ja, Becky!) sends: ISO-2022-JP, 7bit body, B-encoded subject and name.
ISO_2022_JP_MAIL = crlf(
    f"""
Message-ID: <20261130.1@mail.example.jp>
Date: Mon, 30 Nov 2026 10:15:00 +0900
From: {Header("山田 花子", "iso-2022-jp").encode()} <hanako@example.jp>
To: support@shop.example.jp
Subject: {Header("注文番号 A-1024 の配送について", "iso-2022-jp").encode()}
MIME-Version: 1.0
Content-Type: text/plain; charset=ISO-2022-JP
Content-Transfer-Encoding: base64

{iso2022(BODY_JA)}
"""
)


def test_iso_2022_jp_headers_and_body_decode():
    mail = mime.parse_message(ISO_2022_JP_MAIL)
    assert mail.from_name == "山田 花子" and mail.from_address == "hanako@example.jp"
    assert mail.subject == "注文番号 A-1024 の配送について"
    assert "まだ届いておりません" in mail.text
    assert mail.message_id == "<20261130.1@mail.example.jp>"
    assert mail.date == datetime(2026, 11, 30, 1, 15, tzinfo=UTC)  # 10:15 in Japan, kept in UTC


def test_utf8_q_encoded_subject_and_multipart_alternative_with_hostile_html():
    raw = crlf(
        """
Message-ID: <utf8-alt@mail.example.jp>
From: =?UTF-8?Q?=E4=BD=90=E8=97=A4_=E5=81=A5?= <ken@example.jp>
To: support@shop.example.jp
Subject: =?UTF-8?Q?=E8=BF=94=E5=93=81=E3=81=AE=E3=81=94=E7=9B=B8=E8=AB=87?=
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1"

--b1
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: base64

"""
        + base64.b64encode("サイズが合わないため返品したいです。".encode()).decode()
        + """
--b1
Content-Type: text/html; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

<p onclick=3D"steal()">=E3=82=B5=E3=82=A4=E3=82=BA</p><script>alert(1)</script><img src=3D"http://t.example/p=
ixel.gif">
--b1--
"""
    )
    mail = mime.parse_message(raw)
    assert mail.subject == "返品のご相談"
    assert mail.from_name == "佐藤 健"
    assert mail.text == "サイズが合わないため返品したいです。"
    assert "サイズ" in mail.html
    assert "<script" not in mail.html and "onclick" not in mail.html and "alert" not in mail.html


def test_attachments_keep_their_japanese_names_and_bytes():
    pdf = b"%PDF-1.4 receipt"
    raw = crlf(
        """
Message-ID: <att@mail.example.jp>
From: hanako@example.jp
To: support@shop.example.jp
Subject: receipt
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="m1"

--m1
Content-Type: text/plain; charset=UTF-8

Attached.
--m1
Content-Type: application/pdf
Content-Disposition: attachment; filename*=UTF-8''%E9%A0%98%E5%8F%8E%E6%9B%B8.pdf
Content-Transfer-Encoding: base64

"""
        + base64.b64encode(pdf).decode()
        + """
--m1--
"""
    )
    mail = mime.parse_message(raw)
    assert [(a.filename, a.content_type, a.content) for a in mail.attachments] == [
        ("領収書.pdf", "application/pdf", pdf)
    ]
    [item] = EmailConnector().parse_event(raw, account_id="support@shop.example.jp")
    assert item.attachments[0].filename == "領収書.pdf" and item.attachments[0].size == len(pdf)


@pytest.mark.parametrize(
    ("body", "kept"),
    [
        (
            "承知しました。明日伺います。\n\n2026年11月29日(日) 18:02 Tsunagu サポート <support@shop.example.jp>:\n"
            "> ご連絡ありがとうございます。\n> 明日の訪問でよろしいでしょうか。\n",
            "承知しました。明日伺います。",
        ),
        (
            "Thanks, that works.\n\nOn Sun, Nov 29, 2026 at 6:02 PM Support <support@shop.example.jp> wrote:\n"
            "> Would tomorrow suit you?\n",
            "Thanks, that works.",
        ),
        (
            "了解です。\n\n-----Original Message-----\nFrom: Support <support@shop.example.jp>\n"
            "Sent: Sunday, November 29, 2026 6:02 PM\nTo: hanako@example.jp\nSubject: RE: 配送\n\n前のメール",
            "了解です。",
        ),
    ],
)
def test_quoted_replies_are_trimmed(body, kept):
    assert mime.trim_reply(body) == kept


def test_a_message_that_is_only_a_quote_keeps_its_text():
    assert mime.trim_reply("> 引用だけ\n> です") == "> 引用だけ\n> です"


@pytest.mark.parametrize(
    "header",
    [
        "Auto-Submitted: auto-replied",
        "X-Autoreply: yes",
        "Precedence: auto_reply",
        "X-Auto-Response-Suppress: All\nAuto-Submitted: auto-generated",
    ],
)
def test_automatic_mails_make_no_ticket(header):
    raw = crlf(
        f"""
Message-ID: <ooo@mail.example.jp>
From: hanako@example.jp
To: support@shop.example.jp
Subject: =?UTF-8?B?{base64.b64encode("不在通知".encode()).decode()}?=
{header}
Content-Type: text/plain; charset=UTF-8

I am away.
"""
    )
    assert mime.parse_message(raw).auto_reply
    assert EmailConnector().parse_event(raw, account_id="support@shop.example.jp") == []


def test_a_bounce_fails_the_reply_it_reports():
    raw = crlf(
        """
Message-ID: <dsn-1@mx.example.jp>
From: MAILER-DAEMON@mx.example.jp
To: support@shop.example.jp
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="r1"

--r1
Content-Type: text/plain; charset=us-ascii

Your message could not be delivered.
--r1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.jp

Final-Recipient: rfc822; nobody@example.jp
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.jp>: Recipient address rejected

--r1
Content-Type: text/rfc822-headers

Message-ID: <reply-42@shop.example.jp>
From: support@shop.example.jp
To: nobody@example.jp

--r1--
"""
    )
    [update] = EmailConnector().parse_event(raw, account_id="support@shop.example.jp")
    assert isinstance(update, DeliveryUpdate)
    assert update.state == "failed"
    assert update.platform_message_id == mime.platform_id("<reply-42@shop.example.jp>")
    assert "5.1.1" in update.error


def test_our_own_mail_coming_back_is_not_a_customer_message():
    raw = crlf(
        """
Message-ID: <loop@shop.example.jp>
From: Support <support@shop.example.jp>
To: support@shop.example.jp
Subject: loop
Content-Type: text/plain; charset=UTF-8

echo
"""
    )
    assert EmailConnector().parse_event(raw, account_id="support@shop.example.jp") == []


def test_a_reply_carries_its_thread_hints():
    raw = crlf(
        """
Message-ID: <r2@mail.example.jp>
In-Reply-To: <reply-42@shop.example.jp>
References: <q1@mail.example.jp> <reply-42@shop.example.jp>
From: hanako@example.jp
To: support@shop.example.jp
Subject: Re: question
Content-Type: text/plain; charset=UTF-8

ok
"""
    )
    [item] = EmailConnector().parse_event(raw, account_id="support@shop.example.jp")
    assert isinstance(item, InboundMessage)
    assert item.thread_key == mime.platform_id("<q1@mail.example.jp>")
    assert set(item.thread_hints) >= {mime.platform_id("<reply-42@shop.example.jp>")}


@pytest.mark.parametrize("body", [b"", b"   \r\n", b'{"not": "mail"}', b"hello world, no headers here"])
def test_input_that_is_not_mail_is_a_clear_error(body):
    with pytest.raises(MalformedPayload):
        EmailConnector().split_webhook(body)
