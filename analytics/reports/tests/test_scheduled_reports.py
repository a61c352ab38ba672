"""Scheduled reports end to end: the beat's dispatch at hand-picked times, emails with attachments computed per
recipient (their channels, their language), skipped recipients noted, idempotency under retries."""

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from celery.exceptions import Retry
from django.core import mail
from django_scopes import scopes_disabled

from accounts import services as account_services
from accounts.models import Membership, Role
from analytics.reports import services, tasks
from analytics.reports.models import ReportRun, ReportSchedule, RunStatus
from analytics.tests.builders import catch_up, event, jst, ticket
from tickets.tests.factories import connection

pytestmark = pytest.mark.django_db
UTC = ZoneInfo("UTC")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def org(tenant_a):
    """Tenant A in Tokyo; the analyst may see the LINE channel only. Two tickets there and three on the hidden
    mailbox, created in the week of 30 November 2026."""
    organization = tenant_a.organization
    organization.timezone = "Asia/Tokyo"
    organization.save(update_fields=["timezone"])
    tenant_a.seen = connection(tenant_a, "line", name="LINE 公式アカウント")
    tenant_a.hidden = connection(tenant_a, "email", name="秘密の窓口")
    with tenant_a.scope():
        account_services.connection_access_set(
            organization=organization, actor=tenant_a.users["owner"], connection=tenant_a.seen,
            users=[tenant_a.users["analyst"]],
        )  # fmt: skip
        for conn, n in ((tenant_a.seen, 2), (tenant_a.hidden, 3)):
            for _ in range(n):
                made = ticket(organization, conn, jst("2026-12-02 10:00"))
                event(made, jst("2026-12-02 10:00"), "created")
    catch_up()
    return tenant_a


def _schedule(tenant, *, recipients, page="channels", file_format="csv", filters=None, now=None, **when):
    schedule = ReportSchedule(
        name=f"週次レポート {page} {file_format}",
        page=page,
        file_format=file_format,
        filters=filters or {},
        frequency=when.pop("frequency", "weekly"),
        weekday=when.pop("weekday", 0),
        day_of_month=when.pop("day_of_month", None),
        hour=when.pop("hour", 8),
    )
    with tenant.scope():
        return services.schedule_save(
            organization=tenant.organization,
            actor=tenant.users["manager"],
            schedule=schedule,
            recipients=[tenant.users[role] for role in recipients],
            now=now or utc("2026-12-06 12:00"),
        )


def _file(message) -> tuple[str, bytes, str]:
    """(filename, bytes, content type) of the message's attachment, read back from the sent MIME message."""
    [part] = [p for p in message.message().walk() if p.get_filename()]
    return part.get_filename(), part.get_payload(decode=True), part.get_content_type()


def _attachment_rows(message) -> list[list[str]]:
    return list(csv.reader(io.StringIO(_file(message)[1].decode("utf-8-sig"), newline="")))


def _text(message) -> str:
    content = _file(message)[1]
    assert content.startswith(b"\xef\xbb\xbf")  # the BOM survives the trip
    return content.decode("utf-8-sig")


def _dispatch(at: str, capture) -> list[int]:
    with capture(execute=True):
        return services.schedules_dispatch(now=utc(at))


def test_weekly_in_tokyo_runs_at_monday_8_local_which_is_sunday_in_utc(org, django_capture_on_commit_callbacks):
    schedule = _schedule(org, recipients=["owner"])
    assert schedule.next_run_at == utc("2026-12-06 23:00")  # Monday 7 December, 08:00 in Tokyo
    assert _dispatch("2026-12-06 22:59", django_capture_on_commit_callbacks) == []
    assert mail.outbox == []
    [run_id] = _dispatch("2026-12-06 23:05", django_capture_on_commit_callbacks)
    with scopes_disabled():
        run = ReportRun.objects.get(pk=run_id)
        schedule.refresh_from_db()
    assert (run.first_day.isoformat(), run.last_day.isoformat()) == ("2026-11-30", "2026-12-06")
    assert run.status == RunStatus.SENT and run.delivered == [org.users["owner"].pk]
    assert schedule.next_run_at == utc("2026-12-13 23:00")
    [message] = mail.outbox
    assert message.to == [org.users["owner"].email]
    assert _file(message)[0] == "tsunagu-channels-2026-11-30_2026-12-06.csv"
    assert "秘密の窓口" in _text(message) and "LINE 公式アカウント" in _text(message)


def test_monthly_on_day_28(org, django_capture_on_commit_callbacks):
    schedule = _schedule(
        org, recipients=["owner"], frequency="monthly", day_of_month=28, hour=9, weekday=None,
        now=utc("2026-12-27 00:00"), file_format="pdf",
    )  # fmt: skip
    assert schedule.next_run_at == utc("2026-12-28 00:00")
    _dispatch("2026-12-28 00:00", django_capture_on_commit_callbacks)
    [message] = mail.outbox
    assert _file(message)[0] == "tsunagu-channels-2026-11-01_2026-11-30.pdf"
    assert _file(message)[2] == "application/pdf"
    assert _file(message)[1].startswith(b"%PDF")
    with scopes_disabled():
        schedule.refresh_from_db()
    assert schedule.next_run_at == utc("2027-01-28 00:00")


