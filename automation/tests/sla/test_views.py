"""Settings → SLA and business hours: the pages, who may change what, form errors, audit entries, tenancy, and
query budgets."""

import itertools
import re
from datetime import UTC, datetime

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from accounts.models import AuditAction, AuditEntry
from automation.models import BusinessCalendar, BusinessClosure, SlaPolicy
from automation.models.sla import default_schedule
from automation.sla import services
from automation.sla.calendar import spec_for, upcoming_holidays
from tickets.models import Contact, Ticket
from tickets.tests.factories import connection

pytestmark = pytest.mark.django_db


def url(tenant, name: str, **kwargs) -> str:
    return reverse(f"org:sla_{name}", kwargs={"org_slug": tenant.slug, **kwargs})


def _actor(tenant) -> dict:
    return {
        "organization": tenant.organization,
        "actor": tenant.users["admin"],
        "actor_membership": tenant.memberships["admin"],
    }


def make_calendar(tenant, name="Office", **extra):
    with tenant.scope():
        return services.calendar_save(name=name, schedule=default_schedule(), **extra, **_actor(tenant))


def make_closure(tenant, calendar, name="年末年始"):
    with tenant.scope():
        return services.closure_add(
            calendar=calendar,
            name=name,
            starts_at=datetime(2026, 12, 28, 15, 0, tzinfo=UTC),
            ends_at=datetime(2027, 1, 3, 15, 0, tzinfo=UTC),
            **_actor(tenant),
        )


def make_policy(tenant, name="Normal", priority="normal", **extra):
    with tenant.scope():
        return services.policy_save(
            name=name, priority=priority, first_response_minutes=60, resolution_minutes=480, **extra, **_actor(tenant)
        )


@pytest.fixture
def objects(tenant_a):
    calendar = make_calendar(tenant_a)
    return {
        "calendar": calendar,
        "closure": make_closure(tenant_a, calendar),
        "policy": make_policy(tenant_a, calendar=calendar),
    }


def calendar_data(name="Office", *, tz="", holidays=True, default=False, schedule=None) -> dict:
    data = {"name": name, "timezone": tz}
    if holidays:
        data["japanese_holidays"] = "on"
    if default:
        data["is_default"] = "on"
    schedule = {"1": [["09:00", "18:00"]]} if schedule is None else schedule
    for day, intervals in schedule.items():
        for index, (start, end) in enumerate(intervals):
            data[f"day{day}_{index}_start"], data[f"day{day}_{index}_end"] = start, end
    return data


def policy_data(name="Urgent", priority="urgent", **extra) -> dict:
    data = {
        "name": name,
        "priority": priority,
        "connection": "",
        "calendar": "",
        "first_response_hours": "0",
        "first_response_minutes": "30",
        "resolution_hours": "4",
        "resolution_minutes": "",
        "warning_minutes": "10",
        "enabled": "on",
    }
    data.update(extra)
    return data


def audit(tenant, action) -> list[dict]:
    with tenant.scope():
        return list(AuditEntry.objects.filter(action=action).order_by("pk").values_list("changes", flat=True))


# --- pages --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["ja", "en"])
@pytest.mark.parametrize("page", ["settings", "calendar_create", "calendar_edit", "policy_create", "policy_edit"])
def test_pages_render_for_an_admin(tenant_a, objects, login, language, page):
    admin = tenant_a.users["admin"]
    admin.language = language
    admin.save(update_fields=["language"])
    kwargs = {
        "calendar_edit": {"calendar_id": objects["calendar"].pk},
        "policy_edit": {"policy_id": objects["policy"].pk},
    }
    response = login(admin).get(url(tenant_a, page, **kwargs.get(page, {})))
    assert response.status_code == 200
    assert response.headers["Content-Language"] == language
    body = response.content.decode()
    assert f'<html lang="{language}">' in body
    assert 'type="submit"' in body or page == "settings"
    if page in ("calendar_create", "calendar_edit"):
        assert ("月曜日" if language == "ja" else "Monday") in body  # the weekly hours, one row per weekday


