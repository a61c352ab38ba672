"""Publishing approved posts: each `PostTarget` is an outbound intent for the gateway's exactly-once helper
(`channels_integrations.outbound.deliver_once`), exactly like a reply (`tickets.services.delivery`):

    scheduled ──claim──▶ publishing ──platform id──▶ published
        ▲                    │   └──refusal / retries spent──▶ failed (the author is notified)
        └──transient error───┘       (retried on core.retry's schedule: `retry_at`)

The intent is recorded (`publishing`, `claimed_at`, one more attempt) and committed before the platform is called;
the platform's id after. A target found `publishing` whose claim is stale (the worker died, maybe after the platform
accepted the post) is reconciled before anything else: `find_published` looks it up on the platform (its text since
the claim, LINE's retry key); found → recorded as published without a second call; not found → published.

When: `post_schedule` queues one task per target at the post's time (Celery `eta`, for times within
`ETA_HORIZON`), and a beat sweep every minute (`posts_publish_due`) queues whatever is due and not running, so times
survive worker restarts, lost etas and far-off dates; a task arriving early or for a version no longer approved does
nothing. All times are UTC (`Post.scheduled_at`); the organization's zone is for display only.

Each result is stored on the target (platform id, URL, error), on the post's timeline and in the audit log, and
pushed live (`post.target_updated`) to the members who see that channel and to the author."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.audit import audit_record
from accounts.models import Organization
from approvals import media_links
from approvals.models import Post, PostEvent, PostEventKind, PostStatus, PostTarget, TargetStatus
from channels_integrations.connector import OutboundFile, PostContent, PublishResult
from channels_integrations.outbound import CLAIM_TIMEOUT, Claimed, OutboundIntent, Outcome, deliver_once
from core import realtime
from core.notification_kinds import NotificationKind, register_kind
from core.notifications import notify

logger = logging.getLogger("tsunagu.approvals.publishing")

# Celery with Redis redelivers a task whose eta is further than the broker's visibility timeout (an hour by default):
# farther times are left to the minute sweep instead of being queued.
ETA_HORIZON = timedelta(minutes=50)
# A platform's clock and ours differ a little; a post created just before the claim still counts as this one.
RECONCILE_SLACK = timedelta(minutes=2)
TARGET_UPDATED = "post.target_updated"

PUBLISH_FAILED = NotificationKind(
    key="post_publish_failed",
    label=_("A post of mine failed to publish"),
    text=_("“%(subject)s” could not be published on %(channel)s: %(error)s"),
    email_by_default=True,
)

# The helper's states for a target's status ("pending": not approved, never published from here).
_STATE = {
    TargetStatus.SCHEDULED: "queued",
    TargetStatus.PUBLISHING: "sending",
    TargetStatus.PUBLISHED: "sent",
    TargetStatus.FAILED: "failed",
    TargetStatus.PENDING: "pending",
}


def register() -> None:
    """Called in ApprovalsConfig.ready."""
    register_kind(PUBLISH_FAILED)


# --- the intent ---------------------------------------------------------------------------------------------------


class PostTargetIntent(OutboundIntent):
    """One post target as the gateway's exactly-once helper handles it."""

    reconciles = True

    def __init__(self, organization: Organization, target_id: int, *, now: datetime | None = None):
        self.organization = organization
        self.target_id = target_id
        self.now = now
        self.target: PostTarget | None = None
        self.prepared: PostContent | None = None

    def _locked(self) -> PostTarget:
        return (
            PostTarget.objects.select_for_update(of=("self",))
            .select_related("connection", "post", "version")
            .get(pk=self.target_id)
        )

    def claim(self) -> Claimed:
        self.target = target = self._locked()
        state = _STATE.get(target.status, target.status)
        if state == "queued":
            now = self.now or timezone.now()
            post = target.post
            if post.scheduled_at is None or post.scheduled_at > now:
                state = "not_due"  # an early eta, or the post was moved later: the next task or sweep takes it
            elif target.retry_at is not None and target.retry_at > now:
                state = "waiting"  # a transient failure's backoff is not over
            elif target.version_id is None or target.version_id != post.approved_version_id:
                state = "not_approved"  # edited since: the approval no longer covers what would be sent
        return Claimed(
            state=state,
            claimed_at=target.claimed_at,
            attempts=target.attempts,
            connection=target.connection,
            record=target,
        )

    def mark_sending(self, now: datetime) -> None:
        target = self.target
        target.status = TargetStatus.PUBLISHING
        target.claimed_at = now
        target.attempts += 1
        target.retry_at = None
        target.save(update_fields=["status", "claimed_at", "attempts", "retry_at"])
        post = target.post
        if post.status in (PostStatus.SCHEDULED, PostStatus.APPROVED, PostStatus.FAILED):
            post.status = PostStatus.PUBLISHING
            post.save(update_fields=["status", "updated_at"])
        _push(self.organization, target)

    def prepare(self) -> PostContent:
        self.prepared = content_for(self.target)
        return self.prepared

    def call(self, connector, connection, prepared: PostContent) -> PublishResult:
        return connector.publish(connection, prepared)

    def reconcile(self, connector, connection, claimed: Claimed) -> PublishResult | None:
        since = (claimed.claimed_at or self.target.created_at) - RECONCILE_SLACK
        return connector.find_published(connection, str(self.target.local_ref), since, post=self.prepared)

    def sent(self, result: PublishResult) -> None:
        target = self._locked()
        target.status = TargetStatus.PUBLISHED
        target.platform_post_id = (result.platform_post_id or "")[:255]
        target.permalink = (result.url or "")[:2000]
        target.published_at = timezone.now()
        target.error = ""
        target.save(update_fields=["status", "platform_post_id", "permalink", "published_at", "error"])
        post = _rollup(target.post_id)
        _record(
            self.organization,
            post,
            target,
            PostEventKind.PUBLISHED,
            "post.published",
            platform_post_id=target.platform_post_id,
            url=target.permalink,
        )
        _push(self.organization, target, post)

    def failed(self, error: str) -> None:
        target = self._locked()
        target.status = TargetStatus.FAILED
        target.error = error[:2000]
        target.retry_at = None
        target.save(update_fields=["status", "error", "retry_at"])
        post = _rollup(target.post_id)
        _record(self.organization, post, target, PostEventKind.FAILED, "post.publish_failed", error=target.error)
        if post.author_id:
            notify(
                organization=self.organization,
                user_id=post.author_id,
                kind=PUBLISH_FAILED.key,
                target=post,
                params={"subject": _subject(post), "channel": target.connection.display_name, "error": error[:120]},
            )
        _push(self.organization, target, post)

    def requeue(self, retry_in: int) -> None:
        # Until the retry is due the sweep leaves it alone.
        PostTarget.objects.filter(pk=self.target_id, status=TargetStatus.PUBLISHING).update(
            status=TargetStatus.SCHEDULED, claimed_at=None, retry_at=timezone.now() + timedelta(seconds=retry_in)
        )

    def release(self) -> None:
        # Still `publishing` (the platform may have it) but unclaimed: the next attempt reconciles again at once.
        PostTarget.objects.filter(pk=self.target_id, status=TargetStatus.PUBLISHING).update(claimed_at=None)


