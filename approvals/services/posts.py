"""Writing posts: saving versions from the composer, submitting them to the approval engine, what happens when a
version is approved or returned, rescheduling, comments, crisis templates.

An approval binds to one version: the engine's subject is the `Post` and its `subject_version` the number of the
version submitted (`register_subject(..., version=...)` makes the engine refuse a decision on a stale version).
`Post.approved_version` is what the publisher sends. Any edit of an approved or scheduled post un-approves it and
submits the new version again (timeline, audit). Publishing itself (tasks, the connectors, per-target results) is
`approvals.services.publishing` (P3): this module calls its `post_schedule` / `post_publish_now` after commit.

Lock order: the post row (`select_for_update`), then its targets; the engine locks its request before calling
`on_approved`/`on_rejected`, which then lock the post."""

import logging
import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import audit_record
from accounts.models import Membership, Organization, User
from accounts.roles import Capability, RoleKey
from approvals.models import (
    ApprovalRequest,
    ApprovalStatus,
    CrisisTemplate,
    Post,
    PostComment,
    PostEvent,
    PostEventKind,
    PostStatus,
    PostTarget,
    PostVersion,
    TargetStatus,
)
from approvals.services.engine import (
    SubjectFacts,
    approval_cancel,
    approval_submit,
    author_facts,
    register_subject,
    request_pending_for,
)
from approvals.services.publishing import post_publish_now, post_schedule
from assets.models import AssetVersion
from assets.services import asset_usage_record, asset_versions_for_use
from channels_integrations.connector import PublishLimits
from channels_integrations.models import ChannelConnection, ConnectionStatus
from channels_integrations.permissions import connections_visible_to
from channels_integrations.registry import connector_for, has_connector
from core.errors import DomainError, NotAllowed
from core.notifications import notify

logger = logging.getLogger("tsunagu.approvals.posts")

MAX_TAGS = 20
MAX_TEXT = 20000
# A post scheduled in the past would publish at once, unreviewed by time; a minute of slack covers a slow form.
SCHEDULE_SLACK = timedelta(minutes=1)
# Statuses from which the content can no longer change: it is (being) published.
LOCKED = (PostStatus.PUBLISHING, PostStatus.PUBLISHED)
APPROVED_STATES = (PostStatus.APPROVED, PostStatus.SCHEDULED, PostStatus.FAILED)


# --- who may do what ---------------------------------------------------------------------------------------------


def membership_of(organization: Organization, user: User | None) -> Membership | None:
    if user is None:
        return None
    return Membership.objects.filter(organization=organization, user=user).select_related("role").first()


def may_compose(membership: Membership | None) -> bool:
    return membership is not None and membership.has(Capability.POSTS_CREATE)


def may_review(membership: Membership | None) -> bool:
    return membership is not None and membership.has(Capability.POSTS_APPROVE)


def may_see_posts(membership: Membership | None) -> bool:
    return may_compose(membership) or may_review(membership)


def publishable_connections(membership: Membership) -> list[ChannelConnection]:
    """The connections the member may post to: those they see (channel grants) whose platform can publish and that
    are not disconnected."""
    connections = connections_visible_to(membership).exclude(
        status__in=[ConnectionStatus.DISCONNECTED, ConnectionStatus.PAUSED]
    )
    return [c for c in connections if has_connector(c.platform) and connector_for(c.platform).can_publish]


def posts_visible(membership: Membership) -> QuerySet[Post]:
    """Posts the member may see: with a posts capability, those they wrote, those whose targets include a connection
    they see, and drafts without targets yet."""
    posts = Post.objects.filter(organization_id=membership.organization_id)
    if not may_see_posts(membership):
        return posts.none()
    if membership.has(Capability.TICKETS_VIEW_ALL):
        return posts
    visible = connections_visible_to(membership).values("pk")
    condition = Q(author_id=membership.user_id) | Q(targets__connection__in=visible) | Q(targets__isnull=True)
    return posts.filter(pk__in=Post.objects.filter(condition).values("pk"))


def limits_for(connection: ChannelConnection) -> PublishLimits:
    return connector_for(connection.platform).publish_limits(connection)


