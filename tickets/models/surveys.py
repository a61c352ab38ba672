"""Customer satisfaction (CSAT) surveys: an organization's settings, one survey per solve of a ticket, and the
customer's answer (rating 1–5 and a comment). The sending and answering services are in tickets/services/surveys.py;
analytics derives one CSAT fact per answer."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from tickets.models.core import Message, Ticket, scoped

# The invitation the customer reads above the link, when the organization wrote none of its own.
DEFAULT_INVITATION = {
    "ja": "このたびはお問い合わせいただきありがとうございました。対応についてのご感想をお聞かせください。",
    "en": "Thank you for contacting us. We would be grateful if you could tell us how we did.",
}


class SurveySettings(models.Model):
    """An organization's CSAT survey settings (one row; no row: surveys off). `connections` empty: every channel."""

    organization = models.OneToOneField("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    enabled = models.BooleanField(_("send satisfaction surveys"), default=False)
    connections = models.ManyToManyField(
        "channels_integrations.ChannelConnection",
        blank=True,
        related_name="+",
        verbose_name=_("channels"),
        help_text=_("Leave every channel unticked to survey customers on all channels."),
    )
    delay_minutes = models.PositiveIntegerField(
        _("delay after solving (minutes)"),
        default=0,
        help_text=_("0 sends the survey as soon as the ticket is solved."),
    )
    cooldown_days = models.PositiveSmallIntegerField(
        _("days between two surveys of a ticket"),
        default=7,
        help_text=_("A ticket reopened and solved again is surveyed again only after this many days."),
    )
    invitation_ja = models.TextField(_("invitation (Japanese)"), blank=True, max_length=1000)
    invitation_en = models.TextField(_("invitation (English)"), blank=True, max_length=1000)
    updated_at = models.DateTimeField(auto_now=True)

    objects = scoped()

    def __str__(self) -> str:
        return f"surveys of {self.organization_id}: {'on' if self.enabled else 'off'}"

    def invitation(self, language: str) -> str:
        """The invitation in `language` (ja or en), the default one when the organization wrote none."""
        own = self.invitation_en if language == "en" else self.invitation_ja
        return own.strip() or DEFAULT_INVITATION["en" if language == "en" else "ja"]


class SurveyState(models.TextChoices):
    SCHEDULED = "scheduled", pgettext_lazy("a survey", "Scheduled")
    SENDING = "sending", pgettext_lazy("a survey", "Sending")
    SENT = "sent", pgettext_lazy("a survey", "Sent")
    NOT_SENT = "not_sent", pgettext_lazy("a survey", "Not sent")
    SKIPPED = "skipped", pgettext_lazy("a survey", "Skipped")


class SurveyVia(models.TextChoices):
    CHANNEL = "channel", _("the conversation's channel")
    EMAIL = "email", _("email")


class Survey(models.Model):
    """One satisfaction survey of a ticket, for one solve (`solve_event_id`: the status change to solved). A row
    without a solve is a skip a rule recorded for the ticket's next solve. The link's token is stored hashed
    (SHA-256): the database alone cannot answer a survey. `agent` is the assignee when the ticket was solved."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="surveys")
    solve_event_id = models.BigIntegerField(null=True, blank=True)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(max_length=10, choices=SurveyState.choices, default=SurveyState.SCHEDULED)
    reason = models.CharField(max_length=300, blank=True)  # why it was skipped or not sent
    via = models.CharField(max_length=8, choices=SurveyVia.choices, blank=True)
    language = models.CharField(max_length=8, default="ja")
    token_hash = models.CharField(max_length=64, null=True, blank=True, unique=True)
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    due_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = scoped()

    class Meta:
        constraints = [
            # One survey per solve, however often the trigger runs.
            models.UniqueConstraint(fields=["ticket", "solve_event_id"], name="tickets_survey_once_per_solve"),
            # At most one pending skip per ticket.
            models.UniqueConstraint(
                fields=["ticket"], condition=Q(solve_event_id__isnull=True), name="tickets_survey_one_pending_skip"
            ),
        ]
        indexes = [
            models.Index(fields=["ticket", "-created_at"], name="tickets_survey_ticket_recent"),
            models.Index(fields=["due_at"], condition=Q(state="scheduled"), name="tickets_survey_due"),
        ]

    def __str__(self) -> str:
        return f"survey of #{self.ticket_id}: {self.state}"


class SurveyAnswer(models.Model):
    """The customer's answer to a survey (at most one): rating 1–5 and an optional comment. Carries the ticket and
    the agent (the assignee when solved) so that reporting reads one table."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    survey = models.OneToOneField(Survey, on_delete=models.CASCADE, related_name="answer")
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="survey_answers")
    agent_id = models.BigIntegerField(null=True, blank=True)
    rating = models.PositiveSmallIntegerField(_("rating"))
    comment = models.TextField(_("comment"), blank=True, max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = scoped()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(rating__gte=1, rating__lte=5), name="tickets_survey_rating_1_to_5")
        ]
        indexes = [models.Index(fields=["organization", "-created_at"], name="tickets_answer_org_recent")]

    def __str__(self) -> str:
        return f"{self.rating}/5 on #{self.ticket_id}"
