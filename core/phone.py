"""Phone numbers: one normal form (E.164, `+81312345678`) for storing and matching, and one way of showing them.

What people type in Japan — 03-1234-5678, 090-1234-5678, 0120-123-456, full-width digits (０９０…), the long-vowel
mark or a dash for the hyphen — maps to the same E.164 number as the `+81…` a telephony provider reports, so a
caller finds the contact an agent typed in. A number that cannot be parsed stays as given: never an exception."""

import re
import unicodedata

import phonenumbers

DEFAULT_REGION = "JP"  # organizations have no country yet: our customers are in Japan

# Dash-like characters people (and input methods) put between digit groups; NFKC does not map all of them.
_DASHES = re.compile("[\u2010-\u2015\u2212\u30fc\uff70\u2043\ufe63]")


def _clean(value: str) -> str:
    return _DASHES.sub("-", unicodedata.normalize("NFKC", value or "")).strip()


def _parse(value: str, region: str) -> phonenumbers.PhoneNumber | None:
    text = _clean(value)
    if not text:
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_possible_number(number) else None


def e164(value: str, *, region: str = DEFAULT_REGION) -> str:
    """`value` in E.164 (`+819012345678`); an unparsable value comes back as given (stripped), so nothing is lost."""
    number = _parse(value, region)
    if number is None:
        return (value or "").strip()
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_valid(value: str, *, region: str = DEFAULT_REGION) -> bool:
    number = _parse(value, region)
    return number is not None and phonenumbers.is_valid_number(number)


def display(value: str, *, region: str = DEFAULT_REGION) -> str:
    """How a person reads the number: national format for a number of `region` (03-1234-5678 in Japan), the
    international one for others (+1 415-555-0100); an unparsable value as given."""
    number = _parse(value, region)
    if number is None:
        return (value or "").strip()
    if phonenumbers.region_code_for_number(number) == region:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
