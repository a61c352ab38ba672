"""The header readings that skip the email package's header registry (its parser cost more than the rest of a
mail's headers): a single mailbox read from the raw From, and our Authentication-Results read back from the first
field. Each gives what the full parse gives; anything of another shape still takes the full parse."""

import base64
from email.parser import BytesParser

import pytest

from channels_integrations.providers.email import authentication, mime


def _word(text: str, charset: str = "UTF-8", codec: str = "utf-8") -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(codec)).decode()}?="


FROMS = [
    f"{_word('山田 花子')} <Hanako@Example.JP>",
    f'"{_word("山田 花子")}" <hanako@example.jp>',  # Outlook: encoded words inside the quotes
    f"{_word('山田 花子', 'ISO-2022-JP', 'iso2022_jp')} <h@example.jp>",
    f"Taro {_word('山田')} <taro@example.jp>",
    '"Smith, John" <john@example.com>',
    "John Q. Public <jqp@example.org>",
    "plain@example.jp",
    "  Spaced   Name   <s@example.jp>  ",
    # Other shapes take the registry's parse: a comment, two mailboxes, a group, no address.
    "s@example.jp (Sato)",
    "A <a@example.jp>, B <b@example.jp>",
    "team: a@example.jp, b@example.jp;",
    "undisclosed-recipients:;",
]


def _registry(value: str) -> list[tuple[str, str]]:
    header = BytesParser(policy=mime.POLICY).parsebytes(f"From: {value}\r\n\r\n".encode())["From"]
    return [(" ".join(a.display_name.split()), a.addr_spec.lower()) for a in header.addresses if "@" in a.addr_spec]


@pytest.mark.parametrize("value", FROMS)
def test_a_from_reads_as_the_header_registry_reads_it(value):
    msg = BytesParser(policy=mime.POLICY).parsebytes(f"From: {value}\r\nTo: x@example.jp\r\n\r\n".encode())
    assert mime.all_addresses(msg, "From") == _registry(value)


def test_our_result_is_read_back_from_the_first_field_and_remembered_boundedly(monkeypatch):
    raw = b"From: a@example.jp\r\nMessage-ID: <1@example.jp>\r\n\r\nbody\r\n"
    stamped = authentication.stamp_unchecked(raw)
    found = authentication.Authentication.from_header(stamped)
    assert found is not None and found.dmarc == authentication.NONE and found.dkim == ()
    assert authentication.Authentication.from_header(stamped) is found  # remembered
    assert authentication.Authentication.from_header(raw) is None  # not ours: its first field is the From
    forged = b"Authentication-Results: tsunagu;\r\n dmarc=pass header.from=example.jp\r\n" + raw
    assert authentication.Authentication.from_header(forged).dmarc == "pass"  # folded value read whole
    assert authentication.unstamped(stamped) == raw
    monkeypatch.setattr(authentication, "READ_MAX_ENTRIES", 3)
    for n in range(10):
        authentication.Authentication.from_header(f"Authentication-Results: tsunagu; spf=pass{n}\r\n".encode() + raw)
        assert len(authentication._read) <= 3


@pytest.mark.parametrize("charset, codec", [("UTF-8", "utf-8"), ("ISO-2022-JP", "iso2022_jp")])
def test_adjacent_encoded_words_join_without_the_space_between_them(charset, codec):
    """RFC 2047 §6.2 (the registry keeps the space; the Japanese charsets' own decoding never did)."""
    value = f"{_word('山田', charset, codec)} {_word('花子', charset, codec)} <h@example.jp>"
    msg = BytesParser(policy=mime.POLICY).parsebytes(f"From: {value}\r\n\r\n".encode())
    assert mime.all_addresses(msg, "From") == [("山田花子", "h@example.jp")]
