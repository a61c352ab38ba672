"""Social listening writes: monitors, the poller that collects mentions through the connectors, the one-click
ticket, spike alerts.

Lock order: a connection's ListeningSource row (one poll per connection at a time), then Mention rows (the ticket
button). The poller never locks a mention; the ticket button never locks a source."""

import logging
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Membership, Organization, User
from accounts.roles import Capability
from analytics.listening.matching import Matcher, fold, hashtags_for
from analytics.listening.models import (
    HashtagQuery,
    ListeningSource,
    Mention,
    MentionMatch,
    MentionSource,
    Monitor,
    MonitorKind,
    SpikeAlert,
    SpikeKind,
)
from automation import nlp
from channels_integrations.connector import (
    AuthFailed,
    ConnectorError,
    FoundPost,
    ListeningUnsupported,
    RateLimited,
    TransientError,
)
from channels_integrations.inbound import InboundMessage
from channels_integrations.models import ChannelConnection, ConnectionStatus
from channels_integrations.registry import all_connectors, connector_for
from core.notifications import notify
from core.retry import retry_delay
from tickets.models import Ticket
from tickets.services.ingest import message_ingest

logger = logging.getLogger("tsunagu.listening")

POLL_INTERVAL = timedelta(minutes=5)
HASHTAG_LIMIT = 30  # unique Instagram hashtags an account may query…
HASHTAG_WINDOW = timedelta(days=7)  # …within a rolling 7 days (Meta's Hashtag Search limit)
REMATCH_WINDOW = timedelta(days=30)  # a new or changed monitor is applied to the mentions of the last 30 days

# Spikes (see spike_volume / spike_negative): the last hour against the 168 hours before it.
SPIKE_WINDOW = timedelta(hours=1)
BASELINE_WINDOWS = 7 * 24
SPIKE_SIGMAS = 3.0
MIN_SPIKE_VOLUME = 5  # fewer mentions than this in the hour is never a volume spike
MIN_SPIKE_NEGATIVE = 3  # nor fewer negative ones a negative spike


# --- monitors -----------------------------------------------------------------------------------------------------


def _clean_terms(terms: list[str]) -> list[str]:
    seen: list[str] = []
    for term in terms:
        term = term.strip()
        if term and term not in seen:
            seen.append(term[:100])
    return seen


@transaction.atomic
def monitor_save(
    *,
    organization: Organization,
    actor: User,
    monitor: Monitor | None = None,
    name: str,
    kind: str,
    terms: list[str],
    excluded_terms: list[str],
    platforms: list[str],
    active: bool,
) -> Monitor:
    """Create or change a monitor, then match it against the mentions of the last REMATCH_WINDOW, so share of
    voice covers a competitor from the day it was added back to what was already collected."""
    monitor = monitor or Monitor(organization=organization)
    monitor.name, monitor.kind, monitor.active = name.strip(), kind, active
    monitor.terms, monitor.excluded_terms = _clean_terms(terms), _clean_terms(excluded_terms)
    monitor.platforms = sorted(set(platforms))
    monitor.save()
    _rematch(organization, monitor)
    return monitor


def _rematch(organization: Organization, monitor: Monitor) -> None:
    since = timezone.now() - REMATCH_WINDOW
    matcher = Matcher(monitor.terms, monitor.excluded_terms)
    mentions = Mention.objects.filter(posted_at__gte=since)
    if monitor.platforms:
        mentions = mentions.filter(platform__in=monitor.platforms)
    wanted = {}
    for mention_id, text, source, sentiment, posted_at in mentions.values_list(
        "pk", "text", "source", "sentiment", "posted_at"
    ):
        if _applies(monitor, matcher, text, source):
            wanted[mention_id] = (posted_at, sentiment == "negative")
    MentionMatch.objects.filter(monitor=monitor).exclude(mention_id__in=wanted).delete()
    MentionMatch.objects.bulk_create(
        [
            MentionMatch(organization=organization, mention_id=m, monitor=monitor, posted_at=at, negative=negative)
            for m, (at, negative) in wanted.items()
        ],
        ignore_conflicts=True,
    )