# --- checks ------------------------------------------------------------------------------------------------------


def _clean_tags(tags: Iterable[str] | str | None) -> list[str]:
    if isinstance(tags, str):
        tags = re.split(r"[,、\n]", tags)
    clean = list(dict.fromkeys(t.strip().lstrip("#")[:64] for t in tags or () if t and t.strip().lstrip("#")))
    if len(clean) > MAX_TAGS:
        raise DomainError(_("Use at most %(max)d campaign tags.") % {"max": MAX_TAGS}, field="campaign_tags")
    return clean


def post_problems(
    *, connections: list[ChannelConnection], text: str, variants: dict, link: str, versions: list[AssetVersion]
) -> dict[int, list[str]]:
    """Platform rules the post breaks, per connection id (empty lists when it may be submitted). The composer shows
    them live; saving for review refuses a post that has any."""
    files = [(v.filename or "file", v.mime_type or "application/octet-stream", v.size or 0) for v in versions]
    problems: dict[int, list[str]] = {}
    for connection in connections:
        body = variants.get(str(connection.pk)) or text
        problems[connection.pk] = connector_for(connection.platform).check_post(connection, body, files, link=link)
    return problems


def _clean_schedule(scheduled_at: datetime | None, publish_when_approved: bool, now: datetime) -> datetime | None:
    if publish_when_approved:
        return None
    if scheduled_at is None:
        return None
    if timezone.is_naive(scheduled_at):
        raise DomainError(_("Give the time with its time zone."), field="scheduled_at")
    if scheduled_at < now - SCHEDULE_SLACK:
        raise DomainError(_("Choose a time in the future."), field="scheduled_at", code="schedule_in_past")
    return scheduled_at


# --- timeline ----------------------------------------------------------------------------------------------------


def _event(post: Post, kind: str, actor, version: PostVersion | None = None, **data) -> PostEvent:
    return PostEvent.objects.create(
        organization_id=post.organization_id,
        post=post,
        kind=kind,
        actor=actor if getattr(actor, "pk", None) else None,
        version_number=version.number if version is not None else None,
        data=data,
    )


def _audit(organization, actor, action: str, post: Post, **changes) -> None:
    audit_record(organization=organization, actor=actor, action=action, obj=post, changes=changes)


# --- saving ------------------------------------------------------------------------------------------------------


def _lock(post: Post) -> Post:
    return Post.objects.select_for_update(of=("self",)).select_related("current_version").get(pk=post.pk)


def _same_content(version: PostVersion | None, new: dict) -> bool:
    """Whether a save changes nothing but (maybe) the time: then an approval may carry over."""
    if version is None:
        return False
    return (
        version.text == new["text"]
        and version.link == new["link"]
        and (version.variants or {}) == new["variants"]
        and list(version.asset_order) == new["asset_order"]
        and sorted(version.connection_ids) == sorted(new["connection_ids"])
        and list(version.campaign_tags) == new["campaign_tags"]
    )


