"""The notifications listening sends (a spike on a monitor), registered with core at startup."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from core.notification_kinds import NotificationKind, register_kind, register_target

KINDS = (
    NotificationKind(
        key="listening_volume",
        label=_("Spike of mentions on a listening monitor"),
        text=_("%(monitor)s: %(count)s mentions in the last hour (usually about %(usual)s)"),
    ),
    NotificationKind(
        key="listening_negative",
        label=_("Spike of negative mentions on a listening monitor"),
        text=_("%(monitor)s: %(count)s negative mentions in the last hour (%(percent)s%% of them)"),
    ),
)


def monitor_path(organization, monitor_id: int) -> str:
    return reverse("org:listening_stream", args=[organization.slug]) + f"?monitor={monitor_id}"


def register() -> None:
    from analytics.listening.models import Monitor

    for kind in KINDS:
        register_kind(kind)
    register_target(Monitor, monitor_path)
