"""Conformance of outgoing and incoming mail with the RFCs (5322 dates and ids, 6152 8-bit transport, 2047/2231
encodings, 3834 automatic responses, 3464 delivery reports), on messages shaped like the shared fixtures."""

import dataclasses
import email
import re
from datetime import UTC, datetime, timedelta
from email.policy import default as default_policy
from email.utils import parsedate_to_datetime

import pytest

from channels_integrations.connector import OutboundFile, OutboundMessage
from channels_integrations.providers.email.connector import EmailConnector


class Mailbox:
    config = {"address": "support@shop.example.jp", "from_name": "ショップ サポート"}
    external_account_id = "support@shop.example.jp"
    credentials: dict = {}


def reply(**overrides) -> OutboundMessage:
    values = {
        "text": "はい、30日以内であれば返品いただけます。\nよろしくお願いいたします。",
        "recipient_id": "hanako@example.jp",
        "thread_key": "<ask@example.jp>",
        "kind": "email",
        "reply_to_platform_id": "<ask@example.jp>",
        "references": ("<root@example.jp>", "<ask@example.jp>"),
        "subject": "返品について",
        "recipient_email": "hanako@example.jp",
        "recipient_name": "山田 花子",
        "sender_name": "佐藤 一郎",
        "local_ref": "7d0c0b1e-0000-4000-8000-000000000003",
    }
    return OutboundMessage(**{**values, **overrides})


def test_a_japanese_reply_is_7bit_clean_and_decodes_back():
    # RFC 6152: 8-bit bodies only to servers announcing 8BITMIME (smtplib does not check): send base64 UTF-8.
    message = EmailConnector().build(
        Mailbox(), reply(attachments=(OutboundFile("領収書.pdf", "application/pdf", b"%PDF"),))
    )
    raw = message.as_bytes()
    assert raw.isascii()
    assert all(len(line) <= 998 for line in raw.splitlines())  # RFC 5322 §2.1.1
    parsed = email.message_from_bytes(raw, policy=default_policy)
    for part in parsed.walk():
        assert part["Content-Transfer-Encoding"] in (None, "7bit", "base64", "quoted-printable")
    assert parsed["Subject"] == "Re: 返品について"
    assert parsed["From"].addresses[0].display_name == "佐藤 一郎"
    assert "30日以内" in parsed.get_body(("plain",)).get_content()
    assert "30日以内" in parsed.get_body(("html",)).get_content()
    [attachment] = list(parsed.iter_attachments())
    assert attachment.get_filename() == "領収書.pdf"  # RFC 2231


def test_the_reply_threads_under_the_customers_mail():
    # RFC 5322 §3.6.4: In-Reply-To = the parent's id; References = the parent's References then its id.
    parsed = email.message_from_bytes(EmailConnector().build(Mailbox(), reply()).as_bytes(), policy=default_policy)
    assert parsed["In-Reply-To"] == "<ask@example.jp>"
    assert parsed["References"].split() == ["<root@example.jp>", "<ask@example.jp>"]
    assert parsed["Message-ID"] == "<7d0c0b1e-0000-4000-8000-000000000003@shop.example.jp>"


def test_a_long_references_chain_keeps_the_threads_first_id():
    chain = tuple(f"<m{i}@example.jp>" for i in range(30))
    message = EmailConnector().build(Mailbox(), reply(references=chain, reply_to_platform_id="<m29@example.jp>"))
    ids = message["References"].split()
    assert ids[0] == "<m0@example.jp>" and ids[-1] == "<m29@example.jp>" and len(ids) == 20


def test_an_automatic_reply_is_marked_auto_submitted_and_a_person_s_is_not():
    # RFC 3834 §5: automatic responses SHOULD carry "Auto-Submitted: auto-replied".
    automated = dataclasses.replace(reply(), automated=True)
    assert EmailConnector().build(Mailbox(), automated)["Auto-Submitted"] == "auto-replied"
    assert EmailConnector().build(Mailbox(), reply())["Auto-Submitted"] is None


def test_the_date_carries_an_explicit_utc_offset():
    # RFC 5322 §3.3: "-0000" means the local zone is unknown; we know the time is UTC.
    message = EmailConnector().build(Mailbox(), reply())
    assert re.search(r"[+]0000$", message["Date"]), message["Date"]
    assert abs(parsedate_to_datetime(message["Date"]) - datetime.now(UTC)) < timedelta(minutes=1)


def test_a_message_id_is_always_a_valid_msg_id_of_our_domain():
    message = EmailConnector().build(Mailbox(), reply(local_ref=""))
    assert re.fullmatch(r"<[^<>@\s]+@shop\.example\.jp>", message["Message-ID"]), message["Message-ID"]


def crlf(text: str) -> bytes:
    return text.strip("\n").replace("\n", "\r\n").encode() + b"\r\n"


@pytest.mark.parametrize(
    "headers",
    [
        "Auto-Submitted: auto-generated",  # RFC 3834 §5 (chatwoot auto_reply_with_auto_submitted)
        "Auto-Submitted: auto-notified",  # RFC 5436
        "X-Autoreply: yes",  # chatwoot auto_reply
        "Precedence: bulk",
        "Precedence: list",
        "Precedence: junk",
    ],
)
def test_automatic_mail_makes_no_ticket(headers):
    raw = crlf(
        f"""
From: Sony Mathew <Sony@chatwoot.com>
Subject: Discussion: Let's debate these attachments
Date: Tue, 20 Apr 2020 04:20:20 -0400
In-Reply-To: <4e6e35f5a38b4_479f13bb90078178@small-app-01.mail>
To: "Replies" <replies@example.com>
Message-Id: <0CB459E0-0336-41DA-BC88-E6E28C697DDB@chatwoot.com>
{headers}
Content-Type: text/plain; charset=us-ascii

I am on vacation.
"""
    )
    assert EmailConnector().parse_event(raw, account_id="replies@example.com") == []


def test_auto_submitted_no_is_a_person_writing():
    raw = crlf(
        """
From: hanako@example.jp
To: support@shop.example.jp
Subject: question
Message-ID: <person@example.jp>
Auto-Submitted: no
Content-Type: text/plain; charset=us-ascii

Hello
"""
    )
    [item] = EmailConnector().parse_event(raw, account_id="support@shop.example.jp")
    assert item.text == "Hello"


@pytest.mark.parametrize("report_type", ["delivery-status", "disposition-notification", "feedback-report"])
def test_reports_never_make_a_ticket(report_type):
    # RFC 3462/3464/3798/5965: multipart/report is a machine's report, whatever it reports.
    raw = crlf(
        f"""
From: postmaster@mx.example.net
To: support@shop.example.jp
Subject: Report
Message-ID: <report-{report_type}@mx.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type={report_type}; boundary="b"

--b
Content-Type: text/plain; charset=us-ascii

A report.
--b
Content-Type: message/{report_type}

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; nobody@example.jp
Action: delayed
Status: 4.4.7

--b--
"""
    )
    assert EmailConnector().parse_event(raw, account_id="support@shop.example.jp") == []
