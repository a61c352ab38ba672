"""Connected customer-facing accounts (a Facebook page, a mailbox, a LINE channel...)."""

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopedManager


class Platform(models.TextChoices):
    EMAIL = "email", _("Email")
    FACEBOOK = "facebook", "Facebook"
    INSTAGRAM = "instagram", "Instagram"
    X = "x", "X"
    LINE = "line", "LINE"
    LINKEDIN = "linkedin", "LinkedIn"
    YOUTUBE = "youtube", "YouTube"
    WHATSAPP = "whatsapp", "WhatsApp"
    WEBCHAT = "webchat", _("Web chat")
    FORM = "form", _("Form")
    PHONE = "phone", _("Phone")


class ConnectionStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    ERROR = "error", _("Error")
    NEEDS_REAUTH = "needs_reauth", _("Needs re-authorization")
    PAUSED = "paused", _("Paused")


class ChannelConnection(models.Model):
    """One connected account of one platform. Agents see its tickets only when granted `view_channelconnection`
    on it (directly or through a team) — see accounts.permissions.connections_visible_to."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="connections")
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    platform = models.CharField(_("platform"), max_length=32, choices=Platform.choices)
    display_name = models.CharField(_("name"), max_length=120)
    external_account_id = models.CharField(_("account id"), max_length=128)
    status = models.CharField(
        _("status"), max_length=16, choices=ConnectionStatus.choices, default=ConnectionStatus.ACTIVE
    )
    last_error = models.TextField(blank=True)
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
