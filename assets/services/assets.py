"""Writing the asset library: assets and their versions, approval, archive, delete, use and usage.

Files: a file's facts (type by content, size, sha256, image checks, thumbnail) are read before anything is written;
then the file is stored and the rows written in one transaction, and the stored files are deleted again if that
transaction fails, so a failed upload leaves neither a half-written asset nor an orphan file. The organization row is
locked while the quota is checked, so two uploads cannot both squeeze under it.
"""

import os
import shutil
import tempfile
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import IO

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile, File
from django.db import models, transaction
from django.db.models import Max, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import audit_record
from accounts.models import AuditAction, Organization
from assets.metadata import inspect
from assets.models import (
    TEXT_KINDS,
    Asset,
    AssetKind,
    AssetLimits,
    AssetStatus,
    AssetUsage,
    AssetVersion,
    Collection,
)
from assets.permissions import AssetAccess
from core.errors import Conflict, DomainError, NotAllowed
from tickets.search import document_expression, index_document

MAX_TEXT_CHARS = 100_000
COPY_IN_MEMORY_BYTES = 8 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024
MAX_TAGS = 30
UPDATABLE = frozenset(
    {"title", "description", "tags", "collection", "language", "requires_approval", "license_note", "expires_at"}
)


# --- limits ---------------------------------------------------------------------------------------------------------


def _human(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)


def asset_limits(organization: Organization) -> tuple[int, int]:
    """(largest file, quota) in bytes for the organization: its AssetLimits row, else the settings."""
    row = AssetLimits.objects.filter(organization=organization).first()
    max_file = (row.max_file_bytes if row and row.max_file_bytes else None) or settings.ASSETS_MAX_FILE_BYTES
    quota = (row.quota_bytes if row and row.quota_bytes else None) or settings.ASSETS_QUOTA_BYTES
    return max_file, quota


def asset_storage_used(organization: Organization) -> int:
    """Bytes stored for the organization's assets (a restored version shares its original's file: not counted)."""
    total = AssetVersion.objects.filter(organization=organization, restored_from__isnull=True).aggregate(s=Sum("size"))
    return total["s"] or 0


def asset_check_room(*, organization: Organization, size: int, pending: int = 0) -> None:
    """Raise a clear DomainError when a file of `size` bytes is over the per-file limit or would exceed the quota."""
    max_file, quota = asset_limits(organization)
    if size > max_file:
        raise DomainError(
            _("The file is %(size)s; files can be at most %(limit)s.")
            % {"size": _human(size), "limit": _human(max_file)},
            code="file_too_large",
            field="file",
        )
    used = asset_storage_used(organization) + pending
    if used + size > quota:
        raise DomainError(
            _(
                "Not enough storage left: %(used)s of %(quota)s is used and this file needs %(size)s. "
                "Delete unused assets or ask an administrator to raise the quota."
            )
            % {"used": _human(used), "quota": _human(quota), "size": _human(size)},
            code="quota_exceeded",
            field="file",
        )


# --- helpers --------------------------------------------------------------------------------------------------------


def _text(value) -> str:
    """A string PostgreSQL can store: NUL characters (which text columns refuse) dropped."""
    return str(value or "").replace("\x00", "")


def _access(organization: Organization, actor) -> AssetAccess:
    return AssetAccess.for_user(organization, actor)


def _require(organization: Organization, actor, collection_id: int | None, right: str, message: str) -> None:
    if not getattr(_access(organization, actor).rights(collection_id), right):
        raise NotAllowed(message)


def _clean_tags(tags: Iterable[str] | None) -> list[str]:
    seen: list[str] = []
    for tag in tags or ():
        tag = " ".join(_text(tag).split())[:60]
        if tag and tag.casefold() not in {t.casefold() for t in seen}:
            seen.append(tag)
    if len(seen) > MAX_TAGS:
        raise DomainError(_("At most %(count)d tags.") % {"count": MAX_TAGS}, field="tags")
    return seen


def _check_collection(organization: Organization, collection: Collection | None) -> None:
    if collection is not None and collection.organization_id != organization.pk:
        raise DomainError(_("Unknown collection."), field="collection")


