"""Who really sent an inbound mail: DKIM (RFC 6376) verified here with dkimpy, SPF (RFC 7208) as reported by the
mailbox's own receiving host, and DMARC (RFC 7489) alignment of both with the From domain, decided here.

Over IMAP the connecting client's address and HELO are never known, so SPF cannot be checked here: it is read from an
`Authentication-Results` (RFC 7601) or `Received-SPF` header, and only from a receiving host the admin named as trusted
(its authserv-id, e.g. mx.google.com), and only the topmost such header: everything below it came with the mail and
may be the sender's forgery. DKIM results that host reported count too (a server that rewrites the mail after checking
it would break our own verification).

The poller records the result as an `Authentication-Results: tsunagu; …` header prepended to the stored raw mail, so
parsing stays pure and a retried event reads the same result: `from_header` reads it back, and only from the very
first header field (we always put ours there; a copy further down is the sender's)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from email import policy
from email.parser import BytesHeaderParser
from email.utils import getaddresses

import authres
import dkim
import dns.exception
import dns.resolver
from authres.dmarc import DMARCAuthenticationResult
from django.conf import settings
from dkim.util import InvalidTagValueList, parse_tag_value
from publicsuffixlist import PublicSuffixList

AUTHSERV_ID = "tsunagu"  # the authserv-id of the results we record ourselves
MAX_SIGNATURES = 5  # DKIM signatures verified per mail (each costs a DNS lookup)
MAX_TXT_BYTES = 4096  # a TXT answer longer than this is not a key or a policy anyone publishes
DNS_TIMEOUT = 2.0  # seconds per query
POLL_DNS_BUDGET = 20.0  # seconds of DNS per poll; then the remaining mails get temperror, not a stalled poll
POLL_DNS_LOOKUPS = 400

PASS, FAIL, NONE = "pass", "fail", "none"
SPF_RESULTS = ("pass", "fail", "softfail", "neutral", "none", "temperror", "permerror")
POLICIES = ("none", "quarantine", "reject")

_PSL = PublicSuffixList()  # the list bundled with the package: no download, ever


class DnsTemporaryError(Exception):
    """The answer could not be had now (timeout, SERVFAIL, budget spent): RFC 7601's temperror."""


Resolver = Callable[[str], list[str]]  # name -> the TXT records there (each record's strings joined); [] if none


def dns_txt(name: str) -> list[str]:
    """TXT records from the system's resolver, with a short timeout; NXDOMAIN and no data are empty answers (and
    every answer with `EMAIL_AUTH_DNS=off`)."""
    if settings.EMAIL_AUTH_DNS == "off":
        return []
    resolver = dns.resolver.Resolver()
    resolver.timeout = resolver.lifetime = DNS_TIMEOUT
    try:
        answer = resolver.resolve(name, "TXT", search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.exception.DNSException, OSError) as exc:  # timeout, SERVFAIL, no nameserver, bad name
        raise DnsTemporaryError(f"{name}: {type(exc).__name__}") from exc
    return [b"".join(record.strings).decode("ascii", "replace") for record in answer][:10]


class BoundedResolver:
    """One poll's DNS: answers kept for the poll (a newsletter's 50 mails ask the same names), oversized answers
    dropped, and at most `lookups` queries or `budget` seconds in all."""

    def __init__(
        self, resolver: Resolver = dns_txt, *, budget: float = POLL_DNS_BUDGET, lookups: int = POLL_DNS_LOOKUPS
    ):
        self.resolver, self.deadline, self.left = resolver, time.monotonic() + budget, lookups
        self.cache: dict[str, list[str] | DnsTemporaryError] = {}

    def __call__(self, name: str) -> list[str]:
        name = name.rstrip(".").lower()
        if name not in self.cache:
            if self.left <= 0 or time.monotonic() > self.deadline:
                raise DnsTemporaryError("the DNS budget of this poll is spent")
            self.left -= 1
            try:
                self.cache[name] = [r for r in self.resolver(name) if len(r) <= MAX_TXT_BYTES]
            except DnsTemporaryError as exc:
                self.cache[name] = exc
        found = self.cache[name]
        if isinstance(found, DnsTemporaryError):
            raise found
        return found


