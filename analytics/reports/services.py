"""Writes of the reports app: the audit entry of an export; scheduled reports (saved, deleted, dispatched, sent)."""

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import encoders
from email.mime.base import MIMEBase

from celery import current_app
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.http import QueryDict
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django_scopes import scopes_disabled

from accounts.audit import audit_record
from accounts.models import AuditAction, Membership
from accounts.roles import Capability
from analytics.reports.exports import ExportFile, FilterNotAllowed, export_file
from analytics.reports.models import ReportRun, ReportSchedule, RunStatus
from analytics.reports.schedule import next_run_after, period_for
from core.db_replica import replica_reads

logger = logging.getLogger("tsunagu.reports")

SEND_TASK = "analytics_reports.send_run"
# A run claimed longer ago than this by a worker that never finished (killed) may be taken over by a retry.
CLAIM_TIMEOUT = timedelta(minutes=15)
# Errors of one email that a later attempt may not meet (the mail server down, a timeout).
TRANSIENT_SEND_ERRORS = (OSError, smtplib.SMTPException)


def export_record(*, organization, actor, export: ExportFile, file_format: str, request=None) -> None:
    """Audit one export: who took which page's data, for which range and filters, in which format."""
    context = export.context
    with transaction.atomic():
        audit_record(
            organization=organization,
            actor=actor,
            action=AuditAction.REPORT_EXPORTED,
            changes={
                "page": context.page_key,
                "format": file_format,
                "from": context.first_day.isoformat(),
                "to": context.last_day.isoformat(),
                "filters": dict(context.filters),
            },
            request=request,
        )


# --- schedules ----------------------------------------------------------------------------------------------------


def _next_run(schedule: ReportSchedule, organization, after: datetime) -> datetime:
    return next_run_after(
        after=after,
        tz_name=organization.timezone,
        frequency=schedule.frequency,
        hour=schedule.hour,
        weekday=schedule.weekday,
        day_of_month=schedule.day_of_month,
    )


def schedule_save(
    *, organization, actor, schedule: ReportSchedule, recipients: list, now: datetime | None = None, request=None
) -> ReportSchedule:
    """Create or change a schedule (fields already set on `schedule`, validated by the form): its next run is
    computed from the local schedule when new or when its timing changed, the recipients replaced, the change
    audited."""
    now = now or timezone.now()
    creating = schedule.pk is None
    with transaction.atomic():
        schedule.organization = organization
        if creating:
            schedule.created_by = actor
        if schedule.frequency == "weekly":
            schedule.day_of_month = None
        else:
            schedule.weekday = None
        timing = ("frequency", "weekday", "day_of_month", "hour")
        before = None if creating else ReportSchedule.objects.filter(pk=schedule.pk).values(*timing).first()
        # Unchanged timing keeps the pending run: an edit a few minutes after 09:00, before the beat's next pass,
        # must not push this week's report to next week.
        if before is None or before != {name: getattr(schedule, name) for name in timing}:
            schedule.next_run_at = _next_run(schedule, organization, now)
        schedule.save()
        schedule.recipients.set(recipients)
        audit_record(
            organization=organization,
            actor=actor,
            action=AuditAction.REPORT_SCHEDULE_CHANGED,
            obj=schedule,
            changes={
                "created" if creating else "updated": True,
                "page": schedule.page,
                "frequency": schedule.frequency,
                "recipients": sorted(user.email for user in recipients),
            },
            request=request,
        )
    return schedule


def schedule_delete(*, organization, actor, schedule: ReportSchedule, request=None) -> None:
    with transaction.atomic():
        audit_record(
            organization=organization,
            actor=actor,
            action=AuditAction.REPORT_SCHEDULE_CHANGED,
            obj=schedule,
            changes={"deleted": True},
            request=request,
        )
        schedule.delete()


def schedules_dispatch(*, now: datetime | None = None) -> list[int]:
    """Beat, every organization: for each schedule due, record its run (one per schedule and due instant), move
    its next run past now (runs missed while the beat was down collapse into this one), and queue the sending
    after commit. Returns the new runs' ids. Safe to run concurrently: due schedules are locked, skipped if
    locked, and the run row is unique."""
    now = now or timezone.now()
    created_ids = []
    with scopes_disabled():  # the beat serves every organization; each schedule is handled in its own
        due = list(ReportSchedule.objects.filter(next_run_at__lte=now).values_list("pk", "organization_id"))
    for schedule_id, organization_id in due:
        with scopes_disabled(), transaction.atomic():
            schedule = (
                ReportSchedule.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("organization")
                .filter(pk=schedule_id, next_run_at__lte=now)
                .first()
            )
            if schedule is None:
                continue
            organization = schedule.organization
            first_day, last_day = period_for(
                due_at=schedule.next_run_at, tz_name=organization.timezone, frequency=schedule.frequency
            )
            run, created = ReportRun.objects.get_or_create(
                schedule=schedule,
                due_at=schedule.next_run_at,
                defaults={"organization": organization, "first_day": first_day, "last_day": last_day},
            )
            schedule.next_run_at = _next_run(schedule, organization, now)
            schedule.save(update_fields=["next_run_at"])
            if created:
                created_ids.append(run.pk)
                kwargs = {"organization_id": organization_id, "run_id": run.pk}
                transaction.on_commit(
                    lambda kwargs=kwargs: current_app.tasks[SEND_TASK].apply_async(kwargs=kwargs, queue="analytics")
                )
    return created_ids


