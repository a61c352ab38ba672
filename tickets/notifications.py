"""The notifications the tickets app sends (someone assigned me a ticket, mentioned me, the customer replied), how
they read, and where a ticket notification leads. Registered with core at startup (TicketsConfig.ready)."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from core.notification_kinds import NotificationKind, register_kind, register_target
from core.notifications import notify
from tickets.models import Ticket

KINDS = (
    NotificationKind(
        key="assigned",
        label=_("Assigned to me"),
        text=_("%(actor)s assigned #%(number)s to you"),
        # When a rule or routing did it, the notification names no one (no "Tsunaguさん"): routing is not a rule.
        automated_text=_("#%(number)s was assigned to you automatically"),
        rule_text=_("Rule “%(rule)s” assigned #%(number)s to you"),
        email_by_default=True,
    ),
    NotificationKind(
        key="mentioned",
        label=_("Mentioned in a note"),
        text=_("%(actor)s mentioned you on #%(number)s"),
        automated_text=_("An automation rule mentioned you on #%(number)s"),
        rule_text=_("Rule “%(rule)s” mentioned you in a note on #%(number)s"),
        email_by_default=True,
    ),
    NotificationKind(
        key="customer_replied",
        label=_("Customer replied on my ticket"),
        text=_("%(contact)s replied on #%(number)s"),
    ),
)


def ticket_path(organization, ticket_id: int) -> str:
    return reverse("org:inbox_ticket", args=[organization.slug, ticket_id])


def register() -> None:
    for kind in KINDS:
        register_kind(kind)
    register_target(Ticket, ticket_path)


def notify_about_ticket(*, organization, user_id: int, kind: str, ticket: Ticket, params: dict) -> None:
    """Notify a member about a ticket (any app's kind): the ticket's number is among the parameters."""
    notify(
        organization=organization, user_id=user_id, kind=kind, target=ticket, params={"number": ticket.number, **params}
    )
