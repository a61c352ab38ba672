"""The listening poller against the simulator's Graph API over loopback: Instagram tags and hashtag search,
Facebook posts tagging the page, de-duplication, the cursor, the 30-hashtags-per-7-days limit, rate limits."""

from datetime import timedelta

from django.utils import timezone

from analytics.listening import services
from analytics.listening.models import HashtagQuery, ListeningSource, Mention, MentionMatch
from analytics.listening.tests.conftest import meta_connection, monitor


def poll(tenant, connection, *, force=True) -> int:
    with tenant.scope():
        if force:
            ListeningSource.objects.filter(connection=connection).update(next_poll_at=None)
        return services.listening_poll(organization=tenant.organization, connection_id=connection.pk)


def test_instagram_tags_and_hashtags_are_collected_once_with_sentiment_and_monitors(tenant_a, simulator, monitors):
    meta = simulator.parts["meta"]
    connection = meta_connection(tenant_a, simulator)
    ig = connection.external_account_id
    tagged = meta.public_post("週末のカフェ巡り☕ 写真はお店で", author="hana_77", tagged=ig, likes=10, comments=2)
    both = meta.public_post("#ツナグ のサポート最高！助かりました", author="kenji", tagged=ig, likes=5)
    rival = meta.public_post("カスタマーボックス高すぎる。最悪 #カスタマーボックス", likes=1)
    meta.public_post("Moved from Zendesk, no regrets #customerbox")  # CustomerBox yes, Zen no
    meta.public_post("今日はいい天気 #ランチ")  # matches nothing: not stored

    assert poll(tenant_a, connection) == 4
    with tenant_a.scope():
        mentions = {m.external_id: m for m in Mention.objects.prefetch_related("monitors")}
        assert set(mentions) >= {tagged, both, rival}
        assert mentions[tagged].source == "tagged" and mentions[tagged].author_handle == "hana_77"
        assert mentions[tagged].interactions == 12
        # Business Discovery gave the (business) author's followers; hashtag media have no author to ask about.
        assert mentions[tagged].followers > 0 and mentions[rival].followers is None
        assert [m.name for m in mentions[tagged].monitors.all()] == ["ツナグ"]  # tagging the account names the brand
        assert mentions[both].sentiment == "positive"
        assert mentions[rival].sentiment == "negative" and mentions[rival].author_handle == ""  # hashtag media: no user
        zendesk = next(m for m in mentions.values() if "Zendesk" in m.text)
        assert [m.name for m in zendesk.monitors.all()] == ["カスタマーボックス"]
        source = ListeningSource.objects.get(connection=connection)
        assert source.cursor["tags"] and any(k.startswith("hashtag:") for k in source.cursor)
        assert source.next_poll_at > timezone.now() + timedelta(minutes=4)
        assert set(HashtagQuery.objects.values_list("hashtag", flat=True)) == {
            "ツナグ",
            "tsunagu",
            "カスタマーボックス",
            "customerbox",
            "zen",
        }

    # Polled again (nothing new, the same posts served again from the watermark's second): nothing doubles.
    assert poll(tenant_a, connection) == 0
    # A post found by a second connection of the same organization is the same mention.
    other = meta_connection(tenant_a, simulator, account_id="17841400000000002")
    assert poll(tenant_a, other) == 0
    with tenant_a.scope():
        assert Mention.objects.count() == 4
        assert MentionMatch.objects.count() == 4


def test_a_post_seen_again_brings_its_current_counts_and_only_web_links_are_kept(tenant_a, simulator, monitors):
    meta = simulator.parts["meta"]
    connection = meta_connection(tenant_a, simulator)
    post = meta.public_post("#ツナグ 新機能よかった", likes=3)
    poll(tenant_a, connection)
    meta.public[-1]["likes"] = 40  # the newest post is served again from the watermark's second
    poll(tenant_a, connection)
    with tenant_a.scope():
        mention = Mention.objects.get(external_id=post)
        assert mention.interactions == 40 and mention.url.startswith("https://www.instagram.com/p/")
    from analytics.listening.services import _safe_url

    assert _safe_url("javascript:alert(1)") == "" and _safe_url("https://x.example/p") == "https://x.example/p"


def test_a_poll_not_yet_due_or_of_a_locked_source_does_nothing(tenant_a, simulator, monitors):
    connection = meta_connection(tenant_a, simulator)
    simulator.parts["meta"].public_post("#ツナグ よかった")
    assert poll(tenant_a, connection) == 1
    simulator.parts["meta"].public_post("#ツナグ また使いたい")
    assert poll(tenant_a, connection, force=False) == 0  # next_poll_at is 5 minutes away
    assert poll(tenant_a, connection) == 1


