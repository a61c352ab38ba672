"""GET org:reports_export: permissions, the member's channels only, the header block, audit, bad input, queries."""

import csv
import io

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation
from django_scopes import scopes_disabled
from pypdf import PdfReader

from accounts import services as account_services
from accounts.audit_display import details
from accounts.models import AuditAction, AuditEntry, Role
from analytics.tests.builders import catch_up, event, jst, ticket
from tickets.tests.factories import connection

pytestmark = pytest.mark.django_db

RANGE = {"from": "2026-11-01", "to": "2026-11-30"}


def _url(tenant) -> str:
    return reverse("org:reports_export", args=[tenant.slug])


def _rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))


def _created(tenant, conn, n: int) -> None:
    with tenant.scope():
        for _ in range(n):
            event(ticket(tenant.organization, conn, jst("2026-11-16 10:00")), jst("2026-11-16 10:00"), "created")


@pytest.fixture
def channels(tenant_a):
    seen = connection(tenant_a, "line", name="LINE 公式アカウント")
    hidden = connection(tenant_a, "email", name="秘密の窓口")
    with tenant_a.scope():
        account_services.connection_access_set(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], connection=seen,
            users=[tenant_a.users["analyst"]],
        )  # fmt: skip
    _created(tenant_a, seen, 2)
    _created(tenant_a, hidden, 3)
    catch_up()
    return seen, hidden


def _by_channel(rows) -> dict[str, str]:
    """Name → created, from the CSV's by-channel table (its first column names channels)."""
    result = {}
    for row in rows:
        for name in ("LINE 公式アカウント", "秘密の窓口"):
            if len(row) > 2 and row[0].endswith(name):
                result[name] = row[1]
    return result


def test_csv_counts_only_the_channels_the_member_may_see(tenant_a, channels, login):
    analyst = login(tenant_a.users["analyst"]).get(_url(tenant_a), {"page": "channels", "format": "csv", **RANGE})
    assert analyst.status_code == 200
    assert analyst.content.startswith(b"\xef\xbb\xbf")
    assert _by_channel(_rows(analyst)) == {"LINE 公式アカウント": "2"}
    assert "秘密の窓口" not in analyst.content.decode("utf-8-sig")
    owner = login(tenant_a.users["owner"]).get(_url(tenant_a), {"page": "channels", "format": "csv", **RANGE})
    assert _by_channel(_rows(owner)) == {"LINE 公式アカウント": "2", "秘密の窓口": "3"}


def test_a_hidden_channel_asked_for_by_id_is_not_exported(tenant_a, channels, login):
    _seen, hidden = channels
    response = login(tenant_a.users["analyst"]).get(
        _url(tenant_a), {"page": "channels", "format": "csv", "connection": hidden.pk, **RANGE}
    )
    assert response.status_code == 200
    assert "秘密の窓口" not in response.content.decode("utf-8-sig")
    assert _by_channel(_rows(response)) == {"LINE 公式アカウント": "2"}


def test_header_names_organization_page_range_and_filters_in_japanese(tenant_a, channels, login):
    seen, _hidden = channels
    client = login(tenant_a.users["owner"])
    client.cookies["django_language"] = "ja"
    response = client.get(_url(tenant_a), {"page": "overview", "format": "csv", "connection": seen.pk, **RANGE})
    rows = _rows(response)
    header = {row[0]: row[1] for row in rows[:10] if len(row) > 1}
    assert tenant_a.organization.name in header.values()
    assert "2026-11-01" in header.values() and "2026-11-30" in header.values()
    assert any(value.endswith("LINE 公式アカウント") for value in header.values())
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment; ")
    assert "filename*=UTF-8''tsunagu-overview-2026-11-01_2026-11-30.csv" in disposition


def test_pdf_export_embeds_the_font_and_japanese_is_extractable(tenant_a, channels, login):
    response = login(tenant_a.users["owner"]).get(_url(tenant_a), {"page": "channels", "format": "pdf", **RANGE})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    text = "".join(page.extract_text() for page in reader.pages)
    assert "LINE 公式アカウント" in text and "秘密の窓口" in text
    descriptors = [
        d.get_object()["/FontDescriptor"].get_object()
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
        for d in font.get_object().get("/DescendantFonts", [])
    ]
    assert descriptors and all("/FontFile2" in d for d in descriptors)


def test_the_export_is_audited(tenant_a, channels, login):
    login(tenant_a.users["analyst"]).get(_url(tenant_a), {"page": "sla", "format": "csv", **RANGE})
    with scopes_disabled():
        entry = AuditEntry.objects.get(organization=tenant_a.organization, action=AuditAction.REPORT_EXPORTED)
    assert entry.actor == tenant_a.users["analyst"]
    assert entry.changes["page"] == "sla" and entry.changes["format"] == "csv"
    assert entry.changes["from"] == "2026-11-01"


@pytest.mark.parametrize(
    "params", [{}, {"page": "nope", "format": "csv"}, {"page": "overview", "format": "xlsx"}, {"page": "overview"}]
)
def test_bad_page_or_format_is_a_clear_400(tenant_a, login, params):
    response = login(tenant_a.users["owner"]).get(_url(tenant_a), params)
    assert response.status_code == 400
    assert b"overview" in response.content and b"csv" in response.content


def test_invalid_filters_fall_back_to_defaults(tenant_a, login):
    response = login(tenant_a.users["owner"]).get(
        _url(tenant_a), {"page": "overview", "format": "csv", "from": "yesterday", "to": "2026-02-31", "team": "x"}
    )
    assert response.status_code == 200


def test_export_needs_analytics_view_and_data_export(tenant_a, login):
    params = {"page": "overview", "format": "csv"}
    assert login(tenant_a.users["agent"]).get(_url(tenant_a), params).status_code == 403
    with tenant_a.scope():
        role = Role.objects.get(key="analyst")
        role.capabilities = [c for c in role.capabilities if c != "data.export"]
        role.save()
    assert login(tenant_a.users["analyst"]).get(_url(tenant_a), params).status_code == 403
    assert login(tenant_a.users["manager"]).get(_url(tenant_a), params).status_code == 200


def test_export_queries_do_not_grow_with_channels_and_tickets(tenant_a, login):
    client = login(tenant_a.users["owner"])
    params = {"page": "channels", "format": "csv", **RANGE}

    def queries() -> int:
        with CaptureQueriesContext(db) as captured:
            assert client.get(_url(tenant_a), params).status_code == 200
        return len(captured)

    _created(tenant_a, connection(tenant_a), 1)
    catch_up()
    queries()
    before = queries()
    for _ in range(4):
        _created(tenant_a, connection(tenant_a), 3)
    catch_up()
    assert queries() == before


def test_the_audit_log_reads_an_export(tenant_a, channels, login):
    login(tenant_a.users["analyst"]).get(_url(tenant_a), {"page": "sla", "format": "pdf", **RANGE})
    with scopes_disabled():
        entry = AuditEntry.objects.get(organization=tenant_a.organization, action=AuditAction.REPORT_EXPORTED)
    with translation.override("en"):
        shown = {detail.label: detail.value for detail in details(entry)}
    assert shown["Dashboard"] == "sla" and shown["File format"] == "pdf" and shown["To"] == "2026-11-30"