@transaction.atomic
def post_save(
    *,
    organization: Organization,
    actor: User,
    post: Post | None = None,
    title: str = "",
    text: str = "",
    link: str = "",
    variants: dict | None = None,
    connection_ids: Iterable[int] = (),
    asset_version_ids: Iterable[int] = (),
    scheduled_at: datetime | None = None,
    publish_when_approved: bool = False,
    campaign_tags: Iterable[str] | str = (),
    submit: bool = False,
    imported: bool = False,
    now: datetime | None = None,
) -> Post:
    """Create a post or save a new version of it (every save is a version). `variants`: connection id → that
    channel's own text ("" = the shared text). Media are asset versions, checked usable by the asset library and
    their use recorded against the new version. `submit`: send the version for approval (checked against every
    target's platform rules first; a post without targets or time cannot be submitted).

    Editing an approved or scheduled post takes the approval away and submits the new version again; editing a post
    in review replaces the version under review. A published or publishing post cannot be edited."""
    now = now or timezone.now()
    membership = membership_of(organization, actor)
    if not may_compose(membership):
        raise NotAllowed(_("You may not write posts."))
    if post is not None:
        post = _lock(post)
        if post.status in LOCKED:
            raise DomainError(_("This post is already published; it can no longer be edited."), code="post_locked")
        if post.crisis_template_id:
            raise DomainError(_("A crisis statement cannot be edited after publishing."), code="post_locked")
    text = (text or "").strip()
    if len(text) > MAX_TEXT:
        raise DomainError(_("The text is too long."), field="text")
    title = (title or "").strip()[:200]
    link = (link or "").strip()
    allowed = {c.pk: c for c in publishable_connections(membership)}
    ids = list(dict.fromkeys(int(i) for i in connection_ids))
    existing = {t.connection_id for t in post.targets.all()} if post is not None else set()
    for connection_id in ids:
        if connection_id not in allowed and connection_id not in existing:
            raise DomainError(_("Choose channels you may post to."), field="connections", code="connection_not_allowed")
    connections = [allowed.get(i) or ChannelConnection.objects.get(organization=organization, pk=i) for i in ids]
    clean_variants = {}
    for key, value in (variants or {}).items():
        value = (value or "").strip()
        if value and int(key) in ids:
            clean_variants[str(int(key))] = value
    versions = asset_versions_for_use(organization=organization, actor=actor, version_ids=asset_version_ids)
    tags = _clean_tags(campaign_tags)
    when = _clean_schedule(scheduled_at, publish_when_approved, now)
    if submit:
        _check_submittable(connections, text, clean_variants, link, versions, when, publish_when_approved)
    new = {
        "text": text,
        "link": link,
        "variants": clean_variants,
        "asset_order": [v.pk for v in versions],
        "connection_ids": ids,
        "campaign_tags": tags,
    }
    created = post is None
    if created:
        post = Post.objects.create(organization=organization, author=actor, status=PostStatus.DRAFT)
    previous = post.current_version
    was_approved = post.status in APPROVED_STATES and post.approved_version_id is not None
    number = (previous.number if previous else 0) + 1
    version = PostVersion.objects.create(
        organization=organization,
        post=post,
        number=number,
        text=text,
        link=link,
        variants=clean_variants,
        asset_order=new["asset_order"],
        connection_ids=ids,
        scheduled_at=when,
        publish_when_approved=publish_when_approved,
        campaign_tags=tags,
        created_by=actor,
        created_at=now,
    )
    version.asset_versions.set(versions)
    if versions:
        asset_usage_record(organization=organization, actor=actor, versions=versions, target=version)
    post.title = title
    post.campaign_tags = tags
    post.scheduled_at = when
    post.publish_when_approved = publish_when_approved
    post.current_version = version
    _targets_sync(post, ids)
    time_only = was_approved and _same_content(previous, new)
    if created:
        _event(post, PostEventKind.IMPORTED if imported else PostEventKind.CREATED, actor, version)
        _audit(organization, actor, "post.created", post, version=number)
    elif was_approved and not (time_only and not _time_needs_reapproval(post)):
        _event(post, PostEventKind.EDITED_AFTER_APPROVAL, actor, version, previous=previous.number)
        _audit(organization, actor, "post.edited_after_approval", post, version=number, previous=previous.number)
        _unapprove(post)
        submit = True  # back to review, whatever the editor pressed
    else:
        _event(post, PostEventKind.EDITED, actor, version, previous=previous.number if previous else None)
        _audit(organization, actor, "post.edited", post, version=number)
    post.save()
    if time_only and post.approved_version_id and post.status in APPROVED_STATES:
        # Only the time moved and the workflow does not ask again: the approval carries over to this version.
        post.approved_version = version
        post.save(update_fields=["approved_version"])
        _schedule(organization, post, actor)
        return post
    if post.status == PostStatus.IN_REVIEW and not submit:
        submit = True  # the version under review was replaced: review the new one
    if submit:
        _submit(organization, actor, post, now=now)
    return post


