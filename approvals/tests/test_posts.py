"""Posts: lifecycle, version binding, composer validation per platform, comments, crisis statements, pages."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from approvals.models import (
    ApprovalRequest,
    ApprovalStatus,
    Post,
    PostEvent,
    PostStatus,
    PostTarget,
    TargetStatus,
)
from approvals.services import engine
from approvals.services import posts as services
from approvals.tests.helpers import workflow
from assets.models import AssetUsage
from assets.tests.factories import jpeg_bytes, make_file_asset
from core.errors import DomainError, NotAllowed
from core.models import Notification
from tickets.tests.factories import connection

pytestmark = pytest.mark.django_db

TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.fixture
def channels(tenant_a):
    facebook = connection(tenant_a, "facebook", "Shop page")
    instagram = connection(tenant_a, "instagram", "Shop IG")
    with tenant_a.scope():
        for c in (facebook, instagram):
            account_services.connection_access_set(
                organization=tenant_a.organization,
                actor=tenant_a.users["owner"],
                connection=c,
                users=[tenant_a.users["editor"], tenant_a.users["approver"]],
            )
    return facebook, instagram


def _save(tenant, role="editor", post=None, **fields):
    values = {
        "text": "新商品のお知らせ",
        "connection_ids": [],
        "scheduled_at": timezone.now() + timedelta(days=1),
    }
    values.update(fields)
    with tenant.scope():
        return services.post_save(organization=tenant.organization, actor=tenant.users[role], post=post, **values)


def _decide(tenant, post, role="approver", approve=True, comment=""):
    with tenant.scope():
        request = engine.request_pending_for(organization=tenant.organization, subject=post)
        return engine.approval_decide(
            organization=tenant.organization,
            actor=tenant.users[role],
            request=request,
            approve=approve,
            comment=comment,
        )


def _reload(tenant, post):
    with tenant.scope():
        return Post.objects.select_related("current_version", "approved_version").get(pk=post.pk)


def test_lifecycle_submit_reject_edit_approve_schedules_the_approved_version(tenant_a, channels):
    facebook, _ig = channels
    workflow(tenant_a, steps=({"roles": ["approver"]},), is_default=True)
    post = _save(tenant_a, connection_ids=[facebook.pk], submit=True)
    post = _reload(tenant_a, post)
    assert post.status == PostStatus.IN_REVIEW
    assert post.approved_version is None

    _decide(tenant_a, post, approve=False, comment="価格表記を確認してください")
    post = _reload(tenant_a, post)
    assert post.status == PostStatus.CHANGES_REQUESTED

    post = _save(tenant_a, post=post, text="新商品のお知らせ（税込）", connection_ids=[facebook.pk], submit=True)
    post = _reload(tenant_a, post)
    assert post.status == PostStatus.IN_REVIEW and post.current_version.number == 2

    _decide(tenant_a, post)
    post = _reload(tenant_a, post)
    assert post.status == PostStatus.SCHEDULED
    assert post.approved_version.number == 2
    with tenant_a.scope():
        target = PostTarget.objects.get(post=post)
        assert target.status == TargetStatus.SCHEDULED and target.version_id == post.approved_version_id
        kinds = list(PostEvent.objects.filter(post=post).values_list("kind", flat=True))
    assert kinds[:2] == ["created", "submitted"] and "rejected" in kinds and kinds[-2:] == ["approved", "scheduled"]


def test_editing_an_approved_post_sends_it_back_to_review(tenant_a, channels):
    facebook, _ig = channels
    workflow(tenant_a, steps=({"roles": ["approver"]},), is_default=True)
    post = _save(tenant_a, connection_ids=[facebook.pk], submit=True)
    _decide(tenant_a, post)
    assert _reload(tenant_a, post).status == PostStatus.SCHEDULED

    post = _save(tenant_a, post=_reload(tenant_a, post), text="差し替え", connection_ids=[facebook.pk])
    post = _reload(tenant_a, post)
    assert post.status == PostStatus.IN_REVIEW
    assert post.approved_version is None  # nothing approved is published any more
    with tenant_a.scope():
        assert PostTarget.objects.get(post=post).status == TargetStatus.PENDING
        request = engine.request_pending_for(organization=tenant_a.organization, subject=post)
        assert request.subject_version == 2
        assert PostEvent.objects.filter(post=post, kind="edited_after_approval").exists()


def test_an_approval_binds_to_the_version_it_was_shown(tenant_a, channels):
    facebook, _ig = channels
    workflow(tenant_a, steps=({"roles": ["approver"]},), is_default=True)
    post = _save(tenant_a, connection_ids=[facebook.pk], submit=True)
    with tenant_a.scope():
        stale = engine.request_pending_for(organization=tenant_a.organization, subject=post)
    _save(tenant_a, post=_reload(tenant_a, post), text="v2", connection_ids=[facebook.pk], submit=True)
    with tenant_a.scope():
        assert ApprovalRequest.objects.get(pk=stale.pk).status == ApprovalStatus.CANCELLED
        with pytest.raises(DomainError):
            engine.approval_decide(
                organization=tenant_a.organization, actor=tenant_a.users["approver"], request=stale, approve=True
            )
    _decide(tenant_a, post)
    post = _reload(tenant_a, post)
    assert post.approved_version.number == 2 and post.approved_version.text == "v2"


def test_no_workflow_means_approved_at_once(tenant_a, channels):
    facebook, _ig = channels
    post = _save(tenant_a, connection_ids=[facebook.pk], submit=True)
    post = _reload(tenant_a, post)
    assert post.status == PostStatus.SCHEDULED and post.approved_version.number == 1


def test_author_cannot_approve_own_post(tenant_a, channels):
    facebook, _ig = channels
    workflow(tenant_a, steps=({"roles": ["approver", "owner"]},), is_default=True, regulated=True)
    post = _save(tenant_a, "owner", connection_ids=[facebook.pk], submit=True)
    with pytest.raises(NotAllowed):
        _decide(tenant_a, post, role="owner")


def test_time_only_change_keeps_approval_unless_workflow_says_otherwise(tenant_a, channels):
    facebook, _ig = channels
    flow = workflow(tenant_a, steps=({"roles": ["approver"]},), is_default=True)
    post = _save(tenant_a, connection_ids=[facebook.pk], submit=True)
    _decide(tenant_a, post)
    later = timezone.now() + timedelta(days=3)
    with tenant_a.scope():
        services.post_reschedule(
            organization=tenant_a.organization, actor=tenant_a.users["editor"], post=post, scheduled_at=later
        )
    post = _reload(tenant_a, post)
    assert post.status == PostStatus.SCHEDULED and post.scheduled_at == later
    assert post.approved_version_id == post.current_version_id

    with tenant_a.scope():
        flow.reapprove_on_time_change = True
        flow.save()
        services.post_reschedule(
            organization=tenant_a.organization,
            actor=tenant_a.users["editor"],
            post=post,
            scheduled_at=later + timedelta(hours=1),
        )
    post = _reload(tenant_a, post)
    assert post.status == PostStatus.IN_REVIEW and post.approved_version is None


def test_composer_checks_each_platform(tenant_a, channels):
    facebook, instagram = channels
    # Instagram publishes only posts with an image.
    with pytest.raises(DomainError) as error:
        _save(tenant_a, connection_ids=[facebook.pk, instagram.pk], submit=True)
    assert error.value.field == f"variant_{instagram.pk}"
    # Too long for Instagram's caption, fine for Facebook (variant for Instagram is checked on its own).
    asset = make_file_asset(tenant_a, data=jpeg_bytes(), filename="photo.jpg")
    with pytest.raises(DomainError) as error:
        _save(
            tenant_a,
            connection_ids=[facebook.pk, instagram.pk],
            asset_version_ids=[asset.current_version_id],
            variants={str(instagram.pk): "あ" * 2201},
            submit=True,
        )
    assert error.value.field == f"variant_{instagram.pk}"
    post = _save(
        tenant_a,
        connection_ids=[facebook.pk, instagram.pk],
        asset_version_ids=[asset.current_version_id],
        variants={str(instagram.pk): "インスタ用"},
        submit=True,
    )
    post = _reload(tenant_a, post)
    assert post.current_version.text_for(instagram.pk) == "インスタ用"
    assert post.current_version.text_for(facebook.pk) == "新商品のお知らせ"
    with tenant_a.scope():
        usage = AssetUsage.objects.get(version_id=asset.current_version_id)
        assert usage.target_id == post.current_version_id


def test_composer_refuses_channels_not_granted_and_past_times(tenant_a, channels):
    facebook, _ig = channels
    hidden = connection(tenant_a, "facebook", "Other brand")
    with pytest.raises(DomainError):
        _save(tenant_a, connection_ids=[hidden.pk])
    with pytest.raises(DomainError) as error:
        _save(tenant_a, connection_ids=[facebook.pk], scheduled_at=timezone.now() - timedelta(hours=1))
    assert error.value.field == "scheduled_at"
    with pytest.raises(NotAllowed):
        _save(tenant_a, "agent", connection_ids=[facebook.pk])


def test_comment_mentions_notify(tenant_a, channels):
    facebook, _ig = channels
    post = _save(tenant_a, connection_ids=[facebook.pk])
    with tenant_a.scope():
        services.post_comment_add(
            organization=tenant_a.organization,
            actor=tenant_a.users["approver"],
            post=post,
            body="@editor 写真を差し替えてください",
        )
        assert Notification.objects.filter(user=tenant_a.users["editor"], kind="post_mentioned").count() == 1
        with pytest.raises(DomainError):
            services.post_comment_add(
                organization=tenant_a.organization,
                actor=tenant_a.users["approver"],
                post=post,
                body="hi",
                mention_ids=[tenant_a.users["agent"].pk],  # no post capability
            )


def test_crisis_statement_needs_approval_and_a_permitted_role(tenant_a, channels):
    facebook, _ig = channels
    with tenant_a.scope():
        template = services.crisis_template_save(
            organization=tenant_a.organization,
            actor=tenant_a.users["editor"],
            name="障害のお詫び",
            text="現在サービスに障害が発生しています。復旧まで今しばらくお待ちください。",
            connection_ids=[facebook.pk],
            allowed_roles=["manager"],
        )
        with pytest.raises(DomainError):
            services.crisis_template_publish(
                organization=tenant_a.organization, actor=tenant_a.users["owner"], template=template
            )
        services.crisis_template_approve(
            organization=tenant_a.organization, actor=tenant_a.users["approver"], template=template
        )
        with pytest.raises(NotAllowed):
            services.crisis_template_publish(
                organization=tenant_a.organization, actor=tenant_a.users["agent"], template=template
            )
        post = services.crisis_template_publish(
            organization=tenant_a.organization, actor=tenant_a.users["manager"], template=template
        )
        assert post.status == PostStatus.SCHEDULED and post.approved_version_id == post.current_version_id
        from accounts.models import AuditEntry

        assert AuditEntry.objects.filter(action="post.crisis_published", object_id=str(post.pk)).exists()


# --- pages -------------------------------------------------------------------------------------------------------


def test_composer_page_creates_and_submits(tenant_a, channels, login, django_assert_max_num_queries):
    facebook, _ig = channels
    client = login(tenant_a.users["editor"])
    slug = tenant_a.organization.slug
    with django_assert_max_num_queries(40):
        assert client.get(reverse("org:post_new", args=[slug])).status_code == 200
    response = client.post(
        reverse("org:post_new", args=[slug]),
        {
            "text": "春のセール",
            "connections": [facebook.pk],
            "scheduled_at": (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
            "campaign_tags": "spring, sale",
            "action": "submit",
        },
    )
    assert response.status_code == 302
    with tenant_a.scope():
        post = Post.objects.get()
    assert post.campaign_tags == ["spring", "sale"]
    # The composer's time is the organization's (Asia/Tokyo by default).
    bad = client.post(
        reverse("org:post_new", args=[slug]), {"text": "x", "connections": [facebook.pk], "scheduled_at": "昨日"}
    )
    assert bad.status_code == 400
    check = client.post(reverse("org:post_check", args=[slug]), {"text": "", "connections": [facebook.pk]})
    assert check.json()["targets"][str(facebook.pk)]


def test_detail_page_shows_diff_and_query_count_is_constant(tenant_a, channels, login, django_assert_max_num_queries):
    facebook, _ig = channels
    workflow(tenant_a, steps=({"roles": ["approver"]},), is_default=True)
    post = _save(tenant_a, connection_ids=[facebook.pk], text="最初の文章", submit=True)
    for n in range(3):
        with tenant_a.scope():
            services.post_comment_add(
                organization=tenant_a.organization, actor=tenant_a.users["approver"], post=post, body=f"c{n}"
            )
    post = _save(tenant_a, post=_reload(tenant_a, post), text="直した文章", connection_ids=[facebook.pk], submit=True)
    client = login(tenant_a.users["approver"])
    url = reverse("org:post_detail", args=[tenant_a.organization.slug, post.pk])
    with django_assert_max_num_queries(45):
        response = client.get(url)
    body = response.content.decode()
    assert "<del>最初の</del><ins>直した</ins>文章" in body
    response = client.post(
        reverse("org:post_decide", args=[tenant_a.organization.slug, post.pk]),
        {"decision": "reject", "comment": "", "version": 2},
    )
    assert _reload(tenant_a, post).status == PostStatus.IN_REVIEW  # a return needs a comment
    client.post(
        reverse("org:post_decide", args=[tenant_a.organization.slug, post.pk]),
        {"decision": "approve", "version": 2},
    )
    assert _reload(tenant_a, post).status == PostStatus.SCHEDULED


def test_calendar_feed_and_reschedule(tenant_a, channels, login, django_assert_max_num_queries):
    facebook, _ig = channels
    start = timezone.now() + timedelta(days=1)
    for n in range(3):
        _save(tenant_a, connection_ids=[facebook.pk], text=f"post {n}", scheduled_at=start + timedelta(hours=n))
    client = login(tenant_a.users["editor"])
    slug = tenant_a.organization.slug
    assert client.get(reverse("org:post_calendar", args=[slug])).status_code == 200
    feed = reverse("org:post_calendar_feed", args=[slug])
    span = {
        "start": (start - timedelta(days=2)).strftime("%Y-%m-%dT00:00:00"),
        "end": (start + timedelta(days=5)).strftime("%Y-%m-%dT00:00:00"),
    }
    with django_assert_max_num_queries(20):
        events = client.get(feed, span).json()
    assert len(events) == 3
    # Wall-clock time of Asia/Tokyo, without an offset.
    with tenant_a.scope():
        post = Post.objects.order_by("id").first()
    assert events[0]["start"] == post.scheduled_at.astimezone(TOKYO).strftime("%Y-%m-%dT%H:%M")
    moved = client.post(
        reverse("org:post_reschedule", args=[slug, post.pk]),
        {"scheduled_at": (start + timedelta(days=2)).astimezone(TOKYO).strftime("%Y-%m-%dT%H:%M")},
    )
    assert moved.status_code == 200, moved.content
    assert client.post(reverse("org:post_reschedule", args=[slug, post.pk]), {"scheduled_at": "x"}).status_code == 400
    assert client.get(feed, {"start": "nope", "end": "x"}).status_code == 400


def test_agent_without_post_capability_gets_403(tenant_a, login):
    client = login(tenant_a.users["agent"])
    assert client.get(reverse("org:post_list", args=[tenant_a.organization.slug])).status_code == 403
