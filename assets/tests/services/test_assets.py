"""Asset services: versions and restore, approval gating, expiry, archive/delete, usage, quota and limits, and a
failed upload that leaves nothing behind."""

import os
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from accounts.models import AuditEntry
from assets.models import Asset, AssetStatus, AssetUsage, AssetVersion
from assets.selectors import asset_search, asset_usages, asset_version_diff, assets_visible
from assets.services import (
    asset_approve,
    asset_archive,
    asset_create,
    asset_delete,
    asset_unarchive,
    asset_update,
    asset_usage_record,
    asset_version_add,
    asset_version_file_copy,
    asset_version_restore,
    asset_versions_for_use,
)
from assets.tests.factories import EXE_AS_JPEG, make_file_asset, make_snippet, png_bomb, png_bytes, upload
from core.errors import Conflict, DomainError, NotAllowed

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def stored_files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _message(tenant):
    from tickets.services.ingest import message_ingest
    from tickets.tests.factories import connection, inbound

    conn = connection(tenant)
    with tenant.scope():
        message, _created = message_ingest(
            organization=tenant.organization, connection=conn, inbound=inbound("hi", thread="t-assets")
        )
    return message


def test_create_file_asset_stores_facts_and_thumbnail(tenant_a, media):
    asset = make_file_asset(tenant_a, "editor", data=png_bytes(300, 200), filename="ロゴ.png", tags=["brand", "ロゴ"])
    with tenant_a.scope():
        version = asset.current_version
        assert version.number == 1 and version.mime_type == "image/png"
        assert (version.width, version.height) == (300, 200)
        assert version.thumbnail and version.file.name.startswith(f"assets/{tenant_a.organization.pk}/")
        assert "ロゴ" not in version.file.name  # stored under a random name
        assert asset.owner == tenant_a.users["editor"] and asset.status == AssetStatus.DRAFT
    assert len(stored_files(media)) == 2


def test_versions_keep_history_and_restore_adds_an_equal_version(tenant_a):
    asset = make_snippet(tenant_a, text="Thank you for your order.")
    with tenant_a.scope():
        org, actor = tenant_a.organization, tenant_a.users["owner"]
        v2 = asset_version_add(organization=org, actor=actor, asset=asset, text="Thanks a lot for your order!")
        asset.refresh_from_db()
        assert asset.current_version == v2 and v2.number == 2
        v1 = AssetVersion.objects.get(asset=asset, number=1)
        restored = asset_version_restore(organization=org, actor=actor, version=v1)
        asset.refresh_from_db()
        assert restored.number == 3 and restored.text == v1.text and asset.current_version == restored
        assert list(AssetVersion.objects.filter(asset=asset).values_list("number", flat=True)) == [3, 2, 1]
        assert AuditEntry.objects.filter(action="asset.restored", object_id=str(asset.pk)).count() == 1
        diff = asset_version_diff(v1, v2)
        assert [(d.kind, d.text) for d in diff] == [
            ("delete", "Thank you for your order."),
            ("insert", "Thanks a lot for your order!"),
        ]


def test_file_restore_shares_the_stored_file(tenant_a, media):
    asset = make_file_asset(tenant_a, data=png_bytes(10, 10))
    with tenant_a.scope():
        org, actor = tenant_a.organization, tenant_a.users["owner"]
        v1 = asset.current_version
        asset_version_add(organization=org, actor=actor, asset=asset, file=upload("b.png", png_bytes(20, 20)))
        restored = asset_version_restore(organization=org, actor=actor, version=v1)
        assert restored.file.name == v1.file.name and (restored.width, restored.height) == (10, 10)
        assert restored.file.read() == v1.file.read()


def test_approval_gates_use(tenant_a):
    asset = make_snippet(tenant_a, "editor", requires_approval=True)
    with tenant_a.scope():
        org = tenant_a.organization
        version = asset.current_version
        with pytest.raises(DomainError) as raised:
            asset_versions_for_use(organization=org, actor=tenant_a.users["agent"], version_ids=[version.pk])
        assert raised.value.code == "asset_not_approved"
        # An editor may upload but not approve; the approver may.
        with pytest.raises(NotAllowed):
            asset_approve(organization=org, actor=tenant_a.users["editor"], asset=asset)
        asset_approve(organization=org, actor=tenant_a.users["approver"], asset=asset)
        assert AuditEntry.objects.filter(action="asset.approved", object_id=str(asset.pk)).exists()
        assert asset_versions_for_use(organization=org, actor=tenant_a.users["agent"], version_ids=[version.pk]) == [
            version
        ]
        # A new version is a draft again: the approved one stays usable by its id, the new one is not.
        v2 = asset_version_add(organization=org, actor=tenant_a.users["editor"], asset=asset, text="New copy")
        asset.refresh_from_db()
        assert asset.status == AssetStatus.DRAFT
        with pytest.raises(DomainError):
            asset_versions_for_use(organization=org, actor=tenant_a.users["agent"], version_ids=[v2.pk])


