"""Automatic replies per channel: out of business hours, and the acknowledgement of a customer's first contact."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from tickets.models.core import scoped


class AutoResponseKind(models.TextChoices):
    OUT_OF_HOURS = "out_of_hours", _("Out-of-hours reply")
    FIRST_CONTACT = "first_contact", _("First-contact acknowledgement")


class AutoResponse(models.Model):
    """Sent from a canned response (in the customer's language when a variant exists), at most once per contact per
    `window_hours`, never to auto-replies, bounces or the organization's own accounts."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(
        "channels_integrations.ChannelConnection",
        on_delete=models.CASCADE,
        related_name="auto_responses",
        verbose_name=_("channel"),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=AutoResponseKind.choices)
    response = models.ForeignKey(
        "tickets.CannedResponse", on_delete=models.PROTECT, related_name="+", verbose_name=_("canned response")
    )
    calendar = models.ForeignKey(
        "automation.BusinessCalendar",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("business hours"),
        help_text=_("Leave empty to use the default calendar."),
    )
    window_hours = models.PositiveIntegerField(_("at most once per contact every (hours)"), default=24)
    enabled = models.BooleanField(_("enabled"), default=True)

    objects = scoped()

    class Meta:
        db_table = "tickets_autoresponse"
        constraints = [models.UniqueConstraint(fields=["connection", "kind"], name="tickets_autoresponse_unique")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}, {self.connection.display_name}"


class AutoResponseSent(models.Model):
    """An automatic reply sent to a contact: the window check reads these (under a lock on the contact)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey("tickets.Contact", on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(
        "channels_integrations.ChannelConnection", on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=AutoResponseKind.choices)
    message = models.ForeignKey("tickets.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    sent_at = models.DateTimeField()

    objects = scoped()

    class Meta:
        db_table = "tickets_autoresponsesent"
        indexes = [models.Index(fields=["contact", "connection", "kind", "-sent_at"], name="tickets_autoresp_recent")]

    def __str__(self) -> str:
        return f"{self.kind} → {self.contact_id}"
