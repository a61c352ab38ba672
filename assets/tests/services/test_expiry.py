"""Owners hear once that an asset of theirs expires soon; a new date makes them hear again."""

from datetime import timedelta

import pytest
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
