"""Publishing approved posts through the simulator over loopback (approvals.services.publishing, approvals.tasks):
a scheduled target publishes at its time and not before (UTC instants from Asia/Tokyo and a DST zone), transient
failures are retried on the one policy, a refusal fails the target and notifies the author, an interrupted publish
is reconciled without a second post (Facebook by the page feed, LINE by its retry key), an edited post is not
published on an old approval, Instagram fetches its image through the signed, expiring media link, and the
queries stay constant."""

import base64
import json
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone
from django_scopes import scopes_disabled

from accounts.models import AuditEntry
from approvals import media_links
from approvals.models import Post, PostEvent, PostStatus, PostTarget, PostVersion, TargetStatus
from approvals.services import publishing
from approvals.tasks import publish_due_everywhere, publish_target
from assets.tests.factories import jpeg_bytes, make_file_asset
from channels_integrations.connector import PostContent
from channels_integrations.models import ChannelConnection
from channels_integrations.providers.line.simulator import ACCESS_TOKEN, BOT_USER_ID
from channels_integrations.providers.meta import publish as meta_publish
from channels_integrations.registry import connector_for
from core.models import Attempt, Notification, RealtimeEvent
from tests.english import english  # noqa: F401 (a fixture: these tests read English sentences)

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture(autouse=True)
def _no_waiting(monkeypatch):
    monkeypatch.setattr(meta_publish, "_sleep", lambda seconds: None)


@pytest.fixture
def line(simulator, settings):
    settings.LINE_API_URL = simulator.base_url
    settings.LINE_API_DATA_URL = simulator.base_url
    return simulator.parts["line"]


def meta_connection(tenant, simulator, platform: str = "facebook") -> ChannelConnection:
    page = simulator.parts["meta"].provision()["pages"][0]
    with tenant.scope():
        connection = ChannelConnection(
            organization=tenant.organization,
            platform=platform,
            display_name=page["name"],
            external_account_id=page["id"] if platform == "facebook" else page["ig_id"],
        )
        connection.set_credentials({"access_token": page["access_token"], "page_id": page["id"]})
        connection.save()
        return connection


def line_connection(tenant) -> ChannelConnection:
    with tenant.scope():
        connection = ChannelConnection(
            organization=tenant.organization, platform="line", display_name="LINE", external_account_id=BOT_USER_ID
        )
        connection.set_credentials({"access_token": ACCESS_TOKEN})
        connection.save()
        return connection


def approved_post(tenant, connections, *, text="お知らせ", at=None, media=(), link="") -> Post:
    """A post approved and scheduled as the posts service leaves it (rows made directly: this tests the publisher)."""
    at = at or timezone.now()
    with tenant.scope():
        post = Post.objects.create(
            organization=tenant.organization,
            author=tenant.users["editor"] if "editor" in tenant.users else tenant.users["owner"],
            title=text[:20],
            status=PostStatus.SCHEDULED,
            scheduled_at=at,
        )
        version = PostVersion.objects.create(
            organization=tenant.organization,
            post=post,
            number=1,
            text=text,
            link=link,
            connection_ids=[c.pk for c in connections],
            asset_order=[v.pk for v in media],
            scheduled_at=at,
        )
        version.asset_versions.set(media)
        post.current_version = post.approved_version = version
        post.save()
        for connection in connections:
            PostTarget.objects.create(
                organization=tenant.organization,
                post=post,
                connection=connection,
                status=TargetStatus.SCHEDULED,
                version=version,
            )
        return post


def target_of(tenant, post) -> PostTarget:
    with tenant.scope():
        return PostTarget.objects.select_related("post").get(post=post)


def run(tenant, post, *, now=None):
    target = target_of(tenant, post)
    with tenant.scope():
        return publishing.post_target_publish(organization=tenant.organization, target_id=target.pk, now=now)