def _check_submittable(connections, text, variants, link, versions, when, publish_when_approved) -> None:
    if not connections:
        raise DomainError(_("Choose at least one channel."), field="connections")
    if when is None and not publish_when_approved:
        raise DomainError(_("Choose when to publish, or publish when approved."), field="scheduled_at")
    problems = post_problems(connections=connections, text=text, variants=variants, link=link, versions=versions)
    for connection in connections:
        if problems[connection.pk]:
            raise DomainError(
                f"{connection.display_name}: {' '.join(problems[connection.pk])}",
                field=f"variant_{connection.pk}",
                code="platform_limits",
            )


def _time_needs_reapproval(post: Post) -> bool:
    """Whether the workflow that approved the post asks for approval again when only its time changes."""
    request = (
        ApprovalRequest.objects.filter(
            organization_id=post.organization_id,
            subject_type__app_label="approvals",
            subject_type__model="post",
            subject_id=post.pk,
            status=ApprovalStatus.APPROVED,
        )
        .select_related("workflow")
        .order_by("-decided_at", "-id")
        .first()
    )
    return bool(request and request.workflow.reapprove_on_time_change)


def _targets_sync(post: Post, connection_ids: list[int]) -> None:
    """One target per chosen connection; a removed connection's target goes unless it was already published."""
    targets = {t.connection_id: t for t in post.targets.select_for_update()}
    for connection_id, target in targets.items():
        if connection_id not in connection_ids:
            if target.status in (TargetStatus.PUBLISHED, TargetStatus.PUBLISHING):
                raise DomainError(
                    _("A channel this post was already published to cannot be removed."), field="connections"
                )
            target.delete()
    PostTarget.objects.bulk_create(
        [
            PostTarget(organization_id=post.organization_id, post=post, connection_id=i)
            for i in connection_ids
            if i not in targets
        ]
    )


def _unapprove(post: Post) -> None:
    post.approved_version = None
    post.status = PostStatus.DRAFT
    PostTarget.objects.filter(post=post, status__in=[TargetStatus.SCHEDULED, TargetStatus.FAILED]).update(
        status=TargetStatus.PENDING, error=""
    )


def post_facts(post: Post, version: PostVersion) -> SubjectFacts:
    """What workflow conditions look at for this version: every text it sends, the platforms and connections, the
    campaign tags, the author (a post is public)."""
    connections = list(ChannelConnection.objects.filter(pk__in=version.connection_ids).only("pk", "platform"))
    texts = [version.text, version.link, *(version.variants or {}).values()]
    return SubjectFacts(
        kind="post",
        text="\n".join(t for t in texts if t),
        platforms=tuple(sorted({c.platform for c in connections})),
        connection_ids=tuple(sorted(c.pk for c in connections)),
        public=True,
        campaign_tags=tuple(version.campaign_tags),
        **author_facts(post.organization, post.author),
    )


def _submit(organization: Organization, actor, post: Post, *, now: datetime) -> ApprovalRequest | None:
    version = post.current_version
    request = approval_submit(
        organization=organization,
        actor=actor,
        subject=post,
        subject_version=version.number,
        facts=post_facts(post, version),
        now=now,
    )
    _event(post, PostEventKind.SUBMITTED, actor, version, workflow=request.workflow.name if request else "")
    _audit(organization, actor, "post.submitted", post, version=version.number)
    if request is None:  # no workflow applies: the organization publishes this kind of post unreviewed
        _approved(organization, post, version, actor=actor, reason=_("No approval needed"))
        return None
    post.status = PostStatus.IN_REVIEW
    post.save(update_fields=["status", "updated_at"])
    return request


@transaction.atomic
def post_submit(*, organization: Organization, actor: User, post: Post) -> Post:
    """Send the post's current version for approval (it must meet every target's platform rules)."""
    post = _lock(post)
    version = post.current_version
    if version is None:
        raise DomainError(_("Write the post first."))
    if post.status not in (PostStatus.DRAFT, PostStatus.CHANGES_REQUESTED):
        raise DomainError(_("This post is not a draft."), code="not_a_draft")
    if not may_compose(membership_of(organization, actor)):
        raise NotAllowed(_("You may not submit posts."))
    if post.scheduled_at is not None and post.scheduled_at < timezone.now() - SCHEDULE_SLACK:
        raise DomainError(_("Choose a time in the future."), field="scheduled_at", code="schedule_in_past")
    connections = list(ChannelConnection.objects.filter(organization=organization, pk__in=version.connection_ids))
    versions = asset_versions_for_use(organization=organization, actor=actor, version_ids=version.asset_order)
    _check_submittable(
        connections,
        version.text,
        version.variants or {},
        version.link,
        versions,
        post.scheduled_at,
        post.publish_when_approved,
    )
    _submit(organization, actor, post, now=timezone.now())
    return post