def test_expiry_blocks_new_use_but_keeps_existing_uses(tenant_a):
    asset = make_snippet(tenant_a)
    message = _message(tenant_a)
    with tenant_a.scope():
        org, agent = tenant_a.organization, tenant_a.users["agent"]
        versions = asset_versions_for_use(organization=org, actor=agent, version_ids=[asset.current_version_id])
        asset_usage_record(organization=org, actor=agent, versions=versions, target=message)
        asset_update(
            organization=org, actor=tenant_a.users["owner"], asset=asset, expires_at=timezone.now() - timedelta(1)
        )
        with pytest.raises(DomainError) as raised:
            asset_versions_for_use(organization=org, actor=agent, version_ids=[asset.current_version_id])
        assert raised.value.code == "asset_expired"
        usages = list(asset_usages(asset))
        assert len(usages) == 1 and usages[0].target == message and usages[0].version_id == asset.current_version_id
        # Agents no longer see it in the library; its managers do.
        assert not assets_visible(org, agent).filter(pk=asset.pk).exists()
        assert assets_visible(org, tenant_a.users["editor"]).filter(pk=asset.pk).exists()


def test_usage_records_exact_version_once(tenant_a):
    asset = make_snippet(tenant_a)
    message = _message(tenant_a)
    with tenant_a.scope():
        org, agent = tenant_a.organization, tenant_a.users["agent"]
        v1 = asset.current_version
        asset_usage_record(organization=org, actor=agent, versions=[v1], target=message)
        asset_usage_record(organization=org, actor=agent, versions=[v1], target=message)
        asset_version_add(organization=org, actor=tenant_a.users["owner"], asset=asset, text="v2")
        assert list(AssetUsage.objects.filter(asset=asset).values_list("version__number", flat=True)) == [1]


def test_archive_blocks_use_and_delete_refused_once_used(tenant_a, media):
    asset = make_file_asset(tenant_a)
    message = _message(tenant_a)
    with tenant_a.scope():
        org, owner = tenant_a.organization, tenant_a.users["owner"]
        asset_usage_record(organization=org, actor=owner, versions=[asset.current_version], target=message)
        with pytest.raises(Conflict):
            asset_delete(organization=org, actor=owner, asset=asset)
        asset_archive(organization=org, actor=owner, asset=asset)
        assert AuditEntry.objects.filter(action="asset.archived", object_id=str(asset.pk)).exists()
        with pytest.raises(DomainError) as raised:
            asset_versions_for_use(organization=org, actor=owner, version_ids=[asset.current_version_id])
        assert raised.value.code == "asset_archived"
        asset_unarchive(organization=org, actor=owner, asset=asset)
        asset.refresh_from_db()
        assert asset.status == AssetStatus.DRAFT


def test_delete_removes_rows_and_files(tenant_a, media, django_capture_on_commit_callbacks):
    asset = make_file_asset(tenant_a)
    assert stored_files(media)
    with tenant_a.scope(), django_capture_on_commit_callbacks(execute=True):
        asset_delete(organization=tenant_a.organization, actor=tenant_a.users["editor"], asset=asset)
    with tenant_a.scope():
        assert not Asset.objects.filter(pk=asset.pk).exists()
        assert AuditEntry.objects.filter(action="asset.deleted", object_id=str(asset.pk)).exists()
    assert stored_files(media) == []


def test_agent_cannot_upload_or_delete(tenant_a):
    with tenant_a.scope(), pytest.raises(NotAllowed):
        asset_create(
            organization=tenant_a.organization, actor=tenant_a.users["agent"], kind="snippet", title="x", text="y"
        )
    asset = make_snippet(tenant_a)
    with tenant_a.scope(), pytest.raises(NotAllowed):
        asset_delete(organization=tenant_a.organization, actor=tenant_a.users["agent"], asset=asset)


def test_spoofed_and_bomb_uploads_leave_nothing(tenant_a, media):
    with tenant_a.scope():
        for name, data in [("photo.jpg", EXE_AS_JPEG), ("bomb.png", png_bomb())]:
            with pytest.raises(DomainError):
                owner = tenant_a.users["owner"]
                asset_create(organization=tenant_a.organization, actor=owner, title="x", file=upload(name, data))
        assert not Asset.objects.exists()
    assert stored_files(media) == []


