"""Automation rules, the per-ticket log of what they did ("why did this come to me?"), outgoing webhook calls made
by rules, the organization's automation settings and crisis alerts."""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tickets.models.core import scoped


class RuleTrigger(models.TextChoices):
    TICKET_CREATED = "ticket_created", _("Ticket created")
    MESSAGE_RECEIVED = "message_received", _("Customer message received")
    TICKET_UPDATED = "ticket_updated", _("Ticket updated")
    SLA_WARNING = "sla_warning", _("SLA due soon")
    SLA_BREACH = "sla_breach", _("SLA breached")
    SCHEDULED = "scheduled", _("Time-based check")


def empty_conditions() -> dict:
    return {"all": []}


class Rule(models.Model):
    """When `trigger` happens and `conditions` (nested all/any groups, see automation.rules.schema) hold, do `actions`
    (see automation.rules.actions). Rules of one trigger run in `position` order; `stop_processing` ends the pass."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=120)
    description = models.CharField(_("description"), max_length=300, blank=True)
    trigger = models.CharField(_("when"), max_length=20, choices=RuleTrigger.choices)
    conditions = models.JSONField(_("conditions"), default=empty_conditions)
    actions = models.JSONField(_("actions"), default=list)
    position = models.PositiveIntegerField(default=0)
    enabled = models.BooleanField(_("enabled"), default=True)
    stop_processing = models.BooleanField(_("stop processing further rules"), default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = scoped()

    class Meta:
        db_table = "tickets_rule"
        ordering = ["trigger", "position", "id"]
        indexes = [models.Index(fields=["organization", "trigger", "position"], name="tickets_rule_org_trigger")]

    def __str__(self) -> str:
        return self.name


class RuleRun(models.Model):
    """A rule matched a ticket and acted: the ticket's "why" log. `dedupe_key` makes time-based rules fire once per
    ticket state (unique with rule and ticket)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="rule_runs")
    rule = models.ForeignKey(Rule, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    rule_name = models.CharField(max_length=120)
    trigger = models.CharField(max_length=20, choices=RuleTrigger.choices)
    # What each action did: [{"type": "assign_team", "summary": "…", "ok": true}, …]
    actions = models.JSONField(default=list)
    dedupe_key = models.CharField(max_length=64, blank=True)
    # A time-based run: the ticket's state it acted on (the fields its `dedupe_key` hashes, engine.state_key), so
    # that the minute's pass leaves out the states already acted on by comparing columns, not by hashing every
    # candidate's state in SQL. Status "" (never a ticket's) for other runs and for time-based runs of a state never
    # backfilled: such a run leaves nothing out (its ticket stays a candidate; the unique `dedupe_key` still refuses
    # a second run). A database default, so that code that does not know these columns still writes runs.
    state_status = models.CharField(max_length=20, blank=True, db_default="")
    state_status_changed_at = models.DateTimeField(null=True, blank=True)
    state_last_message_at = models.DateTimeField(null=True, blank=True)
    state_assignee_id = models.BigIntegerField(null=True, blank=True)
    state_team_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = scoped()

    class Meta:
        db_table = "tickets_rulerun"
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "ticket", "dedupe_key"], condition=~Q(dedupe_key=""), name="tickets_rulerun_once"
            )
        ]
        indexes = [models.Index(fields=["ticket", "created_at"], name="tickets_rulerun_ticket_time")]

    def __str__(self) -> str:
        return f"{self.rule_name} → #{self.ticket_id}"


class WebhookCallState(models.TextChoices):
    PENDING = "pending", _("Pending")
    SUCCEEDED = "succeeded", _("Delivered")
    FAILED = "failed", _("Failed")


class WebhookCall(models.Model):
    """One HTTP call a rule made to an external URL (HMAC-signed JSON), with its attempts: the delivery log."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    rule = models.ForeignKey(Rule, null=True, blank=True, on_delete=models.SET_NULL, related_name="webhook_calls")
    ticket = models.ForeignKey("tickets.Ticket", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    url = models.URLField(max_length=2000)
    payload = models.JSONField(default=dict)
    state = models.CharField(max_length=10, choices=WebhookCallState.choices, default=WebhookCallState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    response_excerpt = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Every attempt of it (core.retry), deleted with it.
    attempt_log = GenericRelation("core.Attempt", content_type_field="subject_type", object_id_field="subject_id")

    objects = scoped()

    class Meta:
        db_table = "tickets_webhookcall"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"], name="tickets_webhookcall_org_time")]

    def __str__(self) -> str:
        return f"{self.url} ({self.state})"


class AutomationSettings(models.Model):
    """Per-organization automation settings: the outgoing-webhook signing secret (encrypted) and the negative
    sentiment spike that raises a crisis alert."""

    organization = models.OneToOneField("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    webhook_secret = models.TextField(blank=True, editable=False)  # Fernet token (core.crypto)
    crisis_threshold = models.PositiveIntegerField(
        _("negative messages that raise a crisis alert"), default=5, help_text=_("On one channel within the window.")
    )
    crisis_window_minutes = models.PositiveIntegerField(_("crisis window (minutes)"), default=15)

    objects = scoped()

    class Meta:
        db_table = "tickets_automationsettings"

    def __str__(self) -> str:
        return f"automation settings of {self.organization_id}"


class CrisisAlert(models.Model):
    """A spike of negative customer messages on one channel; managers were told. One per channel per window."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(
        "channels_integrations.ChannelConnection", on_delete=models.CASCADE, related_name="+"
    )
    window_start = models.DateTimeField()
    negative_count = models.PositiveIntegerField()
    ticket = models.ForeignKey("tickets.Ticket", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = scoped()

    class Meta:
        db_table = "tickets_crisisalert"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "window_start"], name="tickets_crisis_once_per_window")
        ]

    def __str__(self) -> str:
        return f"crisis on {self.connection_id} at {self.window_start:%Y-%m-%d %H:%M}"
