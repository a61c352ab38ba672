"""Notifying a member: stored and pushed live when they want it in the app, emailed after commit when they want
that. What a member wants is their preference in that organization, which `accounts` owns and hands in at startup;
the kinds and their targets are registered by the apps that own them (core.notification_kinds)."""

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from core import realtime
from core.models import Notification
from core.notification_kinds import kind_keys, member_preferences
from core.tasks import send_notification_email


def notify(*, organization, user_id: int, kind: str, target: Model, params: dict) -> Notification | None:
    """Notify one member about `target` (a ticket, a post, an asset...). Parameters are kept as numbers or short
    strings: they are formatted into the kind's sentence in the reader's language whenever it is shown."""
    if kind not in kind_keys():
        raise ValueError(f"unknown notification kind {kind!r}")
    wanted = member_preferences(organization, user_id)
    if wanted is None:
        return None
    in_app, email = wanted
    params = {key: value if type(value) is int else str(value)[:120] for key, value in params.items()}
    target_type = ContentType.objects.get_for_model(target)
    notification = None
    if kind in in_app:
        notification = Notification.objects.create(
            organization=organization,
            user_id=user_id,
            kind=kind,
            target_type=target_type,
            target_id=target.pk,
            params=params,
        )
        realtime.publish(
            organization=organization,
            type="notification.created",
            # The target named by its model: {"target": "ticket", "ticket_id": 12}.
            payload={
                "notification_id": notification.pk,
                "target": target_type.model,
                f"{target_type.model}_id": target.pk,
                "kind": kind,
                "params": params,
            },
            groups=[realtime.user_group(organization.pk, user_id)],
        )
    if kind in email:
        transaction.on_commit(
            lambda: send_notification_email.delay(
                organization_id=organization.pk,
                user_id=user_id,
                kind=kind,
                target_type_id=target_type.pk,
                target_id=target.pk,
                params=params,
            )
        )
    return notification


@transaction.atomic
def notifications_mark_read(*, organization, user, ids: list[int] | None = None) -> int:
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())
