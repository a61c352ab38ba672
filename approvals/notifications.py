"""The notifications of approvals (a request waits for me, a reminder, an escalation, my content was approved or
returned) and where they lead: the request's page, where the approver decides. Registered in ApprovalsConfig.ready."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from approvals.models import ApprovalRequest
from core.notification_kinds import NotificationKind, register_kind, register_target

KINDS = (
    NotificationKind(
        key="approval_requested",
        label=_("Content waits for my approval"),
        text=_("Please review: %(subject)s (%(step)s)"),
        email_by_default=True,
    ),
    NotificationKind(
        key="approval_reminder",
        label=_("Reminder of an approval I have not given"),
        text=_("Still waiting for your approval: %(subject)s"),
    ),
    NotificationKind(
        key="approval_escalated",
        label=_("An approval is late and escalated to me"),
        text=_("Approval is late and was escalated to you: %(subject)s (%(step)s)"),
        email_by_default=True,
    ),
    NotificationKind(
        key="approval_approved",
        label=_("My content was approved"),
        text=_("%(actor)s approved: %(subject)s"),
    ),
    NotificationKind(
        key="approval_returned",
        label=_("My content was returned for changes"),
        text=_("%(actor)s returned it for changes: %(subject)s — “%(comment)s”"),
        email_by_default=True,
    ),
)


def request_path(organization, request_id: int) -> str:
    return reverse("org:approval_request", args=[organization.slug, request_id])


def register() -> None:
    for kind in KINDS:
        register_kind(kind)
    register_target(ApprovalRequest, request_path)
