"""Dates in Japanese and English pages (issue 16, part 3): the named formats of config/formats (weekday in
parentheses, 24-hour clock), and 和暦 where the organization asked for it (the ticket's history)."""

import datetime

import pytest
from django.utils import formats, translation

from core.templatetags.japanese_dates import document_datetime, era_year
from tickets.models import TicketEvent
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

# 05:05 UTC: 14:05 in Tokyo, so a 12-hour clock would read 2:05 (午後2:05 / 2:05 p.m.).
MOMENT = datetime.datetime(2026, 12, 3, 5, 5, tzinfo=datetime.UTC)


def test_named_formats_use_the_weekday_and_a_24_hour_clock():
    with translation.override("ja"):
        tokyo = MOMENT.astimezone(datetime.timezone(datetime.timedelta(hours=9)))
        assert formats.date_format(tokyo, "DATETIME_FORMAT") == "2026年12月3日(木) 14:05"
        assert formats.date_format(tokyo, "DATE_FORMAT") == "2026年12月3日(木)"
        assert formats.date_format(tokyo, "SHORT_DATETIME_FORMAT") == "2026/12/03(木) 14:05"
        assert formats.date_format(tokyo, "MONTH_DAY_FORMAT") == "12月3日(木)"
    with translation.override("en"):
        assert formats.date_format(tokyo, "DATETIME_FORMAT") == "Thu, Dec 3, 2026, 14:05"
        assert formats.date_format(tokyo, "SHORT_DATETIME_FORMAT") == "2026-12-03 14:05"


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (datetime.date(2026, 12, 3), "令和8年"),
        (datetime.date(2019, 5, 1), "令和元年"),
        (datetime.date(2019, 4, 30), "平成31年"),
        (datetime.date(1989, 1, 8), "平成元年"),
        (datetime.date(1989, 1, 7), "昭和64年"),
        (datetime.date(1926, 12, 25), "昭和元年"),
        (datetime.date(1926, 12, 24), ""),
    ],
)
def test_era_years_start_on_the_eras_first_day(day, expected):
    assert era_year(day) == expected


class _Org:
    def __init__(self, era: bool):
        self.japanese_era_dates = era


def test_document_dates_use_the_era_only_in_japanese_when_asked(settings):
    with translation.override("ja"):
        assert document_datetime(MOMENT, _Org(True)) == "令和8年12月3日(木) 14:05"
        assert document_datetime(MOMENT, _Org(False)) == "2026年12月3日(木) 14:05"
        assert document_datetime(datetime.date(2019, 5, 1), _Org(True)) == "令和元年5月1日(水)"
    with translation.override("en"):
        assert document_datetime(MOMENT, _Org(True)) == "Thu, Dec 3, 2026, 14:05"


def _history_page(client, tenant, language: str) -> str:
    owner = tenant.users["owner"]
    owner.language = language
    owner.timezone = "Asia/Tokyo"
    owner.save(update_fields=["language", "timezone"])
    conn = connection(tenant)
    with tenant.scope():
        message = message_ingest(organization=tenant.organization, connection=conn, inbound=inbound("こんにちは"))[0]
        TicketEvent.objects.filter(ticket_id=message.ticket_id).update(created_at=MOMENT)
    client.force_login(owner, backend="django.contrib.auth.backends.ModelBackend")
    response = client.get(f"/{tenant.slug}/inbox/tickets/{message.ticket_id}/properties/")
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_ticket_history_dates_in_japanese_english_and_era(client, tenant_a):
    assert "2026年12月3日(木) 14:05" in _history_page(client, tenant_a, "ja")
    assert "Thu, Dec 3, 2026, 14:05" in _history_page(client, tenant_a, "en")
    tenant_a.organization.japanese_era_dates = True
    tenant_a.organization.save(update_fields=["japanese_era_dates"])
    html = _history_page(client, tenant_a, "ja")
    assert "令和8年12月3日(木) 14:05" in html and "2026年12月3日" not in html
    assert "午後" not in html and "午前" not in html


@pytest.mark.django_db
def test_the_era_option_is_an_organization_setting(client, tenant_a):
    client.force_login(tenant_a.users["owner"], backend="django.contrib.auth.backends.ModelBackend")
    page = client.get(f"/{tenant_a.slug}/settings/")
    assert 'name="japanese_era_dates"' in page.content.decode()
    data = {name: page.context["form"].initial.get(name) or "" for name in page.context["form"].fields}
    data.update(require_two_factor="", japanese_era_dates="on")
    answer = client.post(f"/{tenant_a.slug}/settings/", data)
    assert answer.status_code == 302, answer.context and answer.context["form"].errors
    tenant_a.organization.refresh_from_db()
    assert tenant_a.organization.japanese_era_dates
