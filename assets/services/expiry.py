"""Periodic care of the library: telling owners about assets that expire soon (once per expiry date), and removing
stored files no version names."""

import math
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from accounts.models import Organization
from assets.models import Asset, AssetStatus, AssetUsage, AssetVersion
from assets.notifications import EXPIRING
from core.notifications import notify


def assets_notify_expiring(*, organization: Organization, now=None) -> int:
    """Notify the owner of each asset expiring within ASSETS_EXPIRY_NOTICE_DAYS (not archived, not yet told about
    this expiry date): how many days are left and how many uses it has, so they can renew it or replace it where it
    is used. Changing the expiry date makes it eligible again (asset_update clears the mark). Returns how many."""
    now = now or timezone.now()
    horizon = now + timedelta(days=settings.ASSETS_EXPIRY_NOTICE_DAYS)
    with transaction.atomic():
        due = list(
            Asset.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                organization=organization,
                expires_at__gt=now,
                expires_at__lte=horizon,
                expiry_notified_at__isnull=True,
                owner__isnull=False,
            )
            .exclude(status=AssetStatus.ARCHIVED)
        )
        counted = AssetUsage.objects.filter(asset__in=due).values("asset_id").annotate(n=Count("id"))
        uses = dict(counted.values_list("asset_id", "n"))
        for asset in due:
            days = max(1, math.ceil((asset.expires_at - now).total_seconds() / 86400))
            notify(
                organization=organization,
                user_id=asset.owner_id,
                kind=EXPIRING,
                target=asset,
                params={"title": asset.title, "days": days, "uses": uses.get(asset.pk, 0)},
            )
        Asset.objects.filter(pk__in=[a.pk for a in due]).update(expiry_notified_at=now)
    return len(due)


def asset_files_sweep(*, organization: Organization, older_than: timedelta = timedelta(hours=6)) -> list[str]:
    """Delete stored files of the organization's assets that no version names (a process killed between storing a
    file and committing its row leaves one) and that are older than `older_than` (younger ones may belong to a
    transaction still running). Returns the names deleted."""
    storage = AssetVersion._meta.get_field("file").storage
    known = set()
    for file_name, thumb_name in AssetVersion.objects.filter(organization=organization).values_list(
        "file", "thumbnail"
    ):
        known.update((file_name, thumb_name))
    cutoff = timezone.now() - older_than
    deleted = []
    for directory in (f"assets/{organization.pk}", f"assets/thumbs/{organization.pk}"):
        try:
            _dirs, files = storage.listdir(directory)
        except FileNotFoundError:
            continue
        for name in files:
            path = f"{directory}/{name}"
            if path in known:
                continue
            try:
                if storage.get_modified_time(path) > cutoff:
                    continue
            except (FileNotFoundError, NotImplementedError):
                continue
            storage.delete(path)
            deleted.append(path)
    return deleted