# --- sending ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendResult:
    run: ReportRun
    retry: bool  # some emails failed for a reason a later attempt may not meet


def _skip_reason(membership: Membership | None, user) -> str | None:
    if membership is None:
        return "left"
    if not user.is_active:
        return "inactive"
    if not membership.has(Capability.ANALYTICS_VIEW):
        return "no_access"
    return None


def _params(schedule: ReportSchedule, run: ReportRun) -> QueryDict:
    params = QueryDict(mutable=True)
    for name, values in (schedule.filters or {}).items():
        params.setlist(name, [str(value) for value in (values if isinstance(values, list) else [values])])
    params["page"] = schedule.page
    params["from"], params["to"] = run.first_day.isoformat(), run.last_day.isoformat()
    return params


def _dashboards_path(organization) -> str:
    try:
        return reverse("org:analytics_overview", args=[organization.slug])
    except NoReverseMatch:  # the dashboards are not installed: the organization's home
        return reverse("org:home", args=[organization.slug])


def _email(*, organization, schedule: ReportSchedule, run: ReportRun, membership: Membership) -> None:
    user = membership.user
    with translation.override(user.language or organization.default_language):
        with replica_reads():  # the report's figures: heavy reads a few seconds' lag does not change
            export = export_file(
                membership=membership,
                params=_params(schedule, run),
                page_key=schedule.page,
                file_format=schedule.file_format,
                strict=True,
            )
        period = f"{run.first_day.isoformat()} – {run.last_day.isoformat()}"
        subject = f"[{organization.name}] {schedule.name} ({period})"
        body = _(
            "Your scheduled report “%(name)s” (%(page)s, %(period)s) is attached.\n\n"
            "It counts only the channels you may see. Open the dashboards: %(url)s\n"
        ) % {
            "name": schedule.name,
            "page": export.context.page_title,
            "period": period,
            "url": settings.SITE_URL + _dashboards_path(organization),
        }
    message = EmailMessage(subject[:200], body, None, [user.email])
    message.attach(_attachment(export))
    message.send()


def _attachment(export: ExportFile) -> MIMEBase:
    """The file as it was made, base64-encoded: Django would decode a text/csv attachment to text, and the
    byte-order mark and CRLF line ends Excel needs might not survive the trip."""
    main, sub = export.content_type.split(";")[0].split("/")
    part = MIMEBase(main, sub)
    part.set_payload(export.content)
    encoders.encode_base64(part)
    part.add_header("Content-Disposition", "attachment", filename=export.filename)
    return part


def run_send(*, organization, run_id: int, final: bool = True, now: datetime | None = None) -> SendResult:
    """Email a run's report to each recipient not yet sent it, computed with that recipient's channel access in
    their language. A recipient who left the organization, was deactivated or lost `analytics.view`, or whose
    channels do not include one the saved filters name, is skipped and noted. Each delivery is recorded as soon
    as it is sent, so a retry or a second worker never emails anyone twice (a crash between the mail server's
    acceptance and that record is the one window left). With `final` False, emails that failed transiently leave
    the run open for a retry."""
    now = now or timezone.now()
    with transaction.atomic():
        run = ReportRun.objects.select_for_update().select_related("schedule").filter(pk=run_id).first()
        if run is None or run.status != RunStatus.SENDING:
            return SendResult(run, False)
        if run.claimed_at is not None and now - run.claimed_at < CLAIM_TIMEOUT:
            return SendResult(run, False)  # another worker is on it
        run.claimed_at = now
        run.notes = []
        run.save(update_fields=["claimed_at", "notes"])
    schedule = run.schedule
    recipients = sorted(schedule.recipients.all(), key=lambda user: user.pk)
    memberships = {
        m.user_id: m
        for m in Membership.objects.filter(organization=organization, user__in=recipients).select_related(
            "role", "user", "organization"
        )
    }
    delivered, notes, transient = list(run.delivered), [], False
    for user in recipients:
        if user.pk in delivered:
            continue
        membership = memberships.get(user.pk)
        reason = _skip_reason(membership, user)
        if reason is None:
            try:
                _email(organization=organization, schedule=schedule, run=run, membership=membership)
            except FilterNotAllowed:
                reason = "filters"
            except TRANSIENT_SEND_ERRORS as error:
                logger.warning("report run %s: email to user %s failed: %s", run.pk, user.pk, error)
                reason, transient = "error", True
            else:
                delivered.append(user.pk)
                ReportRun.objects.filter(pk=run.pk).update(delivered=delivered)
                continue
        notes.append({"user_id": user.pk, "email": user.email, "reason": reason})
    run.delivered, run.notes = delivered, notes
    if transient and not final:
        run.claimed_at = None  # open for the retry
        run.save(update_fields=["delivered", "notes", "claimed_at"])
        return SendResult(run, True)
    run.status = RunStatus.SENT if not notes else RunStatus.PARTIAL if delivered else RunStatus.FAILED
    run.finished_at = timezone.now()
    run.save(update_fields=["delivered", "notes", "status", "finished_at"])
    return SendResult(run, False)
