"""The asset library's notification: an asset its owner should act on because it expires soon (it can no longer be
attached to new replies or posts then; its existing uses are listed on its page). Registered at startup
(AssetsConfig.ready)."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from assets.models import Asset
from core.notification_kinds import NotificationKind, register_kind, register_target

EXPIRING = "asset_expiring"

KINDS = (
    NotificationKind(
        key=EXPIRING,
        label=_("An asset I own expires soon"),
        text=_("“%(title)s” expires in %(days)s days; it was used %(uses)s times"),
        email_by_default=True,
    ),
)


def asset_path(organization, asset_id: int) -> str:
    return reverse("org:asset_detail", args=[organization.slug, asset_id])


def register() -> None:
    for kind in KINDS:
        register_kind(kind)
    register_target(Asset, asset_path)
