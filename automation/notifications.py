"""The notifications automation sends (a rule calls for a member, an SLA is about to be missed or was missed, a
spike of negative messages), registered with core at startup."""

from django.utils.translation import gettext_lazy as _

from core.notification_kinds import NotificationKind, register_kind

KINDS = (
    NotificationKind(
        key="rule",
        label=_("An automation rule called for me"),
        text=_("Rule “%(rule)s”: #%(number)s needs your attention"),
    ),
    NotificationKind(
        key="sla_warning",
        label=_("My ticket is about to miss its SLA"),
        text=_("#%(number)s is due soon (%(metric)s)"),
    ),
    NotificationKind(
        key="sla_breach",
        label=_("My ticket missed its SLA"),
        text=_("#%(number)s is overdue (%(metric)s)"),
        email_by_default=True,
    ),
    NotificationKind(
        key="crisis",
        label=_("Spike of negative messages on a channel"),
        text=_("%(count)s negative messages on %(channel)s in %(minutes)s minutes"),
        email_by_default=True,
    ),
)


def register() -> None:
    for kind in KINDS:
        register_kind(kind)
