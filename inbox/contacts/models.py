"""Contact segments: saved contact-list filters (the contacts counterpart of the inbox's saved views)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopedManager


class ContactSegment(models.Model):
    """A named set of contact-list filters (`filters` as ContactFilter.as_query gives them). `owner` empty = shared
    with the organization; otherwise only its owner sees it."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    name = models.CharField(_("name"), max_length=80)
    filters = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name