@transaction.atomic
def post_withdraw(*, organization: Organization, actor: User, post: Post) -> Post:
    """The author takes a post out of review (back to draft)."""
    post = _lock(post)
    if post.status != PostStatus.IN_REVIEW:
        raise DomainError(_("This post is not in review."))
    request = request_pending_for(organization=organization, subject=post)
    if request is not None:
        approval_cancel(organization=organization, actor=actor, request=request, reason=_("Withdrawn by the author."))
    post.status = PostStatus.DRAFT
    post.save(update_fields=["status", "updated_at"])
    _event(post, PostEventKind.EDITED, actor, post.current_version, withdrawn=True)
    return post


# --- the engine's outcome ----------------------------------------------------------------------------------------


def _approved(organization, post: Post, version: PostVersion, *, actor, reason: str = "") -> None:
    post.approved_version = version
    post.status = PostStatus.APPROVED
    post.save(update_fields=["approved_version", "status", "updated_at"])
    _event(post, PostEventKind.APPROVED, actor, version, reason=reason)
    _audit(organization, actor, "post.approved", post, version=version.number)
    _schedule(organization, post, actor)


def _schedule(organization, post: Post, actor) -> None:
    """An approved version with a time (or publish-when-approved) becomes scheduled; the publisher takes over after
    commit. Without a time it stays approved until someone gives one."""
    if post.publish_when_approved and post.scheduled_at is None:
        post.scheduled_at = timezone.now()
    if post.scheduled_at is None:
        return
    post.status = PostStatus.SCHEDULED
    post.save(update_fields=["status", "scheduled_at", "updated_at"])
    PostTarget.objects.filter(post=post).exclude(status=TargetStatus.PUBLISHED).update(
        status=TargetStatus.SCHEDULED, version=post.approved_version, error=""
    )
    _event(post, PostEventKind.SCHEDULED, actor, post.approved_version, at=post.scheduled_at.isoformat())
    transaction.on_commit(lambda: _hand_to_publisher(organization, post.pk))


def _hand_to_publisher(organization, post_id: int) -> None:
    post = Post.objects.filter(organization=organization, pk=post_id).first()
    if post is not None:
        post_schedule(organization=organization, post=post)


def _on_approved(*, organization, request: ApprovalRequest, subject: Post, actor) -> None:
    post = _lock(subject)
    version = post.current_version
    if version is None or version.number != request.subject_version:
        logger.info("post %s: approval of v%s came after a newer version", post.pk, request.subject_version)
        return
    _approved(organization, post, version, actor=actor)


def _on_rejected(*, organization, request: ApprovalRequest, subject: Post, actor, comment: str = "") -> None:
    post = _lock(subject)
    if post.current_version_id is None or post.current_version.number != request.subject_version:
        return
    post.status = PostStatus.CHANGES_REQUESTED
    post.save(update_fields=["status", "updated_at"])
    _event(post, PostEventKind.REJECTED, actor, post.current_version, comment=comment)
    _audit(organization, actor, "post.rejected", post, version=request.subject_version, comment=comment)


def _describe(post: Post) -> str:
    version = post.current_version
    text = (version.text if version else "").replace("\n", " ")
    return (post.title or text[:80] or _("Post #%(id)s") % {"id": post.pk})[:200]


def _path(post: Post) -> str:
    return reverse("org:post_detail", args=[post.organization.slug, post.pk])


def register() -> None:
    """ApprovalsConfig.ready: posts are subjects of the approval engine."""
    register_subject(
        Post,
        on_approved=_on_approved,
        on_rejected=_on_rejected,
        describe=_describe,
        path=_path,
        version=lambda post: post.current_version.number if post.current_version_id else 0,
    )


# --- calendar ----------------------------------------------------------------------------------------------------