# --- at its time --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "wall", "utc"),
    [
        ("Asia/Tokyo", datetime(2027, 1, 15, 9, 0), datetime(2027, 1, 15, 0, 0)),
        # New York moves to daylight time on 14 March 2027: the same 09:00 is 14:00 UTC the day before, 13:00 after.
        ("America/New_York", datetime(2027, 3, 13, 9, 0), datetime(2027, 3, 13, 14, 0)),
        ("America/New_York", datetime(2027, 3, 15, 9, 0), datetime(2027, 3, 15, 13, 0)),
    ],
)
def test_a_target_is_due_at_its_utc_instant_whatever_the_zone(tenant_a, simulator, zone, wall, utc):
    connection = meta_connection(tenant_a, simulator)
    at = wall.replace(tzinfo=ZoneInfo(zone))
    post = approved_post(tenant_a, [connection], at=at)
    with tenant_a.scope():
        stored = Post.objects.get(pk=post.pk).scheduled_at
        instant = utc.replace(tzinfo=ZoneInfo("UTC"))
        assert stored == instant and stored.utcoffset() == timedelta(0)
        org = tenant_a.organization
        assert publishing.posts_due(organization=org, now=instant - timedelta(seconds=1)) == []
        assert publishing.posts_due(organization=org, now=instant) == [target_of(tenant_a, post).pk]
    assert run(tenant_a, post, now=instant - timedelta(seconds=1)).state == "not_due"  # an early eta does nothing
    assert simulator.parts["meta"].published() == []
    assert run(tenant_a, post, now=instant).state == "sent"
    assert len(simulator.parts["meta"].published()) == 1


def test_the_scheduled_run_publishes_records_and_pushes(tenant_a, simulator, django_capture_on_commit_callbacks):
    connection = meta_connection(tenant_a, simulator)
    post = approved_post(tenant_a, [connection], text="本日より新商品を販売します", link="https://example.com/new")
    with django_capture_on_commit_callbacks(execute=True):
        assert publish_due_everywhere() == 1  # the beat sweep (tasks run eagerly under test)
    [published] = simulator.parts["meta"].published()
    assert published["text"] == "本日より新商品を販売します" and published["link"] == "https://example.com/new"
    with tenant_a.scope():
        target = target_of(tenant_a, post)
        assert target.status == TargetStatus.PUBLISHED and target.attempts == 1
        assert target.platform_post_id == published["id"] and target.permalink == published["permalink"]
        assert Post.objects.get(pk=post.pk).status == PostStatus.PUBLISHED
        assert list(PostEvent.objects.filter(post=post).values_list("kind", flat=True)) == ["published"]
        assert AuditEntry.objects.filter(action="post.published", object_id=str(post.pk)).count() == 1
        events = list(RealtimeEvent.objects.filter(type=publishing.TARGET_UPDATED).order_by("pk"))
    by_group: dict[str, list] = {}
    for event in events:
        by_group.setdefault(event.group, []).append(event.payload)
    # Each state goes to the channel's queue group and to the author's own group.
    assert set(by_group) == {
        f"org.{tenant_a.organization.pk}.queue.{connection.pk}",
        f"org.{tenant_a.organization.pk}.user.{post.author_id}",
    }
    for payloads in by_group.values():
        assert [p["status"] for p in payloads] == ["publishing", "published"]
        assert payloads[-1]["permalink"] == published["permalink"] and payloads[-1]["post_status"] == "published"
    with django_capture_on_commit_callbacks(execute=True):
        publish_due_everywhere()  # nothing due any more: nothing published twice
    assert len(simulator.parts["meta"].published()) == 1


def test_post_schedule_queues_due_targets_at_once_and_near_ones_with_an_eta(
    tenant_a, simulator, django_capture_on_commit_callbacks
):
    connection = meta_connection(tenant_a, simulator)
    now = timezone.now()
    soon = approved_post(tenant_a, [connection], text="soon", at=now + timedelta(minutes=10))
    later = approved_post(tenant_a, [connection], text="later", at=now + timedelta(days=3))
    due = approved_post(tenant_a, [connection], text="due", at=now - timedelta(seconds=1))
    with tenant_a.scope(), django_capture_on_commit_callbacks(execute=True):
        [queued] = publishing.post_schedule(organization=tenant_a.organization, post=soon, now=now)
        assert queued.eta == soon.scheduled_at  # eager tasks ignore the eta: the early run must do nothing
        assert publishing.post_schedule(organization=tenant_a.organization, post=later, now=now) == []  # the sweep's
        [queued] = publishing.post_schedule(organization=tenant_a.organization, post=due, now=now)
        assert queued.eta is None
    assert [p["text"] for p in simulator.parts["meta"].published()] == ["due"]
    assert target_of(tenant_a, soon).status == TargetStatus.SCHEDULED


