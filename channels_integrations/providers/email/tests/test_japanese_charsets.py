"""Mail written on Windows and other Japanese mail clients (issue 16): ISO-2022-JP that is really CP50220 (NEC special
characters ①㈱Ⅱ㍻, NEC-selected IBM extensions 髙), Shift_JIS that is really CP932, EUC-JP with the NEC rows, in
bodies, RFC 2047 words (subject, sender name), RFC 2231 and Outlook-style file names; unlabelled and mislabelled
Japanese mail; and outgoing mail in ISO-2022-JP for mailboxes that ask for it.

The raw mails are written byte for byte as the clients send them. Their ISO-2022-JP is made here from Python's own
iso2022_jp codec for the JIS X 0208 characters plus a table of the vendor codes (`cp50220` below), independently of
the decoder under test."""

import base64
import email
import logging
import urllib.parse
from email.policy import default as default_policy

import pytest

from channels_integrations import services
from channels_integrations.connector import OutboundFile, OutboundMessage
from channels_integrations.providers.email import japanese, mime
from channels_integrations.providers.email.connect import MailboxForm
from channels_integrations.providers.email.connector import EmailConnector
from channels_integrations.providers.email.tests.test_connector import MAILBOX, mailbox
from tickets.models import Attachment, DeliveryState, Message, Ticket
from tickets.services import replies

# JIS X 0208 codes of the NEC special characters (row 13) and one NEC-selected IBM extension (row 92), as Windows'
# CP50220 and the Microsoft code page tables give them.
VENDOR = {"①": b"-!", "②": b'-"', "③": b"-#", "㈱": b"-j", "Ⅱ": b"-6", "㍻": b"-_", "№": b"-b", "髙": b"|b"}


def cp50220(text: str) -> bytes:
    """Text as Outlook writes ISO-2022-JP: one ESC $ B run per stretch of two-byte characters, ESC ( B before ASCII
    and at the end."""
    out, in_jis = bytearray(), False
    for char in text:
        if char.isascii():
            out += (b"\x1b(B" if in_jis else b"") + char.encode("ascii")
            in_jis = False
            continue
        pair = VENDOR.get(char) or char.encode("iso2022_jp")[3:-3]  # Python's codec: standard JIS X 0208 only
        out += (b"" if in_jis else b"\x1b$B") + pair
        in_jis = True
    return bytes(out + (b"\x1b(B" if in_jis else b""))


def word(data: bytes, charset: str = "ISO-2022-JP") -> str:
    return f"=?{charset}?B?{base64.b64encode(data).decode()}?="


def crlf(text: str) -> bytes:
    return text.strip("\n").replace("\n", "\r\n").encode("ascii") + b"\r\n"


def assert_clean(*texts: str) -> None:
    """What a Japanese mail client would show: no escape sequence and no replacement character left."""
    for text in texts:
        assert "\x1b" not in text and "\ufffd" not in text, repr(text)


SUBJECT = "①ご注文の件（㈱テスト商事）"
BODY = "山田様\r\n\r\n①ご注文番号：A-1024\r\n②お届け先：㈱テスト商事 第Ⅱ営業部 髙橋\r\n③ご注文日：㍻31年4月30日\r\n"
FILENAME = "①見積書（㈱テスト）.pdf"
PDF = b"%PDF-1.4 estimate"