# --- the result -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    domain: str  # d=
    selector: str  # s=
    result: str  # pass | fail | policy | neutral | temperror | permerror (RFC 7601 §2.7.1)


@dataclass(frozen=True)
class Authentication:
    from_domain: str
    dkim: tuple[Signature, ...] = ()
    spf: str = NONE
    spf_domain: str = ""
    dmarc: str = NONE  # pass | fail | none (no record) | temperror | permerror (no single From domain)
    policy: str = ""  # the DMARC policy that applies to the From domain (p=, or sp= for a subdomain)
    dkim_alignment: str = "r"
    spf_alignment: str = "r"

    @property
    def dkim_result(self) -> str:
        results = [s.result for s in self.dkim]
        for result in (PASS, "temperror", FAIL, "policy", "permerror", "neutral"):
            if result in results:
                return result
        return NONE

    @property
    def aligned_pass(self) -> bool:
        """An identifier some check passed for is the From domain's (DMARC alignment, §3.1)."""
        if not self.from_domain:
            return False
        if any(s.result == PASS and aligned(s.domain, self.from_domain, self.dkim_alignment) for s in self.dkim):
            return True
        return self.spf == PASS and aligned(self.spf_domain, self.from_domain, self.spf_alignment)

    @property
    def verdict(self) -> str:
        """pass: the From domain is authenticated (an aligned DKIM or SPF pass); fail: DMARC fails (whatever the
        domain's policy asks receivers to do with it) or the mail has no single From domain; none: nothing says."""
        if self.dmarc == PASS or (self.dmarc == NONE and self.aligned_pass):
            return PASS
        if self.dmarc in (FAIL, "permerror"):
            return FAIL
        return NONE

    def as_dict(self) -> dict:
        """What the message keeps (tickets.Message.sender_authentication)."""
        data = asdict(self)
        data["dkim"] = [asdict(s) for s in self.dkim]
        data.update(verdict=self.verdict, dkim_result=self.dkim_result)
        return data

    def header(self) -> str:
        """The result as an Authentication-Results field (name included), prepended to the stored mail."""
        results = [
            authres.DKIMAuthenticationResult(result=s.result, header_d=s.domain, header_s=s.selector) for s in self.dkim
        ]
        if self.spf != NONE or self.spf_domain:
            results.append(authres.SPFAuthenticationResult(result=self.spf, smtp_mailfrom=self.spf_domain or None))
        dmarc = DMARCAuthenticationResult(result=self.dmarc, header_from=self.from_domain or None)
        # Not registered properties of ours (RFC 7601 §2.3): what `from_header` needs to judge alignment again.
        for name, value in (("policy", self.policy), ("adkim", self.dkim_alignment), ("aspf", self.spf_alignment)):
            if value:
                dmarc.properties.append(authres.core.AuthenticationResultProperty("policy", name, value))
        results.append(dmarc)
        # Folded after each result: five signatures with long domains would pass RFC 5322's 998 characters a line.
        return str(authres.AuthenticationResultsHeader(authserv_id=AUTHSERV_ID, results=results)).replace(
            "; ", ";\r\n\t"
        )

    @classmethod
    def from_header(cls, raw: bytes) -> Authentication | None:
        """Our result, read back from the first header field of a stored mail (None when it is not ours)."""
        first = _first_field(raw)
        if first is None or first[0].lower() != "authentication-results" or _authserv_id(first[1]) != AUTHSERV_ID:
            return None
        found = _read.get(first[1], _UNREAD)
        if found is _UNREAD:
            found = cls._parse(first[1])
            if len(_read) >= READ_MAX_ENTRIES:
                _read.clear()
            _read[first[1]] = found
        return found

    @classmethod
    def _parse(cls, value: str) -> Authentication | None:
        try:
            parsed = authres.AuthenticationResultsHeader.parse_value(value)
        except authres.AuthResError:
            return None
        dkim_found, spf, spf_domain, dmarc, props = [], NONE, "", NONE, {}
        from_domain = ""
        for result in parsed.results:
            values = {f"{p.type}.{p.name}".lower(): str(p.value or "") for p in result.properties}
            if result.method == "dkim":
                dkim_found.append(Signature(values.get("header.d", ""), values.get("header.s", ""), result.result))
            elif result.method == "spf":
                spf, spf_domain = result.result, values.get("smtp.mailfrom", "")
            elif result.method == "dmarc":
                dmarc, from_domain, props = result.result, values.get("header.from", ""), values
        return cls(
            from_domain=from_domain,
            dkim=tuple(dkim_found),
            spf=spf,
            spf_domain=spf_domain,
            dmarc=dmarc,
            policy=props.get("policy.policy", ""),
            dkim_alignment=props.get("policy.adkim", "r"),
            spf_alignment=props.get("policy.aspf", "r"),
        )


