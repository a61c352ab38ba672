"""Publishing on a Facebook page and on Instagram against the simulator's Graph API over loopback: text and link,
one image, several images (unpublished photos attached), the Instagram container flow (single image, carousel,
status polling, the content publishing limit), Graph errors mapped, and finding an interrupted post again."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from PIL import Image

from channels_integrations.connector import (
    AuthFailed,
    OutboundFile,
    PostContent,
    RateLimited,
    SendRejected,
    TransientError,
)
from channels_integrations.models import ChannelConnection
from channels_integrations.providers.meta import publish
from channels_integrations.providers.meta.connector import FacebookConnector, InstagramConnector
from tests.english import english  # noqa: F401 (an autouse fixture: these tests read English sentences)


@pytest.fixture(autouse=True)
def _no_waiting(monkeypatch):
    monkeypatch.setattr(publish, "_sleep", lambda seconds: None)


def jpeg(color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(out, "JPEG")
    return out.getvalue()


def connection_for(tenant, simulator, platform: str) -> ChannelConnection:
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


@pytest.fixture
def images(simulator):
    """Image URLs Meta fetches: served by the simulator's fetch hook from this dict."""
    served: dict[str, tuple[int, str, bytes]] = {}
    simulator.parts["meta"].fetch_media = lambda url: served.get(url, (404, "text/html", b""))
    return served


def test_facebook_text_and_link(tenant_a, simulator):
    connection = connection_for(tenant_a, simulator, "facebook")
    result = FacebookConnector().publish(
        connection, PostContent(text="新商品のお知らせ", link="https://example.com/new", local_ref="r1")
    )
    [post] = simulator.parts["meta"].published()
    assert post["text"] == "新商品のお知らせ" and post["link"] == "https://example.com/new" and post["media"] == []
    assert result.platform_post_id == post["id"] and result.url == post["permalink"]


def test_facebook_one_image_is_a_photo_post_with_the_text_as_caption(tenant_a, simulator):
    connection = connection_for(tenant_a, simulator, "facebook")
    result = FacebookConnector().publish(
        connection, PostContent(text="写真です", media=(OutboundFile("a.jpg", "image/jpeg", jpeg()),))
    )
    [post] = simulator.parts["meta"].published()
    assert post["text"] == "写真です" and len(post["media"]) == 1 and post["media"][0]["filename"] == "a.jpg"
    assert result.platform_post_id == post["id"]


def test_facebook_several_images_are_attached_to_one_post(tenant_a, simulator):
    connection = connection_for(tenant_a, simulator, "facebook")
    files = tuple(OutboundFile(f"{i}.jpg", "image/jpeg", jpeg((i * 40, 0, 0))) for i in range(3))
    FacebookConnector().publish(connection, PostContent(text="3枚", link="https://example.com", media=files))
    [post] = simulator.parts["meta"].published()
    assert [m["filename"] for m in post["media"]] == ["0.jpg", "1.jpg", "2.jpg"]
    assert post["text"] == "3枚\nhttps://example.com"  # a photo post has no link card: the link joins the text
    assert simulator.parts["meta"].photos == {}  # every unpublished photo was used


def test_facebook_errors_are_mapped(tenant_a, simulator):
    connection = connection_for(tenant_a, simulator, "facebook")
    meta = simulator.parts["meta"]
    meta.fail_next(368, "The action attempted has been deemed abusive or is otherwise disallowed")
    with pytest.raises(SendRejected) as refused:
        FacebookConnector().publish(connection, PostContent(text="x"))
    assert "Facebook refused the post" in refused.value.message and "abusive" in refused.value.message
    meta.fail_next(2, "Service temporarily unavailable", status=500)
    with pytest.raises(TransientError):  # retried
        FacebookConnector().publish(connection, PostContent(text="x"))
    meta.fail_next(190, "Error validating access token", subcode=460)
    with pytest.raises(AuthFailed):
        FacebookConnector().publish(connection, PostContent(text="x"))
    assert meta.published() == []


def test_facebook_find_published_finds_the_post_by_its_text_since_the_attempt(tenant_a, simulator):
    connection = connection_for(tenant_a, simulator, "facebook")
    since = timezone.now() - timedelta(seconds=5)
    connector = FacebookConnector()
    content = PostContent(text="一度だけ", local_ref="r1")
    assert connector.find_published(connection, "r1", since, post=content) is None
    result = connector.publish(connection, content)
    connector.publish(connection, PostContent(text="別の投稿"))
    found = connector.find_published(connection, "r1", since, post=content)
    assert found == result
    assert connector.find_published(connection, "r1", timezone.now() + timedelta(minutes=1), post=content) is None


