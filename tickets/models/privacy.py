"""Privacy (GDPR, Japan's APPI): an organization's retention policy for closed tickets, and the exports of everything
known about one contact (a zip generated in the background, downloadable once by whoever asked, until it expires).

The services are in tickets/services/privacy.py; erasing a contact needs no model of its own (its audit entry is the
record, written without the erased values)."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from tickets.models.contacts import Contact, scoped


class RetentionAction(models.TextChoices):
    ANONYMIZE = "anonymize", _("Anonymize (keep the tickets for reports, remove personal data)")
    DELETE = "delete", _("Delete the tickets and their messages")


class RetentionPolicy(models.Model):
    """How long the organization keeps closed tickets: tickets solved or closed more than `days` days ago are
    anonymized or deleted by the nightly run (no row, or `enabled` off: kept for ever)."""

    organization = models.OneToOneField("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    enabled = models.BooleanField(_("apply the policy every night"), default=False, db_default=False)
    days = models.PositiveIntegerField(
        _("keep closed tickets for (days)"),
        default=730,
        db_default=730,
        help_text=_("Counted from the day the ticket was solved or closed."),
    )
    action = models.CharField(
        _("then"), max_length=10, choices=RetentionAction.choices, default=RetentionAction.ANONYMIZE
    )
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_run_count = models.PositiveIntegerField(default=0, db_default=0)
    updated_at = models.DateTimeField(auto_now=True)

    objects = scoped()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(days__gte=1), name="tickets_retention_days_positive")]

    def __str__(self) -> str:
        return f"retention of {self.organization_id}: {self.action} after {self.days} days"


class ExportStatus(models.TextChoices):
    PENDING = "pending", pgettext_lazy("a data export", "Being prepared")
    READY = "ready", pgettext_lazy("a data export", "Ready to download")
    DOWNLOADED = "downloaded", pgettext_lazy("a data export", "Downloaded")
    FAILED = "failed", pgettext_lazy("a data export", "Failed")
    EXPIRED = "expired", pgettext_lazy("a data export", "Expired")


def export_upload_to(instance: "ContactExport", filename: str) -> str:
    """privacy-exports/<organization id>/<random>.zip: nobody can guess it; served only by the checked view."""
    return f"privacy-exports/{instance.organization_id}/{uuid.uuid4().hex}.zip"


class ContactExport(models.Model):
    """One export of a contact's personal data (JSON + attachment files in a zip). Only `requested_by` may download
    it, once, before `expires_at`; the file is deleted after the download, on expiry, and when the contact is
    erased."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=ExportStatus.choices, default=ExportStatus.PENDING)
    file = models.FileField(upload_to=export_upload_to, blank=True)
    size = models.PositiveBigIntegerField(default=0, db_default=0)
    error = models.TextField(blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    downloaded_at = models.DateTimeField(null=True, blank=True)

    objects = scoped()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["expires_at"], condition=Q(status__in=["pending", "ready"]), name="tickets_export_open"
            )
        ]

    def __str__(self) -> str:
        return f"export of contact {self.contact_id} ({self.status})"


class ErasureReason(models.TextChoices):
    ERASE = "erase", _("The customer's data was erased")
    RETENTION = "retention", _("Retention policy")


class TicketAnonymization(models.Model):
    """A ticket whose personal data is gone (its contact was erased, or the retention policy anonymized it): its row
    stays for the reports' counts; the retention run does not select it again."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    ticket = models.OneToOneField("tickets.Ticket", on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=10, choices=ErasureReason.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = scoped()

    def __str__(self) -> str:
        return f"ticket {self.ticket_id} anonymized ({self.reason})"


class ContactErasure(models.Model):
    """A contact whose personal data was erased, by whom and when (what was erased is nowhere, by design)."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    contact = models.OneToOneField(Contact, on_delete=models.CASCADE, related_name="erasure")
    erased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    erased_at = models.DateTimeField(auto_now_add=True)

    objects = scoped()

    def __str__(self) -> str:
        return f"contact {self.contact_id} erased"
