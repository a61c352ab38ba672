"""Sender authentication on real mails: signed here with dkimpy and a fresh RSA key, verified by the real dkimpy
path; only DNS is a table (TXT records by name)."""

import base64
from email.message import EmailMessage

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from channels_integrations.providers.email import authentication
from channels_integrations.providers.email.authentication import (
    Authentication,
    BoundedResolver,
    DnsTemporaryError,
    aligned,
    authenticate,
    organizational_domain,
    stamp,
    stamp_unchecked,
    unstamped,
)


@pytest.fixture(scope="module")
def key():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}"


def mail(sender="taro@shop.example.co.jp", *, headers=(), body="注文の件でご連絡します。\n") -> bytes:
    message = EmailMessage()
    for name, value in headers:
        message[name] = value
    message["From"] = sender
    message["To"] = "support@tsunagu.example"
    message["Subject"] = "注文について"
    message["Message-ID"] = "<m1@shop.example.co.jp>"
    message.set_content(body)
    return message.as_bytes().replace(b"\n", b"\r\n")


def signed(raw: bytes, pem: bytes, domain="shop.example.co.jp", selector="s1", **options) -> bytes:
    signature = dkim.sign(
        raw,
        selector.encode(),
        domain.encode(),
        pem,
        include_headers=[b"from", b"to", b"subject", b"message-id"],
        **options,
    )
    return signature + raw


def table(records: dict[str, str | list[str]]):
    def resolve(name: str) -> list[str]:
        found = records.get(name.rstrip(".").lower(), [])
        return [found] if isinstance(found, str) else list(found)

    return resolve


def test_organizational_domain_comes_from_the_public_suffix_list():
    assert organizational_domain("mail.shop.example.co.jp") == "example.co.jp"
    assert organizational_domain("a.b.example.com") == "example.com"
    assert organizational_domain("city.kawasaki.jp") == "city.kawasaki.jp"  # an exception rule of the list
    assert aligned("mail.example.co.jp", "shop.example.co.jp", "r")
    assert not aligned("mail.example.co.jp", "shop.example.co.jp", "s")
    assert not aligned("other.co.jp", "example.co.jp", "r")  # co.jp is a public suffix: not one organization


def test_a_signed_mail_passes_dkim_and_dmarc(key):
    pem, dns_key = key
    raw = signed(mail(), pem)
    dns = table({"s1._domainkey.shop.example.co.jp": dns_key, "_dmarc.example.co.jp": "v=DMARC1; p=reject"})
    result = authenticate(raw, resolver=dns)
    assert result.dkim == (authentication.Signature("shop.example.co.jp", "s1", "pass"),)
    assert (result.dmarc, result.policy, result.verdict) == ("pass", "reject", "pass")  # the org domain's record


def test_a_tampered_body_fails_dkim_and_dmarc(key):
    pem, dns_key = key
    raw = signed(mail(), pem)
    tampered = raw.replace("ご連絡".encode(), "ご返金".encode())  # the body a forwarder (or an attacker) changed
    assert tampered != raw
    dns = table({"s1._domainkey.shop.example.co.jp": dns_key, "_dmarc.shop.example.co.jp": "v=DMARC1; p=quarantine"})
    result = authenticate(tampered, resolver=dns)
    assert result.dkim_result == "fail"
    assert (result.dmarc, result.policy, result.verdict) == ("fail", "quarantine", "fail")


@pytest.mark.parametrize(
    "options, appended",
    [({"signature_algorithm": b"rsa-sha1"}, b""), ({"length": True}, b"\r\nP.S. appended after signing\r\n")],
)
def test_sha1_and_partial_body_signatures_do_not_count(key, options, appended):
    pem, dns_key = key
    raw = signed(mail(), pem, **options)
    dns = table({"s1._domainkey.shop.example.co.jp": dns_key, "_dmarc.example.co.jp": "v=DMARC1; p=reject"})
    result = authenticate(raw + appended, resolver=dns)
    assert (result.dkim_result, result.verdict) == ("policy", "fail")


def test_a_spoofed_from_signed_by_another_domain_fails_dmarc(key):
    pem, dns_key = key
    raw = signed(mail("ceo@bank.example"), pem, domain="attacker.example")
    dns = table({"s1._domainkey.attacker.example": dns_key, "_dmarc.bank.example": "v=DMARC1; p=reject; adkim=r"})
    result = authenticate(raw, resolver=dns)
    assert result.dkim_result == "pass"  # a valid signature, of the wrong domain: not aligned
    assert (result.dmarc, result.policy, result.verdict) == ("fail", "reject", "fail")


def test_strict_alignment_refuses_a_subdomain_signature(key):
    pem, dns_key = key
    raw = signed(mail("info@example.com"), pem, domain="mail.example.com")
    records = {"s1._domainkey.mail.example.com": dns_key}
    relaxed = authenticate(raw, resolver=table({**records, "_dmarc.example.com": "v=DMARC1; p=reject"}))
    strict = authenticate(raw, resolver=table({**records, "_dmarc.example.com": "v=DMARC1; p=reject; adkim=s"}))
    assert (relaxed.verdict, strict.verdict) == ("pass", "fail")


def test_a_subdomain_gets_the_organizations_sp_policy():
    dns = table({"_dmarc.example.com": "v=DMARC1; p=quarantine; sp=reject"})
    assert authenticate(mail("a@news.example.com"), resolver=dns).policy == "reject"
    assert authenticate(mail("a@example.com"), resolver=dns).policy == "quarantine"


