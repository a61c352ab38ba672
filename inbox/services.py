"""In-app notifications: stored, counted on the bell, pushed live to the one user."""

from django.db import transaction
from django.utils import timezone

from inbox import realtime
from inbox.models import Notification


def notify(*, organization, user_id: int, kind: str, ticket, text: str) -> Notification:
    notification = Notification.objects.create(
        organization=organization, user_id=user_id, kind=kind, ticket=ticket, text=text[:300]
    )
    realtime.publish(
        organization=organization,
        type="notification.created",
        payload={"notification_id": notification.pk, "ticket_id": ticket.pk, "kind": kind, "text": notification.text},
        groups=[realtime.user_group(organization.pk, user_id)],
    )
    return notification


@transaction.atomic
def notifications_mark_read(*, organization, user, ids: list[int] | None = None) -> int:
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())
