"""Business-hours calendars and SLA policies, and the record of every SLA warning, breach and fulfilment."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.models import TIMEZONE_CHOICES
from tickets.models.core import Priority, SlaMetric, scoped


def default_schedule() -> dict:
    """Monday to Friday, 9:00–18:00. Keys are ISO weekdays as strings ("1" = Monday … "7" = Sunday)."""
    return {str(day): [["09:00", "18:00"]] if day <= 5 else [] for day in range(1, 8)}


class BusinessCalendar(models.Model):
    """When the organization works: a weekly schedule in a timezone, Japanese public holidays (optional) and custom
    closures. An interval whose end is not after its start runs past midnight ("22:00"–"06:00")."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=80)
    timezone = models.CharField(
        _("time zone"),
        max_length=64,
        choices=TIMEZONE_CHOICES,
        blank=True,
        help_text=_("Leave empty to use the organization's time zone."),
    )
    schedule = models.JSONField(_("weekly schedule"), default=default_schedule)
    japanese_holidays = models.BooleanField(_("closed on Japanese public holidays"), default=True)
    is_default = models.BooleanField(
        _("default calendar"), default=False, help_text=_("Used by rules that ask whether it is business hours.")
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = scoped()

    class Meta:
        db_table = "tickets_businesscalendar"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="tickets_calendar_org_name_unique"),
            models.UniqueConstraint(
                fields=["organization"], condition=Q(is_default=True), name="tickets_calendar_one_default"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class BusinessClosure(models.Model):
    """A holiday or other closure of one calendar (company holidays, 年末年始, a system maintenance night)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="closures")
    name = models.CharField(_("name"), max_length=120)
    starts_at = models.DateTimeField(_("from"))
    ends_at = models.DateTimeField(_("until"))

    objects = scoped()

    class Meta:
        db_table = "tickets_businessclosure"
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="tickets_closure_ends_after")
        ]

    def __str__(self) -> str:
        return self.name


class SlaPolicy(models.Model):
    """Response and resolution targets for tickets of one priority (optionally only on one channel), counted in the
    calendar's business hours (no calendar: around the clock). Empty target = not measured."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=120)
    priority = models.CharField(_("priority"), max_length=8, choices=Priority.choices)
    connection = models.ForeignKey(
        "channels_integrations.ChannelConnection",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("channel"),
        help_text=_("Leave empty to apply to every channel."),
    )
    calendar = models.ForeignKey(
        BusinessCalendar,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="policies",
        verbose_name=_("business hours"),
        help_text=_("Leave empty to count around the clock."),
    )
    first_response_minutes = models.PositiveIntegerField(_("first response within (minutes)"), null=True, blank=True)
    next_response_minutes = models.PositiveIntegerField(_("next response within (minutes)"), null=True, blank=True)
    resolution_minutes = models.PositiveIntegerField(_("resolution within (minutes)"), null=True, blank=True)
    warning_minutes = models.PositiveIntegerField(_("warn this many minutes before"), default=15)
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = scoped()

    class Meta:
        db_table = "tickets_slapolicy"
        ordering = ["priority", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "priority", "connection"],
                name="tickets_slapolicy_priority_channel_unique",
                nulls_distinct=False,
            )
        ]
        verbose_name_plural = _("SLA policies")

    def __str__(self) -> str:
        return self.name


class SlaEventKind(models.TextChoices):
    WARNING = "warning", _("Due soon")
    BREACHED = "breached", _("Breached")
    MET = "met", _("Met")


class SlaEvent(models.Model):
    """One warning, breach or fulfilment of one SLA clock of a ticket — for analytics, and the monitor's guard against
    announcing the same warning twice (unique per clock and due time)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="sla_events")
    policy = models.ForeignKey(SlaPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    metric = models.CharField(max_length=16, choices=SlaMetric.choices)
    kind = models.CharField(max_length=8, choices=SlaEventKind.choices)
    due_at = models.DateTimeField()
    occurred_at = models.DateTimeField()
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = scoped()

    class Meta:
        db_table = "tickets_slaevent"
        ordering = ["occurred_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["ticket", "metric", "kind", "due_at"], name="tickets_slaevent_once")
        ]
        indexes = [models.Index(fields=["organization", "kind", "occurred_at"], name="tickets_slaevent_org_time")]

    def __str__(self) -> str:
        return f"{self.metric} {self.kind} #{self.ticket_id}"