def test_facebook_posts_tagging_the_page(tenant_a, simulator, monitors):
    meta = simulator.parts["meta"]
    connection = meta_connection(tenant_a, simulator, "facebook")
    post = meta.public_post(
        "Tsunagu helped us on launch day, thank you!",
        platform="facebook",
        tagged=connection.external_account_id,
        likes=7,
        comments=3,
        shares=2,
    )
    meta.public_post("#ツナグ on Instagram only")  # Facebook has no hashtag search
    assert poll(tenant_a, connection) == 1
    with tenant_a.scope():
        mention = Mention.objects.get()
        assert (mention.external_id, mention.platform, mention.interactions) == (post, "facebook", 12)
        assert mention.url.startswith("https://www.facebook.com/")
        assert not HashtagQuery.objects.exists()


def test_at_most_30_unique_hashtags_per_account_within_7_days(tenant_a, simulator):
    meta = simulator.parts["meta"]
    connection = meta_connection(tenant_a, simulator)
    monitor(tenant_a, "Many", "brand", [f"brand{i}" for i in range(35)])
    poll(tenant_a, connection)
    with tenant_a.scope():
        assert HashtagQuery.objects.count() == 30
        assert sorted(meta.hashtags_queried[connection.external_account_id]) == sorted(f"brand{i}" for i in range(30))
        # Six days later the same 30 may still be asked, no new one.
        HashtagQuery.objects.update(first_queried_at=timezone.now() - timedelta(days=6))
    poll(tenant_a, connection)
    assert len(meta.hashtags_queried[connection.external_account_id]) == 30
    with tenant_a.scope():
        # Once the first 10 are past their 7 days, 10 places are free: brand30-34 join, 5 of the old come back.
        old = timezone.now() - timedelta(days=8)
        HashtagQuery.objects.filter(hashtag__in=[f"brand{i}" for i in range(10)]).update(first_queried_at=old)
        allowed, held = services.hashtags_allowed(connection, services._monitors_for("instagram"), timezone.now())
    assert len(allowed) == 30 and len(held) == 5
    assert {f"brand{i}" for i in range(30, 35)} <= set(allowed)


def test_rate_limit_waits_as_meta_says_and_keeps_the_cursor(tenant_a, simulator, monitors):
    meta = simulator.parts["meta"]
    connection = meta_connection(tenant_a, simulator)
    meta.public_post("#ツナグ 1")
    poll(tenant_a, connection)
    with tenant_a.scope():
        cursor = ListeningSource.objects.get(connection=connection).cursor
    meta.set_rate_limit(0, regain_minutes=15)
    meta.public_post("#ツナグ 2")
    assert poll(tenant_a, connection) == 0
    with tenant_a.scope():
        source = ListeningSource.objects.get(connection=connection)
        assert source.cursor == cursor and source.failures == 1
        assert "rate limit" in source.last_error
        assert source.next_poll_at >= timezone.now() + timedelta(minutes=14)
    meta.set_rate_limit(None)
    meta.budget = None
    assert poll(tenant_a, connection) == 1
    with tenant_a.scope():
        assert ListeningSource.objects.get(connection=connection).failures == 0


def test_a_revoked_token_is_recorded_not_raised(tenant_a, simulator, monitors):
    meta = simulator.parts["meta"]
    connection = meta_connection(tenant_a, simulator)
    meta.public_post("#ツナグ", author="user_personal", tagged=connection.external_account_id)
    assert poll(tenant_a, connection) == 1
    with tenant_a.scope():
        assert Mention.objects.get().followers is None  # a personal account: Business Discovery refuses, no count
    meta.fail_next(190, "Error validating access token")
    assert poll(tenant_a, connection) == 0
    with tenant_a.scope():
        assert "access token" in ListeningSource.objects.get(connection=connection).last_error


def test_sources_due_lists_connections_of_organizations_with_monitors(tenant_a, tenant_b, simulator, monitors):
    connection = meta_connection(tenant_a, simulator)
    meta_connection(tenant_b, simulator)  # B has no monitor
    assert services.sources_due() == [(tenant_a.organization.pk, connection.pk)]
    poll(tenant_a, connection)
    assert services.sources_due() == []


def test_the_demo_week_of_public_posts_is_collected(tenant_a, simulator, monitors):
    meta = simulator.parts["meta"]
    assert meta.seed_public() == 48
    instagram = meta_connection(tenant_a, simulator)
    facebook = meta_connection(tenant_a, simulator, "facebook")
    collected = poll(tenant_a, instagram) + poll(tenant_a, facebook)
    with tenant_a.scope():
        assert collected == Mention.objects.count() > 10
        assert set(Mention.objects.values_list("platform", flat=True)) == {"instagram", "facebook"}
        assert {"ja", "en"} <= set(Mention.objects.values_list("language", flat=True))
        assert MentionMatch.objects.filter(monitor=monitors["rival"]).exists()


def test_the_beat_task_polls_every_due_connection_in_its_organizations_scope(tenant_a, simulator, monitors):
    from analytics.listening import tasks

    connection = meta_connection(tenant_a, simulator)
    simulator.parts["meta"].public_post("#ツナグ 届きました", tagged=connection.external_account_id)
    assert tasks.poll_due() == 1  # eager in tests: the poll ran on the analytics queue's task
    with tenant_a.scope():
        assert Mention.objects.count() == 1
    assert tasks.poll_due() == 0  # not due again for 5 minutes
