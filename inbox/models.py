"""Real-time events (kept briefly so a reconnecting browser can catch up) and in-app notifications."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopedManager


class RealtimeEvent(models.Model):
    """An event pushed to one Channels group. The id is the browser's resume cursor."""

    organization = models.ForeignKey(  # indexed by inbox_event_resume
        "accounts.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    group = models.CharField(max_length=120)
    type = models.CharField(max_length=60)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        indexes = [models.Index(fields=["organization", "group", "id"], name="inbox_event_resume")]

    def __str__(self) -> str:
        return f"{self.id} {self.type} → {self.group}"


class NotificationKind(models.TextChoices):
    ASSIGNED = "assigned", _("Assigned to me")
    MENTIONED = "mentioned", _("Mentioned in a note")
    CUSTOMER_REPLIED = "customer_replied", _("Customer replied on my ticket")
    RULE = "rule", _("An automation rule called for me")
    SLA_WARNING = "sla_warning", _("My ticket is about to miss its SLA")
    SLA_BREACH = "sla_breach", _("My ticket missed its SLA")
    CRISIS = "crisis", _("Spike of negative messages on a channel")


# Rendered in the reader's language when shown or emailed, from the stored parameters.
NOTIFICATION_TEXTS = {
    NotificationKind.ASSIGNED: _("%(actor)s assigned #%(number)s to you"),
    NotificationKind.MENTIONED: _("%(actor)s mentioned you on #%(number)s"),
    NotificationKind.CUSTOMER_REPLIED: _("%(contact)s replied on #%(number)s"),
    NotificationKind.RULE: _("Rule “%(rule)s”: #%(number)s needs your attention"),
    NotificationKind.SLA_WARNING: _("#%(number)s is due soon (%(metric)s)"),
    NotificationKind.SLA_BREACH: _("#%(number)s is overdue (%(metric)s)"),
    NotificationKind.CRISIS: _("%(count)s negative messages on %(channel)s in %(minutes)s minutes"),
}


# When a rule or routing did it, the notification names no one (no "Tsunaguさん"): params carry "automated".
AUTOMATED_TEXTS = {
    NotificationKind.ASSIGNED: _("An automation rule assigned #%(number)s to you"),
    NotificationKind.MENTIONED: _("An automation rule mentioned you on #%(number)s"),
}


def notification_text_for(kind: str, params: dict):
    if params.get("automated") and kind in AUTOMATED_TEXTS:
        return AUTOMATED_TEXTS[NotificationKind(kind)]
    return NOTIFICATION_TEXTS[NotificationKind(kind)]


class Notification(models.Model):
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=24, choices=NotificationKind.choices)
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+")
    params = models.JSONField(default=dict)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "user", "read_at", "-created_at"], name="inbox_notif_unread")]

    def __str__(self) -> str:
        return self.text

    @property
    def text(self) -> str:
        values = {
            "actor": "",
            "contact": "",
            "number": "",
            "rule": "",
            "metric": "",
            "count": "",
            "channel": "",
            "minutes": "",
        } | self.params
        return str(notification_text_for(self.kind, self.params)) % values