@transaction.atomic
def post_reschedule(*, organization: Organization, actor: User, post: Post, scheduled_at: datetime) -> Post:
    """Move a post to another time (the calendar's drag and drop): a new version with the same content. An approved
    post stays approved unless its workflow asks for approval again on a time change."""
    post = _lock(post)
    version = post.current_version
    if version is None:
        raise DomainError(_("Write the post first."))
    if post.status in LOCKED:
        raise DomainError(_("This post is already published; it cannot be moved."), code="post_locked")
    previous_time = post.scheduled_at
    post = post_save(
        organization=organization,
        actor=actor,
        post=post,
        title=post.title,
        text=version.text,
        link=version.link,
        variants=version.variants,
        connection_ids=version.connection_ids,
        asset_version_ids=version.asset_order,
        scheduled_at=scheduled_at,
        publish_when_approved=False,
        campaign_tags=post.campaign_tags,
        submit=False,
    )
    _event(
        post,
        PostEventKind.RESCHEDULED,
        actor,
        post.current_version,
        previous=previous_time.isoformat() if previous_time else None,
        at=scheduled_at.isoformat(),
    )
    _audit(organization, actor, "post.rescheduled", post, at=scheduled_at.isoformat())
    return post


# --- comments ----------------------------------------------------------------------------------------------------


def mentionable_members(organization: Organization) -> list[Membership]:
    """Who a comment may mention: members who may see posts (writers and reviewers)."""
    return [
        m
        for m in Membership.objects.filter(organization=organization, user__is_active=True).select_related(
            "role", "user"
        )
        if may_see_posts(m)
    ]


@transaction.atomic
def post_comment_add(
    *,
    organization: Organization,
    actor: User,
    post: Post,
    body: str,
    parent: PostComment | None = None,
    mention_ids: Iterable[int] = (),
) -> PostComment:
    """A comment on the post (a reply when `parent` is given). Members mentioned by id, or as @local-part of their
    address, are notified; the author hears about comments on their post."""
    body = (body or "").strip()
    if not body:
        raise DomainError(_("Write something first."), field="body")
    if len(body) > 5000:
        raise DomainError(_("The comment is too long."), field="body")
    if parent is not None and parent.post_id != post.pk:
        raise DomainError(_("Reply to a comment on this post."), field="parent")
    members = {m.user_id: m for m in mentionable_members(organization)}
    wanted = {int(i) for i in mention_ids}
    unknown = wanted - set(members)
    if unknown:
        raise DomainError(_("Only colleagues who work on posts can be mentioned."), field="mentions")
    named = {w.casefold() for w in re.findall(r"@([\w.+-]+(?:@[\w.-]+)?)", body)}
    for user_id, membership in members.items():
        email = membership.user.email.casefold()
        if email in named or email.split("@")[0] in named:
            wanted.add(user_id)
    comment = PostComment.objects.create(
        organization=organization,
        post=post,
        parent=parent,
        author=actor,
        body=body,
        version_number=post.current_version.number if post.current_version_id else None,
    )
    _event(post, PostEventKind.COMMENTED, actor, None, comment=comment.pk)
    params = {"actor": actor.name or actor.email, "subject": _describe(post), "comment": body[:200]}
    for user_id in sorted(wanted - {actor.pk}):
        notify(organization=organization, user_id=user_id, kind="post_mentioned", target=post, params=params)
    if post.author_id and post.author_id != actor.pk and post.author_id not in wanted:
        notify(organization=organization, user_id=post.author_id, kind="post_commented", target=post, params=params)
    return comment


# --- crisis templates --------------------------------------------------------------------------------------------


def may_use_crisis(membership: Membership | None, template: CrisisTemplate) -> bool:
    if membership is None:
        return False
    if membership.role.key in (RoleKey.OWNER, RoleKey.ADMIN):
        return True
    return membership.role.key in (template.allowed_roles or [])


