"""Reads for accounts. All of them run inside the active organization's scope."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Prefetch, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from accounts.models import AuditAction, AuditEntry, Invitation, Membership, Team, User


def membership_list() -> QuerySet[Membership]:
    return Membership.objects.select_related("user", "role").order_by("user__name", "user__email")


def team_list() -> QuerySet[Team]:
    return (
        Team.objects.select_related("group")
        .prefetch_related(Prefetch("group__user_set", queryset=User.objects.order_by("name", "email")))
        .annotate(member_count=Count("group__user"))
        .order_by("name")
    )


def invitation_list() -> QuerySet[Invitation]:
    return Invitation.objects.select_related("role", "invited_by").prefetch_related("teams")


def open_invitation_list() -> QuerySet[Invitation]:
    return invitation_list().filter(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now())


def _parse_when(value: str | None, *, end_of_day: bool) -> datetime | None:
    if not value:
        return None
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            return None
        moment = datetime.combine(day, datetime.max.time() if end_of_day else datetime.min.time())
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)  # in the viewer's active time zone
    return moment


@dataclass(frozen=True)
class AuditFilter:
    action: str = ""
    actor: str = ""
    object_type: str = ""
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def from_query(cls, query) -> "AuditFilter":
        action = query.get("action", "")
        return cls(
            action=action if action in AuditAction.values else "",
            actor=query.get("actor", "").strip(),
            object_type=query.get("object_type", "").strip(),
            since=_parse_when(query.get("since"), end_of_day=False),
            until=_parse_when(query.get("until"), end_of_day=True),
        )


def audit_list(*, filters: AuditFilter = AuditFilter()) -> QuerySet[AuditEntry]:
    entries = AuditEntry.objects.all()
    if filters.action:
        entries = entries.filter(action=filters.action)
    if filters.actor:
        entries = entries.filter(actor_email__icontains=filters.actor)
    if filters.object_type:
        entries = entries.filter(object_type=filters.object_type)
    if filters.since:
        entries = entries.filter(created_at__gte=filters.since)
    if filters.until:
        entries = entries.filter(created_at__lte=filters.until)
    return entries


def notification_preferences(organization, user_id: int) -> tuple[list[str], list[str]] | None:
    """What a member wants to hear about (in the app, by email) in this organization; None for a non-member. Read by
    core's notifications through the lookup accounts hands it at startup."""
    row = (
        Membership.objects.filter(organization=organization, user_id=user_id)
        .values_list("notify_in_app", "notify_email")
        .first()
    )
    return None if row is None else (row[0], row[1])


def notification_preferences_many(organization, user_ids) -> dict[int, tuple[list[str], list[str]]]:
    """`notification_preferences` of several users in one query: user id → (in the app, by email); non-members are
    left out."""
    return {
        user_id: (in_app, email)
        for user_id, in_app, email in Membership.objects.filter(
            organization=organization, user_id__in=list(user_ids)
        ).values_list("user_id", "notify_in_app", "notify_email")
    }
