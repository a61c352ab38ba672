"""Phone numbers to E.164 and back to what people read: the formats agents and customers type in Japan."""

import pytest

from core import phone


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("03-1234-5678", "+81312345678"),
        ("(03) 1234-5678", "+81312345678"),
        ("0312345678", "+81312345678"),
        ("+81312345678", "+81312345678"),
        ("+81 3-1234-5678", "+81312345678"),
        ("090-1234-5678", "+819012345678"),
        ("０９０－１２３４－５６７８", "+819012345678"),  # full-width digits and hyphen
        ("090ー1234ー5678", "+819012345678"),  # the long-vowel mark an input method gives
        ("090‐1234‐5678", "+819012345678"),  # U+2010 hyphen
        ("090−1234−5678", "+819012345678"),  # U+2212 minus
        ("0120-123-456", "+81120123456"),
        ("050-1234-5678", "+815012345678"),
        ("+1 415-555-0100", "+14155550100"),
        ("", ""),
        ("not a number", "not a number"),  # kept as given, never an exception
        ("12", "12"),
    ],
)
def test_e164(typed, expected):
    assert phone.e164(typed) == expected


@pytest.mark.parametrize(
    ("number", "shown"),
    [
        ("+81312345678", "03-1234-5678"),
        ("+819012345678", "090-1234-5678"),
        ("+81120123456", "0120-123-456"),
        ("+14155550100", "+1 415-555-0100"),
        ("anonymous", "anonymous"),
    ],
)
def test_display(number, shown):
    assert phone.display(number) == shown


def test_is_valid():
    assert phone.is_valid("03-1234-5678") and phone.is_valid("０１２０-１２３-４５６")
    assert not phone.is_valid("03-1234") and not phone.is_valid("hello") and not phone.is_valid("")