def test_instagram_single_image_through_a_container(tenant_a, simulator, images):
    connection = connection_for(tenant_a, simulator, "instagram")
    images["https://tsunagu.test/m/1.jpg"] = (200, "image/jpeg", jpeg())
    result = InstagramConnector().publish(
        connection, PostContent(text="#新作 です", media_urls=("https://tsunagu.test/m/1.jpg",))
    )
    [post] = simulator.parts["meta"].published("instagram")
    assert post["text"] == "#新作 です" and post["media_type"] == "IMAGE"
    assert result.platform_post_id == post["id"] and result.url == post["permalink"]


def test_instagram_carousel(tenant_a, simulator, images):
    connection = connection_for(tenant_a, simulator, "instagram")
    urls = tuple(f"https://tsunagu.test/m/{i}.jpg" for i in range(3))
    for url in urls:
        images[url] = (200, "image/jpeg", jpeg())
    InstagramConnector().publish(connection, PostContent(text="カルーセル", media_urls=urls))
    [post] = simulator.parts["meta"].published("instagram")
    assert post["media_type"] == "CAROUSEL_ALBUM" and [m["image_url"] for m in post["media"]] == list(urls)


def test_instagram_refusals(tenant_a, simulator, images):
    connection = connection_for(tenant_a, simulator, "instagram")
    connector = InstagramConnector()
    with pytest.raises(SendRejected, match="only posts with an image"):
        connector.publish(connection, PostContent(text="no image"))
    with pytest.raises(SendRejected, match="could not process the image"):  # the URL does not answer
        connector.publish(connection, PostContent(text="x", media_urls=("https://tsunagu.test/missing.jpg",)))
    images["https://tsunagu.test/p.png"] = (200, "image/png", b"png")
    with pytest.raises(SendRejected, match="Unsupported media type"):
        connector.publish(connection, PostContent(text="x", media_urls=("https://tsunagu.test/p.png",)))
    with pytest.raises(SendRejected, match="at most 30 hashtags"):
        connector.publish(
            connection, PostContent(text=" ".join(f"#t{i}" for i in range(31)), media_urls=("https://x/1.jpg",))
        )
    assert simulator.parts["meta"].published() == []


def test_instagram_content_publishing_limit_is_a_rate_limit_and_shown(tenant_a, simulator, images):
    connection = connection_for(tenant_a, simulator, "instagram")
    meta = simulator.parts["meta"]
    meta.instagram_quota = 1
    images["https://tsunagu.test/1.jpg"] = (200, "image/jpeg", jpeg())
    connector = InstagramConnector()
    connector.publish(connection, PostContent(text="1", media_urls=("https://tsunagu.test/1.jpg",)))
    assert ("Posts published in the last 24 hours", "1 of 1 (Instagram's limit)") in connector.account_facts(connection)
    with pytest.raises(RateLimited) as limited:
        connector.publish(connection, PostContent(text="2", media_urls=("https://tsunagu.test/1.jpg",)))
    assert limited.value.retry_after == 3600
    assert len(meta.published()) == 1


def test_instagram_find_published(tenant_a, simulator, images):
    connection = connection_for(tenant_a, simulator, "instagram")
    images["https://tsunagu.test/1.jpg"] = (200, "image/jpeg", jpeg())
    content = PostContent(text="探す", media_urls=("https://tsunagu.test/1.jpg",))
    since = datetime.now(UTC) - timedelta(seconds=5)
    connector = InstagramConnector()
    assert connector.find_published(connection, "r", since, post=content) is None
    result = connector.publish(connection, content)
    assert connector.find_published(connection, "r", since, post=content) == result


def test_limits_and_checks(tenant_a, simulator):
    connection = connection_for(tenant_a, simulator, "instagram")
    problems = InstagramConnector().check_post(connection, "x" * 2201, [("a.png", "image/png", 10)])
    assert any("2200" in p for p in problems) and any("a.png" in p for p in problems)
    assert InstagramConnector().check_post(connection, "ok", []) == ["This channel publishes only posts with an image."]
    limits = FacebookConnector().publish_limits(connection)
    assert limits.link_handling == "field" and limits.max_media == 10 and not limits.requires_media
