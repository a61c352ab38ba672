"""Notifying a member: stored and pushed live when they want it in the app, emailed after commit when they want
that. What a member wants is their preference in that organization, which `accounts` owns and hands in at startup;
the kinds and their targets are registered by the apps that own them (core.notification_kinds)."""

from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from core import realtime
from core.models import Notification
from core.notification_kinds import kind_keys, member_preferences, members_preferences
from core.tasks import send_notification_email, send_notification_emails


def notify(*, organization, user_id: int, kind: str, target: Model, params: dict) -> Notification | None:
    """Notify one member about `target` (a ticket, a post, an asset...). Parameters are kept as numbers or short
    strings: they are formatted into the kind's sentence in the reader's language whenever it is shown."""
    if kind not in kind_keys():
        raise ValueError(f"unknown notification kind {kind!r}")
    wanted = member_preferences(organization, user_id)
    if wanted is None:
        return None
    in_app, email = wanted
    params = _stored_params(params)
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
    _announce(organization, user_id, kind, target_type, target.pk, params, notification, kind in email)
    return notification


@dataclass(frozen=True)
class Notice:
    """One notification to make with `notify_many`: the arguments `notify` takes for one."""

    user_id: int
    kind: str
    target: Model
    params: dict


def notify_many(*, organization, notices: Sequence[Notice]) -> list[Notification | None]:
    """`notify` for each notice, in order — the same notifications, live events and emails as one call each — with
    the members' preferences read once, the notifications stored in one INSERT and the emails sent by one task (a
    batch of SLA breaches). Returns what `notify` would have returned for each."""
    for notice in notices:
        if notice.kind not in kind_keys():
            raise ValueError(f"unknown notification kind {notice.kind!r}")
    wanted = members_preferences(organization, {notice.user_id for notice in notices})
    planned = []
    for notice in notices:
        if notice.user_id not in wanted:
            planned.append(None)
            continue
        target_type = ContentType.objects.get_for_model(notice.target)
        params = _stored_params(notice.params)
        notification = None
        if notice.kind in wanted[notice.user_id][0]:
            notification = Notification(
                organization=organization,
                user_id=notice.user_id,
                kind=notice.kind,
                target_type=target_type,
                target_id=notice.target.pk,
                params=params,
            )
        planned.append((notice, target_type, params, notification))
    stored = [entry[3] for entry in planned if entry is not None and entry[3] is not None]
    if stored:
        Notification.objects.bulk_create(stored)  # PostgreSQL returns their ids (the live events carry them)
    results: list[Notification | None] = []
    emails = []
    for entry in planned:
        if entry is None:
            results.append(None)
            continue
        notice, target_type, params, notification = entry
        _announce(organization, notice.user_id, notice.kind, target_type, notice.target.pk, params, notification, False)
        if notice.kind in wanted[notice.user_id][1]:
            emails.append(
                {
                    "user_id": notice.user_id,
                    "kind": notice.kind,
                    "target_type_id": target_type.pk,
                    "target_id": notice.target.pk,
                    "params": params,
                }
            )
        results.append(notification)
    if emails:
        # One task for the batch's emails, not one each (a Celery message costs about a millisecond to send).
        transaction.on_commit(lambda: send_notification_emails.delay(organization_id=organization.pk, emails=emails))
    return results


def _stored_params(params: dict) -> dict:
    return {key: value if type(value) is int else str(value)[:120] for key, value in params.items()}


def _announce(organization, user_id, kind, target_type, target_id, params, notification, email: bool) -> None:
    """Push a stored notification to the member's browsers, and email it after commit when they want that."""
    if notification is not None:
        realtime.publish(
            organization=organization,
            type="notification.created",
            # The target named by its model: {"target": "ticket", "ticket_id": 12}.
            payload={
                "notification_id": notification.pk,
                "target": target_type.model,
                f"{target_type.model}_id": target_id,
                "kind": kind,
                "params": params,
            },
            groups=[realtime.user_group(organization.pk, user_id)],
        )
    if email:
        transaction.on_commit(
            lambda: send_notification_email.delay(
                organization_id=organization.pk,
                user_id=user_id,
                kind=kind,
                target_type_id=target_type.pk,
                target_id=target_id,
                params=params,
            )
        )


@transaction.atomic
def notifications_mark_read(*, organization, user, ids: list[int] | None = None) -> int:
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())