def test_publish_now_for_crisis_statements(tenant_a, simulator, django_capture_on_commit_callbacks):
    connection = meta_connection(tenant_a, simulator)
    post = approved_post(
        tenant_a, [connection], text="ただいま障害が発生しています", at=timezone.now() + timedelta(days=1)
    )
    with tenant_a.scope(), django_capture_on_commit_callbacks(execute=True):
        publishing.post_publish_now(organization=tenant_a.organization, post=post)
    assert [p["text"] for p in simulator.parts["meta"].published()] == ["ただいま障害が発生しています"]


# --- failures -----------------------------------------------------------------------------------------------------


def test_a_transient_error_is_retried_on_the_policy(tenant_a, simulator):
    connection = meta_connection(tenant_a, simulator)
    post = approved_post(tenant_a, [connection])
    simulator.parts["meta"].fail_next(2, "Service temporarily unavailable", status=503)
    outcome = run(tenant_a, post)
    assert outcome.state == "queued" and outcome.retry_in == 30
    with tenant_a.scope():
        target = target_of(tenant_a, post)
        assert target.status == TargetStatus.SCHEDULED and target.claimed_at is None
        assert timedelta(seconds=25) < target.retry_at - timezone.now() <= timedelta(seconds=30)
        assert publishing.posts_due(organization=tenant_a.organization) == []  # the sweep waits out the backoff
        later = timezone.now() + timedelta(seconds=31)
        assert publishing.posts_due(organization=tenant_a.organization, now=later) == [target.pk]
        assert [a.outcome for a in Attempt.objects.filter(subject_id=target.pk)] == ["retrying"]
    assert run(tenant_a, post).state == "waiting"
    assert run(tenant_a, post, now=timezone.now() + timedelta(seconds=31)).state == "sent"
    with tenant_a.scope():
        target = target_of(tenant_a, post)
        assert target.status == TargetStatus.PUBLISHED and target.attempts == 2
    assert len(simulator.parts["meta"].published()) == 1


def test_a_refusal_fails_the_target_and_notifies_the_author(tenant_a, simulator):
    connection = meta_connection(tenant_a, simulator)
    post = approved_post(tenant_a, [connection])
    simulator.parts["meta"].fail_next(368, "The action attempted has been deemed abusive or is otherwise disallowed")
    assert run(tenant_a, post).state == "failed"
    with tenant_a.scope():
        target = target_of(tenant_a, post)
        assert target.status == TargetStatus.FAILED and "Facebook refused the post" in target.error
        post = Post.objects.get(pk=post.pk)
        assert post.status == PostStatus.FAILED
        [event] = PostEvent.objects.filter(post=post)
        assert event.kind == "failed" and "abusive" in event.data["error"]
        [notification] = Notification.objects.filter(user=post.author, kind="post_publish_failed")
        assert notification.target_id == post.pk and "abusive" in notification.params["error"]
        assert AuditEntry.objects.filter(action="post.publish_failed", object_id=str(post.pk)).exists()


def test_an_edited_post_is_not_published_on_its_old_approval(tenant_a, simulator):
    connection = meta_connection(tenant_a, simulator)
    post = approved_post(tenant_a, [connection], text="v1")
    with tenant_a.scope():
        v2 = PostVersion.objects.create(organization=tenant_a.organization, post=post, number=2, text="v2")
        Post.objects.filter(pk=post.pk).update(current_version=v2, approved_version=v2)  # approved v2, target on v1
    assert run(tenant_a, post).state == "not_approved"
    assert simulator.parts["meta"].published() == []


# --- never twice ----------------------------------------------------------------------------------------------------


