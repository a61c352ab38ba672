"""Analytics → Scheduled reports pages: who may read and change them, the form's checks, the list's columns and
its query budget."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation
from django_scopes import scopes_disabled

from accounts.audit_display import details
from accounts.models import AuditAction, AuditEntry
from analytics.reports import services
from analytics.reports.models import ReportRun, ReportSchedule, RunStatus
from conftest import add_member, make_user
from tickets.tests.factories import connection

pytestmark = pytest.mark.django_db


def _post(tenant, **overrides):
    data = {
        "name": "週次チャネルレポート",
        "page": "overview",
        "file_format": "pdf",
        "frequency": "weekly",
        "weekday": "0",
        "day_of_month": "",
        "hour": "9",
        "recipients": [tenant.users["analyst"].pk, tenant.users["manager"].pk],
    }
    data.update(overrides)
    return data


def _make(tenant, name: str, *, runs: int = 0) -> ReportSchedule:
    with tenant.scope():
        schedule = services.schedule_save(
            organization=tenant.organization,
            actor=tenant.users["manager"],
            schedule=ReportSchedule(name=name, page="overview", frequency="monthly", day_of_month=28, hour=7),
            recipients=[tenant.users["owner"], tenant.users["analyst"]],
        )
        for n in range(runs):
            ReportRun.objects.create(
                organization=tenant.organization, schedule=schedule,
                due_at=datetime(2026, 1 + n, 28, tzinfo=ZoneInfo("UTC")),
                first_day=datetime(2026, 1, 1).date(), last_day=datetime(2026, 1, 31).date(),
                status=RunStatus.PARTIAL, delivered=[tenant.users["owner"].pk],
                notes=[{"user_id": 0, "email": "gone@example.com", "reason": "left"}],
            )  # fmt: skip
    return schedule


def test_a_manager_creates_a_weekly_schedule(tenant_a, login):
    response = login(tenant_a.users["manager"]).post(
        reverse("org:reports_schedule_create", args=[tenant_a.slug]), _post(tenant_a)
    )
    assert response.status_code == 302
    with tenant_a.scope():
        schedule = ReportSchedule.objects.get()
        assert set(schedule.recipients.values_list("pk", flat=True)) == {
            tenant_a.users["analyst"].pk,
            tenant_a.users["manager"].pk,
        }
        assert schedule.weekday == 0 and schedule.day_of_month is None and schedule.next_run_at is not None
    with scopes_disabled():
        entry = AuditEntry.objects.get(action=AuditAction.REPORT_SCHEDULE_CHANGED, object_id=str(schedule.pk))
    with translation.override("en"):
        shown = {detail.label: detail.value for detail in details(entry)}
    assert shown["Dashboard"] == "overview" and shown["Frequency"] == "Weekly"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"weekday": ""}, "weekday"),
        ({"frequency": "monthly", "day_of_month": ""}, "day_of_month"),
        ({"frequency": "monthly", "day_of_month": "31"}, "day_of_month"),
        ({"hour": "24"}, "hour"),
        ({"page": "nope"}, "page"),
        ({"recipients": []}, "recipients"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_input_is_a_form_error(tenant_a, login, overrides, field):
    response = login(tenant_a.users["manager"]).post(
        reverse("org:reports_schedule_create", args=[tenant_a.slug]), _post(tenant_a, **overrides)
    )
    assert response.status_code == 400
    assert field in response.context["form"].errors


def test_only_members_who_read_dashboards_can_be_recipients(tenant_a, login):
    client = login(tenant_a.users["manager"])
    url = reverse("org:reports_schedule_create", args=[tenant_a.slug])
    page = client.get(url).content.decode()
    assert tenant_a.users["analyst"].email in page and tenant_a.users["agent"].email not in page
    response = client.post(url, _post(tenant_a, recipients=[tenant_a.users["agent"].pk]))
    assert response.status_code == 400 and "recipients" in response.context["form"].errors


def test_names_are_unique_in_the_organization(tenant_a, login):
    _make(tenant_a, "週次チャネルレポート")
    response = login(tenant_a.users["manager"]).post(
        reverse("org:reports_schedule_create", args=[tenant_a.slug]), _post(tenant_a)
    )
    assert response.status_code == 400 and "name" in response.context["form"].errors


def test_analysts_read_the_list_but_cannot_change_it(tenant_a, login):
    schedule = _make(tenant_a, "月次")
    client = login(tenant_a.users["analyst"])
    page = client.get(reverse("org:reports_schedules", args=[tenant_a.slug]))
    assert page.status_code == 200 and "月次" in page.content.decode()
    assert reverse("org:reports_schedule_create", args=[tenant_a.slug]) not in page.content.decode()
    assert client.get(reverse("org:reports_schedule_create", args=[tenant_a.slug])).status_code == 403
    edit = reverse("org:reports_schedule_edit", args=[tenant_a.slug, schedule.pk])
    assert client.post(edit, _post(tenant_a)).status_code == 403
    delete = reverse("org:reports_schedule_delete", args=[tenant_a.slug, schedule.pk])
    assert client.post(delete, {"confirmed": "yes"}).status_code == 403
    assert login(tenant_a.users["agent"]).get(reverse("org:reports_schedules", args=[tenant_a.slug])).status_code == 403


def test_edit_and_delete(tenant_a, login):
    schedule = _make(tenant_a, "月次")
    client = login(tenant_a.users["manager"])
    edit = reverse("org:reports_schedule_edit", args=[tenant_a.slug, schedule.pk])
    assert client.get(edit).status_code == 200
    response = client.post(edit, _post(tenant_a, name="月次（改）", frequency="monthly", day_of_month="28"))
    assert response.status_code == 302
    with tenant_a.scope():
        schedule.refresh_from_db()
    assert schedule.name == "月次（改）" and schedule.weekday is None and schedule.day_of_month == 28
    delete = reverse("org:reports_schedule_delete", args=[tenant_a.slug, schedule.pk])
    assert client.post(delete).status_code == 200  # asks first
    assert client.post(delete, {"confirmed": "yes"}).status_code == 302
    with tenant_a.scope():
        assert not ReportSchedule.objects.exists()


def test_the_list_shows_last_run_next_run_and_failures(tenant_a, login):
    _make(tenant_a, "月次", runs=2)
    page = login(tenant_a.users["owner"]).get(reverse("org:reports_schedules", args=[tenant_a.slug])).content.decode()
    assert "gone@example.com" in page
    assert "2026-02-28" in page  # the latest run, in Tokyo time (09:00 on the 28th)


def test_the_list_costs_the_same_queries_however_many_schedules_and_runs(tenant_a, login):
    client = login(tenant_a.users["owner"])
    url = reverse("org:reports_schedules", args=[tenant_a.slug])

    def queries() -> int:
        with CaptureQueriesContext(db) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    _make(tenant_a, "one", runs=1)
    queries()
    before = queries()
    for n in range(4):
        _make(tenant_a, f"more {n}", runs=3)
    assert queries() == before


def test_the_form_costs_the_same_queries_however_many_members_and_channels(tenant_a, login):
    schedule = _make(tenant_a, "月次")
    client = login(tenant_a.users["manager"])
    urls = [
        reverse("org:reports_schedule_create", args=[tenant_a.slug]),
        reverse("org:reports_schedule_edit", args=[tenant_a.slug, schedule.pk]),
    ]

    def queries(url) -> int:
        with CaptureQueriesContext(db) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    for url in urls:
        queries(url)
    before = [queries(url) for url in urls]
    for n in range(4):
        connection(tenant_a, name=f"窓口 {n}")
        add_member(tenant_a.organization, make_user(f"analyst{n}@org-a.test"), "analyst")
    assert [queries(url) for url in urls] == before
