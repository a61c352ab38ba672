"""Scheduled reports: a dashboard page emailed weekly or monthly to chosen members, and a row per run.

A schedule's `next_run_at` is stored in UTC and computed from its local schedule (weekday or day of the month and
hour in the organization's time zone; see analytics/reports/schedule.py), so it stays at the same local hour across
daylight-saving changes. A run is unique per schedule and due instant: the beat and a retried task cannot send the
same period twice."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.dates import WEEKDAYS
from django.utils.translation import gettext_lazy as _

from tickets.models import scoped


class Frequency(models.TextChoices):
    WEEKLY = "weekly", _("Weekly")
    MONTHLY = "monthly", _("Monthly")


class FileFormat(models.TextChoices):
    PDF = "pdf", "PDF"
    CSV = "csv", "CSV"


class ReportSchedule(models.Model):
    """A dashboard page (`page`, a key of analytics.dashboards.pages.PAGES) with saved filters (GET parameters of
    the filter bar without the dates, e.g. {"connection": ["3"]}), sent to each recipient as a file computed with
    that recipient's own channel access, in their language."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=120)
    page = models.CharField(_("dashboard"), max_length=32)
    filters = models.JSONField(default=dict, blank=True)
    frequency = models.CharField(_("frequency"), max_length=8, choices=Frequency.choices, default=Frequency.WEEKLY)
    # Monday = 0 (Python's weekday), for weekly schedules.
    weekday = models.PositiveSmallIntegerField(_("weekday"), null=True, blank=True)
    # 1–28 for monthly schedules: every month has that day.
    day_of_month = models.PositiveSmallIntegerField(_("day of the month"), null=True, blank=True)
    hour = models.PositiveSmallIntegerField(_("hour"), default=9)
    file_format = models.CharField(_("format"), max_length=4, choices=FileFormat.choices, default=FileFormat.PDF)
    recipients = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="+", verbose_name=_("recipients"))
    next_run_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = scoped()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="reports_schedule_name_unique"),
            models.CheckConstraint(condition=Q(hour__gte=0, hour__lte=23), name="reports_schedule_hour"),
            models.CheckConstraint(
                condition=(Q(frequency="weekly", weekday__gte=0, weekday__lte=6))
                | (Q(frequency="monthly", day_of_month__gte=1, day_of_month__lte=28)),
                name="reports_schedule_when",
            ),
        ]
        indexes = [models.Index(fields=["next_run_at"], name="reports_schedule_due")]

    def __str__(self) -> str:
        return self.name

    def when_display(self) -> str:
        """ "Every Monday at 09:00", "Monthly on day 28 at 07:00" (local time)."""
        at = f"{self.hour:02d}:00"
        if self.frequency == Frequency.WEEKLY and self.weekday is not None:
            return _("Every %(weekday)s at %(time)s") % {"weekday": WEEKDAYS[self.weekday], "time": at}
        return _("Monthly on day %(day)s at %(time)s") % {"day": self.day_of_month, "time": at}


class RunStatus(models.TextChoices):
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    PARTIAL = "partial", _("Sent with problems")
    FAILED = "failed", _("Failed")


class ReportRun(models.Model):
    """One due instant of a schedule: the period it covers and what happened to each recipient. `delivered` holds
    the user ids already emailed (a retry skips them); `notes` the recipients skipped or failed, with the reason."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    schedule = models.ForeignKey(ReportSchedule, on_delete=models.CASCADE, related_name="runs")
    due_at = models.DateTimeField()
    first_day = models.DateField()
    last_day = models.DateField()
    status = models.CharField(max_length=8, choices=RunStatus.choices, default=RunStatus.SENDING)
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    delivered = models.JSONField(default=list, blank=True)
    notes = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = scoped()

    class Meta:
        constraints = [
            # Idempotency: one run per schedule and period, however often the beat or a retry gets there.
            models.UniqueConstraint(fields=["schedule", "due_at"], name="reports_run_once"),
        ]
        indexes = [models.Index(fields=["schedule", "-due_at"], name="reports_run_latest")]

    def __str__(self) -> str:
        return f"{self.schedule_id}@{self.due_at:%Y-%m-%d %H:%M}"
