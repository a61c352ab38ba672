"""The notifications of posts (mentioned in a comment, a comment on my post) and where they lead: the post's page.
Registered in ApprovalsConfig.ready; publishing failures are the publisher's (approvals.services.publishing)."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from approvals.models import Post
from core.notification_kinds import NotificationKind, register_kind, register_target

KINDS = (
    NotificationKind(
        key="post_mentioned",
        label=_("Mentioned in a comment on a post"),
        text=_("%(actor)s mentioned you on the post “%(subject)s”: %(comment)s"),
        email_by_default=True,
    ),
    NotificationKind(
        key="post_commented",
        label=_("A comment on my post"),
        text=_("%(actor)s commented on your post “%(subject)s”: %(comment)s"),
    ),
)


def post_path(organization, post_id: int) -> str:
    return reverse("org:post_detail", args=[organization.slug, post_id])


def register() -> None:
    for kind in KINDS:
        register_kind(kind)
    register_target(Post, post_path)
