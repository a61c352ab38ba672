"""Spike maths and share of voice / engagement rate on hand-computed values."""

import math
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from analytics.listening import selectors, services
from analytics.listening.models import SpikeAlert
from analytics.listening.tests.conftest import monitor
from analytics.listening.tests.factories import mention
from core.models import Notification
from tickets.tests.factories import connection as make_connection

TOKYO = ZoneInfo("Asia/Tokyo")


# --- spikes -------------------------------------------------------------------------------------------------------


def test_volume_spike_is_mean_plus_three_sigma_of_the_168_hours_before():
    # 168 hours: 84 with 1 mention, 84 with 3 → mean 2, σ 1, threshold 5.
    baseline = [1, 3] * 84
    assert services.spike_volume(5, baseline).threshold == pytest.approx(5.0)
    assert not services.spike_volume(5, baseline).spike  # equal is not above
    assert services.spike_volume(6, baseline).spike
    # A quiet monitor: baseline all zero (σ 0) — still at least MIN_SPIKE_VOLUME (5) mentions.
    assert not services.spike_volume(4, [0] * 168).spike
    assert services.spike_volume(5, [0] * 168).spike


def test_negative_share_spike_uses_the_binomial_sigma_of_the_hour():
    # Baseline: 20 negative of 200 → p = 0.1; the hour: 10 mentions → σ = √(0.1 × 0.9 / 10) = 0.0949, threshold
    # 0.1 + 3 × 0.0949 = 0.3846. 4 of 10 (0.4) is a spike; 3 of 10 (0.3) is not.
    test = services.spike_negative(4, 10, 20, 200)
    assert test.std == pytest.approx(math.sqrt(0.009))
    assert test.threshold == pytest.approx(0.1 + 3 * math.sqrt(0.009))
    assert test.spike
    assert not services.spike_negative(3, 10, 20, 200).spike
    # 2 of 2 negative is 100 % but fewer than MIN_SPIKE_NEGATIVE (3).
    assert not services.spike_negative(2, 2, 0, 0).spike
    assert not services.spike_negative(0, 0, 5, 10).spike


def test_spike_check_alerts_managers_once_per_monitor_kind_and_hour(tenant_a):
    brand = monitor(tenant_a, "ツナグ", "brand", ["ツナグ"])
    now = datetime(2026, 12, 4, 5, 30, tzinfo=UTC)
    connection = make_connection(tenant_a, "instagram")
    # Baseline: one mention every other hour over the previous 7 days (84), never negative.
    for hour in range(2, 170, 2):
        mention(tenant_a, [brand], at=now - timedelta(hours=hour, minutes=10), connection=connection)
    # The last hour: 6 mentions, 4 negative.
    for i in range(6):
        sentiment = "negative" if i < 4 else "neutral"
        mention(tenant_a, [brand], at=now - timedelta(minutes=5 * i), sentiment=sentiment, connection=connection)
    with tenant_a.scope():
        alerts = services.spikes_check(organization=tenant_a.organization, monitors=[brand], now=now)
        assert sorted(a.kind for a in alerts) == ["negative", "volume"]
        volume = next(a for a in alerts if a.kind == "volume")
        # Baseline of 168 hours: 84 ones and 84 zeros → mean 0.5, σ 0.5, threshold 2.
        assert (volume.value, volume.baseline_mean, volume.baseline_std, volume.threshold) == (6, 0.5, 0.5, 2.0)
        assert volume.window_start == datetime(2026, 12, 4, 5, 0, tzinfo=UTC)
        # Managers (analytics.manage: owner, admin, manager) are told; the agent and the analyst are not.
        notified = set(Notification.objects.filter(kind="listening_volume").values_list("user__email", flat=True))
        assert notified == {"owner@org-a.test", "admin@org-a.test", "manager@org-a.test"}
        assert Notification.objects.filter(kind="listening_negative").count() == 3
        # Checked again within the same hour: no second alert, no second notification.
        assert services.spikes_check(organization=tenant_a.organization, monitors=[brand], now=now) == []
        assert SpikeAlert.objects.count() == 2 and Notification.objects.count() == 6


def test_the_spike_notification_reads_in_the_readers_language(tenant_a):
    from django.utils import translation

    from core.notification_kinds import text_format

    params = {"monitor": "ツナグ", "count": 12, "usual": "1.5"}
    with translation.override("en"):
        assert str(text_format("listening_volume", params)) % params == (
            "ツナグ: 12 mentions in the last hour (usually about 1.5)"
        )


# --- share of voice and engagement ----------------------------------------------------------------------------------