def test_the_list_shows_policies_and_calendars(tenant_a, objects, login):
    body = login(tenant_a.users["admin"]).get(url(tenant_a, "settings")).content.decode()
    assert "Normal" in body and "Office" in body
    assert url(tenant_a, "policy_create") in body and url(tenant_a, "calendar_create") in body


def test_the_calendar_page_shows_closures_in_local_time_and_the_holidays_it_skips(tenant_a, objects, login):
    body = login(tenant_a.users["admin"]).get(url(tenant_a, "calendar_edit", calendar_id=objects["calendar"].pk))
    body = body.content.decode()
    # 28 Dec 15:00 UTC is 29 Dec 00:00 in Tokyo (the organization's time zone)
    assert "2026/12/29(火) 00:00" in body and "2027/01/04(月) 00:00" in body
    with tenant_a.scope():
        spec = spec_for(objects["calendar"], tenant_a.organization)
    holidays = upcoming_holidays(spec, today=timezone.now().astimezone(spec.tz).date())
    assert holidays and all(name in body for _day, name in holidays)


# --- who may change -----------------------------------------------------------------------------------------------


def _in_english(user):
    """The pages follow the reader's language (the organization's, Japanese, by default); these tests read English."""
    user.language = "en"
    user.save(update_fields=["language"])
    return user


def test_an_agent_reads_but_cannot_change(tenant_a, objects, login):
    client = login(_in_english(tenant_a.users["agent"]))
    calendar_id, policy_id = objects["calendar"].pk, objects["policy"].pk
    # Reading: the pages, without forms or links to change anything
    listing = client.get(url(tenant_a, "settings")).content.decode()
    assert "Normal" in listing and url(tenant_a, "policy_create") not in listing
    calendar_page = client.get(url(tenant_a, "calendar_edit", calendar_id=calendar_id))
    policy_page = client.get(url(tenant_a, "policy_edit", policy_id=policy_id))
    assert calendar_page.status_code == policy_page.status_code == 200
    calendar_body, policy_body = calendar_page.content.decode(), policy_page.content.decode()
    assert "09:00–18:00" in calendar_body and "1 h" in policy_body
    assert 'name="day1_0_start"' not in calendar_body and 'name="closure-name"' not in calendar_body
    assert url(tenant_a, "calendar_delete", calendar_id=calendar_id) not in calendar_body
    assert 'name="first_response_hours"' not in policy_body
    assert url(tenant_a, "policy_delete", policy_id=policy_id) not in policy_body
    # Changing: 403 everywhere, and nothing changed
    for name, kwargs in [
        ("calendar_create", {}),
        ("calendar_edit", {"calendar_id": calendar_id}),
        ("calendar_delete", {"calendar_id": calendar_id}),
        ("closure_add", {"calendar_id": calendar_id}),
        ("closure_delete", {"closure_id": objects["closure"].pk}),
        ("policy_create", {}),
        ("policy_edit", {"policy_id": policy_id}),
        ("policy_delete", {"policy_id": policy_id}),
    ]:
        response = client.post(url(tenant_a, name, **kwargs), {**calendar_data("Hacked"), **policy_data("Hacked")})
        assert response.status_code == 403, name
    for name in ("calendar_create", "policy_create"):
        assert client.get(url(tenant_a, name)).status_code == 403
    with tenant_a.scope():
        assert BusinessCalendar.objects.count() == 1 and SlaPolicy.objects.count() == 1
        assert BusinessClosure.objects.count() == 1
        assert not BusinessCalendar.objects.filter(name="Hacked").exists()


