"""Connected customer-facing accounts (a Facebook page, a mailbox, a LINE channel...)."""

import uuid

from django.contrib.contenttypes.fields import GenericRelation
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopedManager

from channels_integrations.registry import platform_choices
from core import crypto


class ConnectionStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    ERROR = "error", _("Error")
    NEEDS_REAUTH = "needs_reauth", _("Needs re-authorization")
    PAUSED = "paused", _("Paused")
    DISCONNECTED = "disconnected", _("Disconnected")


class ChannelConnection(models.Model):
    """One connected account of one platform. Agents see its tickets only when granted `view_channelconnection`
    on it (directly or through a team) — see channels_integrations.permissions.connections_visible_to."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="connections")
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    platform = models.CharField(_("platform"), max_length=32, choices=platform_choices)
    display_name = models.CharField(_("name"), max_length=120)
    external_account_id = models.CharField(_("account id"), max_length=128)
    status = models.CharField(
        _("status"), max_length=16, choices=ConnectionStatus.choices, default=ConnectionStatus.ACTIVE
    )
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # Tokens, passwords and signing secrets: Fernet-encrypted JSON (core.crypto). Never rendered.
    credentials_encrypted = models.TextField(blank=True, editable=False)
    token_expires_at = models.DateTimeField(null=True, blank=True)
    # Non-secret settings (mail server host/port, the OAuth user's name...).
    config = models.JSONField(default=dict, blank=True)
    poll_cursor = models.JSONField(default=dict, blank=True, editable=False)
    next_poll_at = models.DateTimeField(null=True, blank=True)  # not before (interval, Retry-After)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_event_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        ordering = ["platform", "display_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "platform", "external_account_id"], name="channels_connection_account_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_platform_display()}: {self.display_name}"

    @property
    def credentials(self) -> dict:
        return crypto.decrypt_json(self.credentials_encrypted)

    def set_credentials(self, data: dict) -> None:
        self.credentials_encrypted = crypto.encrypt_json(data)


class InboundEventStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    PROCESSED = "processed", _("Processed")
    RETRYING = "retrying", _("Retrying")
    DEAD = "dead", _("Failed (dead letter)")


class InboundEvent(models.Model):
    """A raw platform event exactly as it arrived (after signature verification), stored before anything else so
    nothing is lost if processing fails. Unique per connection on the platform's event id (or a content hash): a
    redelivery is stored once. Processing is idempotent anyway (messages are unique on the platform's ids)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(  # indexed by channels_inbound_event_unique
        ChannelConnection, on_delete=models.CASCADE, related_name="inbound_events", db_index=False
    )
    source = models.CharField(max_length=8, default="webhook")  # webhook | poll
    event_key = models.CharField(max_length=200)
    payload = models.BinaryField()
    status = models.CharField(max_length=10, choices=InboundEventStatus.choices, default=InboundEventStatus.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    # Every attempt of it (core.retry), deleted with it.
    attempt_log = GenericRelation("core.Attempt", content_type_field="subject_type", object_id_field="subject_id")

    objects = ScopedManager(organization="organization")

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "event_key"], name="channels_inbound_event_unique"),
        ]
        indexes = [
            # The dead-letter list and the sweeper of stuck events read by status; processed rows are the bulk.
            models.Index(
                fields=["organization", "status", "-received_at"],
                name="channels_event_open",
                condition=~models.Q(status="processed"),
            ),
            # The ingest's claim: a connection's received events in id order. Without it the claim walked the primary
            # key through every processed event of the table (3,000 rows read for none found, growing forever).
            models.Index(
                fields=["connection", "id"], name="channels_event_claim", condition=models.Q(status="received")
            ),
            # Pruning by age (services.events_prune): rows arrive in time order, so a BRIN index is a few pages.
            BrinIndex(fields=["received_at"], name="channels_event_received_brin"),
        ]

    def __str__(self) -> str:
        return f"{self.connection_id}:{self.event_key} ({self.status})"
