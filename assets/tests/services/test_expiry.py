"""Owners hear once that an asset of theirs expires soon; a new date makes them hear again."""

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from assets.services import asset_archive, asset_update, assets_notify_expiring
from assets.tasks import notify_expiring_everywhere
from assets.tests.factories import make_snippet
from core.models import Notification

pytestmark = pytest.mark.django_db


def test_owner_notified_once_per_expiry_date(tenant_a, tenant_b):
    now = timezone.now()
    soon = make_snippet(tenant_a, "editor", title="Spring sale copy", expires_at=now + timedelta(days=3))
    make_snippet(tenant_a, "editor", title="Later", expires_at=now + timedelta(days=30))
    make_snippet(tenant_a, "editor", title="Gone", expires_at=now - timedelta(days=1))
    withdrawn = make_snippet(tenant_a, "editor", title="Withdrawn", expires_at=now + timedelta(days=2))
    with tenant_a.scope():
        asset_archive(organization=tenant_a.organization, actor=tenant_a.users["owner"], asset=withdrawn)
    make_snippet(tenant_b, "editor", title="B's copy", expires_at=now + timedelta(days=1))

    assert notify_expiring_everywhere() == 2  # one task per organization (run eagerly in tests)
    with tenant_a.scope():
        notes = list(Notification.objects.filter(kind="asset_expiring"))
        assert [(n.user_id, n.target_id, n.params["title"], n.params["days"]) for n in notes] == [
            (tenant_a.users["editor"].pk, soon.pk, "Spring sale copy", 3)
        ]
        assert assets_notify_expiring(organization=tenant_a.organization) == 0  # once
        asset_update(
            organization=tenant_a.organization,
            actor=tenant_a.users["editor"],
            asset=soon,
            expires_at=now + timedelta(days=5),
        )
        assert assets_notify_expiring(organization=tenant_a.organization) == 1  # the new date


def test_sweep_removes_only_old_unreferenced_files(tenant_a, settings, tmp_path):
    import os
    import time

    from django.core.files.storage import default_storage

    from assets.services.expiry import asset_files_sweep
    from assets.tests.factories import make_file_asset

    settings.MEDIA_ROOT = tmp_path
    asset = make_file_asset(tenant_a)
    org_id = tenant_a.organization.pk
    stray_old = default_storage.save(f"assets/{org_id}/stray.png", ContentFile(b"left behind"))
    stray_new = default_storage.save(f"assets/{org_id}/fresh.png", ContentFile(b"being committed"))
    day_ago = time.time() - 86400
    os.utime(default_storage.path(stray_old), (day_ago, day_ago))
    os.utime(default_storage.path(asset.current_version.file.name), (day_ago, day_ago))
    with tenant_a.scope():
        assert asset_files_sweep(organization=tenant_a.organization) == [stray_old]
    assert default_storage.exists(stray_new) and default_storage.exists(asset.current_version.file.name)