def asset_search_refresh(asset: Asset) -> None:
    """Store the asset's search document: title, description, tags, and its current version's file name and text."""
    version = asset.current_version
    texts = [asset.title, asset.description, " ".join(asset.tags)]
    if version is not None:
        texts += [version.filename, os.path.splitext(version.filename)[0].replace("_", " "), version.text]
    Asset.objects.filter(pk=asset.pk).update(search_vector=document_expression(index_document(*texts)))


def _delete_files_on_commit(names: Iterable[str]) -> None:
    names = [name for name in set(names) if name]
    if not names:
        return
    storage = AssetVersion._meta.get_field("file").storage

    def delete():
        for name in names:
            storage.delete(name)

    transaction.on_commit(delete)


def _new_version(
    *,
    organization: Organization,
    actor,
    asset: Asset,
    file: IO[bytes] | None,
    filename: str,
    text: str,
    note: str,
) -> AssetVersion:
    """Check and store one version's content (the caller holds the asset row; a failure deletes what was stored)."""
    version = AssetVersion(
        organization=organization,
        asset=asset,
        number=(AssetVersion.objects.filter(asset=asset).aggregate(n=Max("number"))["n"] or 0) + 1,
        note=_text(note)[:300],
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    if asset.kind in TEXT_KINDS:
        text = _text(text).strip()
        if not text:
            raise DomainError(_("Enter the text."), field="text")
        if len(text) > MAX_TEXT_CHARS:
            raise DomainError(_("The text is too long."), field="text")
        version.text = text
        version.size = len(text.encode())
        version.mime_type = "text/plain"
        version.save()
        return version
    if file is None:
        raise DomainError(_("Choose a file."), field="file")
    filename = os.path.basename(_text(filename or getattr(file, "name", "")) or "file")[:255] or "file"
    facts = inspect(file, filename=filename)
    Organization.objects.select_for_update().filter(pk=organization.pk).first()  # one quota check at a time
    asset_check_room(organization=organization, size=facts.size)
    version.filename = filename
    version.mime_type = facts.mime_type
    version.size = facts.size
    version.sha256 = facts.sha256
    version.width, version.height = facts.width, facts.height
    version.duration_seconds = facts.duration_seconds
    file.seek(0)
    # Stored before the row (the row needs the name): the guard around the service deletes it if nothing commits.
    version.file.save(filename, File(file, name=filename), save=False)
    _stored_names().append(version.file.name)
    if facts.thumbnail:
        version.thumbnail.save(f"thumb{facts.thumbnail_ext}", ContentFile(facts.thumbnail), save=False)
        _stored_names().append(version.thumbnail.name)
    version.save()
    return version


_local = threading.local()


def _stored_names() -> list[str]:
    names = getattr(_local, "stored", None)
    if names is None:
        raise RuntimeError("store asset files only inside _StoredFilesGuard")
    return names


class _StoredFilesGuard:
    """Around a service's transaction: files stored inside it are deleted again when it raises (the rows rolled
    back). Nested guards share the outermost one's list."""

    def __enter__(self):
        self.outermost = getattr(_local, "stored", None) is None
        if self.outermost:
            _local.stored = []
        return self

    def __exit__(self, exc_type, exc, tb):
        if not self.outermost:
            return False
        names, _local.stored = _local.stored, None
        if exc_type is not None:
            storage = AssetVersion._meta.get_field("file").storage
            for name in names:
                storage.delete(name)
        return False


# A caller that wraps services in a transaction of its own (and may still roll it back) holds this guard around it.
stored_files_guard = _StoredFilesGuard


# --- assets ---------------------------------------------------------------------------------------------------------


def asset_create(
    *,
    organization: Organization,
    actor,
    kind: str = AssetKind.FILE,
    title: str = "",
    description: str = "",
    tags: Iterable[str] | None = None,
    collection: Collection | None = None,
    language: str = "",
    requires_approval: bool = False,
    license_note: str = "",
    expires_at: datetime | None = None,
    file: IO[bytes] | None = None,
    filename: str = "",
    text: str = "",
    note: str = "",
) -> Asset:
    """Create an asset with its first version (a file, or the text of a snippet/template). Needs the upload right
    in the collection. The title defaults to the file's name."""
    if kind not in AssetKind.values:
        raise DomainError(_("Unknown asset type."), field="kind")
    _check_collection(organization, collection)
    _require(
        organization,
        actor,
        collection.pk if collection else None,
        "upload",
        _("You may not add assets to this collection."),
    )
    filename = _text(filename or os.path.basename(getattr(file, "name", "") or ""))
    title = " ".join(_text(title).split())[:200] or os.path.splitext(os.path.basename(filename))[0][:200]
    if not title:
        raise DomainError(_("Enter a title."), field="title")
    with _StoredFilesGuard(), transaction.atomic():
        asset = Asset.objects.create(
            organization=organization,
            kind=kind,
            title=title,
            description=_text(description),
            tags=_clean_tags(tags),
            collection=collection,
            language=_text(language)[:8],
            owner=actor if getattr(actor, "pk", None) else None,
            requires_approval=bool(requires_approval),
            license_note=_text(license_note),
            expires_at=expires_at,
        )
        version = _new_version(
            organization=organization, actor=actor, asset=asset, file=file, filename=filename, text=text, note=note
        )
        asset.current_version = version
        asset.save(update_fields=["current_version"])
        asset_search_refresh(asset)
    return asset


def _lock(asset: Asset) -> Asset:
    return Asset.objects.select_for_update(of=("self",)).select_related("current_version").get(pk=asset.pk)


def asset_version_add(
    *,
    organization: Organization,
    actor,
    asset: Asset,
    file: IO[bytes] | None = None,
    filename: str = "",
    text: str = "",
    note: str = "",
) -> AssetVersion:
    """Add a new version (history is kept) and make it current. An asset that requires approval goes back to draft:
    the new content has not been approved."""
    _require(organization, actor, asset.collection_id, "upload", _("You may not change assets in this collection."))
    if asset.status == AssetStatus.ARCHIVED:
        raise Conflict(_("This asset is archived. Unarchive it before adding a version."))
    with _StoredFilesGuard(), transaction.atomic():
        locked = _lock(asset)
        version = _new_version(
            organization=organization, actor=actor, asset=locked, file=file, filename=filename, text=text, note=note
        )
        _make_current(locked, version)
    asset.refresh_from_db()
    return version


def _make_current(asset: Asset, version: AssetVersion) -> None:
    asset.current_version = version
    fields = ["current_version", "updated_at"]
    if asset.requires_approval and asset.status == AssetStatus.APPROVED and version.approved_at is None:
        asset.status = AssetStatus.DRAFT
        fields.append("status")
    asset.save(update_fields=fields)
    asset_search_refresh(asset)


def asset_version_restore(
    *, organization: Organization, actor, version: AssetVersion, asset: Asset | None = None
) -> AssetVersion:
    """Make an old version current again by adding a new version equal to it (history only grows; the new version
    shares the old one's stored file, which versions never delete alone). It needs approval again where required.
    `asset`, when given, must be the version's own."""
    if asset is not None and asset.pk != version.asset_id:
        raise DomainError(_("This version belongs to another asset."), field="version")
    asset = version.asset
    _require(organization, actor, asset.collection_id, "upload", _("You may not change assets in this collection."))
    if asset.status == AssetStatus.ARCHIVED:
        raise Conflict(_("This asset is archived. Unarchive it before restoring a version."))
    with transaction.atomic():
        locked = _lock(asset)
        source = version.restored_from or version
        new = AssetVersion.objects.create(
            organization=organization,
            asset=locked,
            number=(AssetVersion.objects.filter(asset=locked).aggregate(n=Max("number"))["n"] or 0) + 1,
            file=source.file.name,
            thumbnail=source.thumbnail.name,
            text=version.text,
            filename=version.filename,
            mime_type=version.mime_type,
            size=version.size,
            width=version.width,
            height=version.height,
            duration_seconds=version.duration_seconds,
            sha256=version.sha256,
            note=_("Restored from version %(number)d") % {"number": version.number},
            restored_from=source if source.file else None,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        _make_current(locked, new)
        audit_record(
            organization=organization,
            actor=actor,
            action=AuditAction.ASSET_RESTORED,
            obj=locked,
            changes={"from_version": version.number, "new_version": new.number},
        )
    asset.refresh_from_db()
    return new


def asset_update(*, organization: Organization, actor, asset: Asset, **changes) -> Asset:
    """Change an asset's details (title, description, tags, collection, language, approval requirement, license note,
    expiry). Moving it needs the upload right in both collections."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise DomainError(_("These fields cannot be changed: %(fields)s") % {"fields": ", ".join(sorted(unknown))})
    access = _access(organization, actor)
    if not access.rights(asset.collection_id).upload:
        raise NotAllowed(_("You may not change assets in this collection."))
    if "collection" in changes:
        _check_collection(organization, changes["collection"])
        target = changes["collection"].pk if changes["collection"] else None
        if not access.rights(target).upload:
            raise NotAllowed(_("You may not move assets into that collection."))
    for name in ("description", "language", "license_note"):
        if name in changes:
            changes[name] = _text(changes[name])[: 8 if name == "language" else None]
    if "tags" in changes:
        changes["tags"] = _clean_tags(changes["tags"])
    if "title" in changes:
        changes["title"] = " ".join(_text(changes["title"]).split())[:200]
        if not changes["title"]:
            raise DomainError(_("Enter a title."), field="title")
    with transaction.atomic():
        locked = _lock(asset)
        for name, value in changes.items():
            setattr(locked, name, value)
        fields = [*changes, "updated_at"]
        if "expires_at" in changes and locked.expiry_notified_at is not None:
            locked.expiry_notified_at = None  # a new date: the owner hears about it again when it nears
            fields.append("expiry_notified_at")
        current = locked.current_version
        if locked.requires_approval and locked.status == AssetStatus.APPROVED and (current and not current.approved_at):
            locked.status = AssetStatus.DRAFT
            fields.append("status")
        locked.save(update_fields=fields)
        asset_search_refresh(locked)
    asset.refresh_from_db()
    return asset


def asset_approve(*, organization: Organization, actor, asset: Asset) -> Asset:
    """Approve the asset's current version for use. Needs the approve right in its collection."""
    _require(organization, actor, asset.collection_id, "approve", _("You may not approve assets in this collection."))
    with transaction.atomic():
        locked = _lock(asset)
        if locked.status == AssetStatus.ARCHIVED:
            raise Conflict(_("This asset is archived. Unarchive it before approving it."))
        version = locked.current_version
        if version is None:
            raise Conflict(_("This asset has no content to approve."))
        now = timezone.now()
        AssetVersion.objects.filter(pk=version.pk).update(approved_at=now)
        locked.status = AssetStatus.APPROVED
        locked.approved_by = actor if getattr(actor, "pk", None) else None
        locked.approved_at = now
        locked.save(update_fields=["status", "approved_by", "approved_at", "updated_at"])
        audit_record(
            organization=organization,
            actor=actor,
            action=AuditAction.ASSET_APPROVED,
            obj=locked,
            changes={"version": version.number},
        )
    asset.refresh_from_db()
    return asset


def asset_archive(*, organization: Organization, actor, asset: Asset) -> Asset:
    """Withdraw an asset: nobody can use it anew; its uses stay listed. Needs the upload right in its collection."""
    if not _access(organization, actor).rights(asset.collection_id).upload:
        raise NotAllowed(_("You may not archive assets in this collection."))
    with transaction.atomic():
        locked = _lock(asset)
        if locked.status == AssetStatus.ARCHIVED:
            return asset
        before = locked.status
        locked.status = AssetStatus.ARCHIVED
        locked.save(update_fields=["status", "updated_at"])
        audit_record(
            organization=organization,
            actor=actor,
            action=AuditAction.ASSET_ARCHIVED,
            obj=locked,
            changes={"from": before},
        )
    asset.refresh_from_db()
    return asset


def asset_unarchive(*, organization: Organization, actor, asset: Asset) -> Asset:
    """Bring an archived asset back as a draft (it needs approval again where required)."""
    if not _access(organization, actor).rights(asset.collection_id).upload:
        raise NotAllowed(_("You may not change assets in this collection."))
    with transaction.atomic():
        locked = _lock(asset)
        if locked.status != AssetStatus.ARCHIVED:
            return asset
        locked.status = AssetStatus.DRAFT
        locked.save(update_fields=["status", "updated_at"])
        if locked.current_version_id:
            AssetVersion.objects.filter(asset=locked).update(approved_at=None)
    asset.refresh_from_db()
    return asset


def asset_delete(*, organization: Organization, actor, asset: Asset) -> None:
    """Delete an asset, its versions and their files. An asset that was used is archived instead (its usage list is
    the record of where it went): refused with a Conflict."""
    _require(organization, actor, asset.collection_id, "delete", _("You may not delete assets in this collection."))
    with transaction.atomic():
        locked = _lock(asset)
        if AssetUsage.objects.filter(asset=locked).exists():
            raise Conflict(_("This asset was used in replies or posts; archive it instead, so its uses stay listed."))
        names = []
        for file_name, thumb_name in AssetVersion.objects.filter(asset=locked).values_list("file", "thumbnail"):
            names += [file_name, thumb_name]
        audit_record(
            organization=organization,
            actor=actor,
            action=AuditAction.ASSET_DELETED,
            obj=locked,
            changes={"title": locked.title, "kind": locked.kind},
        )
        Asset.objects.filter(pk=locked.pk).update(current_version=None)
        AssetVersion.objects.filter(asset=locked).delete()
        locked.delete()
        _delete_files_on_commit(names)


# --- use ------------------------------------------------------------------------------------------------------------


def asset_versions_for_use(*, organization: Organization, actor, version_ids: Iterable[int]) -> list[AssetVersion]:
    """The versions, in the order asked, if the actor may attach each of them to a new reply or post now: its asset
    not archived, approved (this very version) where approval is required, not expired, in a collection the actor may
    use. Otherwise a DomainError naming the asset and the reason."""
    ids = list(dict.fromkeys(int(i) for i in version_ids))
    if not ids:
        return []
    versions = {
        v.pk: v for v in AssetVersion.objects.filter(organization=organization, pk__in=ids).select_related("asset")
    }
    access = _access(organization, actor)
    now = timezone.now()
    result = []
    for version_id in ids:
        version = versions.get(version_id)
        if version is None or not access.rights(version.asset.collection_id).use:
            raise DomainError(
                _("This asset does not exist or you may not use it."), code="asset_unusable", field="assets"
            )
        asset = version.asset
        name = {"title": asset.title}
        if asset.status == AssetStatus.ARCHIVED:
            raise DomainError(_("“%(title)s” is archived and can no longer be used.") % name, code="asset_archived")
        if asset.is_expired(now):
            raise DomainError(
                _("“%(title)s” expired and can no longer be used in new replies or posts.") % name,
                code="asset_expired",
            )
        if asset.requires_approval and (asset.status != AssetStatus.APPROVED or version.approved_at is None):
            raise DomainError(
                _("“%(title)s” must be approved before it can be used.") % name, code="asset_not_approved"
            )
        result.append(version)
    return result


def asset_usage_record(
    *, organization: Organization, actor, versions: Iterable[AssetVersion], target: models.Model
) -> list[AssetUsage]:
    """Record that `target` (a tickets.Message, a post version) used these exact versions. Call it in the transaction
    that stores the target; recording the same use twice is a no-op."""
    target_type = ContentType.objects.get_for_model(target)
    rows = [
        AssetUsage(
            organization=organization,
            asset_id=version.asset_id,
            version=version,
            target_type=target_type,
            target_id=target.pk,
            used_by=actor if getattr(actor, "pk", None) else None,
        )
        for version in versions
    ]
    with transaction.atomic():
        AssetUsage.objects.bulk_create(rows, ignore_conflicts=True)
        Asset.objects.filter(pk__in={r.asset_id for r in rows}).update(updated_at=timezone.now())
    return rows


def asset_version_file_copy(version: AssetVersion) -> File:
    """A copy of the version's bytes, named like it, for a reply's own attachment (the message keeps it whatever
    happens to the asset later). Spooled: a large video goes to a temporary file, not into memory."""
    if not version.file:
        raise DomainError(_("This asset has no file."), code="asset_no_file")
    spool = tempfile.SpooledTemporaryFile(max_size=COPY_IN_MEMORY_BYTES)
    with version.file.storage.open(version.file.name, "rb") as handle:
        shutil.copyfileobj(handle, spool, CHUNK_BYTES)
    spool.seek(0)
    return File(spool, name=version.filename or "file")
