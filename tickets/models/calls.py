"""Phone calls on tickets: one CallRecord per call, attached to the call's message in the ticket (kind "call") —
reported by the telephony provider's webhooks (channels_integrations/providers/phone) or logged by hand by an agent."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from tickets.models.core import Message, scoped


class CallDirection(models.TextChoices):
    INBOUND = "inbound", _("Incoming")
    OUTBOUND = "outbound", _("Outgoing")


class CallOutcome(models.TextChoices):
    ANSWERED = "answered", pgettext_lazy("phone call outcome", "Answered")
    MISSED = "missed", pgettext_lazy("phone call outcome", "Missed")
    VOICEMAIL = "voicemail", pgettext_lazy("phone call outcome", "Voicemail")
    BUSY = "busy", pgettext_lazy("phone call outcome", "Busy")
    FAILED = "failed", pgettext_lazy("phone call outcome", "Failed")


class CallRecord(models.Model):
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="call")
    # The provider's call id (Twilio's CallSid); empty for a call logged by hand.
    call_id = models.CharField(max_length=64, blank=True)
    direction = models.CharField(_("direction"), max_length=8, choices=CallDirection.choices)
    outcome = models.CharField(_("outcome"), max_length=10, choices=CallOutcome.choices)
    from_number = models.CharField(max_length=32, blank=True)  # E.164
    to_number = models.CharField(max_length=32, blank=True)
    duration_seconds = models.PositiveIntegerField(_("duration (seconds)"), default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    recording_url = models.URLField(max_length=1000, blank=True)
    voicemail_url = models.URLField(max_length=1000, blank=True)
    transcription = models.TextField(blank=True)
    logged_by = models.ForeignKey(  # set when an agent logged the call by hand
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = scoped()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "call_id"],
                condition=~models.Q(call_id=""),
                name="tickets_call_provider_id_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.direction} call {self.outcome} {self.duration_seconds}s"