def _applies(monitor: Monitor, matcher: Matcher, text: str, source: str) -> bool:
    """A post that tags our account names our brand even without its words (a photo tagging the shop)."""
    if monitor.kind == MonitorKind.BRAND and source == MentionSource.TAGGED:
        return not any(t.pattern.search(fold(text, kana=t.kana)) for t in matcher.excluded)
    return matcher.matches(text)


# --- the poller ---------------------------------------------------------------------------------------------------


def listening_platforms() -> list[str]:
    return [c.platform for c in all_connectors() if c.listens]


def sources_due() -> list[tuple[int, int]]:
    """(organization id, connection id) of every connection of a listening platform, in an organization with an
    active monitor, whose listening poll is due: the one cross-tenant read of the scheduler."""
    from django_scopes import scopes_disabled

    now = timezone.now()
    with scopes_disabled():
        organizations = Monitor.objects.filter(active=True).values("organization_id")
        rows = ChannelConnection.objects.filter(
            organization_id__in=organizations,
            platform__in=listening_platforms(),
            status__in=[ConnectionStatus.ACTIVE, ConnectionStatus.ERROR],
        )
        not_due = ListeningSource.objects.filter(next_poll_at__gt=now).values("connection_id")
        return list(rows.exclude(pk__in=not_due).values_list("organization_id", "pk"))


def _monitors_for(platform: str) -> list[Monitor]:
    return [m for m in Monitor.objects.filter(active=True) if not m.platforms or platform in m.platforms]


def hashtags_allowed(connection: ChannelConnection, monitors: list[Monitor], now: datetime) -> tuple[dict, list]:
    """The hashtags this poll may search: (hashtag -> known id or "", hashtags held back). A hashtag first queried
    within HASHTAG_WINDOW is free to query again; a new one (or one whose 7 days are over) is taken only while fewer
    than HASHTAG_LIMIT hashtags were first queried within the window — the rest wait their turn."""
    wanted: list[str] = []
    for monitor in monitors:
        for tag in hashtags_for(monitor.terms):
            if tag not in wanted:
                wanted.append(tag)
    known = {q.hashtag: q for q in HashtagQuery.objects.filter(connection=connection)}
    in_window = {tag for tag, q in known.items() if q.first_queried_at > now - HASHTAG_WINDOW}
    allowed = {tag: known[tag].hashtag_id for tag in wanted if tag in in_window}
    # The free places go to hashtags never asked first, then to those asked longest ago: each gets its turn.
    waiting = sorted(
        (tag for tag in wanted if tag not in in_window),
        key=lambda tag: (tag in known, known[tag].first_queried_at if tag in known else now),
    )
    budget = max(HASHTAG_LIMIT - len(in_window), 0)
    for tag in waiting[:budget]:
        allowed[tag] = known[tag].hashtag_id if tag in known else ""
    held = waiting[budget:]
    return allowed, held


def _hashtags_record(organization, connection, allowed: dict, looked_up: dict, now: datetime) -> None:
    known = {q.hashtag: q for q in HashtagQuery.objects.filter(connection=connection, hashtag__in=list(allowed))}
    for tag in allowed:
        query = known.get(tag)
        if query is None:
            HashtagQuery.objects.create(
                organization=organization,
                connection=connection,
                hashtag=tag,
                hashtag_id=looked_up.get(tag, ""),
                first_queried_at=now,
            )
        elif query.first_queried_at <= now - HASHTAG_WINDOW or (looked_up.get(tag) and not query.hashtag_id):
            if query.first_queried_at <= now - HASHTAG_WINDOW:
                query.first_queried_at = now  # its 7 days start again: it counts against the limit anew
            query.hashtag_id = looked_up.get(tag) or query.hashtag_id
            query.save(update_fields=["first_queried_at", "hashtag_id"])


