"""Mentions made directly (no platform): for the maths, the pages and the tenant-isolation walk."""

import itertools
from datetime import datetime

from django.utils import timezone

from analytics.listening.models import Mention, MentionMatch, Monitor
from tickets.tests.factories import connection as make_connection

_serial = itertools.count(1)


def mention(
    tenant,
    monitors: list[Monitor],
    *,
    at: datetime | None = None,
    text: str = "ツナグ最高",
    sentiment: str = "neutral",
    connection=None,
    interactions: int = 0,
    reach: int | None = None,
    followers: int | None = None,
    author: str = "hana_77",
) -> Mention:
    connection = connection or make_connection(tenant, "instagram")
    at = at or timezone.now()
    with tenant.scope():
        made = Mention.objects.create(
            organization=tenant.organization,
            platform=connection.platform,
            connection=connection,
            external_id=f"post-{next(_serial)}",
            source="hashtag",
            author_handle=author,
            text=text,
            url="https://www.instagram.com/p/abc/",
            posted_at=at,
            sentiment=sentiment,
            interactions=interactions,
            reach=reach,
            followers=followers,
        )
        for monitor in monitors:
            MentionMatch.objects.create(
                organization=tenant.organization,
                mention=made,
                monitor=monitor,
                posted_at=at,
                negative=sentiment == "negative",
            )
        return made
