"""Telling owners about assets that expire soon, once per expiry date."""

import math
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from accounts.models import Organization
from assets.models import Asset, AssetStatus, AssetUsage
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