def content_for(target: PostTarget) -> PostContent:
    """What the target's approved version sends to its connection: its text (or the connection's variant), link,
    and media in the order picked (bytes for platforms that take uploads, public expiring links for those that
    fetch)."""
    version = target.version
    platform = target.connection.platform
    by_id = {v.pk: v for v in version.asset_versions.all()}
    order = [i for i in (version.asset_order or []) if i in by_id] + sorted(set(by_id) - set(version.asset_order or []))
    media, urls = [], []
    for asset_version in (by_id[i] for i in order):
        if not asset_version.file:
            continue
        with asset_version.file.open("rb") as handle:
            content = handle.read()
        media.append(OutboundFile(asset_version.filename, asset_version.mime_type, content))
        urls.append(media_links.media_url(asset_version, platform=platform))
    return PostContent(
        text=version.text_for(target.connection_id),
        link=version.link,
        media=tuple(media),
        local_ref=str(target.local_ref),
        media_urls=tuple(urls),
    )


def _subject(post: Post) -> str:
    return str(post)[:80]


def _rollup(post_id: int) -> Post:
    """The post's status from its targets: published when all are, failed when one failed and none is still on its
    way, publishing while any is."""
    post = Post.objects.select_for_update(of=("self",)).get(pk=post_id)
    statuses = set(PostTarget.objects.filter(post_id=post_id).values_list("status", flat=True))
    if statuses and statuses <= {TargetStatus.PUBLISHED}:
        status = PostStatus.PUBLISHED
    elif statuses & {TargetStatus.SCHEDULED, TargetStatus.PUBLISHING}:
        status = PostStatus.PUBLISHING
    elif TargetStatus.FAILED in statuses:
        status = PostStatus.FAILED
    else:
        status = post.status
    if status != post.status:
        post.status = status
        post.save(update_fields=["status", "updated_at"])
    return post


def _record(organization, post: Post, target: PostTarget, kind: str, action: str, **data) -> None:
    data = {"connection": target.connection.display_name, "platform": target.connection.platform, **data}
    PostEvent.objects.create(
        organization=organization,
        post=post,
        kind=kind,
        actor=None,
        version_number=target.version.number if target.version_id else None,
        data=data,
    )
    audit_record(organization=organization, actor=None, action=action, obj=post, changes=data)