def listening_poll(*, organization: Organization, connection_id: int) -> int:
    """Collect one connection's new public mentions once: the source row stays locked for the whole poll (a
    concurrent poll of the same connection skips), and the cursor is saved in the same transaction as the mentions
    it covers. Errors follow the one retry policy (core.retry): a rate limit waits as long as the platform says,
    other transient errors back off, bad credentials stop until the channel is re-authorized. Returns how many new
    mentions were stored; spikes are checked after."""
    now = timezone.now()
    connection = ChannelConnection.objects.filter(pk=connection_id).first()
    if connection is None:
        return 0
    try:
        ListeningSource.objects.get_or_create(connection=connection, defaults={"organization": organization})
    except IntegrityError:
        pass  # a concurrent first poll created it
    with transaction.atomic():
        source = (
            ListeningSource.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("connection")
            .filter(connection_id=connection_id)
            .first()
        )
        if source is None or (source.next_poll_at and source.next_poll_at > now):
            return 0
        connection = source.connection
        if connection.status not in (ConnectionStatus.ACTIVE, ConnectionStatus.ERROR):
            return 0
        monitors = _monitors_for(connection.platform)
        if not monitors:
            _source_done(source, now, next_in=POLL_INTERVAL)
            return 0
        connector = connector_for(connection.platform)
        allowed = hashtags_allowed(connection, monitors, now)[0] if connector.searches_hashtags else {}
        try:
            page = connector.search_mentions(connection, hashtags=allowed, cursor=dict(source.cursor))
        except RateLimited as exc:
            return _source_failed(source, now, exc, wait=exc.retry_after)
        except ListeningUnsupported as exc:
            return _source_failed(source, now, exc, wait=24 * 3600)
        except AuthFailed as exc:  # the channels page asks for re-authorization; listening waits an hour
            return _source_failed(source, now, exc, wait=3600)
        except (TransientError, ConnectorError) as exc:
            return _source_failed(source, now, exc, wait=None)
        _hashtags_record(organization, connection, allowed, page.hashtag_ids, now)
        new = mentions_store(organization=organization, connection=connection, posts=page.posts, monitors=monitors)
        source.cursor = page.cursor
        source.failures = 0
        _source_done(source, now, next_in=timedelta(seconds=1) if page.more else POLL_INTERVAL)
        if new:
            spikes_check(organization=organization, monitors=monitors, now=now)
        return len(new)


def _source_done(source: ListeningSource, now: datetime, *, next_in: timedelta) -> None:
    source.last_polled_at = now
    source.next_poll_at = now + next_in
    source.last_error = ""
    source.save(update_fields=["cursor", "failures", "last_polled_at", "next_poll_at", "last_error"])


def _source_failed(source: ListeningSource, now: datetime, exc: ConnectorError, *, wait: float | None) -> int:
    source.failures += 1
    delay = retry_delay(source.failures, retry_after=wait) or int(max(wait or 0, 6 * 3600))
    source.next_poll_at = now + timedelta(seconds=delay)
    source.last_error = (exc.message or str(exc) or type(exc).__name__)[:1000]
    source.save(update_fields=["failures", "next_poll_at", "last_error"])
    logger.info("listening poll of connection %s failed (%s); next in %ss", source.connection_id, exc, delay)
    return 0