@transaction.atomic
def crisis_template_save(
    *,
    organization: Organization,
    actor: User,
    template: CrisisTemplate | None = None,
    name: str,
    text: str,
    connection_ids: Iterable[int],
    allowed_roles: Iterable[str] = (),
    active: bool = True,
) -> CrisisTemplate:
    """Create or change a holding statement. A change takes its approval away: someone who may approve posts approves
    it again (`crisis_template_approve`), so nothing unreviewed goes out in a hurry."""
    membership = membership_of(organization, actor)
    if not (may_compose(membership) or may_review(membership)):
        raise NotAllowed(_("You may not manage crisis statements."))
    name, text = (name or "").strip(), (text or "").strip()
    if not name:
        raise DomainError(_("Give the statement a name."), field="name")
    if not text:
        raise DomainError(_("Write the statement."), field="text")
    allowed = {c.pk: c for c in publishable_connections(membership)}
    ids = [int(i) for i in connection_ids]
    if not ids or any(i not in allowed for i in ids):
        raise DomainError(_("Choose channels you may post to."), field="connections")
    roles = [r for r in allowed_roles if r in RoleKey.values]
    for connection_id in ids:
        problems = connector_for(allowed[connection_id].platform).check_post(allowed[connection_id], text, [])
        if problems:
            raise DomainError(f"{allowed[connection_id].display_name}: {' '.join(problems)}", field="text")
    if template is None:
        template = CrisisTemplate(organization=organization, created_by=actor)
    template.name, template.text, template.allowed_roles, template.active = name, text, roles, active
    template.approved_by, template.approved_at = None, None
    template.save()
    template.connections.set(ids)
    _audit_template(organization, actor, "crisis_template.saved", template)
    return template


def _audit_template(organization, actor, action, template, **changes) -> None:
    audit_record(organization=organization, actor=actor, action=action, obj=template, changes=changes)


@transaction.atomic
def crisis_template_approve(*, organization: Organization, actor: User, template: CrisisTemplate) -> CrisisTemplate:
    """Pre-approve a holding statement (a member who may approve posts, not its last editor: separation of duties)."""
    if not may_review(membership_of(organization, actor)):
        raise NotAllowed(_("You may not approve crisis statements."))
    if template.created_by_id == actor.pk:
        raise NotAllowed(_("You cannot approve your own statement."), code="separation_of_duties")
    template.approved_by, template.approved_at = actor, timezone.now()
    template.save(update_fields=["approved_by", "approved_at", "updated_at"])
    _audit_template(organization, actor, "crisis_template.approved", template)
    return template


@transaction.atomic
def crisis_template_publish(*, organization: Organization, actor: User, template: CrisisTemplate) -> Post:
    """Publish a pre-approved statement now to its channels: a post approved by the template's approval, no workflow,
    handed to the publisher at once. Audited."""
    template = CrisisTemplate.objects.select_for_update().get(pk=template.pk, organization=organization)
    membership = membership_of(organization, actor)
    if not may_use_crisis(membership, template):
        raise NotAllowed(_("Your role may not publish this statement."))
    if not template.active or template.approved_at is None:
        raise DomainError(_("This statement is not approved; it cannot be published."), code="crisis_not_approved")
    ids = list(template.connections.values_list("pk", flat=True))
    now = timezone.now()
    post = Post.objects.create(
        organization=organization,
        author=actor,
        title=template.name,
        status=PostStatus.APPROVED,
        scheduled_at=now,
        publish_when_approved=True,
        crisis_template=template,
    )
    version = PostVersion.objects.create(
        organization=organization,
        post=post,
        number=1,
        text=template.text,
        connection_ids=ids,
        created_by=actor,
        scheduled_at=now,
        publish_when_approved=True,
    )
    post.current_version = post.approved_version = version
    post.status = PostStatus.SCHEDULED
    post.save()
    PostTarget.objects.bulk_create(
        [
            PostTarget(
                organization=organization, post=post, connection_id=i, status=TargetStatus.SCHEDULED, version=version
            )
            for i in ids
        ]
    )
    _event(post, PostEventKind.CRISIS, actor, version, template=template.name, approved_by=template.approved_by_id)
    _audit(organization, actor, "post.crisis_published", post, template=template.name, connections=ids)

    def publish_now():
        post_publish_now(organization=organization, post=post)

    transaction.on_commit(publish_now)
    return post
