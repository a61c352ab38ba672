"""Publishing to a LINE account's friends against the simulator over loopback: broadcast (text, images), narrowcast to
an audience, the retry key (a resend after a lost answer is 409 and posts nothing more), the monthly quota (refused
for good and shown), and what find_published can say."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from channels_integrations.connector import ConnectorError, PostContent, SendRejected, TransientError
from channels_integrations.models import ChannelConnection
from channels_integrations.providers.line.connector import LineConnector
from channels_integrations.providers.line.simulator import ACCESS_TOKEN, BOT_USER_ID


@pytest.fixture
def line(simulator, settings):
    settings.LINE_API_URL = simulator.base_url
    settings.LINE_API_DATA_URL = simulator.base_url
    return simulator.parts["line"]


def connection_for(tenant) -> ChannelConnection:
    with tenant.scope():
        connection = ChannelConnection(
            organization=tenant.organization,
            platform="line",
            display_name="つなぐデモ",
            external_account_id=BOT_USER_ID,
        )
        connection.set_credentials({"access_token": ACCESS_TOKEN})
        connection.save()
        return connection


def test_broadcast_with_text_and_images(tenant_a, line):
    connection = connection_for(tenant_a)
    ref = str(uuid.uuid4())
    result = LineConnector().publish(
        connection,
        PostContent(
            text="セールのお知らせ",
            link="https://example.com/sale",
            media_urls=("https://tsunagu.test/m/1.jpg", "https://tsunagu.test/m/2.jpg"),
            local_ref=ref,
        ),
    )
    [post] = line.published()
    assert post["kind"] == "broadcast" and post["retry_key"] == ref and post["recipients"] == len(line.followers)
    assert post["messages"][0] == {"type": "text", "text": "セールのお知らせ\nhttps://example.com/sale"}
    assert [m["originalContentUrl"] for m in post["messages"][1:]] == [
        "https://tsunagu.test/m/1.jpg",
        "https://tsunagu.test/m/2.jpg",
    ]
    assert result.platform_post_id == post["request_id"]


def test_narrowcast_to_an_audience(tenant_a, line):
    connection = connection_for(tenant_a)
    line.audiences[42] = {sorted(line.followers)[0]}
    LineConnector().publish(
        connection,
        PostContent(
            text="VIPの皆様へ",
            local_ref=str(uuid.uuid4()),
            audience={"recipient": {"type": "audience", "audienceGroupId": 42}},
        ),
    )
    [post] = line.published()
    assert post["kind"] == "narrowcast" and post["recipients"] == 1


def test_a_resend_with_the_same_retry_key_posts_nothing_more(tenant_a, line):
    connection = connection_for(tenant_a)
    content = PostContent(text="一度だけ", local_ref=str(uuid.uuid4()))
    line.fail_next.append("lost_answer")  # LINE accepts it, the answer is lost
    with pytest.raises(TransientError):
        LineConnector().publish(connection, content)
    result = LineConnector().publish(connection, content)
    [post] = line.published()
    assert result.platform_post_id == post["request_id"]


def test_the_monthly_quota(tenant_a, line, english):
    connection = connection_for(tenant_a)
    line.quota_limit, line.quota_used = 10, 10
    connector = LineConnector()
    with pytest.raises(SendRejected, match="monthly message quota") as refused:
        connector.publish(connection, PostContent(text="x", local_ref=str(uuid.uuid4())))
    assert refused.value.code == "quota"
    assert any("10 of 10" in note for note in connector.publish_limits(connection).notes)
    assert any("monthly message quota" in p for p in connector.check_post(connection, "x", []))
    assert ("Messages pushed this month", "10 of 10 (monthly limit)") in connector.account_facts(connection)
    assert line.published() == []


def test_refusals(tenant_a, line, english):
    connection = connection_for(tenant_a)
    connector = LineConnector()
    with pytest.raises(SendRejected, match="no valid reference"):
        connector.publish(connection, PostContent(text="x", local_ref="not-a-uuid"))
    with pytest.raises(SendRejected, match="at most 4 images"):
        connector.publish(
            connection, PostContent(text="x", local_ref=str(uuid.uuid4()), media_urls=("https://a/1.jpg",) * 5)
        )
    assert line.published() == []


def test_find_published_within_the_retry_keys_lifetime_and_after(tenant_a, line):
    connection = connection_for(tenant_a)
    connector = LineConnector()
    assert connector.find_published(connection, str(uuid.uuid4()), datetime.now(UTC) - timedelta(hours=1)) is None
    with pytest.raises(ConnectorError):
        connector.find_published(connection, str(uuid.uuid4()), datetime.now(UTC) - timedelta(hours=23, minutes=30))
