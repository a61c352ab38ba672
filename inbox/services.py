"""In-app and email notifications, following each member's preferences in that organization."""

from django.db import transaction
from django.utils import timezone

from accounts.models import Membership
from inbox import realtime
from inbox.models import Notification


def notify(*, organization, user_id: int, kind: str, ticket, params: dict) -> Notification | None:
    """Notify one member: stored and pushed live if they want it in-app, emailed after commit if they want that."""
    membership = Membership.objects.filter(user_id=user_id).only("notify_in_app", "notify_email").first()
    if membership is None:
        return None
    notification = None
    if kind in membership.notify_in_app:
        params = {"number": ticket.number, **{k: str(v)[:120] for k, v in params.items()}}
        notification = Notification.objects.create(
            organization=organization, user_id=user_id, kind=kind, ticket=ticket, params=params
        )
        realtime.publish(
            organization=organization,
            type="notification.created",
            payload={"notification_id": notification.pk, "ticket_id": ticket.pk, "kind": kind, "params": params},
            groups=[realtime.user_group(organization.pk, user_id)],
        )
    if kind in membership.notify_email:
        from inbox.tasks import send_notification_email

        email_params = {"number": ticket.number, **{k: str(v)[:120] for k, v in params.items()}}
        transaction.on_commit(
            lambda: send_notification_email.delay(
                organization_id=organization.pk, user_id=user_id, ticket_id=ticket.pk, kind=kind, params=email_params
            )
        )
    return notification


@transaction.atomic
def notifications_mark_read(*, organization, user, ids: list[int] | None = None) -> int:
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())


@transaction.atomic
def notification_preferences_set(*, organization, membership: Membership, in_app: list[str], email: list[str]) -> None:
    from accounts.models import NOTIFICATION_KINDS

    membership.notify_in_app = [k for k in NOTIFICATION_KINDS if k in in_app]
    membership.notify_email = [k for k in NOTIFICATION_KINDS if k in email]
    membership.save(update_fields=["notify_in_app", "notify_email"])
