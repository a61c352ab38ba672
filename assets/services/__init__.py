"""Services of the asset library (writes). Import them from here: `from assets.services import asset_create`."""

from assets.services.assets import (
    asset_approve,
    asset_archive,
    asset_check_room,
    asset_create,
    asset_delete,
    asset_limits,
    asset_search_refresh,
    asset_storage_used,
    asset_unarchive,
    asset_update,
    asset_usage_record,
    asset_version_add,
    asset_version_file_copy,
    asset_version_restore,
    asset_versions_for_use,
)
from assets.services.collections import collection_create, collection_delete, collection_grants_set, collection_update
from assets.services.expiry import assets_notify_expiring

__all__ = [
    "asset_approve",
    "asset_archive",
    "asset_check_room",
    "asset_create",
    "asset_delete",
    "asset_limits",
    "asset_search_refresh",
    "asset_storage_used",
    "asset_unarchive",
    "asset_update",
    "asset_usage_record",
    "asset_version_add",
    "asset_version_file_copy",
    "asset_version_restore",
    "asset_versions_for_use",
    "assets_notify_expiring",
    "collection_create",
    "collection_delete",
    "collection_grants_set",
    "collection_update",
]