def test_the_services_refuse_a_member_without_the_capability(tenant_a, objects):
    from core.errors import NotAllowed

    with tenant_a.scope(), pytest.raises(NotAllowed):
        services.policy_delete(
            organization=tenant_a.organization,
            actor=tenant_a.users["agent"],
            actor_membership=tenant_a.memberships["agent"],
            policy=objects["policy"],
        )


# --- calendars ----------------------------------------------------------------------------------------------------


def test_creating_a_calendar_saves_the_hours_and_audits(tenant_a, login):
    client = login(tenant_a.users["admin"])
    schedule = {"1": [["09:00", "12:00"], ["13:00", "18:00"]], "5": [["22:00", "06:00"]], "7": [["00:00", "00:00"]]}
    response = client.post(url(tenant_a, "calendar_create"), calendar_data("サポート窓口", schedule=schedule))
    assert response.status_code == 302
    with tenant_a.scope():
        calendar = BusinessCalendar.objects.get()
    assert response["Location"] == url(tenant_a, "calendar_edit", calendar_id=calendar.pk)
    assert calendar.schedule == {
        "1": [["09:00", "12:00"], ["13:00", "18:00"]],
        "2": [],
        "3": [],
        "4": [],
        "5": [["22:00", "06:00"]],
        "6": [],
        "7": [["00:00", "24:00"]],
    }
    assert calendar.japanese_holidays and calendar.timezone == ""
    [entry] = audit(tenant_a, AuditAction.CALENDAR_CHANGED)
    assert entry["created"] is True and entry["name"] == [None, "サポート窓口"]
    # The edit page offers the stored intervals and one empty row more per weekday
    page = client.get(url(tenant_a, "calendar_edit", calendar_id=calendar.pk)).content.decode()
    assert 'name="day1_2_start"' in page and 'name="day1_3_start"' not in page and 'value="13:00"' in page


def _holidays_box(body: str) -> str:
    return re.search(r'<input[^>]*name="japanese_holidays"[^>]*>', body).group(0)


def test_japanese_holidays_are_preselected_for_a_new_calendar_only_in_tokyo(tenant_a, login):
    client = login(tenant_a.users["admin"])
    # An organization on Japan's time: a new calendar closes on Japanese public holidays unless unticked
    assert tenant_a.organization.timezone == "Asia/Tokyo"
    assert "checked" in _holidays_box(client.get(url(tenant_a, "calendar_create")).content.decode())
    # An organization on another time zone: not preselected, and saved as posted (unticked)
    with tenant_a.scope():
        account_services.organization_update(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], timezone="Europe/Berlin"
        )
    assert "checked" not in _holidays_box(client.get(url(tenant_a, "calendar_create")).content.decode())
    assert client.post(url(tenant_a, "calendar_create"), calendar_data("Berlin", holidays=False)).status_code == 302
    # Saved calendars keep their own value whatever the organization's time zone
    kept = make_calendar(tenant_a, "Tokyo office", timezone="Asia/Tokyo", japanese_holidays=True)
    page = client.get(url(tenant_a, "calendar_edit", calendar_id=kept.pk)).content.decode()
    assert "checked" in _holidays_box(page)
    with tenant_a.scope():
        account_services.organization_update(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], timezone="Asia/Tokyo"
        )
        berlin = BusinessCalendar.objects.get(name="Berlin")
        assert not berlin.japanese_holidays
    page = client.get(url(tenant_a, "calendar_edit", calendar_id=berlin.pk)).content.decode()
    assert "checked" not in _holidays_box(page)