# Outlook 2016 on Windows: CP50220 labelled iso-2022-jp, subject split into self-contained words, HTML alternative,
# the file name as RFC 2047 words inside quotes in both name= and filename= (not RFC 2231).
OUTLOOK = crlf(
    f"""
From: {word(cp50220("㈱テスト商事 髙橋"))} <takahashi@test-shoji.example.co.jp>
To: {MAILBOX}
Subject: {word(cp50220(SUBJECT[:6]))}
 {word(cp50220(SUBJECT[6:]))}
Date: Tue, 1 Dec 2026 09:30:00 +0900
Message-ID: <000001db1234$abcdef00$0123@test-shoji.example.co.jp>
MIME-Version: 1.0
Content-Type: multipart/mixed;
\tboundary="----=_NextPart_000_0001_01DB1234.ABCDEF00"
X-Mailer: Microsoft Outlook 16.0
Content-Language: ja

This is a multi-part message in MIME format.

------=_NextPart_000_0001_01DB1234.ABCDEF00
Content-Type: multipart/alternative;
\tboundary="----=_NextPart_001_0002_01DB1234.ABCDEF00"


------=_NextPart_001_0002_01DB1234.ABCDEF00
Content-Type: text/plain;
\tcharset="iso-2022-jp"
Content-Transfer-Encoding: 7bit

{{body}}
------=_NextPart_001_0002_01DB1234.ABCDEF00
Content-Type: text/html;
\tcharset="iso-2022-jp"
Content-Transfer-Encoding: 7bit

<html><body><p>{{html}}</p></body></html>

------=_NextPart_001_0002_01DB1234.ABCDEF00--

------=_NextPart_000_0001_01DB1234.ABCDEF00
Content-Type: application/pdf;
\tname="{word(cp50220(FILENAME))}"
Content-Transfer-Encoding: base64
Content-Disposition: attachment;
\tfilename="{word(cp50220(FILENAME))}"

{base64.b64encode(PDF).decode()}

------=_NextPart_000_0001_01DB1234.ABCDEF00--
"""
)
OUTLOOK = OUTLOOK.replace(b"{body}", cp50220(BODY).rstrip(b"\r\n")).replace(b"{html}", cp50220("①㈱Ⅱ㍻のご案内"))


def test_outlook_cp50220_mail_has_its_nec_characters_in_subject_body_sender_html_and_file_name():
    # Python's own codecs refuse these bytes (what stored the raw escapes before)
    with pytest.raises(UnicodeDecodeError):
        cp50220(BODY).decode("iso2022_jp_ext")
    mail = mime.parse_message(OUTLOOK)
    assert mail.subject == SUBJECT
    assert mail.from_name == "㈱テスト商事 髙橋"
    assert mail.full_text == BODY.replace("\r\n", "\n").strip()
    assert "①㈱Ⅱ㍻のご案内" in mail.html
    [attachment] = mail.attachments
    assert (attachment.filename, attachment.content) == (FILENAME, PDF)
    assert_clean(mail.subject, mail.from_name, mail.full_text, mail.html, attachment.filename)


def qword(data: bytes) -> str:
    """RFC 2047 Q encoding, as some clients write ISO-2022-JP words."""
    quoted = "".join(chr(b) if chr(b).isalnum() or chr(b) in "$%()-!" else f"={b:02X}" for b in data)
    return f"=?iso-2022-jp?Q?{quoted}?="


@pytest.mark.parametrize(
    ("client", "subject_header", "content_type", "extra"),
    [
        ("iPhone Mail (20G75)", word(cp50220("Re: ①の件〜確認")), "text/plain;\n\tcharset=iso-2022-jp", ""),
        ("Becky! ver. 2.81.04", word(cp50220("Re: ①の件〜確認")), 'text/plain; charset="ISO-2022-JP"', ""),
        (
            "Mozilla Thunderbird",
            qword(cp50220("Re: ①の件〜確認")),
            "text/plain; charset=ISO-2022-JP; format=flowed; delsp=yes",
            "User-Agent: Mozilla/5.0 Thunderbird/115.6.0\n",
        ),
    ],
)
def test_iso_2022_jp_from_other_clients(client, subject_header, content_type, extra):
    body = "佐藤様\r\n\r\n①の件、承知しました〜。\r\n㈱テスト 第Ⅱ部\r\n"
    raw = crlf(
        f"""
From: {word(cp50220("山田 花子"))} <hanako@example.jp>
To: {MAILBOX}
Subject: {subject_header}
Message-ID: <client@example.jp>
X-Mailer: {client}
{extra}MIME-Version: 1.0
Content-Type: {content_type}
Content-Transfer-Encoding: 7bit

BODY
"""
    ).replace(b"BODY\r\n", cp50220(body))
    mail = mime.parse_message(raw)
    assert (mail.subject, mail.from_name) == ("Re: ①の件〜確認", "山田 花子")
    assert mail.full_text == body.replace("\r\n", "\n").strip()
    assert "\u301c" in mail.full_text  # the wave dash as the other ISO-2022-JP mail reads