def test_no_dmarc_record_and_no_signature_is_none_and_unaligned_pass_is_not_enough(key):
    pem, dns_key = key
    assert authenticate(mail(), resolver=table({})).verdict == "none"
    raw = signed(mail("a@example.org"), pem, domain="mailer.example.net")
    result = authenticate(raw, resolver=table({"s1._domainkey.mailer.example.net": dns_key}))
    assert (result.dkim_result, result.dmarc, result.verdict) == ("pass", "none", "none")


def test_two_from_fields_fail():
    raw = b"From: a@bank.example\r\nFrom: b@evil.example\r\nSubject: x\r\n\r\nhi\r\n"
    assert authenticate(raw, resolver=table({})).verdict == "fail"
    # Two From fields of one domain: which one a mail client shows is anyone's guess (RFC 7489 §6.6.1).
    raw = b"From: a@bank.example\r\nFrom: b@bank.example\r\nSubject: x\r\n\r\nhi\r\n"
    assert authenticate(raw, resolver=table({})).dmarc == "permerror"


def test_dns_trouble_is_a_temperror_not_a_failure(key):
    pem, _dns_key = key

    def broken(name):
        raise DnsTemporaryError(name)

    result = authenticate(signed(mail(), pem), resolver=broken)
    assert (result.dkim_result, result.dmarc, result.verdict) == ("temperror", "temperror", "none")


def test_an_authentication_results_header_from_an_untrusted_host_is_ignored():
    forged = mail(
        "ceo@bank.example",
        headers=[("Authentication-Results", "mx.evil.example; spf=pass smtp.mailfrom=bank.example; dkim=pass "
                  "header.d=bank.example; dmarc=pass header.from=bank.example")],
    )  # fmt: skip
    dns = table({"_dmarc.bank.example": "v=DMARC1; p=reject"})
    assert authenticate(forged, trusted_hosts=["mx.google.com"], resolver=dns).verdict == "fail"
    # The same header believed because the admin named the host: the check is what makes the difference.
    assert authenticate(forged, trusted_hosts=["mx.evil.example"], resolver=dns).verdict == "pass"


def test_only_the_topmost_header_of_a_trusted_host_counts():
    raw = mail(
        "ceo@bank.example",
        headers=[
            ("Authentication-Results", "mx.google.com; dkim=none"),
            ("Received", "from evil.example by mx.google.com"),
            ("Authentication-Results", "mx.google.com; spf=pass smtp.mailfrom=bank.example"),  # the sender's forgery
        ],
    )
    result = authenticate(
        raw, trusted_hosts=["MX.Google.com"], resolver=table({"_dmarc.bank.example": "v=DMARC1; p=none"})
    )
    assert (result.spf, result.verdict) == ("none", "fail")


def test_a_trusted_spf_pass_aligns():
    raw = mail(
        "taro@shop.example.co.jp",
        headers=[("Authentication-Results", "mx.google.com; spf=pass (google.com: domain of x designates 192.0.2.1 "
                  "as permitted sender) smtp.mailfrom=bounce@mail.example.co.jp")],
    )  # fmt: skip
    result = authenticate(
        raw, trusted_hosts=["mx.google.com"], resolver=table({"_dmarc.example.co.jp": "v=DMARC1; p=reject"})
    )
    assert (result.spf, result.spf_domain, result.verdict) == ("pass", "mail.example.co.jp", "pass")


def test_received_spf_counts_only_from_a_trusted_receiver():
    header = "pass (mx.example.jp: 192.0.2.1 is permitted) receiver=mx.example.jp; envelope-from=a@example.org"
    raw = mail("a@example.org", headers=[("Received-SPF", header)])
    dns = table({"_dmarc.example.org": "v=DMARC1; p=reject"})
    assert authenticate(raw, trusted_hosts=["mx.example.jp"], resolver=dns).verdict == "pass"
    assert authenticate(raw, trusted_hosts=["mx.google.com"], resolver=dns).verdict == "fail"


def test_the_stamp_round_trips_and_only_the_first_field_counts(key):
    pem, dns_key = key
    dns = table({"s1._domainkey.shop.example.co.jp": dns_key, "_dmarc.example.co.jp": "v=DMARC1; p=reject"})
    raw = signed(mail(), pem)
    stored = stamp(raw, resolver=dns)
    read = Authentication.from_header(stored)
    assert read == authenticate(raw, resolver=dns)
    assert read.as_dict()["verdict"] == "pass"
    assert unstamped(stored) == raw
    # A mail that brings its own "tsunagu" header: not the first field once stored, so never read.
    forged = mail(
        "ceo@bank.example", headers=[("Authentication-Results", "tsunagu; dmarc=pass header.from=bank.example")]
    )
    assert Authentication.from_header(forged).verdict == "pass"  # (were it first, it would be believed)
    assert Authentication.from_header(stamp_unchecked(forged)).verdict == "none"
    dns_bank = table({"_dmarc.bank.example": "v=DMARC1; p=reject"})
    assert Authentication.from_header(stamp(forged, resolver=dns_bank)).verdict == "fail"


def test_the_bounded_resolver_caches_and_stops_at_its_budget():
    asked = []

    def counting(name):
        asked.append(name)
        return ["v=DMARC1; p=none"]

    bounded = BoundedResolver(counting, lookups=2)
    assert bounded("_dmarc.a.example") == bounded("_DMARC.a.example.") == ["v=DMARC1; p=none"]
    bounded("_dmarc.b.example")
    with pytest.raises(DnsTemporaryError):
        bounded("_dmarc.c.example")
    assert asked == ["_dmarc.a.example", "_dmarc.b.example"]


def test_with_dns_off_every_lookup_is_no_record_so_mail_is_not_checked(settings):
    settings.EMAIL_AUTH_DNS = "off"
    assert authentication.dns_txt("_dmarc.gmail.com") == []