def mentions_store(
    *, organization: Organization, connection: ChannelConnection, posts: list[FoundPost], monitors: list[Monitor]
) -> list[Mention]:
    """Store the posts that match a monitor, each once per organization and platform (the unique key decides, so
    a post found twice — two calls, two connections, a repeated poll — stays one row), with language, sentiment
    and the monitors matched. Returns the mentions new in this call."""
    matchers = [(m, Matcher(m.terms, m.excluded_terms)) for m in monitors]
    candidates: dict[str, tuple[FoundPost, list[Monitor]]] = {}
    for post in posts:
        matched = [m for m, matcher in matchers if _applies(m, matcher, post.text, post.source)]
        if matched and post.external_id not in candidates:
            candidates[post.external_id] = (post, matched)
    if not candidates:
        return []
    platform = connection.platform
    found = Mention.objects.filter(platform=platform, external_id__in=list(candidates))
    existing = set(found.values_list("external_id", flat=True))
    _counts_refresh(found, candidates)
    rows = []
    for external_id, (post, _matched) in candidates.items():
        if external_id in existing:
            continue
        analysis = nlp.analyze(post.text)
        rows.append(
            Mention(
                organization=organization,
                platform=platform,
                connection=connection,
                external_id=external_id,
                source=post.source,
                author_handle=post.author_handle[:120],
                author_name=post.author_name[:200],
                text=post.text,
                url=_safe_url(post.url),
                posted_at=post.posted_at,
                language=analysis.language[:8],
                sentiment=analysis.sentiment,
                sentiment_score=analysis.score,
                interactions=post.likes + post.comments + post.shares,
                reach=post.reach,
                followers=post.followers,
            )
        )
    Mention.objects.bulk_create(rows, ignore_conflicts=True)  # a concurrent poll of another connection may win
    new = list(
        Mention.objects.filter(
            platform=platform, external_id__in=[r.external_id for r in rows], connection=connection
        ).exclude(external_id__in=existing)
    )
    MentionMatch.objects.bulk_create(
        [
            MentionMatch(
                organization=organization,
                mention=mention,
                monitor=monitor,
                posted_at=mention.posted_at,
                negative=mention.sentiment == "negative",
            )
            for mention in new
            for monitor in candidates[mention.external_id][1]
        ],
        ignore_conflicts=True,
    )
    return new


def _safe_url(url: str) -> str:
    """Only web links are kept: the stream renders them as links."""
    return url[:500] if url.startswith(("https://", "http://")) else ""


def _counts_refresh(found, candidates: dict) -> None:
    """A post seen again brings its current likes, comments and shares (and its author's followers)."""
    changed = []
    for mention in found.only("pk", "external_id", "interactions", "followers", "reach"):
        post = candidates[mention.external_id][0]
        interactions = post.likes + post.comments + post.shares
        followers = post.followers or mention.followers
        reach = post.reach or mention.reach
        if (interactions, followers, reach) != (mention.interactions, mention.followers, mention.reach):
            mention.interactions, mention.followers, mention.reach = interactions, followers, reach
            changed.append(mention)
    Mention.objects.bulk_update(changed, ["interactions", "followers", "reach"])


# --- the one-click ticket -----------------------------------------------------------------------------------------


def mention_ticket_create(*, organization: Organization, actor: User, mention: Mention) -> Ticket:
    """Turn a mention into a ticket on the mention's connection, the post as its first inbound (public) message,
    and link it. Clicking twice gives the same ticket: the mention row is locked and an existing link returned,
    and the message's platform id is the post's, so the ingest's own unique key holds too."""
    with transaction.atomic():
        mention = Mention.objects.select_for_update().select_related("connection").get(pk=mention.pk)
        if mention.ticket_id:
            return Ticket.objects.get(pk=mention.ticket_id)
        author = mention.author_handle or mention.author_name
        inbound = InboundMessage(
            platform_message_id=mention.external_id,
            thread_key=f"listening:{mention.external_id}",
            kind="mention",
            author_id=author or f"post:{mention.external_id}",
            author_name=mention.author_name or mention.author_handle,
            author_handle=mention.author_handle,
            text=mention.text or mention.url,
            timestamp=mention.posted_at,
            reply_to_platform_id=mention.external_id,
            is_public=True,
        )
        message, _created = message_ingest(organization=organization, connection=mention.connection, inbound=inbound)
        mention.ticket_id = message.ticket_id
        mention.save(update_fields=["ticket"])
        logger.info("mention %s became ticket %s (by user %s)", mention.pk, message.ticket_id, actor.pk)
        return message.ticket


# --- spikes -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpikeTest:
    value: float  # what the last hour measured
    mean: float  # the baseline's mean
    std: float  # its standard deviation
    threshold: float  # mean + SPIKE_SIGMAS × std
    spike: bool


def spike_volume(current: int, baseline: list[int]) -> SpikeTest:
    """Volume: the last hour's mentions against the previous BASELINE_WINDOWS hours' counts (every hour counted,
    also the empty ones): a spike when at least MIN_SPIKE_VOLUME and above mean + 3σ (population σ)."""
    n = len(baseline) or 1
    mean = sum(baseline) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in baseline) / n)
    threshold = mean + SPIKE_SIGMAS * std
    return SpikeTest(current, mean, std, threshold, current >= MIN_SPIKE_VOLUME and current > threshold)