def test_the_empty_settings_say_what_sla_and_business_hours_are_with_the_buttons(tenant_a, login):
    # An admin with nothing set up yet: each part says what belongs there, with the button that creates it
    admin = login(_in_english(tenant_a.users["admin"]))
    body = admin.get(url(tenant_a, "settings")).content.decode()
    policies = body.split('id="sla-policies-empty"')[1].split("</div>")[0]
    calendars = body.split('id="sla-calendars-empty"')[1].split("</div>")[0]
    assert "No SLA policies yet" in policies and "how soon the first reply" in policies
    assert f'href="{url(tenant_a, "policy_create")}"' in policies
    assert f'href="{url(tenant_a, "calendar_create")}"' in policies  # no business hours yet either
    assert "No business hours yet" in calendars and "SLA clocks count only within them" in calendars
    assert f'href="{url(tenant_a, "calendar_create")}"' in calendars
    assert 'id="sla-policies"' not in body and 'id="sla-calendars"' not in body
    # An agent reads the same explanation, without buttons
    agent = login(_in_english(tenant_a.users["agent"])).get(url(tenant_a, "settings")).content.decode()
    assert "No SLA policies yet" in agent and "An administrator can set this up." in agent
    assert url(tenant_a, "policy_create") not in agent and url(tenant_a, "calendar_create") not in agent
    # With business hours but no policy, the policy part no longer sends to business hours
    make_calendar(tenant_a)
    body = login(tenant_a.users["admin"]).get(url(tenant_a, "settings")).content.decode()
    policies = body.split('id="sla-policies-empty"')[1].split("</div>")[0]
    assert f'href="{url(tenant_a, "calendar_create")}"' not in policies
    assert 'id="sla-calendars"' in body and 'id="sla-calendars-empty"' not in body


def test_editing_a_calendar_replaces_its_hours_and_audits_the_change(tenant_a, objects, login):
    client = login(tenant_a.users["admin"])
    calendar = objects["calendar"]
    data = calendar_data("Office", tz="America/New_York", schedule={"2": [["10:00", "16:00"]]})
    response = client.post(url(tenant_a, "calendar_edit", calendar_id=calendar.pk), data)
    assert response.status_code == 302
    calendar.refresh_from_db()
    assert calendar.timezone == "America/New_York"
    assert calendar.schedule["1"] == [] and calendar.schedule["2"] == [["10:00", "16:00"]]
    changes = audit(tenant_a, AuditAction.CALENDAR_CHANGED)[-1]
    assert changes["changed"] is True and changes["timezone"] == ["", "America/New_York"]


BAD_SCHEDULES = [
    ({"1": [["09:00", "12:00"], ["11:00", "13:00"]]}, "the intervals overlap"),
    ({"1": [["25:00", "18:00"]]}, "is not a valid interval"),
    ({"1": [["22:00", "06:00"]], "2": [["05:00", "09:00"]]}, "past midnight overlaps"),
    ({"1": [["09:00", ""]]}, "Give both an opening and a closing time."),
]