# --- checking -----------------------------------------------------------------------------------------------------


def organizational_domain(domain: str) -> str:
    """RFC 7489 §3.2 with the Public Suffix List: example.co.jp for mail.example.co.jp."""
    domain = domain.strip().rstrip(".").lower()
    return _PSL.privatesuffix(domain) or domain


def aligned(domain: str, from_domain: str, mode: str = "r") -> bool:
    domain, from_domain = domain.strip().rstrip(".").lower(), from_domain.strip().rstrip(".").lower()
    if not domain or not from_domain:
        return False
    if mode == "s":
        return domain == from_domain
    return organizational_domain(domain) == organizational_domain(from_domain)


def authenticate(raw: bytes, *, trusted_hosts: Iterable[str] = (), resolver: Resolver = dns_txt) -> Authentication:
    """Check one raw mail. `trusted_hosts` are the authserv-ids whose Authentication-Results this mailbox trusts.
    Never raises on odd input: a broken signature is a failed one, a DNS failure a temperror."""
    fields = _header_fields(raw)
    from_domain, from_error = _from_domain(fields)
    signatures = list(_verify_dkim(raw, fields, resolver))
    trusted = {h.strip().rstrip(".").lower() for h in trusted_hosts if h.strip()} - {AUTHSERV_ID}
    reported = _trusted_reports(fields, trusted)
    spf, spf_domain = NONE, ""
    for report in reported:
        for result in report.results:
            values = {f"{p.type}.{p.name}".lower(): str(p.value or "") for p in result.properties}
            if result.method == "dkim" and result.result == PASS:
                domain = values.get("header.d") or values.get("header.i", "").rpartition("@")[2]
                reported_pass = Signature(domain.lower(), values.get("header.s", ""), PASS)
                if domain and reported_pass not in signatures:
                    signatures.append(reported_pass)
            elif result.method == "spf" and spf == NONE and result.result in SPF_RESULTS:
                identity = values.get("smtp.mailfrom") or values.get("smtp.helo", "")
                spf, spf_domain = result.result, identity.rpartition("@")[2].lower()
    if spf == NONE:
        spf, spf_domain = _received_spf(fields, trusted)
    found = Authentication(from_domain=from_domain, dkim=tuple(signatures), spf=spf, spf_domain=spf_domain)
    if from_error:
        return replace(found, dmarc="permerror")
    try:
        record = _dmarc_record(from_domain, resolver)
    except DnsTemporaryError:
        return replace(found, dmarc="temperror")
    if record is None:
        return found
    # sp= is for subdomains, and only in the organizational domain's record (§6.3).
    subdomain = record["_inherited"] and organizational_domain(from_domain) != from_domain
    policy = record.get("sp") if subdomain and record.get("sp") in POLICIES else None
    checked = replace(
        found,
        policy=policy or (record.get("p") if record.get("p") in POLICIES else NONE),
        dkim_alignment="s" if record.get("adkim") == "s" else "r",
        spf_alignment="s" if record.get("aspf") == "s" else "r",
    )
    return replace(checked, dmarc=PASS if checked.aligned_pass else FAIL)