def test_outlook_mail_polled_over_imap_is_stored_readable(tenant_a, simulator):
    part = simulator.parts["email"]
    box = part.add_mailbox(MAILBOX, MAILBOX, "mail-password")
    box.append(OUTLOOK)
    connection = mailbox(tenant_a, imap_port=part.imap_port, smtp_port=part.smtp_port)
    with tenant_a.scope():
        assert services.connection_poll(organization=tenant_a.organization, connection_id=connection.pk) == 1
        ticket = Ticket.objects.get()
        message = Message.objects.get()
        attachment = Attachment.objects.get()
        assert ticket.subject == SUBJECT
        assert message.text == BODY.replace("\r\n", "\n").strip()
        assert attachment.filename == FILENAME
        assert ticket.contact.name == "㈱テスト商事 髙橋"
        assert_clean(ticket.subject, message.text, attachment.filename, ticket.contact.name)


def test_rfc_2231_file_names_in_iso_2022_jp_and_cp932_with_continuations():
    # (Python's header registry raised on the ISO-2022-JP one and with it every look at the part: no mail at all.)
    jis_name = urllib.parse.quote(cp50220("①請求書（㈱テスト）.xlsx"), safe="")
    cut = jis_name.index("%", 40)  # continuations split between octets
    sjis_name = urllib.parse.quote("②領収書№12（髙橋）.pdf".encode("cp932"), safe="")
    head = f"""From: hanako@example.jp
To: {MAILBOX}
Subject: files
Message-ID: <2231@example.jp>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/plain; charset=ISO-2022-JP
Content-Transfer-Encoding: 7bit

see
--b
Content-Type: application/vnd.ms-excel; name*=ISO-2022-JP''{jis_name}
Content-Disposition: attachment;
 filename*0*=ISO-2022-JP'ja'{jis_name[:cut]};
 filename*1*={jis_name[cut:]}
Content-Transfer-Encoding: base64

eGxzeA==
--b
Content-Type: application/pdf
Content-Disposition: attachment; filename*=Shift_JIS''{sjis_name}
Content-Transfer-Encoding: base64

cGRm
--b
Content-Type: application/pdf; name="NAME8"
Content-Transfer-Encoding: base64

cGRm
--b--
"""
    # The last name is raw 8-bit Shift_JIS in quotes, as some Windows programs write it.
    raw = head.replace("\n", "\r\n").encode("ascii").replace(b"NAME8", "③明細.pdf".encode("cp932"))
    mail = mime.parse_message(raw)
    names = [a.filename for a in mail.attachments]
    assert names == ["①請求書（㈱テスト）.xlsx", "②領収書№12（髙橋）.pdf", "③明細.pdf"]
    assert_clean(*names)