def _push(organization, target: PostTarget, post: Post | None = None) -> None:
    """The target's state, live, to the members who see its channel and to the post's author."""
    post = post or target.post
    groups = [realtime.queue_group(organization.pk, target.connection_id)]
    if post.author_id:
        groups.append(realtime.user_group(organization.pk, post.author_id))
    realtime.publish(
        organization=organization,
        type=TARGET_UPDATED,
        payload={
            "post_id": post.pk,
            "post_status": post.status,
            "target_id": target.pk,
            "connection_id": target.connection_id,
            "status": target.status,
            "platform_post_id": target.platform_post_id,
            "permalink": target.permalink,
            "error": target.error,
            "published_at": target.published_at.isoformat() if target.published_at else None,
        },
        groups=groups,
    )


# --- services -----------------------------------------------------------------------------------------------------


def post_target_publish(*, organization: Organization, target_id: int, now: datetime | None = None) -> Outcome:
    """Publish one due target through its channel, exactly once (the publish task calls this). A transient failure
    leaves it scheduled with `retry_at` on the retry policy's schedule; the returned outcome's `retry_in` says when
    to queue it again."""
    outcome = deliver_once(organization=organization, intent=PostTargetIntent(organization, target_id, now=now))
    if outcome.retry_in is not None:
        # Same wait for the sweep as for the re-queued task: whichever comes first finds it due. `requeue` set it
        # already for a transient failure; a target kept `publishing` (the platform could not say whether it has the
        # post) or found busy waits too.
        PostTarget.objects.filter(pk=target_id, status__in=[TargetStatus.SCHEDULED, TargetStatus.PUBLISHING]).update(
            retry_at=timezone.now() + timedelta(seconds=outcome.retry_in)
        )
    return outcome


@dataclass(frozen=True)
class Queued:
    target_id: int
    eta: datetime | None  # None: at once


def post_schedule(*, organization: Organization, post: Post, now: datetime | None = None) -> list[Queued]:
    """Queue the post's scheduled targets for its time: at once when due, with a Celery eta within ETA_HORIZON,
    else left to the minute sweep (times survive restarts either way). Called by the posts service after the post
    became scheduled (after commit); safe to call again (a target publishes once)."""
    from approvals.tasks import publish_target  # tasks import this module: the task is looked up at call time

    now = now or timezone.now()
    post = Post.objects.get(pk=post.pk, organization=organization)
    if post.scheduled_at is None or post.approved_version_id is None:
        return []
    ids = list(
        PostTarget.objects.filter(post=post, status=TargetStatus.SCHEDULED).order_by("pk").values_list("pk", flat=True)
    )
    queued = []
    for target_id in ids:
        if post.scheduled_at <= now:
            queued.append(Queued(target_id, None))
        elif post.scheduled_at - now <= ETA_HORIZON:
            queued.append(Queued(target_id, post.scheduled_at))

    def send() -> None:
        for item in queued:
            kwargs = {"organization_id": organization.pk, "target_id": item.target_id}
            if item.eta is None:
                publish_target.apply_async(kwargs=kwargs, queue="outbound")
            else:
                publish_target.apply_async(kwargs=kwargs, eta=item.eta, queue="outbound")

    transaction.on_commit(send)
    return queued


def post_publish_now(*, organization: Organization, post: Post) -> list[Queued]:
    """Publish the post's scheduled targets at once (crisis statements, "publish now"): its time is now."""
    with transaction.atomic():
        now = timezone.now()
        locked = Post.objects.select_for_update().get(pk=post.pk, organization=organization)
        if locked.scheduled_at is None or locked.scheduled_at > now:
            locked.scheduled_at = now
            locked.save(update_fields=["scheduled_at", "updated_at"])
        return post_schedule(organization=organization, post=locked, now=now)


def posts_due(*, organization: Organization, now: datetime | None = None) -> list[int]:
    """Targets to run now: scheduled ones whose post is due (and whose backoff is over), and ones stuck publishing
    (a claim older than the helper's timeout: the worker died; the helper reconciles them)."""
    now = now or timezone.now()
    due = Q(status=TargetStatus.SCHEDULED, post__scheduled_at__lte=now, post__approved_version__isnull=False) & (
        Q(retry_at__isnull=True) | Q(retry_at__lte=now)
    )
    stuck = (
        Q(status=TargetStatus.PUBLISHING)
        & (Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM_TIMEOUT))
        & (Q(retry_at__isnull=True) | Q(retry_at__lte=now))
    )
    return list(PostTarget.objects.filter(due | stuck).order_by("pk").values_list("pk", flat=True))