# Our results by the header value they were read from (frozen objects): reading one back was a tenth of parsing a
# mail, and the endpoint's "none" is the same value on every mail it takes. Bounded, started afresh when full.
_read: dict[str, Authentication | None] = {}
_UNREAD = object()
READ_MAX_ENTRIES = 1_000
# The first header field of a mail (name, colon, value with its folded lines), as the header parser reads it.
_FIRST_FIELD = re.compile(rb"([!-9;-~]+):([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)")


def _first_field(raw: bytes) -> tuple[str, str] | None:
    """The mail's first header field, unfolded, read without parsing the whole header block."""
    match = _FIRST_FIELD.match(raw)
    if match is None:
        return next(iter(_header_fields(raw)), None)
    value = match.group(2).decode("ascii", "surrogateescape")
    return match.group(1).decode("ascii"), re.sub(r"\r?\n[ \t]", " ", value).strip()


def _header_fields(raw: bytes) -> list[tuple[str, str]]:
    """The header fields in order, top first, values unfolded."""
    try:
        headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
    except Exception:
        return []
    return [(name, re.sub(r"\r?\n[ \t]", " ", str(value)).strip()) for name, value in headers.raw_items()]


def _from_domain(fields: list[tuple[str, str]]) -> tuple[str, bool]:
    """The From domain DMARC is about, and whether the mail fails for having none or several (§6.6.1)."""
    froms = [value for name, value in fields if name.lower() == "from"]
    if len(froms) != 1:
        return "", True
    addresses = [address for _name, address in getaddresses(froms) if "@" in address]
    domains = {address.rpartition("@")[2].strip().rstrip(".>").lower() for address in addresses}
    if len(domains) != 1:
        return "", True
    return domains.pop(), False


def _verify_dkim(raw: bytes, fields: list[tuple[str, str]], resolver: Resolver) -> Iterable[Signature]:
    signatures = [value for name, value in fields if name.lower() == "dkim-signature"][:MAX_SIGNATURES]
    if not signatures:
        return

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        records = resolver(name.decode("ascii", "replace").rstrip("."))
        return records[0].encode() if records else None

    try:
        verifier = dkim.DKIM(raw, minkey=1024, timeout=int(DNS_TIMEOUT))
    except Exception:
        return
    for index, value in enumerate(signatures):
        try:
            tags = parse_tag_value(value.encode("utf-8", "surrogateescape"))
        except (InvalidTagValueList, ValueError):
            tags = {}
        domain = tags.get(b"d", b"").decode("ascii", "replace").lower()
        selector = tags.get(b"s", b"").decode("ascii", "replace")
        try:
            result = PASS if verifier.verify(idx=index, dnsfunc=dnsfunc) else FAIL
            if result == PASS and (b"l" in tags or tags.get(b"a", b"").strip().lower() == b"rsa-sha1"):
                # Valid, but not good enough (RFC 7601's "policy"): rsa-sha1 must not count (RFC 8301 §3.1), and an
                # l= signature covers only the start of the body, so anyone can append to a signed mail.
                result = "policy"
        except DnsTemporaryError:
            result = "temperror"
        except dkim.ValidationError as exc:
            # The body hash differs (RFC 6376 §6.1.3: the mail changed) is a failure; a missing tag an error.
            result = FAIL if "body hash" in str(exc) else "permerror"
        except dkim.DKIMException:
            result = "permerror"  # a malformed signature or key
        except Exception:  # dkimpy on input it did not expect: the signature does not verify
            result = "permerror"
        yield Signature(domain, selector, result)


def _authserv_id(value: str) -> str:
    without_comments = re.sub(r"\([^()]*\)", " ", value)
    return without_comments.split(";", 1)[0].strip().split(" ")[0].lower()