def test_share_of_voice_per_day_in_the_organizations_time_zone(tenant_a):
    brand = monitor(tenant_a, "ツナグ", "brand", ["ツナグ"])
    product = monitor(tenant_a, "ツナグ Inbox", "product", ["ツナグ Inbox"])
    rival = monitor(tenant_a, "カスタマーボックス", "competitor", ["カスタマーボックス"])
    zen = monitor(tenant_a, "Zen", "competitor", ["Zen"])
    connection = make_connection(tenant_a, "instagram")
    day1 = datetime(2026, 12, 1, 0, 30, tzinfo=TOKYO)  # 15:30 UTC on Nov 30: Dec 1 in Tokyo
    day2 = datetime(2026, 12, 2, 12, 0, tzinfo=TOKYO)
    # Day 1: 2 brand, 1 brand+product (counts once for us), 1 rival, 1 naming us and Zen → 5 mentions.
    for monitors in ([brand], [brand], [brand, product], [rival], [brand, zen]):
        mention(tenant_a, monitors, at=day1, connection=connection)
    # Day 2: 1 rival, 1 Zen.
    mention(tenant_a, [rival], at=day2, connection=connection)
    mention(tenant_a, [zen], at=day2, connection=connection)
    period = selectors.Period(date(2026, 12, 1), date(2026, 12, 3), TOKYO)
    with tenant_a.scope():
        share = selectors.share_of_voice(tenant_a.memberships["manager"], period)
    assert share["x"] == ["2026-12-01", "2026-12-02", "2026-12-03"]
    assert share["totals"] == [5, 2, 0]
    lines = {line["name"] or "ours": line for line in share["lines"]}
    assert list(lines) == ["ours", "Zen", "カスタマーボックス"]
    assert lines["ours"]["counts"] == [4, 0, 0] and lines["ours"]["values"] == [80.0, 0.0, None]
    assert lines["カスタマーボックス"]["values"] == [20.0, 50.0, None]
    assert lines["Zen"]["values"] == [20.0, 50.0, None]

    weekly = selectors.Period(date(2026, 12, 1), date(2026, 12, 3), TOKYO, by="week")
    with tenant_a.scope():
        share = selectors.share_of_voice(tenant_a.memberships["manager"], weekly)
    assert share["x"] == ["2026-11-30"] and share["totals"] == [7]
    assert share["lines"][0]["values"] == [round(4 * 100 / 7, 1)]


def test_share_of_voice_follows_channel_grants(tenant_a):
    brand = monitor(tenant_a, "ツナグ", "brand", ["ツナグ"])
    granted = make_connection(tenant_a, "instagram")
    hidden = make_connection(tenant_a, "facebook")
    at = datetime(2026, 12, 1, 12, 0, tzinfo=TOKYO)
    mention(tenant_a, [brand], at=at, connection=granted)
    mention(tenant_a, [brand], at=at, connection=hidden)
    from accounts import services as account_services

    with tenant_a.scope():
        account_services.connection_access_set(
            organization=tenant_a.organization,
            actor=tenant_a.users["owner"],
            connection=granted,
            users=[tenant_a.users["analyst"]],
        )
        period = selectors.Period(date(2026, 12, 1), date(2026, 12, 1), TOKYO)
        assert selectors.share_of_voice(tenant_a.memberships["analyst"], period)["totals"] == [1]
        assert selectors.share_of_voice(tenant_a.memberships["manager"], period)["totals"] == [2]


def test_engagement_rate_is_interactions_over_reach_or_followers(tenant_a):
    brand = monitor(tenant_a, "ツナグ", "brand", ["ツナグ"])
    rival = monitor(tenant_a, "カスタマーボックス", "competitor", ["カスタマーボックス"])
    connection = make_connection(tenant_a, "instagram")
    at = datetime(2026, 12, 1, 12, 0, tzinfo=TOKYO)
    mention(tenant_a, [brand], at=at, connection=connection, interactions=30, followers=1000)
    mention(tenant_a, [brand], at=at, connection=connection, interactions=20, reach=500, followers=99999)  # reach wins
    mention(tenant_a, [brand], at=at, connection=connection, interactions=50)  # audience unknown: left out
    mention(tenant_a, [rival], at=at, connection=connection, interactions=90, followers=100)  # not our brand
    period = selectors.Period(date(2026, 12, 1), date(2026, 12, 2), TOKYO)
    with tenant_a.scope():
        rate = selectors.engagement(tenant_a.memberships["manager"], period)
    # (30 + 20) ÷ (1000 + 500) × 100 = 3.33 %
    assert rate["values"] == [3.33, None]
    assert rate["known"] == [2, 0]


def test_the_spike_notification_links_to_the_monitors_mentions(tenant_a, login):
    brand = monitor(tenant_a, "ツナグ", "brand", ["ツナグ"])
    now = datetime.now(UTC)
    connection = make_connection(tenant_a, "instagram")
    for i in range(5):
        mention(tenant_a, [brand], at=now - timedelta(minutes=i), connection=connection)
    with tenant_a.scope():
        assert services.spikes_check(organization=tenant_a.organization, monitors=[brand], now=now)
    from django.urls import reverse

    tenant_a.users["manager"].language = "en"  # the panel follows the reader's language; this reads the English
    tenant_a.users["manager"].save(update_fields=["language"])
    panel = login(tenant_a.users["manager"]).get(reverse("org:notifications", args=[tenant_a.slug])).content.decode()
    assert "ツナグ: 5 mentions in the last hour (usually about 0.0)" in panel
    assert f"/{tenant_a.slug}/analytics/listening/?monitor={brand.pk}" in panel
    monitors = login(tenant_a.users["manager"]).get(reverse("org:listening_monitors", args=[tenant_a.slug]))
    assert "Mention volume, <time" in monitors.content.decode()  # the monitors page shows its last spike
