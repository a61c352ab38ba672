"""Real-time events (kept briefly so a reconnecting browser can catch up), in-app notifications, and the attempts
of everything that is retried.

Both tables keep the names they had in the `inbox` app (`inbox_realtimeevent`, `inbox_notification`): the models
moved to `core` without copying a row (core/migrations/0001)."""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopedManager

from core.notification_kinds import notification_text, target_path


class RealtimeEvent(models.Model):
    """An event pushed to one Channels group. The id is the browser's resume cursor."""

    organization = models.ForeignKey(  # indexed by inbox_event_resume
        settings.TENANT_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    group = models.CharField(max_length=120)
    type = models.CharField(max_length=60)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        db_table = "inbox_realtimeevent"
        indexes = [models.Index(fields=["organization", "group", "id"], name="inbox_event_resume")]

    def __str__(self) -> str:
        return f"{self.id} {self.type} → {self.group}"


class Notification(models.Model):
    """One member told about one thing: a kind (registered by the app that owns it, core.notifications), its
    parameters, and what it is about (a ticket, a post, an asset...). Rendered in the reader's language."""

    organization = models.ForeignKey(settings.TENANT_MODEL, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=40)
    target_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    target_id = models.PositiveBigIntegerField()
    target = GenericForeignKey("target_type", "target_id")
    params = models.JSONField(default=dict)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        db_table = "inbox_notification"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "user", "read_at", "-created_at"], name="inbox_notif_unread")]

    def __str__(self) -> str:
        return self.text

    @property
    def text(self) -> str:
        return notification_text(self.kind, self.params)

    @property
    def path(self) -> str:
        """Where the notification leads (a path on this site), "" when its kind of target has no page."""
        return target_path(self.organization, self.target_type.model_class(), self.target_id)


class AttemptOutcome(models.TextChoices):
    SUCCEEDED = "succeeded", _("Succeeded")
    RETRYING = "retrying", _("Failed, will be retried")
    FAILED = "failed", _("Failed")


class Attempt(models.Model):
    """One attempt of something that may be retried (core.retry): processing a received event, sending a reply
    through a platform, calling a rule's webhook. Every attempt is kept, so the history of a failure can be read."""

    organization = models.ForeignKey(settings.TENANT_MODEL, on_delete=models.CASCADE, related_name="+")
    subject_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    subject_id = models.PositiveBigIntegerField()
    subject = GenericForeignKey("subject_type", "subject_id")
    number = models.PositiveSmallIntegerField()
    outcome = models.CharField(max_length=10, choices=AttemptOutcome.choices)
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    response = models.TextField(blank=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        ordering = ["subject_type", "subject_id", "number", "id"]
        indexes = [
            models.Index(fields=["subject_type", "subject_id", "number"], name="core_attempt_subject"),
            # Pruning by age (core.retry.attempts_prune): rows arrive in time order, so a BRIN index is a few pages.
            BrinIndex(fields=["started_at"], name="core_attempt_started_brin"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.subject_type_id}:{self.subject_id}: {self.outcome}"
