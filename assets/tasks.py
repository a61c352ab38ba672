"""Periodic asset-library work (Celery beat)."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone
from django_scopes import scopes_disabled

from assets.models import Asset, AssetStatus, AssetUpload
from assets.services.expiry import asset_files_sweep, assets_notify_expiring
from assets.uploads import orphan_partials, upload_path, uploads_expire
from core.task_base import TenantTask


@shared_task(name="assets.expire_uploads")
def expire_uploads() -> int:
    """Delete resumable uploads abandoned for longer than ASSETS_UPLOAD_EXPIRY_HOURS and partial files without an
    upload row (a crash between the two). Spans tenants by design: it only removes unfinished uploads."""
    with scopes_disabled():
        count = uploads_expire()
        known = {str(pk) for pk in AssetUpload.objects.values_list("pk", flat=True)}
    for name in orphan_partials(known):
        upload_path(name).unlink(missing_ok=True)
    return count


@shared_task(name="assets.notify_expiring_everywhere")
def notify_expiring_everywhere() -> int:
    """One task per organization with an asset nearing its expiry that its owner has not heard about."""
    now = timezone.now()
    with scopes_disabled():
        organization_ids = list(
            Asset.objects.filter(
                expires_at__gt=now,
                expires_at__lte=now + timedelta(days=settings.ASSETS_EXPIRY_NOTICE_DAYS),
                expiry_notified_at__isnull=True,
                owner__isnull=False,
            )
            .exclude(status=AssetStatus.ARCHIVED)
            .values_list("organization_id", flat=True)
            .distinct()
        )
    for organization_id in organization_ids:
        notify_expiring.delay(organization_id=organization_id)
    return len(organization_ids)


@shared_task(base=TenantTask, name="assets.notify_expiring", acks_late=True)
def notify_expiring(*, organization) -> int:
    return assets_notify_expiring(organization=organization)


@shared_task(name="assets.sweep_files_everywhere")
def sweep_files_everywhere() -> int:
    """One sweep of unreferenced asset files per organization that has assets."""
    with scopes_disabled():
        organization_ids = list(Asset.objects.values_list("organization_id", flat=True).distinct())
    for organization_id in organization_ids:
        sweep_files.delay(organization_id=organization_id)
    return len(organization_ids)


@shared_task(base=TenantTask, name="assets.sweep_files", acks_late=True)
def sweep_files(*, organization) -> int:
    return len(asset_files_sweep(organization=organization))
