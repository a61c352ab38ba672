"""Publishing on X against the simulator over loopback: a text post, images through the media upload endpoint, the
weighted length rule, X's errors (duplicate content, 401, 429) mapped, and finding an interrupted post again on the
account's timeline."""

from datetime import UTC, datetime, timedelta

import pytest

from channels_integrations.connector import AuthFailed, OutboundFile, PostContent, RateLimited, SendRejected
from channels_integrations.models import ChannelConnection
from channels_integrations.providers.x import simulator as sim_x
from channels_integrations.providers.x.connector import XConnector
from channels_integrations.providers.x.simulator import ACCOUNT_ID

PNG = sim_x.PIXEL


@pytest.fixture
def x(simulator, settings):
    settings.X_API_URL = simulator.base_url
    return simulator.parts["x"]


def connection_for(tenant, x) -> ChannelConnection:
    token = x.grant_token()
    with tenant.scope():
        connection = ChannelConnection(
            organization=tenant.organization, platform="x", display_name="@tsunagu_demo", external_account_id=ACCOUNT_ID
        )
        connection.set_credentials({"access_token": token["access_token"], "refresh_token": token["refresh_token"]})
        connection.save()
        return connection


def test_a_text_post(tenant_a, x):
    connection = connection_for(tenant_a, x)
    result = XConnector().publish(connection, PostContent(text="新しいお知らせです", link="https://example.com/a"))
    [post] = x.published()
    assert post["text"] == "新しいお知らせです\nhttps://example.com/a" and post["media"] == []
    assert result.platform_post_id == post["id"]
    assert result.url == f"https://x.com/tsunagu_demo/status/{post['id']}"


def test_images_are_uploaded_then_attached(tenant_a, x):
    connection = connection_for(tenant_a, x)
    files = tuple(OutboundFile(f"{i}.png", "image/png", PNG) for i in range(2))
    XConnector().publish(connection, PostContent(text="画像2枚", media=files))
    [post] = x.published()
    assert [m["filename"] for m in post["media"]] == ["0.png", "1.png"]
    assert [c["path"] for c in x.calls] == ["/2/media/upload", "/2/media/upload", "/2/tweets"]


def test_errors_are_mapped(tenant_a, x, english):
    connection = connection_for(tenant_a, x)
    connector = XConnector()
    connector.publish(connection, PostContent(text="same"))
    with pytest.raises(SendRejected, match="identical to one this account already posted"):
        connector.publish(connection, PostContent(text="same"))
    x.force("tweets", 429)
    with pytest.raises(RateLimited):
        connector.publish(connection, PostContent(text="later"))
    x.force("tweets", 401)
    with pytest.raises(AuthFailed):
        connector.publish(connection, PostContent(text="later"))
    with pytest.raises(SendRejected, match="not supported"):
        connector.publish(connection, PostContent(text="pdf", media=(OutboundFile("a.pdf", "application/pdf", b"%"),)))
    assert len(x.published()) == 1


def test_weighted_length_and_media_count_are_checked(tenant_a, x, english):
    connection = connection_for(tenant_a, x)
    connector = XConnector()
    assert connector.check_post(connection, "あ" * 140, []) == []
    [problem] = connector.check_post(connection, "あ" * 141, [])
    assert "282" in problem and "280" in problem
    problems = connector.check_post(connection, "ok", [("a.png", "image/png", 10)] * 5)
    assert problems == ["This channel publishes at most 4 files with a post; this one has 5."]
    assert connector.publish_limits(connection).length_rule == "x-weighted"


def test_find_published_on_the_timeline(tenant_a, x):
    connection = connection_for(tenant_a, x)
    connector = XConnector()
    since = datetime.now(UTC) - timedelta(seconds=5)
    content = PostContent(text="一度だけ https://example.com/x", media=(OutboundFile("a.png", "image/png", PNG),))
    assert connector.find_published(connection, "r", since, post=content) is None
    result = connector.publish(connection, content)
    connector.publish(connection, PostContent(text="another"))
    assert connector.find_published(connection, "r", since, post=content) == result
    assert connector.find_published(connection, "r", datetime.now(UTC) + timedelta(minutes=1), post=content) is None