def _trusted_reports(fields: list[tuple[str, str]], trusted: set[str]) -> list:
    """Per trusted authserv-id, its topmost Authentication-Results only: the receiving host adds its own above the
    mail's headers, so any lower one bearing its name came with the mail (RFC 7601 §7.2)."""
    reports, seen = [], set()
    for name, value in fields:
        if name.lower() != "authentication-results":
            continue
        authserv_id = _authserv_id(value)
        if authserv_id not in trusted or authserv_id in seen:
            continue
        seen.add(authserv_id)  # even when unreadable: a lower one must not take its place
        try:
            reports.append(authres.AuthenticationResultsHeader.parse_value(value))
        except authres.AuthResError:
            continue
    return reports


def _received_spf(fields: list[tuple[str, str]], trusted: set[str]) -> tuple[str, str]:
    """The topmost Received-SPF (RFC 7208 §9.1), when its receiver= is a trusted host."""
    value = next((value for name, value in fields if name.lower() == "received-spf"), "")
    result, _space, rest = re.sub(r"\([^()]*\)", " ", value).strip().partition(" ")
    result = result.lower()
    keys = {}
    for part in rest.split(";"):  # key=value pairs after the result and its comment
        key, eq, found = part.partition("=")
        if eq:
            keys[key.strip().lower()] = found.strip().strip('"')
    if result not in SPF_RESULTS or keys.get("receiver", "").lower() not in trusted:
        return NONE, ""
    identity = keys.get("envelope-from") or keys.get("helo", "")
    return result, identity.rpartition("@")[2].lower()


def _dmarc_record(domain: str, resolver: Resolver) -> dict | None:
    """The DMARC record for the From domain, else its organizational domain's (§6.6.3); None when there is none
    or more than one."""
    organizational = organizational_domain(domain)
    for name, inherited in ((domain, False), (organizational, True)):
        if inherited and name == domain:
            break
        records = [r for r in resolver(f"_dmarc.{name}") if re.match(r"\s*v\s*=\s*DMARC1\s*(;|$)", r)]
        if len(records) == 1:
            tags = {}
            for part in records[0].split(";"):
                key, eq, value = part.partition("=")
                if eq:
                    tags[key.strip().lower()] = value.strip().lower()
            tags["_inherited"] = inherited
            return tags
        if len(records) > 1:
            return None
    return None


def stamp(raw: bytes, *, trusted_hosts: Iterable[str] = (), resolver: Resolver = dns_txt) -> bytes:
    """The raw mail with our result prepended as its first header field (what the poller stores)."""
    return _prepend(raw, authenticate(raw, trusted_hosts=trusted_hosts, resolver=resolver).header())


def stamp_unchecked(raw: bytes) -> bytes:
    """The raw mail marked as not checked (the inbound-parse endpoint: no DNS on the webhook path). Prepended all
    the same, so that a forged `tsunagu` header the mail carries is never the first field."""
    return _prepend(raw, f"Authentication-Results: {AUTHSERV_ID}; none")


def unstamped(raw: bytes) -> bytes:
    """The mail as it was received, our first header field removed (a content hash must not depend on DNS)."""
    if Authentication.from_header(raw) is None:
        return raw
    end = re.search(rb"\r?\n(?![ \t])", raw)
    return raw[end.end() :] if end else raw


def _prepend(raw: bytes, header: str) -> bytes:
    newline = b"\r\n" if b"\r\n" in raw[:4096] else b"\n"
    return header.encode("ascii", "replace").replace(b"\r\n", newline) + newline + raw


__all__ = [
    "AUTHSERV_ID",
    "Authentication",
    "BoundedResolver",
    "DnsTemporaryError",
    "Signature",
    "aligned",
    "authenticate",
    "dns_txt",
    "organizational_domain",
    "stamp",
    "stamp_unchecked",
    "unstamped",
]