@pytest.mark.parametrize(("schedule", "message"), BAD_SCHEDULES, ids=["overlap", "bad-time", "overnight", "half-row"])
def test_a_bad_schedule_is_a_form_error(tenant_a, objects, login, schedule, message):
    admin = tenant_a.users["admin"]
    admin.language = "en"
    admin.save(update_fields=["language"])
    calendar = objects["calendar"]
    response = login(admin).post(
        url(tenant_a, "calendar_edit", calendar_id=calendar.pk), calendar_data("Office", schedule=schedule)
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    calendar.refresh_from_db()
    assert calendar.schedule == default_schedule()


def test_a_duplicate_calendar_name_is_a_form_error(tenant_a, objects, login):
    response = login(_in_english(tenant_a.users["admin"])).post(
        url(tenant_a, "calendar_create"), calendar_data("Office")
    )
    assert response.status_code == 400
    assert "A calendar with this name already exists." in response.content.decode()


def test_one_default_calendar(tenant_a, objects, login):
    client = login(tenant_a.users["admin"])
    client.post(url(tenant_a, "calendar_edit", calendar_id=objects["calendar"].pk), calendar_data(default=True))
    assert client.post(url(tenant_a, "calendar_create"), calendar_data("Night desk", default=True)).status_code == 302
    with tenant_a.scope():
        assert list(BusinessCalendar.objects.filter(is_default=True).values_list("name", flat=True)) == ["Night desk"]


def test_a_calendar_in_use_is_not_deleted(tenant_a, objects, login):
    client = login(tenant_a.users["admin"])
    response = client.post(
        url(tenant_a, "calendar_delete", calendar_id=objects["calendar"].pk), {"confirmed": "yes"}, follow=True
    )
    assert "Normal" in response.content.decode()  # the message names the policy using it
    with tenant_a.scope():
        assert BusinessCalendar.objects.count() == 1
        services.policy_save(
            policy=objects["policy"], name="Normal", priority="normal", first_response_minutes=60, **_actor(tenant_a)
        )
    assert (
        client.post(
            url(tenant_a, "calendar_delete", calendar_id=objects["calendar"].pk), {"confirmed": "yes"}
        ).status_code
        == 302
    )
    with tenant_a.scope():
        assert BusinessCalendar.objects.count() == 0
    assert audit(tenant_a, AuditAction.CALENDAR_CHANGED)[-1]["deleted"] is True


def test_closures_are_entered_in_the_calendars_time_zone(tenant_a, login):
    client = login(tenant_a.users["admin"])
    calendar = make_calendar(tenant_a, "New York", timezone="America/New_York")
    response = client.post(
        url(tenant_a, "closure_add", calendar_id=calendar.pk),
        {"closure-name": "Holidays", "closure-starts_at": "2026-12-24T00:00", "closure-ends_at": "2027-01-02T00:00"},
    )
    assert response.status_code == 302
    with tenant_a.scope():
        closure = BusinessClosure.objects.get()
    assert closure.starts_at == datetime(2026, 12, 24, 5, 0, tzinfo=UTC)  # midnight EST
    assert closure.ends_at == datetime(2027, 1, 2, 5, 0, tzinfo=UTC)
    page = client.get(url(tenant_a, "calendar_edit", calendar_id=calendar.pk)).content.decode()
    assert "2026/12/24(木) 00:00" in page
    assert client.post(url(tenant_a, "closure_delete", closure_id=closure.pk), {"confirmed": "yes"}).status_code == 302
    with tenant_a.scope():
        assert not BusinessClosure.objects.exists()
    added, deleted = [c for c in audit(tenant_a, AuditAction.CALENDAR_CHANGED) if "created" not in c]
    assert added["closure_added"]["name"] == "Holidays" and deleted["closure_deleted"]["name"] == "Holidays"


CLOSURE_ERRORS = [
    ("2026-12-24T00:00", "2026-12-23T00:00", "The closure must end after it starts."),
    ("2026-12-24T00:00", "24/12/2026", "Enter a date and time like 2026-12-29 00:00."),
    ("2026-12-24T00:00", "9999-12-31T23:59", "Enter a date between the years 2000 and 2100."),
]


@pytest.mark.parametrize(("starts", "ends", "message"), CLOSURE_ERRORS, ids=["backwards", "format", "far-future"])
def test_a_bad_closure_is_a_form_error(tenant_a, objects, login, starts, ends, message):
    admin = tenant_a.users["admin"]
    admin.language = "en"
    admin.save(update_fields=["language"])
    response = login(admin).post(
        url(tenant_a, "closure_add", calendar_id=objects["calendar"].pk),
        {"closure-name": "Oops", "closure-starts_at": starts, "closure-ends_at": ends},
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    with tenant_a.scope():
        assert BusinessClosure.objects.count() == 1


# --- policies -----------------------------------------------------------------------------------------------------


def test_creating_editing_and_deleting_a_policy(tenant_a, objects, login):
    client = login(tenant_a.users["admin"])
    conn = connection(tenant_a)
    # Create: targets in hours and minutes become minutes; an empty target is not measured
    response = client.post(url(tenant_a, "policy_create"), policy_data(connection=str(conn.pk)))
    assert response.status_code == 302
    with tenant_a.scope():
        policy = SlaPolicy.objects.get(name="Urgent")
    assert (policy.first_response_minutes, policy.next_response_minutes, policy.resolution_minutes) == (30, None, 240)
    assert (policy.connection, policy.calendar, policy.warning_minutes, policy.enabled) == (conn, None, 10, True)
    # Edit: the form shows hours and minutes back; disabling is a change
    page = client.get(url(tenant_a, "policy_edit", policy_id=policy.pk)).content.decode()
    assert 'name="resolution_hours" value="4"' in page
    edited = policy_data(connection=str(conn.pk), calendar=str(objects["calendar"].pk), enabled="")
    assert client.post(url(tenant_a, "policy_edit", policy_id=policy.pk), edited).status_code == 302
    policy.refresh_from_db()
    assert (policy.enabled, policy.calendar_id) == (False, objects["calendar"].pk)
    # Delete: its clocks stop on the active tickets that use it
    with tenant_a.scope():
        contact = Contact.objects.create(organization=tenant_a.organization, name="x")
        ticket = Ticket.objects.create(
            organization=tenant_a.organization,
            number=99,
            connection=conn,
            contact=contact,
            external_thread_key="t",
            sla_policy=policy,
            first_response_due_at=timezone.now(),
            sla_check_at=timezone.now(),
            sla_state="warning",
        )
    assert client.post(url(tenant_a, "policy_delete", policy_id=policy.pk), {"confirmed": "yes"}).status_code == 302
    ticket.refresh_from_db()
    assert (ticket.sla_policy_id, ticket.first_response_due_at, ticket.sla_check_at, ticket.sla_state) == (
        None,
        None,
        None,
        "",
    )
    created, changed, deleted = audit(tenant_a, AuditAction.SLA_POLICY_CHANGED)[-3:]
    assert created["created"] is True and created["resolution_minutes"] == [None, 240]
    assert changed["enabled"] == [True, False] and changed["calendar"] == [None, objects["calendar"].pk]
    assert deleted == {"deleted": True, "name": "Urgent", "tickets_stopped": 1}


POLICY_ERRORS = [
    ({"name": "Normal again", "priority": "normal"}, "A policy for this priority and channel already exists."),
    ({"first_response_minutes": "0", "resolution_hours": ""}, "A target must be at least one minute"),
    ({"first_response_hours": "", "first_response_minutes": "", "resolution_hours": ""}, "Set at least one target."),
    ({"first_response_minutes": "75"}, "Ensure this value is less than or equal to 59."),
    ({"warning_minutes": "-1"}, "Ensure this value is greater than or equal to 0."),
]


@pytest.mark.parametrize(
    ("change", "message"), POLICY_ERRORS, ids=["duplicate", "zero", "no-target", "minutes-75", "negative"]
)
def test_policy_errors_are_form_errors(tenant_a, objects, login, change, message):
    admin = tenant_a.users["admin"]
    admin.language = "en"
    admin.save(update_fields=["language"])
    response = login(admin).post(url(tenant_a, "policy_create"), policy_data(**change))
    assert response.status_code == 400
    assert message in response.content.decode()
    with tenant_a.scope():
        assert SlaPolicy.objects.count() == 1


def test_another_organizations_channel_or_calendar_cannot_be_chosen(tenant_a, tenant_b, objects, login):
    other_calendar = make_calendar(tenant_b, "B office")
    response = login(tenant_a.users["admin"]).post(
        url(tenant_a, "policy_create"), policy_data(calendar=str(other_calendar.pk))
    )
    assert response.status_code == 400
    with tenant_a.scope():
        assert not SlaPolicy.objects.filter(name="Urgent").exists()


# --- tenancy ------------------------------------------------------------------------------------------------------


def test_organization_b_objects_are_404_through_a_urls(tenant_a, tenant_b, login):
    calendar_b = make_calendar(tenant_b, "B office")
    closure_b = make_closure(tenant_b, calendar_b)
    policy_b = make_policy(tenant_b, calendar=calendar_b)
    client = login(tenant_a.users["owner"])
    for name, kwargs in [
        ("calendar_edit", {"calendar_id": calendar_b.pk}),
        ("calendar_delete", {"calendar_id": calendar_b.pk}),
        ("closure_add", {"calendar_id": calendar_b.pk}),
        ("closure_delete", {"closure_id": closure_b.pk}),
        ("policy_edit", {"policy_id": policy_b.pk}),
        ("policy_delete", {"policy_id": policy_b.pk}),
    ]:
        target = url(tenant_a, name, **kwargs)
        assert client.post(target, {**calendar_data("Mine now"), **policy_data()}).status_code == 404, name
        assert client.get(target).status_code in (404, 405), name
    with tenant_b.scope():
        assert BusinessCalendar.objects.get().name == "B office" and BusinessClosure.objects.count() == 1
        assert SlaPolicy.objects.get() == policy_b
    listing = client.get(url(tenant_a, "settings")).content.decode()
    assert "B office" not in listing


# --- query budgets ------------------------------------------------------------------------------------------------


def _count(client, target) -> int:
    client.get(target)  # warm: the calendar spec cache, the member's last organization
    with CaptureQueriesContext(db_connection) as queries:
        assert client.get(target).status_code == 200
    return len(queries.captured_queries)


_serial = itertools.count(1)


def _grow(tenant, n: int, calendar) -> None:
    """n more calendars, closures of the page's calendar, channels and policies."""
    for _ in range(n):
        i = next(_serial)
        extra = make_calendar(tenant, f"Calendar {i}")
        make_closure(tenant, calendar, f"Closure {i}")
        conn = connection(tenant)
        make_policy(tenant, f"Policy {i}", connection=conn, calendar=extra)


@pytest.mark.parametrize(
    "page", ["settings", "calendar_create", "calendar_edit", "policy_create", "policy_edit"]
)  # fmt: skip
def test_pages_have_constant_query_counts(tenant_a, objects, login, django_assert_num_queries, page):
    client = login(tenant_a.users["admin"])
    kwargs = {
        "calendar_edit": {"calendar_id": objects["calendar"].pk},
        "policy_edit": {"policy_id": objects["policy"].pk},
    }
    target = url(tenant_a, page, **kwargs.get(page, {}))
    _grow(tenant_a, 1, objects["calendar"])
    small = _count(client, target)
    _grow(tenant_a, 6, objects["calendar"])
    client.get(target)
    with django_assert_num_queries(small):
        assert client.get(target).status_code == 200
    assert small <= 14, small


def test_a_member_sees_no_policy_of_a_channel_they_may_not_see(tenant_a, objects, login):
    secret = connection(tenant_a, "facebook", "役員専用ページ")
    shared = connection(tenant_a, "line", "みんなの LINE")
    with tenant_a.scope():
        account_services.connection_access_set(
            organization=tenant_a.organization,
            actor=tenant_a.users["owner"],
            connection=shared,
            users=[tenant_a.users["agent"]],
        )
    hidden = make_policy(tenant_a, name="Board page policy", connection=secret)
    make_policy(tenant_a, name="LINE policy", connection=shared)
    client = login(_in_english(tenant_a.users["agent"]))
    listing = client.get(url(tenant_a, "settings")).content.decode()
    assert "みんなの LINE" in listing and "LINE policy" in listing
    assert "役員専用ページ" not in listing and "Board page policy" not in listing
    assert client.get(url(tenant_a, "policy_edit", policy_id=hidden.pk)).status_code == 404
    # Those who see every channel still see it.
    admin_listing = login(_in_english(tenant_a.users["admin"])).get(url(tenant_a, "settings")).content.decode()
    assert "役員専用ページ" in admin_listing
