"""Periodic asset-library work (Celery beat)."""

from celery import shared_task
from django_scopes import scopes_disabled

from assets.models import AssetUpload
from assets.uploads import orphan_partials, upload_path, uploads_expire


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
