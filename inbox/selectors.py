"""Reads for the workspace: saved views, notifications."""

from django.db.models import Q, QuerySet

from accounts.models import Membership
from inbox.models import Notification
from tickets.models import SavedView


def saved_views_for(membership: Membership) -> QuerySet[SavedView]:
    return SavedView.objects.filter(Q(owner__isnull=True) | Q(owner_id=membership.user_id))


def notifications_for(membership: Membership) -> QuerySet[Notification]:
    return Notification.objects.filter(user_id=membership.user_id).select_related("ticket")


def unread_count(membership: Membership) -> int:
    return Notification.objects.filter(user_id=membership.user_id, read_at__isnull=True).count()