def test_shift_jis_mail_is_read_as_cp932_in_body_subject_and_sender():
    # A Windows business system's mail: Shift_JIS label, 8bit CP932 body with NEC (①) and IBM (ⅰ, 髙 at 0xFBFC)
    # characters and half-width katakana; the subject and the name as Shift_JIS RFC 2047 words.
    body = "①ご請求書を送付します。\r\nⅰ 髙橋様 ｶﾀｶﾅ\r\n"
    # ⅰ and 髙 at their IBM codes (0xFA40, 0xFBFC), as IBM-derived systems write them; Python writes NEC-selected
    data = body.encode("cp932").replace("ⅰ".encode("cp932"), b"\xfa\x40").replace("髙".encode("cp932"), b"\xfb\xfc")
    assert data.count(b"\xfa\x40") == data.count(b"\xfb\xfc") == 1
    raw = (
        crlf(
            f"""
From: {word("㈱テスト".encode("cp932"), "Shift_JIS")} <billing@example.co.jp>
To: {MAILBOX}
Subject: {word("①ご請求書（Ⅱ期分）".encode("cp932"), "shift_jis")}
Message-ID: <sjis@example.co.jp>
MIME-Version: 1.0
Content-Type: text/plain; charset=Shift_JIS
Content-Transfer-Encoding: 8bit
"""
        )
        + b"\r\n"
        + data
    )
    with pytest.raises(UnicodeDecodeError):
        data.decode("shift_jis")
    mail = mime.parse_message(raw)
    assert (mail.subject, mail.from_name) == ("①ご請求書（Ⅱ期分）", "㈱テスト")
    assert mail.full_text == body.replace("\r\n", "\n").strip()
    assert_clean(mail.subject, mail.from_name, mail.full_text)


def plain(body: bytes, content_type: str | None, subject: str = "test") -> bytes:
    head = f"From: taro@example.jp\r\nTo: {MAILBOX}\r\nSubject: {subject}\r\nMessage-ID: <x@example.jp>\r\n"
    if content_type is not None:
        head += f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n"
    return head.encode("ascii") + b"\r\n" + body


TEXT = "お問い合わせありがとうございます。①の件は㈱で確認します。"
PLAIN_TEXT = "いつもお世話になっております。株式会社テストの山田です。"  # as EUC-JP, also valid CP932 (garbage)


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        # No label at all (old clients, some web forms), each Japanese charset
        (cp50220(TEXT), None, TEXT),
        (TEXT.encode("cp932"), "text/plain", TEXT),
        (PLAIN_TEXT.encode("euc_jp"), "text/plain", PLAIN_TEXT),  # CP932 also "decodes" these bytes, as garbage
        # Mislabelled: us-ascii on ISO-2022-JP, ISO-2022-JP on Shift_JIS bytes, UTF-8 on Shift_JIS, an unknown label
        (cp50220(TEXT), "text/plain; charset=us-ascii", TEXT),
        (TEXT.encode("cp932"), "text/plain; charset=iso-2022-jp", TEXT),
        (TEXT.encode("cp932"), "text/plain; charset=utf-8", TEXT),
        (cp50220(TEXT), "text/plain; charset=x-unknown", TEXT),
        (PLAIN_TEXT.encode("euc_jp"), "text/plain; charset=shift_jis", PLAIN_TEXT),
        # EUC-JP as eucJP-ms: ① and ㈱ in NEC row 13 (0xADA1, 0xADEA), which Python's euc_jp rejects
        (b"\xad\xa1\xad\xea" + PLAIN_TEXT.encode("euc_jp"), "text/plain; charset=EUC-JP", "①㈱" + PLAIN_TEXT),
    ],
)
def test_unlabelled_and_mislabelled_japanese_is_detected(body, content_type, expected):
    mail = mime.parse_message(plain(body, content_type))
    assert mail.full_text == expected
    assert_clean(mail.full_text)


def test_euc_jp_that_cp932_also_reads_is_read_as_euc_jp():
    data = PLAIN_TEXT.encode("euc_jp")
    assert japanese.decode_cp932(data).startswith("､､､ﾄ")  # a clean CP932 decoding: half-width katakana
    assert japanese.detect(data) == PLAIN_TEXT


def test_half_width_katakana_shift_jis_stays_shift_jis():
    # Old systems (bank transfers, order forms) write names in half-width katakana only; as EUC-JP the same bytes
    # are kanji without any kana, which no Japanese text is.
    text = "ﾔﾏﾀﾞ ｻﾏ ｱﾘｶﾞﾄｳ"
    data = text.encode("cp932")
    assert japanese.decode_euc_jp(data)  # both read these bytes cleanly
    assert japanese.detect(data) == text
    assert mime.decode_bytes(data, "shift_jis") == text


