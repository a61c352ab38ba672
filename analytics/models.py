"""Reporting data: one fact per measurable event of a ticket, and daily rollups of them.

Facts are derived after commit from the history the product keeps (ticket events, messages, SLA events, survey
answers) by the
consumer in analytics/services.py; nothing here is written on the ingest path. Rollups serve counts, sums and
averages; medians and percentiles are computed from the facts themselves (exact, PostgreSQL percentile_cont).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from tickets.models import scoped


class FactKind(models.TextChoices):
    CREATED = "created", _("Ticket created")
    FIRST_RESPONSE = "first_response", _("First response")
    REPLY = "reply", _("Agent reply")
    RESOLUTION = "resolution", _("Resolution")
    REOPEN = "reopen", _("Reopen")
    MERGED = "merged", _("Merged into another ticket")
    ASSIGNMENT = "assignment", _("Assignment")
    SLA_MET = "sla_met", _("SLA met")
    SLA_BREACH = "sla_breach", _("SLA breach")
    CSAT = "csat", _("Satisfaction survey answer")


class FactSource(models.TextChoices):
    """Which history table a fact comes from; with the row's id and the kind it identifies the fact."""

    TICKET_EVENT = "event", "TicketEvent"
    MESSAGE = "message", "Message"
    SLA_EVENT = "sla", "SlaEvent"
    SURVEY_ANSWER = "answer", "SurveyAnswer"


class TicketFact(models.Model):
    """One measurable event of a ticket. Team and agent are those of the ticket at `occurred_at` (from its
    history), except for replies, whose agent is the reply's author. Durations are whole seconds, from the start
    the kind defines (see analytics/metrics.py) to `occurred_at`, wall-clock and within the ticket's business
    hours; null when the kind measures nothing."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+", db_index=False)
    connection = models.ForeignKey(
        "channels_integrations.ChannelConnection", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    platform = models.CharField(max_length=32)
    # Plain ids, not foreign keys: a fact keeps its attribution when a team or user is deleted, and the rollups,
    # keyed by them, stay equal to a recompute from the facts.
    team_id = models.BigIntegerField(null=True)
    agent_id = models.BigIntegerField(null=True)
    kind = models.CharField(max_length=16, choices=FactKind.choices)
    occurred_at = models.DateTimeField()
    duration_seconds = models.BigIntegerField(null=True)
    business_seconds = models.BigIntegerField(null=True)
    # created: the customer started the conversation (their message created the ticket; not an agent).
    inbound = models.BooleanField(default=False)
    # csat: the customer's rating, 1–5 (null for every other kind).
    score = models.PositiveSmallIntegerField(null=True)
    source = models.CharField(max_length=8, choices=FactSource.choices)
    source_id = models.BigIntegerField()

    objects = scoped()

    class Meta:
        constraints = [
            # The consumer's idempotency: a source row yields each kind of fact once, however often it is read.
            models.UniqueConstraint(fields=["source", "source_id", "kind"], name="analytics_fact_once"),
        ]
        indexes = [
            # Covering: the dashboards' percentiles and counts over a range read the index alone (index-only scan),
            # not one heap row per fact.
            models.Index(
                fields=["organization", "kind", "occurred_at"],
                include=[
                    "id",
                    "duration_seconds",
                    "business_seconds",
                    "inbound",
                    "ticket",
                    "connection",
                    "team_id",
                    "agent_id",
                ],
                name="analytics_fact_org_kind_time",
            ),
            # Includes the organization: "has this ticket a first response" is then answered by the index alone.
            models.Index(fields=["ticket", "kind"], include=["organization"], name="analytics_fact_ticket_kind"),
            # Response rate probes "has this ticket a first response" once per conversation in the range: a small
            # index of first responses alone answers it twice as fast as the one of every fact.
            models.Index(
                fields=["ticket"],
                include=["organization"],
                condition=models.Q(kind="first_response"),
                name="analytics_fact_first_response",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.ticket_id} {self.occurred_at:%Y-%m-%d %H:%M}"


class DailyRollup(models.Model):
    """Facts per day (in the organization's time zone), channel, team, agent and kind: how many, how many carry a
    duration, and the sums of their durations. Updated by adding each new batch of facts (UPSERT), rebuilt exactly
    by `manage.py analytics_rebuild`."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    connection = models.ForeignKey(
        "channels_integrations.ChannelConnection", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    team_id = models.BigIntegerField(null=True)
    agent_id = models.BigIntegerField(null=True)
    kind = models.CharField(max_length=16, choices=FactKind.choices)
    count = models.BigIntegerField(default=0)
    measured = models.BigIntegerField(default=0)
    duration_sum = models.BigIntegerField(default=0)
    business_sum = models.BigIntegerField(default=0)
    # csat: the sum of the ratings, and how many were 4 or 5 ("satisfied").
    score_sum = models.BigIntegerField(default=0, db_default=0)
    score_high = models.BigIntegerField(default=0, db_default=0)

    objects = scoped()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "kind", "day", "connection", "team_id", "agent_id"],
                name="analytics_rollup_key",
                nulls_distinct=False,
                # Covering: sums over days, channels, teams and agents read the index alone (index-only scan).
                include=["count", "measured", "duration_sum", "business_sum", "score_sum", "score_high"],
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.kind} {self.count}"


class ConsumerCursor(models.Model):
    """How far the consumer has read one source table (the highest id turned into facts). Not tenant data: one
    consumer reads every organization's history."""

    source = models.CharField(max_length=8, choices=FactSource.choices, unique=True)
    last_id = models.BigIntegerField(default=0)
    # The highest id that existed at the previous run: this run reads no further (see analytics/services.py).
    horizon_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.source}@{self.last_id}"
