"""Outgoing posts: what the composer writes, the approval engine reviews and the publisher sends.

A `Post` is the editable thing; every save adds an immutable `PostVersion` (text, per-connection variants, media,
time, targets), and an approval binds to one version (`Post.approved_version`): publishing sends exactly that
version. A `PostTarget` is one connection the post goes to; it is the gateway's outbound intent for that connection
(`channels_integrations.outbound.deliver_once`: `status` scheduled/publishing/published/failed play queued/sending/
sent/failed; `claimed_at`, `attempts` and `local_ref` are what the helper needs). `PostComment`s are the reviewers'
and author's thread; `PostEvent`s the post's timeline. `CrisisTemplate`s are pre-approved holding statements.
"""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_scopes import ScopedManager


def scoped():
    return ScopedManager(organization="organization")


class PostStatus(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("post status", "Draft")
    IN_REVIEW = "in_review", pgettext_lazy("post status", "In review")
    CHANGES_REQUESTED = "changes_requested", pgettext_lazy("post status", "Changes requested")
    APPROVED = "approved", pgettext_lazy("post status", "Approved")
    SCHEDULED = "scheduled", pgettext_lazy("post status", "Scheduled")
    PUBLISHING = "publishing", pgettext_lazy("post status", "Publishing")
    PUBLISHED = "published", pgettext_lazy("post status", "Published")
    FAILED = "failed", pgettext_lazy("post status", "Failed")


# Statuses in which the content may still change without touching an approval.
EDITABLE_STATUSES = (PostStatus.DRAFT, PostStatus.CHANGES_REQUESTED, PostStatus.IN_REVIEW)


class Post(models.Model):
    """An outgoing post to one or more channel connections. `current_version` is the latest save; `approved_version`
    the version an approval (or a crisis template) cleared — only that one is published. `scheduled_at` (UTC) is when
    it goes out; with `publish_when_approved` it goes out as soon as it is approved."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    title = models.CharField(_("title"), max_length=200, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("author")
    )
    campaign_tags = ArrayField(
        models.CharField(max_length=64), default=list, blank=True, verbose_name=_("campaign tags")
    )
    status = models.CharField(
        _("status"), max_length=20, choices=PostStatus.choices, default=PostStatus.DRAFT, db_default=PostStatus.DRAFT
    )
    publish_when_approved = models.BooleanField(_("publish when approved"), default=False, db_default=False)
    scheduled_at = models.DateTimeField(_("publish at"), null=True, blank=True)
    current_version = models.ForeignKey(
        "PostVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_version = models.ForeignKey(
        "PostVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    crisis_template = models.ForeignKey(
        "CrisisTemplate", null=True, blank=True, on_delete=models.SET_NULL, related_name="posts"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = scoped()

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "scheduled_at"], name="approvals_post_org_scheduled"),
            models.Index(fields=["organization", "status"], name="approvals_post_org_status"),
        ]

    def __str__(self) -> str:
        return self.title or (self.current_version.text[:60] if self.current_version_id else f"#{self.pk}")


class PostVersion(models.Model):
    """One immutable save of a post: what reviewers approve and the publisher sends. `variants` maps a connection id
    (as a string) to that connection's own text; a connection without a variant gets `text`. `connection_ids`,
    `scheduled_at`, `publish_when_approved` and `campaign_tags` are the post's settings at this save (diffs,
    re-approval on a time change)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    text = models.TextField(blank=True)
    link = models.URLField(max_length=2000, blank=True)
    variants = models.JSONField(default=dict, blank=True)
    asset_versions = models.ManyToManyField("assets.AssetVersion", blank=True, related_name="+")
    # The order media were picked in (the M2M has none): asset version ids.
    asset_order = ArrayField(models.BigIntegerField(), default=list, blank=True)
    connection_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    publish_when_approved = models.BooleanField(default=False, db_default=False)
    campaign_tags = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    objects = scoped()

    class Meta:
        ordering = ["post", "number"]
        constraints = [
            models.UniqueConstraint(fields=["post", "number"], name="approvals_postversion_post_number_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.post_id} v{self.number}"

    def text_for(self, connection_id: int) -> str:
        """The text this version sends to one connection (its variant, else the shared text)."""
        variant = (self.variants or {}).get(str(connection_id))
        return variant if variant not in (None, "") else self.text


class TargetStatus(models.TextChoices):
    PENDING = "pending", pgettext_lazy("post target status", "Waiting for approval")
    SCHEDULED = "scheduled", pgettext_lazy("post target status", "Scheduled")
    PUBLISHING = "publishing", pgettext_lazy("post target status", "Publishing")
    PUBLISHED = "published", pgettext_lazy("post target status", "Published")
    FAILED = "failed", pgettext_lazy("post target status", "Failed")


class PostTarget(models.Model):
    """One connection a post is published to, and the outbound intent for it (see the module docstring).
    `local_ref` is the idempotency key sent to / looked up on the platform; it never changes once set."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="targets")
    connection = models.ForeignKey(
        "channels_integrations.ChannelConnection", on_delete=models.CASCADE, related_name="+"
    )
    status = models.CharField(
        max_length=12, choices=TargetStatus.choices, default=TargetStatus.PENDING, db_default=TargetStatus.PENDING
    )
    version = models.ForeignKey(PostVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    platform_post_id = models.CharField(max_length=255, blank=True)
    permalink = models.URLField(max_length=2000, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, db_default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)  # a worker started publishing (crash detection)
    # After a transient failure: not before this time (the retry policy's backoff; the minute sweep respects it).
    retry_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    local_ref = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    objects = scoped()

    class Meta:
        ordering = ["post", "id"]
        constraints = [
            models.UniqueConstraint(fields=["post", "connection"], name="approvals_posttarget_post_connection"),
        ]
        indexes = [
            models.Index(
                fields=["status"],
                condition=Q(status__in=["scheduled", "publishing"]),
                name="approvals_posttarget_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.post_id} → {self.connection_id}"


class PostComment(models.Model):
    """A comment on a post, threaded by `parent`, seen by the author and the reviewers; @mentions notify."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="comments")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField(_("comment"))
    version_number = models.PositiveIntegerField(null=True, blank=True)  # the version it was written about
    created_at = models.DateTimeField(default=timezone.now)

    objects = scoped()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.body[:60]


class PostEventKind(models.TextChoices):
    CREATED = "created", pgettext_lazy("post timeline", "Created")
    EDITED = "edited", pgettext_lazy("post timeline", "Edited")
    EDITED_AFTER_APPROVAL = "edited_after_approval", pgettext_lazy("post timeline", "Edited after approval")
    SUBMITTED = "submitted", pgettext_lazy("post timeline", "Submitted for approval")
    APPROVED = "approved", pgettext_lazy("post timeline", "Approved")
    REJECTED = "rejected", pgettext_lazy("post timeline", "Changes requested")
    SCHEDULED = "scheduled", pgettext_lazy("post timeline", "Scheduled")
    RESCHEDULED = "rescheduled", pgettext_lazy("post timeline", "Rescheduled")
    PUBLISHED = "published", pgettext_lazy("post timeline", "Published")
    FAILED = "failed", pgettext_lazy("post timeline", "Publishing failed")
    COMMENTED = "commented", pgettext_lazy("post timeline", "Commented")
    CRISIS = "crisis", pgettext_lazy("post timeline", "Published from a crisis template")
    IMPORTED = "imported", pgettext_lazy("post timeline", "Imported from a CSV file")


class PostEvent(models.Model):
    """One entry of a post's timeline (submit, decisions, edits, publish results). The audit log has them too."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=24, choices=PostEventKind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    version_number = models.PositiveIntegerField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = scoped()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.post_id} {self.kind}"


class CrisisTemplate(models.Model):
    """A pre-approved holding statement: members allowed to (`allowed_roles`, role keys; owners/admins always) publish
    it at once to `connections`, without a workflow; each use is audited. Approving it (`approved_by`) is done by a
    member who may approve posts; an unapproved template cannot be used."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=120)
    text = models.TextField(_("statement"))
    connections = models.ManyToManyField(
        "channels_integrations.ChannelConnection", blank=True, related_name="+", verbose_name=_("channels")
    )
    allowed_roles = ArrayField(
        models.CharField(max_length=32), default=list, blank=True, verbose_name=_("roles that may publish it")
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(_("active"), default=True, db_default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = scoped()

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name