def test_raw_iso_2022_jp_in_headers_without_encoded_words():
    # Some old clients put the JIS bytes straight into the header (7-bit, so nothing marks them).
    raw = plain(cp50220(TEXT), None).replace(b"Subject: test", b"Subject: " + cp50220("①見積の件"))
    mail = mime.parse_message(raw)
    assert (mail.subject, mail.full_text) == ("①見積の件", TEXT)


def test_the_decoder_reads_katakana_shifts_and_agrees_with_pythons_codec_on_standard_jis():
    assert japanese.decode_iso2022jp(b"\x1b(I6@6E\x1b(B x\x0e6@\x0fy") == "ｶﾀｶﾅ xｶﾀy"  # ESC ( I and SO/SI
    assert japanese.decode_iso2022jp(b"\x1b$B!A\x1b(B") == "\u301c"  # 〜 is U+301C, as Python and browsers read it
    # JIS X 0201 Roman (¥ ‾), a line end inside two-byte mode, a space there, JIS X 0213 (𩸽) via Python's codec
    assert japanese.decode_iso2022jp(b'\x1b$B-!!A\n$" $"\x1b(J\\~\x1b(B') == "①〜\nあ あ¥‾"
    assert japanese.decode_iso2022jp(b"\x1b$B-!\x1b$(P}L\x1b(B") == "①𩸽"
    assert japanese.decode_iso2022jp(b"\x1b$(D\x22\x2f\x1b(B") == "\u02d8"  # JIS X 0212 via Python's codec
    disagree = []
    for j1 in range(0x21, 0x7F):
        for j2 in range(0x21, 0x7F):
            data = b"\x1b$B" + bytes((j1, j2)) + b"\x1b(B"
            try:
                expected = data.decode("iso2022_jp")
            except UnicodeDecodeError:
                continue
            # After ① (which Python's codec refuses) so that the decoder's own path reads the pair
            if japanese.decode_iso2022jp(b"\x1b$B-!" + data[3:]) != "①" + expected:
                disagree.append(data)
    assert disagree == []


def test_every_cp932_vendor_character_reachable_by_iso_2022_jp_decodes_as_cp932_does():
    # Rows 13 (NEC) and 89-92 (NEC-selected IBM): the JIS codes map to CP932 0x87xx and 0xED40-0xEEFC.
    checked = 0
    for lead in [0x87, 0xED, 0xEE]:
        for trail in [*range(0x40, 0x7F), *range(0x80, 0xFD)]:
            try:
                expected = bytes((lead, trail)).decode("cp932")
            except UnicodeDecodeError:
                continue
            pair = japanese._sjis_to_jis(lead, trail)
            assert japanese.decode_iso2022jp(b"\x1b$B" + pair + b"\x1b(B") == expected
            assert japanese.decode_euc_jp(bytes(b | 0x80 for b in pair)) == expected
            checked += 1
    assert checked > 450


def test_undecodable_bytes_are_an_error_not_a_guess():
    with pytest.raises(UnicodeDecodeError):
        japanese.decode_iso2022jp(b"\x1b$B\x75\x21\x1b(B")  # row 85: nothing there in any table
    assert japanese.decode_iso2022jp(b"a\x1b$B\x75\x21\x1b(Bb", errors="replace") == "a\ufffdb"
    assert japanese.detect(b"\xff\xfe\xff") is None


# --- outgoing -----------------------------------------------------------------------------------------------------


class Mailbox:
    def __init__(self, charset: str | None):
        self.config = {"address": MAILBOX, "from_name": "ショップ サポート"}
        if charset:
            self.config["outgoing_charset"] = charset
        self.external_account_id = MAILBOX
        self.credentials: dict = {}