def _interrupted(tenant, post, minutes_ago: int = 10) -> PostTarget:
    """The worker claimed the target and died: `publishing`, claimed long ago, one attempt made."""
    with tenant.scope():
        PostTarget.objects.filter(post=post).update(
            status=TargetStatus.PUBLISHING,
            claimed_at=timezone.now() - timedelta(minutes=minutes_ago),
            attempts=1,
        )
        return target_of(tenant, post)


def test_no_double_post_when_the_worker_died_after_the_platform_accepted(
    tenant_a, simulator, django_capture_on_commit_callbacks
):
    connection = meta_connection(tenant_a, simulator)
    post = approved_post(tenant_a, [connection], text="一度だけ投稿されるべき文章")
    target = _interrupted(tenant_a, post)
    # The platform accepted the post just before the worker died (the id never reached the database).
    with tenant_a.scope():
        accepted = connector_for("facebook").publish(connection, publishing.content_for(target))
    meta = simulator.parts["meta"]
    calls_before = len(meta.published())
    with tenant_a.scope():
        assert publishing.posts_due(organization=tenant_a.organization) == [target.pk]  # the sweep finds it stuck
    with django_capture_on_commit_callbacks(execute=True):
        publish_due_everywhere()
    assert len(meta.published()) == calls_before == 1  # reconciled, not posted again
    with tenant_a.scope():
        target = target_of(tenant_a, post)
        assert target.status == TargetStatus.PUBLISHED
        assert target.platform_post_id == accepted.platform_post_id and target.permalink == accepted.url
        assert Post.objects.get(pk=post.pk).status == PostStatus.PUBLISHED


def test_an_interrupted_publish_the_platform_never_got_is_published_once(tenant_a, simulator):
    connection = meta_connection(tenant_a, simulator)
    post = approved_post(tenant_a, [connection], text="届いていなかった投稿")
    _interrupted(tenant_a, post)
    assert run(tenant_a, post).state == "sent"
    assert [p["text"] for p in simulator.parts["meta"].published()] == ["届いていなかった投稿"]


def test_when_the_platform_cannot_tell_the_target_waits_and_is_reconciled_later(tenant_a, simulator):
    connection = meta_connection(tenant_a, simulator)
    post = approved_post(tenant_a, [connection], text="後で確認")
    _interrupted(tenant_a, post)
    simulator.parts["meta"].fail_next(2, "Service temporarily unavailable", status=503)  # the feed lookup fails
    outcome = run(tenant_a, post)
    assert outcome.state == "sending" and outcome.retry_in == 120  # the second attempt's wait
    with tenant_a.scope():
        target = target_of(tenant_a, post)
        # Still publishing (the platform may have it), unclaimed, and left alone until the backoff is over.
        assert target.status == TargetStatus.PUBLISHING and target.claimed_at is None and target.retry_at
        assert publishing.posts_due(organization=tenant_a.organization) == []
        later = timezone.now() + timedelta(seconds=121)
        assert publishing.posts_due(organization=tenant_a.organization, now=later) == [target.pk]
    assert simulator.parts["meta"].published() == []
    assert run(tenant_a, post).state == "sent"
    assert len(simulator.parts["meta"].published()) == 1


def test_a_fresh_claim_is_left_to_its_worker(tenant_a, simulator):
    connection = meta_connection(tenant_a, simulator)
    post = approved_post(tenant_a, [connection])
    _interrupted(tenant_a, post, minutes_ago=1)
    assert run(tenant_a, post).state == "busy"
    with tenant_a.scope():
        assert publishing.posts_due(organization=tenant_a.organization) == []
    assert simulator.parts["meta"].published() == []


def test_line_reconciles_by_its_retry_key(tenant_a, line):
    connection = line_connection(tenant_a)
    post = approved_post(tenant_a, [connection], text="LINEのお知らせ")
    target = _interrupted(tenant_a, post)
    with tenant_a.scope():
        accepted = connector_for("line").publish(
            connection, PostContent(text="LINEのお知らせ", local_ref=str(target.local_ref))
        )
    assert run(tenant_a, post).state == "sent"
    [sent] = line.published()
    with tenant_a.scope():
        assert target_of(tenant_a, post).platform_post_id == accepted.platform_post_id == sent["request_id"]


