"""Reads for the workspace: saved views, notifications."""

from django.db.models import QuerySet

from accounts.models import Membership
from core.models import Notification, RealtimeEvent
from tickets.selectors import view_counts


def notifications_for(membership: Membership) -> QuerySet[Notification]:
    return Notification.objects.filter(user_id=membership.user_id).select_related("organization", "target_type")


def unread_count(membership: Membership) -> int:
    return Notification.objects.filter(user_id=membership.user_id, read_at__isnull=True).count()


COUNTS_TTL = 3  # seconds: counts are refreshed on events; a burst of events costs one computation


def cached_view_counts(membership: Membership, *, as_of: int) -> dict:
    """The left pane's counts, cached briefly per member (visibility differs between members) and per newest event
    (`as_of`, latest_event_id()): a burst of browsers asking after the same events costs one computation, while any
    new event (a ticket arriving, changing) gives fresh counts, not the ones cached just before it."""
    from django.core.cache import cache

    key = f"inbox:counts:{membership.organization_id}:{membership.user_id}:{as_of}"
    counts = cache.get(key)
    if counts is None:
        counts = view_counts(membership)
        cache.set(key, counts, timeout=COUNTS_TTL)
    return counts


def latest_event_id() -> int:
    """The newest stored event id: a freshly rendered page is current up to here, so the browser resumes after it."""
    from django.db.models import Max

    return RealtimeEvent.objects.aggregate(latest=Max("id"))["latest"] or 0