def outbound(text: str, *, subject: str = "①ご注文の件", files=()) -> OutboundMessage:
    return OutboundMessage(
        text=text,
        recipient_id="hanako@example.jp",
        thread_key="<ask@example.jp>",
        kind="email",
        reply_to_platform_id="<ask@example.jp>",
        subject=subject,
        recipient_email="hanako@example.jp",
        recipient_name="山田 花子",
        local_ref="7d0c0b1e-0000-4000-8000-000000000016",
        attachments=tuple(files),
    )


REPLY = "山田様\n①の件、㈱テスト商事様へ確認いたしました。\nｶﾀｶﾅ 〜 ¥1,000\n"


def test_a_mailbox_asking_for_iso_2022_jp_sends_7bit_cp50220_that_reads_back():
    files = [OutboundFile("①見積書（㈱テスト）.pdf", "application/pdf", PDF)]
    raw = EmailConnector().build(Mailbox("iso-2022-jp"), outbound(REPLY, files=files)).as_bytes()
    assert raw.isascii() and b"\x1b$B" in raw
    assert all(len(line) <= 78 for line in raw.split(b"\n\n", 1)[0].splitlines())  # headers folded
    parsed = email.message_from_bytes(raw, policy=default_policy)
    text_part = parsed.get_body(("plain",))
    assert text_part.get_content_charset() == "iso-2022-jp"
    assert text_part["Content-Transfer-Encoding"] == "7bit"
    assert parsed.get_body(("html",)).get_content_charset() == "iso-2022-jp"
    assert mime.raw_header(parsed, "Subject").startswith("=?ISO-2022-JP?B?")
    # Each line back in ASCII before its end (RFC 1468), the vendor characters as CP50220 writes them
    body = text_part.get_payload(decode=True)
    assert all(line.rfind(b"\x1b$B") < line.rfind(b"\x1b(B") for line in body.split(b"\n") if b"\x1b" in line)
    assert b"-!" in body and b"-j" in body
    # Half-width katakana become full-width (CP50220), ¥ the full-width yen; everything else as written
    expected = REPLY.replace("ｶﾀｶﾅ", "カタカナ").replace("¥", "￥")
    assert mime.raw_header(parsed, "From").startswith("=?ISO-2022-JP?B?")
    assert mime.raw_header(parsed, "To").startswith("=?ISO-2022-JP?B?")
    mail = mime.parse_message(raw)
    assert mail.subject == "Re: ①ご注文の件"
    assert mail.from_name == "ショップ サポート"
    assert mime.all_addresses(parsed, "To") == [("山田 花子", "hanako@example.jp")]
    assert mail.full_text == expected.strip()
    assert "㈱テスト商事様" in mail.html
    [attachment] = mail.attachments
    assert (attachment.filename, attachment.content) == ("①見積書（㈱テスト）.pdf", PDF)
    assert 'filename="=?ISO-2022-JP?B?' in mime.raw_header(list(parsed.iter_attachments())[0], "Content-Disposition")


def test_standard_jis_text_is_plain_iso_2022_jp_for_any_decoder():
    raw = EmailConnector().build(Mailbox("iso-2022-jp"), outbound("ご確認ください。\n", subject="見積")).as_bytes()
    parsed = email.message_from_bytes(raw, policy=default_policy)
    assert parsed["Subject"] == "Re: 見積"  # Python's strict codec reads it: nothing vendor-specific was needed
    assert parsed.get_body(("plain",)).get_payload(decode=True).decode("iso2022_jp") == "ご確認ください。\n"


def test_characters_iso_2022_jp_cannot_carry_send_the_message_in_utf8_and_say_so(caplog):
    text = "𠮷野様、ありがとうございます😀"
    with caplog.at_level(logging.WARNING, logger="tsunagu.email"):
        raw = EmailConnector().build(Mailbox("iso-2022-jp"), outbound(text)).as_bytes()
    parsed = email.message_from_bytes(raw, policy=default_policy)
    assert parsed.get_body(("plain",)).get_content_charset() == "utf-8"
    assert mime.parse_message(raw).full_text == text  # nothing dropped
    assert "U+20BB7" in caplog.text and "U+1F600" in caplog.text