def test_per_file_limit_and_quota(tenant_a, settings, media):
    data = png_bytes(50, 50)
    settings.ASSETS_MAX_FILE_BYTES = len(data) - 1
    with tenant_a.scope(), pytest.raises(DomainError) as raised:
        asset_create(organization=tenant_a.organization, actor=tenant_a.users["owner"], file=upload("a.png", data))
    assert raised.value.code == "file_too_large" and "at most" in raised.value.message
    settings.ASSETS_MAX_FILE_BYTES = 10**9
    settings.ASSETS_QUOTA_BYTES = len(data) * 2 + 1
    make_file_asset(tenant_a, data=data)
    make_file_asset(tenant_a, data=data)
    with tenant_a.scope(), pytest.raises(DomainError) as raised:
        asset_create(organization=tenant_a.organization, actor=tenant_a.users["owner"], file=upload("c.png", data))
    assert raised.value.code == "quota_exceeded" and "Not enough storage" in raised.value.message
    with tenant_a.scope():
        assert Asset.objects.count() == 2
    assert len(stored_files(media)) == 4  # two files and two thumbnails, nothing of the refused one


def test_quota_is_per_organization(tenant_a, tenant_b, settings):
    data = png_bytes(50, 50)
    settings.ASSETS_QUOTA_BYTES = len(data) + 1
    make_file_asset(tenant_a, data=data)
    make_file_asset(tenant_b, data=data)  # B has its own room


def test_failure_after_the_file_is_stored_leaves_no_orphan(tenant_a, media, monkeypatch):
    """The file is written, then the row fails: the transaction rolls back and the stored files are deleted."""

    def broken_save(self, *args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(AssetVersion, "save", broken_save)
    with tenant_a.scope(), pytest.raises(RuntimeError):
        owner = tenant_a.users["owner"]
        asset_create(organization=tenant_a.organization, actor=owner, file=upload("a.png", png_bytes()))
    monkeypatch.undo()
    with tenant_a.scope():
        assert not Asset.objects.exists()
    assert stored_files(media) == []


def test_japanese_search(tenant_a):
    make_snippet(tenant_a, title="年末年始の営業時間", text="年末年始は12月29日から1月3日まで休業いたします。")
    make_file_asset(tenant_a, title="Summer campaign banner", tags=["キャンペーン"])
    make_snippet(tenant_a, title="Shipping", text="配送料は全国一律です。")
    with tenant_a.scope():
        everything = Asset.objects.all()
        titles = lambda qs: sorted(qs.values_list("title", flat=True))  # noqa: E731
        assert titles(asset_search(everything, text="休業")) == ["年末年始の営業時間"]
        assert titles(asset_search(everything, text="キャンペーン")) == ["Summer campaign banner"]
        assert titles(asset_search(everything, text="配送")) == ["Shipping"]
        assert titles(asset_search(everything, text="banner")) == ["Summer campaign banner"]
        assert titles(asset_search(everything, tags=["キャンペーン"], kind="file")) == ["Summer campaign banner"]
        assert titles(asset_search(everything, kind="snippet", status="draft")) == ["Shipping", "年末年始の営業時間"]


def test_reply_gets_a_copy_of_the_file(tenant_a):
    data = png_bytes(30, 30)
    asset = make_file_asset(tenant_a, data=data, filename="banner.png")
    with tenant_a.scope():
        copy = asset_version_file_copy(asset.current_version)
    assert copy.name == "banner.png" and copy.read() == data
    assert os.path.basename(asset.current_version.file.name) != "banner.png"
    assert default_storage.exists(asset.current_version.file.name)


def test_organization_limits_override_the_settings(tenant_a, tenant_b, settings):
    from assets.models import AssetLimits

    data = png_bytes(50, 50)
    with tenant_a.scope():
        AssetLimits.objects.create(organization=tenant_a.organization, max_file_bytes=len(data) - 1)
        with pytest.raises(DomainError) as raised:
            asset_create(organization=tenant_a.organization, actor=tenant_a.users["owner"], file=upload("a.png", data))
        assert raised.value.code == "file_too_large"
    make_file_asset(tenant_b, data=data)  # B keeps the settings' limit


def test_usage_list_query_count_is_constant(tenant_a, django_assert_max_num_queries):
    asset = make_snippet(tenant_a)
    messages = [_message(tenant_a)]
    with tenant_a.scope():
        org, agent = tenant_a.organization, tenant_a.users["agent"]
        asset_usage_record(organization=org, actor=agent, versions=[asset.current_version], target=messages[0])
        with django_assert_max_num_queries(6) as few:
            assert [u.target for u in asset_usages(asset)] == messages
    more = [_message(tenant_a) for _ in range(4)]
    with tenant_a.scope():
        for message in more:
            asset_usage_record(organization=org, actor=agent, versions=[asset.current_version], target=message)
        # Targets are fetched per target type: more uses, same number of queries.
        with django_assert_max_num_queries(len(few.captured_queries)):
            assert len([u.target for u in asset_usages(asset)]) == 5