def test_each_recipient_gets_only_what_they_may_see(org, django_capture_on_commit_callbacks):
    _schedule(org, recipients=["owner", "analyst"])
    _dispatch("2026-12-07 00:00", django_capture_on_commit_callbacks)
    by_recipient = {message.to[0]: _text(message) for message in mail.outbox}
    analyst = by_recipient[org.users["analyst"].email]
    assert "LINE 公式アカウント" in analyst and "秘密の窓口" not in analyst
    assert "秘密の窓口" in by_recipient[org.users["owner"].email]


def test_recipients_who_left_lost_access_or_cannot_see_the_filter_are_skipped_and_noted(
    org, django_capture_on_commit_callbacks
):
    schedule = _schedule(
        org, recipients=["owner", "analyst", "admin", "manager"], filters={"connection": [str(org.hidden.pk)]}
    )
    with org.scope():
        Membership.objects.filter(user=org.users["admin"]).delete()  # left the organization
        manager_role = Role.objects.get(key="manager")
        manager_role.capabilities = [c for c in manager_role.capabilities if c != "analytics.view"]
        manager_role.save()
    _dispatch("2026-12-07 00:00", django_capture_on_commit_callbacks)
    assert [message.to[0] for message in mail.outbox] == [org.users["owner"].email]
    with scopes_disabled():
        run = ReportRun.objects.get(schedule=schedule)
    reasons = {note["email"]: note["reason"] for note in run.notes}
    assert reasons == {
        org.users["analyst"].email: "filters",  # the saved filter names the mailbox the analyst may not see
        org.users["admin"].email: "left",
        org.users["manager"].email: "no_access",
    }
    assert run.status == RunStatus.PARTIAL


def test_each_recipient_reads_it_in_their_language(org, django_capture_on_commit_callbacks):
    owner, analyst = org.users["owner"], org.users["analyst"]
    owner.language, analyst.language = "en", "ja"
    owner.save(update_fields=["language"])
    analyst.save(update_fields=["language"])
    _schedule(org, recipients=["owner", "analyst"])
    _dispatch("2026-12-07 00:00", django_capture_on_commit_callbacks)
    by_recipient = {message.to[0]: message for message in mail.outbox}
    assert _attachment_rows(by_recipient[owner.email])[1][1] == "Channels"
    assert _attachment_rows(by_recipient[analyst.email])[1][1] == "チャネル"


def test_dispatching_again_or_retrying_never_sends_twice(org, django_capture_on_commit_callbacks):
    schedule = _schedule(org, recipients=["owner", "analyst"])
    [run_id] = _dispatch("2026-12-07 00:00", django_capture_on_commit_callbacks)
    assert _dispatch("2026-12-07 00:00", django_capture_on_commit_callbacks) == []
    assert _dispatch("2026-12-07 00:10", django_capture_on_commit_callbacks) == []
    with org.scope():
        services.run_send(organization=org.organization, run_id=run_id)  # a retried task
    assert len(mail.outbox) == 2
    # The beat saw the same due instant twice (a stale read): the unique run row stops the second.
    with scopes_disabled():
        ReportSchedule.objects.filter(pk=schedule.pk).update(next_run_at=utc("2026-12-06 23:00"))
        assert _dispatch("2026-12-07 00:20", django_capture_on_commit_callbacks) == []
        assert ReportRun.objects.filter(schedule=schedule).count() == 1
    assert len(mail.outbox) == 2


def test_a_run_interrupted_midway_resumes_with_the_recipients_not_yet_sent(org):
    schedule = _schedule(org, recipients=["owner", "analyst"])
    with org.scope():
        run = ReportRun.objects.create(
            organization=org.organization, schedule=schedule, due_at=utc("2026-12-06 23:00"),
            first_day=datetime(2026, 11, 30).date(), last_day=datetime(2026, 12, 6).date(),
            delivered=[org.users["owner"].pk],  # the worker died after emailing the owner
        )  # fmt: skip
        result = services.run_send(organization=org.organization, run_id=run.pk)
    assert [message.to[0] for message in mail.outbox] == [org.users["analyst"].email]
    assert result.run.status == RunStatus.SENT
    assert sorted(result.run.delivered) == sorted([org.users["owner"].pk, org.users["analyst"].pk])