def spike_negative(negative: int, total: int, baseline_negative: int, baseline_total: int) -> SpikeTest:
    """Negative share: the last hour's share of negative mentions against the baseline's share p over the previous
    BASELINE_WINDOWS hours; σ is the binomial σ of a share over the hour's `total` mentions, √(p(1−p)/total).
    A spike when at least MIN_SPIKE_NEGATIVE negative mentions and the share is above p + 3σ."""
    if total == 0:
        return SpikeTest(0.0, 0.0, 0.0, 0.0, False)
    share = negative / total
    p = baseline_negative / baseline_total if baseline_total else 0.0
    std = math.sqrt(p * (1 - p) / total)
    threshold = p + SPIKE_SIGMAS * std
    return SpikeTest(share, p, std, threshold, negative >= MIN_SPIKE_NEGATIVE and share > threshold)


def spikes_check(*, organization: Organization, monitors: list[Monitor], now: datetime) -> list[SpikeAlert]:
    """After a poll: per monitor, the last hour against its baseline; a spike alerts the members who manage
    analytics, at once, once per monitor, kind and clock hour (a unique row, so two polls cannot both alert)."""
    start = now - SPIKE_WINDOW * (BASELINE_WINDOWS + 1)
    counts: dict[int, list[int]] = defaultdict(lambda: [0] * (BASELINE_WINDOWS + 1))
    negatives: dict[int, list[int]] = defaultdict(lambda: [0] * (BASELINE_WINDOWS + 1))
    rows = MentionMatch.objects.filter(monitor__in=monitors, posted_at__gt=start, posted_at__lte=now).values_list(
        "monitor_id", "posted_at", "negative"
    )
    for monitor_id, posted_at, negative in rows:
        # Window 0 is the last hour (now − 1 h, now]; window k the hour k hours before it.
        k = min(int((now - posted_at) / SPIKE_WINDOW - 1e-9), BASELINE_WINDOWS)
        counts[monitor_id][k] += 1
        negatives[monitor_id][k] += int(negative)
    bucket = now.replace(minute=0, second=0, microsecond=0)
    alerts = []
    for monitor in monitors:
        if monitor.pk not in counts:
            continue
        volume = counts[monitor.pk]
        negative = negatives[monitor.pk]
        tests = {
            SpikeKind.VOLUME: spike_volume(volume[0], volume[1:]),
            SpikeKind.NEGATIVE: spike_negative(negative[0], volume[0], sum(negative[1:]), sum(volume[1:])),
        }
        for kind, test in tests.items():
            if not test.spike:
                continue
            alert = _alert(organization, monitor, kind, bucket, test, volume[0], negative[0])
            if alert is not None:
                alerts.append(alert)
    return alerts


def _alert(organization, monitor: Monitor, kind: str, bucket, test: SpikeTest, count: int, negative: int):
    try:
        with transaction.atomic():
            alert = SpikeAlert.objects.create(
                organization=organization,
                monitor=monitor,
                kind=kind,
                window_start=bucket,
                value=test.value,
                baseline_mean=test.mean,
                baseline_std=test.std,
                threshold=test.threshold,
            )
    except IntegrityError:
        return None  # already alerted in this hour
    logger.warning("listening spike (%s) on monitor %s: %s > %s", kind, monitor.pk, test.value, test.threshold)
    if kind == SpikeKind.VOLUME:
        params = {"monitor": monitor.name, "count": count, "usual": f"{test.mean:.1f}"}
    else:
        params = {"monitor": monitor.name, "count": negative, "percent": round(test.value * 100)}
    managers = Membership.objects.filter(role__capabilities__contains=[Capability.ANALYTICS_MANAGE])
    for user_id in managers.values_list("user_id", flat=True):
        notify(organization=organization, user_id=user_id, kind=f"listening_{kind}", target=monitor, params=params)
    return alert
