"""和暦 (Japanese era) dates, for the pages an organization reads as documents when it chose that option
(Organization.japanese_era_dates): 令和8年12月3日(木) 14:05. Every other date uses the named formats of
config/formats; so does this one outside Japanese or when the option is off."""

import datetime

from django import template
from django.utils import formats, timezone
from django.utils.translation import get_language

register = template.Library()

# The first day of each era, newest first (the eras a customer-service record can meet).
ERAS = (
    (datetime.date(2019, 5, 1), "令和"),
    (datetime.date(1989, 1, 8), "平成"),
    (datetime.date(1926, 12, 25), "昭和"),
)


def era_year(day: datetime.date) -> str:
    """令和8年 for a day in 2026; the first year of an era is 元年 (令和元年); empty before 昭和."""
    for start, name in ERAS:
        if day >= start:
            year = day.year - start.year + 1
            return f"{name}{'元' if year == 1 else year}年"
    return ""


def _uses_era(organization) -> bool:
    return bool(getattr(organization, "japanese_era_dates", False)) and (get_language() or "").startswith("ja")


@register.filter
def document_datetime(value, organization) -> str:
    """The moment in the active time zone: 令和8年12月3日(木) 14:05 when the organization wants 和暦 and the page is
    in Japanese, else the language's DATETIME_FORMAT (2026年12月3日(木) 14:05 / Thu, Dec 3, 2026, 14:05)."""
    if not value:
        return ""
    if isinstance(value, datetime.datetime):
        value = timezone.localtime(value)
    day = value.date() if isinstance(value, datetime.datetime) else value
    era = era_year(day) if _uses_era(organization) else ""
    if not era:
        return formats.date_format(value, "DATETIME_FORMAT" if isinstance(value, datetime.datetime) else "DATE_FORMAT")
    # The rest of the Japanese format after the year: 12月3日(木) 14:05.
    rest = "n月j日(D) H:i" if isinstance(value, datetime.datetime) else "n月j日(D)"
    return era + formats.date_format(value, rest)