# --- media ----------------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # Meta fetches from the simulator's thread: the rows must be committed
def test_instagram_fetches_the_image_through_the_signed_link(tenant_a, simulator, settings):
    settings.SITE_URL = "https://tsunagu.test"
    connection = meta_connection(tenant_a, simulator, "instagram")
    asset = make_file_asset(tenant_a, data=jpeg_bytes(), filename="sale.jpg")
    fetched = []
    client = Client()

    def fetch(url):
        fetched.append(url)
        response = client.get(urlsplit(url).path)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        return response.status_code, response["Content-Type"], body

    simulator.parts["meta"].fetch_media = fetch
    with scopes_disabled():
        version = asset.current_version
    post = approved_post(tenant_a, [connection], text="#セール 開催中", media=[version])
    assert run(tenant_a, post).state == "sent"
    [published] = simulator.parts["meta"].published("instagram")
    assert published["text"] == "#セール 開催中" and published["media"][0]["size"] == version.size
    assert fetched and fetched[0].startswith("https://tsunagu.test/published-media/")


def test_the_media_link_serves_exactly_one_file_until_it_expires(tenant_a, tenant_b, settings):
    asset = make_file_asset(tenant_a, data=jpeg_bytes(), filename="a.jpg")
    other = make_file_asset(tenant_b, data=jpeg_bytes(), filename="b.jpg")
    with scopes_disabled():
        version, other_version = asset.current_version, other.current_version
    client = Client()
    url = media_links.media_url(version, platform="instagram")
    response = client.get(urlsplit(url).path)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    # Another version's id under this link's signature (the payload swapped, the HMAC kept) is refused
    token = urlsplit(url).path.split("/")[2]
    payload, signature = token.split(":", 1)
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["v"], data["o"] = other_version.pk, other_version.organization_id
    swapped = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")
    assert swapped != payload
    assert client.get(f"/published-media/{swapped}:{signature}/b.jpg").status_code == 404
    expired = media_links.media_url(version, platform="instagram", now=timezone.now().timestamp() - 2 * 86400)
    assert client.get(urlsplit(expired).path).status_code == 404
    assert client.post(urlsplit(url).path).status_code == 405
    assert client.get("/published-media/garbage/a.jpg").status_code == 404


def test_publishing_queries_stay_constant_in_the_number_of_images(tenant_a, simulator, django_assert_max_num_queries):
    connection = meta_connection(tenant_a, simulator)
    counts = []
    for n in (1, 4):
        assets = [make_file_asset(tenant_a, title=f"{n}-{i}", data=jpeg_bytes(), filename=f"{i}.jpg") for i in range(n)]
        with scopes_disabled():
            versions = [a.current_version for a in assets]
        post = approved_post(tenant_a, [connection], text=f"{n} images", media=versions)
        with django_assert_max_num_queries(40) as captured:
            assert run(tenant_a, post).state == "sent"
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1], counts


def test_the_sweep_lists_due_targets_in_one_query(tenant_a, simulator, django_assert_num_queries):
    connection = meta_connection(tenant_a, simulator)
    for i in range(5):
        approved_post(tenant_a, [connection], text=f"post {i}", at=timezone.now() - timedelta(minutes=i))
    with tenant_a.scope(), django_assert_num_queries(1):
        assert len(publishing.posts_due(organization=tenant_a.organization)) == 5


def test_publish_target_task_requeues_itself_after_a_transient_error(tenant_a, simulator, monkeypatch):
    connection = meta_connection(tenant_a, simulator)
    post = approved_post(tenant_a, [connection])
    simulator.parts["meta"].fail_next(1, "An unknown error occurred", status=500)
    queued = []
    monkeypatch.setattr(publish_target, "apply_async", lambda **kw: queued.append(kw))
    target = target_of(tenant_a, post)
    assert publish_target(organization_id=tenant_a.organization.pk, target_id=target.pk) == "queued"
    assert queued == [
        {
            "kwargs": {"organization_id": tenant_a.organization.pk, "target_id": target.pk},
            "countdown": 30,
            "queue": "outbound",
        }
    ]