def test_a_run_another_worker_holds_is_left_alone(org):
    schedule = _schedule(org, recipients=["owner"])
    with org.scope():
        run = ReportRun.objects.create(
            organization=org.organization, schedule=schedule, due_at=utc("2026-12-06 23:00"),
            first_day=datetime(2026, 11, 30).date(), last_day=datetime(2026, 12, 6).date(),
            claimed_at=utc("2026-12-07 00:00"),
        )  # fmt: skip
        services.run_send(organization=org.organization, run_id=run.pk, now=utc("2026-12-07 00:05"))
        assert mail.outbox == []
        # Claimed long ago by a worker that never finished: taken over.
        services.run_send(organization=org.organization, run_id=run.pk, now=utc("2026-12-07 00:30"))
    assert len(mail.outbox) == 1


class FailFor:
    """An email backend that refuses one address (the mail server rejecting it for now)."""

    address = ""

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        for message in messages:
            if FailFor.address in message.to:
                raise ConnectionRefusedError("mail server unavailable")
            mail.outbox.append(message)
        return len(messages)


def test_a_transient_failure_is_retried_for_that_recipient_only(org, settings):
    settings.EMAIL_BACKEND = f"{__name__}.FailFor"
    FailFor.address = org.users["analyst"].email
    schedule = _schedule(org, recipients=["owner", "analyst"])
    with org.scope():
        run = ReportRun.objects.create(
            organization=org.organization, schedule=schedule, due_at=utc("2026-12-06 23:00"),
            first_day=datetime(2026, 11, 30).date(), last_day=datetime(2026, 12, 6).date(),
        )  # fmt: skip
        first = services.run_send(organization=org.organization, run_id=run.pk, final=False)
        assert first.retry and first.run.status == RunStatus.SENDING
        assert first.run.notes == [{"user_id": org.users["analyst"].pk, "email": FailFor.address, "reason": "error"}]
        FailFor.address = "nobody"
        second = services.run_send(organization=org.organization, run_id=run.pk, final=True)
    assert second.run.status == RunStatus.SENT and second.run.notes == []
    assert [message.to[0] for message in mail.outbox] == [org.users["owner"].email, org.users["analyst"].email]


def test_the_last_attempt_records_the_failure(org, settings):
    settings.EMAIL_BACKEND = f"{__name__}.FailFor"
    FailFor.address = org.users["analyst"].email
    schedule = _schedule(org, recipients=["owner", "analyst"])
    with org.scope():
        run = ReportRun.objects.create(
            organization=org.organization, schedule=schedule, due_at=utc("2026-12-06 23:00"),
            first_day=datetime(2026, 11, 30).date(), last_day=datetime(2026, 12, 6).date(),
        )  # fmt: skip
        result = services.run_send(organization=org.organization, run_id=run.pk, final=True)
    assert not result.retry and result.run.status == RunStatus.PARTIAL


def test_the_beat_task_dispatches_and_the_send_task_retries_then_records_the_failure(
    org, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = f"{__name__}.FailFor"
    FailFor.address = org.users["analyst"].email
    schedule = _schedule(org, recipients=["owner", "analyst"])
    with scopes_disabled():
        ReportSchedule.objects.filter(pk=schedule.pk).update(next_run_at=utc("2026-01-05 23:00"))
    # The send task asks Celery for a retry (eager here: the Retry surfaces instead of being scheduled).
    with pytest.raises(Retry), django_capture_on_commit_callbacks(execute=True):
        tasks.dispatch.delay()
    with scopes_disabled():
        run = ReportRun.objects.get(schedule=schedule)
    assert run.status == RunStatus.SENDING and run.delivered == [org.users["owner"].pk]
    # The last retry: the owner is not emailed again, the analyst's failure is recorded.
    result = tasks.send_run.apply(kwargs={"organization_id": org.organization.pk, "run_id": run.pk}, retries=3)
    assert result.get() == RunStatus.PARTIAL
    assert [message.to[0] for message in mail.outbox] == [org.users["owner"].email]
    with scopes_disabled():
        run.refresh_from_db()
    assert run.notes == [{"user_id": org.users["analyst"].pk, "email": FailFor.address, "reason": "error"}]


def test_an_edit_that_keeps_the_timing_keeps_the_pending_run(org, django_capture_on_commit_callbacks):
    schedule = _schedule(org, recipients=["owner"])
    assert schedule.next_run_at == utc("2026-12-06 23:00")
    # Edited at 23:05 UTC, before the beat's next pass: the 23:00 run is still due.
    with org.scope():
        schedule.name = "改名"
        services.schedule_save(
            organization=org.organization, actor=org.users["manager"], schedule=schedule,
            recipients=[org.users["owner"]], now=utc("2026-12-06 23:05"),
        )  # fmt: skip
        assert ReportSchedule.objects.get(pk=schedule.pk).next_run_at == utc("2026-12-06 23:00")
        schedule.hour = 10
        services.schedule_save(
            organization=org.organization, actor=org.users["manager"], schedule=schedule,
            recipients=[org.users["owner"]], now=utc("2026-12-06 23:05"),
        )  # fmt: skip
        assert ReportSchedule.objects.get(pk=schedule.pk).next_run_at == utc("2026-12-07 01:00")