def test_utf8_stays_the_default_and_long_lines_are_not_sent_as_7bit():
    raw = EmailConnector().build(Mailbox(None), outbound(REPLY)).as_bytes()
    parsed = email.message_from_bytes(raw, policy=default_policy)
    assert parsed.get_body(("plain",)).get_content_charset() == "utf-8"
    long_line = "あ" * 600  # 1,206 bytes in ISO-2022-JP: over RFC 5322's 998
    raw = EmailConnector().build(Mailbox("iso-2022-jp"), outbound(long_line)).as_bytes()
    parsed = email.message_from_bytes(raw, policy=default_policy)
    text_part = parsed.get_body(("plain",))
    assert (text_part.get_content_charset(), text_part["Content-Transfer-Encoding"]) == ("iso-2022-jp", "base64")
    assert mime.parse_message(raw).full_text == long_line


def test_every_character_the_decoder_knows_encodes_back_to_itself():
    table = japanese._jis_table()
    assert len(table) > 7000
    text = "".join(table)
    assert japanese.iso2022jp_unencodable(text) == ""
    assert japanese.decode_iso2022jp(japanese.encode_iso2022jp(text)) == text


def test_the_mailbox_form_stores_the_outgoing_charset(db, tenant_a):
    data = {
        "address": "support@example.jp",
        "from_name": "",
        "username": "support@example.jp",
        "password": "secret",
        "imap_host": "imap.example.jp",
        "imap_port": "993",
        "imap_security": "ssl",
        "imap_folder": "INBOX",
        "smtp_host": "smtp.example.jp",
        "smtp_port": "587",
        "smtp_security": "starttls",
    }
    for chosen, stored in (({}, "utf-8"), ({"outgoing_charset": "iso-2022-jp"}, "iso-2022-jp")):
        with tenant_a.scope():
            form = MailboxForm(data={**data, **chosen}, organization=tenant_a.organization)
            assert form.is_valid(), form.errors
            assert form.account_choice().config["outgoing_charset"] == stored
    with tenant_a.scope():
        form = MailboxForm(data={**data, "outgoing_charset": "shift_jis"}, organization=tenant_a.organization)
        assert not form.is_valid()


def test_an_agents_reply_goes_over_smtp_in_iso_2022_jp(tenant_a, simulator, django_capture_on_commit_callbacks):
    part = simulator.parts["email"]
    box = part.add_mailbox(MAILBOX, MAILBOX, "mail-password")
    box.append(OUTLOOK)
    connection = mailbox(tenant_a, imap_port=part.imap_port, smtp_port=part.smtp_port)
    with tenant_a.scope():
        connection.config["outgoing_charset"] = "iso-2022-jp"
        connection.save(update_fields=["config"])
        services.connection_poll(organization=tenant_a.organization, connection_id=connection.pk)
        ticket = Ticket.objects.get()
        with django_capture_on_commit_callbacks(execute=True):
            reply = replies.message_reply(
                organization=tenant_a.organization, actor=tenant_a.users["agent"], ticket=ticket, text=REPLY
            )
        reply.refresh_from_db()
        assert reply.delivery_state == DeliveryState.SENT
    sent = part.sent()[-1]
    raw = sent["data"] if isinstance(sent, dict) else sent
    raw = raw if isinstance(raw, bytes) else raw.encode("ascii")
    assert b"\x1b$B" in raw and b'charset="ISO-2022-JP"' in raw
    mail = mime.parse_message(raw)
    assert mail.subject == "Re: " + SUBJECT
    assert mail.full_text == REPLY.replace("ｶﾀｶﾅ", "カタカナ").replace("¥", "￥").strip()
