"""A tus 1.0 server for resumable uploads of large files (core protocol + creation, termination, expiration), under
the organization's URL, authenticated by the session with Django's CSRF check like any form post.

    OPTIONS assets/uploads/           → the server's tus version, extensions and largest upload
    POST    assets/uploads/           → create: Upload-Length (required), Upload-Metadata (filename, title,
                                        collection, asset, tags, description, language, requires_approval, note)
    HEAD    assets/uploads/<id>/      → Upload-Offset (how much arrived; where to resume)
    PATCH   assets/uploads/<id>/      → append at Upload-Offset (409 when it is not the current offset)
    DELETE  assets/uploads/<id>/      → abandon

Uppy's @uppy/tus: `endpoint` = the URL of `org:asset_upload`, `headers: {"X-CSRFToken": <csrftoken>}`, `chunkSize`
a few MB, meta fields as above. The last PATCH answers `Asset-Id` and `Asset-Version-Id` (HEAD repeats them); when
the file is refused (type, bomb, quota) it answers the error as JSON with a 4xx; the bytes are deleted and the
upload keeps only the reason (`AssetUpload.error`, listed by the page) until it expires.

Partial bytes live in MEDIA_ROOT/tus/<id>, never served; an upload the client does not finish within
ASSETS_UPLOAD_EXPIRY_HOURS of its last byte is deleted (assets.tasks.expire_uploads).
"""

import base64
import binascii
import json
import os
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import http_date
from django.utils.translation import gettext as _

from assets.models import Asset, AssetKind, AssetUpload, Collection
from assets.permissions import AssetAccess
from assets.services import asset_check_room, asset_create, asset_limits, asset_version_add
from assets.services.assets import stored_files_guard
from core.errors import DomainError

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,termination,expiration"
CHUNK = 256 * 1024
MAX_METADATA_CHARS = 8192


def upload_dir() -> Path:
    return Path(settings.MEDIA_ROOT) / "tus"


def upload_path(upload_id) -> Path:
    return upload_dir() / str(upload_id)


def _response(status: int, **headers) -> HttpResponse:
    response = HttpResponse(status=status)
    response["Tus-Resumable"] = TUS_VERSION
    response["Cache-Control"] = "no-store"
    for name, value in headers.items():
        response[name.replace("_", "-")] = str(value)
    return response


def _error(status: int, message: str, code: str = "invalid") -> HttpResponse:
    response = HttpResponse(
        json.dumps({"error": {"code": code, "message": str(message), "fields": {}}}),
        status=status,
        content_type="application/json",
    )
    response["Tus-Resumable"] = TUS_VERSION
    return response


def _domain_error(exc: DomainError) -> HttpResponse:
    status = exc.status if exc.status != 400 else (413 if exc.code in {"file_too_large", "quota_exceeded"} else 422)
    return _error(status, exc.message, exc.code)


def parse_metadata(header: str) -> dict[str, str]:
    """`key base64value,key2 base64value2` → dict; raises ValueError on anything malformed."""
    result: dict[str, str] = {}
    if not header.strip():
        return result
    if len(header) > MAX_METADATA_CHARS:
        raise ValueError("metadata too long")
    for pair in header.split(","):
        parts = pair.strip().split(" ")
        if len(parts) not in (1, 2) or not parts[0] or parts[0] in result:
            raise ValueError("bad metadata pair")
        try:
            result[parts[0]] = base64.b64decode(parts[1], validate=True).decode("utf-8") if len(parts) == 2 else ""
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ValueError("bad metadata value") from exc
    return result


def _expires(upload: AssetUpload) -> str:
    return http_date((upload.updated_at + timedelta(hours=settings.ASSETS_UPLOAD_EXPIRY_HOURS)).timestamp())


def tus_collection(request, org_slug):
    if request.method == "OPTIONS":
        max_file, _quota = asset_limits(request.organization)
        return _response(204, Tus_Version=TUS_VERSION, Tus_Extension=EXTENSIONS, Tus_Max_Size=max_file)
    if request.method != "POST":
        return _response(405, Allow="OPTIONS, POST")
    access = AssetAccess.for_member(request.membership)
    if not access.may_upload_somewhere:
        return _error(403, _("You may not upload assets."), "permission_denied")
    if request.headers.get("Tus-Resumable") != TUS_VERSION:
        return _response(412, Tus_Version=TUS_VERSION)
    try:
        length = int(request.headers.get("Upload-Length", ""))
        if length < 1:
            raise ValueError
    except ValueError:
        return _error(400, _("Upload-Length must be the file's size in bytes."), "bad_length")
    try:
        metadata = parse_metadata(request.headers.get("Upload-Metadata", ""))
    except ValueError:
        return _error(400, _("Upload-Metadata is malformed."), "bad_metadata")
    organization = request.organization
    asset = None
    try:
        if metadata.get("asset"):
            asset = Asset.objects.filter(pk=int(metadata["asset"]), kind=AssetKind.FILE).first()
            if asset is None:
                raise Http404
            collection_id = asset.collection_id
        else:
            collection_id = int(metadata["collection"]) if metadata.get("collection") else None
            if collection_id is not None and not Collection.objects.filter(pk=collection_id).exists():
                return _error(400, _("Unknown collection."), "bad_collection")
    except ValueError:
        return _error(400, _("Upload-Metadata is malformed."), "bad_metadata")
    if not access.rights(collection_id).upload:
        return _error(403, _("You may not add assets to this collection."), "permission_denied")
    with transaction.atomic():
        # Bytes promised by uploads still in progress count against the quota too.
        pending = AssetUpload.objects.filter(organization=organization, result_asset__isnull=True, error="").aggregate(
            s=Sum("length")
        )["s"]
        try:
            asset_check_room(organization=organization, size=length, pending=pending or 0)
        except DomainError as exc:
            return _domain_error(exc)
        upload = AssetUpload.objects.create(
            organization=organization, created_by=request.user, asset=asset, length=length, metadata=metadata
        )
        upload_dir().mkdir(parents=True, exist_ok=True)
        upload_path(upload.pk).touch()
    location = reverse("org:asset_upload_resource", kwargs={"org_slug": organization.slug, "upload_id": upload.pk})
    return _response(201, Location=location, Upload_Expires=_expires(upload), Upload_Offset=0)


def tus_resource(request, org_slug, upload_id):
    if not AssetAccess.for_member(request.membership).may_upload_somewhere:
        return _error(403, _("You may not upload assets."), "permission_denied")
    upload = AssetUpload.objects.filter(pk=upload_id, created_by=request.user).first()
    if upload is None:
        raise Http404  # also for another member's upload: only its uploader may resume it
    if request.method == "OPTIONS":
        return _response(204, Tus_Version=TUS_VERSION, Tus_Extension=EXTENSIONS)
    if request.method == "HEAD":
        return _response(200, **_state_headers(upload))
    if request.headers.get("Tus-Resumable") != TUS_VERSION:
        return _response(412, Tus_Version=TUS_VERSION)
    if request.method == "DELETE":
        with transaction.atomic():
            AssetUpload.objects.filter(pk=upload.pk).delete()
            transaction.on_commit(lambda: upload_path(upload.pk).unlink(missing_ok=True))
        return _response(204)
    if request.method != "PATCH":
        return _response(405, Allow="OPTIONS, HEAD, PATCH, DELETE")
    if request.headers.get("Content-Type", "").split(";")[0].strip() != "application/offset+octet-stream":
        return _error(415, _("Send the bytes as application/offset+octet-stream."), "bad_content_type")
    try:
        offset = int(request.headers.get("Upload-Offset", ""))
    except ValueError:
        return _error(400, _("Upload-Offset must be a number of bytes."), "bad_offset")
    with transaction.atomic():
        upload = AssetUpload.objects.select_for_update().filter(pk=upload.pk).first()
        if upload is None:
            raise Http404
        if upload.error:
            return _error(410, upload.error, "upload_refused")
        if upload.result_asset_id is not None or offset != upload.offset:
            return _response(409, Upload_Offset=upload.offset)
        written, too_long = _append(request, upload, offset)
        upload.offset = offset + written
        upload.save(update_fields=["offset", "updated_at"])
    if too_long:
        _discard(upload)
        return _error(400, _("More bytes were sent than Upload-Length announced."), "too_long")
    if upload.offset < upload.length:
        return _response(204, Upload_Offset=upload.offset, Upload_Expires=_expires(upload))
    return _complete(request, upload)


def _append(request, upload: AssetUpload, offset: int) -> tuple[int, bool]:
    """Write the request body at `offset`; return (bytes written, whether more than the upload's length came). A
    client that drops the connection leaves what arrived: HEAD then tells it where to resume."""
    path = upload_path(upload.pk)
    room = upload.length - offset
    written, too_long = 0, False
    with open(path, "r+b" if path.exists() else "w+b") as handle:
        handle.seek(offset)
        handle.truncate()  # bytes past the recorded offset (a write cut short before it was recorded) go
        try:
            while chunk := request.read(CHUNK):
                if written + len(chunk) > room:
                    too_long = True
                    break
                handle.write(chunk)
                written += len(chunk)
        except OSError:
            pass  # the client went away mid-chunk: keep what arrived
    return written, too_long


def _state_headers(upload: AssetUpload) -> dict:
    headers = {"Upload_Offset": upload.offset, "Upload_Length": upload.length}
    if upload.result_asset_id:
        headers["Asset_Id"] = upload.result_asset_id
    else:
        headers["Upload_Expires"] = _expires(upload)
    return headers


def _discard(upload: AssetUpload) -> None:
    AssetUpload.objects.filter(pk=upload.pk).delete()
    upload_path(upload.pk).unlink(missing_ok=True)


def _complete(request, upload: AssetUpload) -> HttpResponse:
    """The last byte arrived: make the asset (or the new version) through the services, then drop the partial file.
    A refusal (type, bomb, quota, rights) deletes the bytes, keeps the reason on the upload and answers it."""
    meta = upload.metadata
    filename = meta.get("filename") or meta.get("name") or "file"
    try:
        # The guard deletes stored files if this outer transaction rolls back after the service returned.
        with open(upload_path(upload.pk), "rb") as handle, stored_files_guard(), transaction.atomic():
            locked = AssetUpload.objects.select_for_update().get(pk=upload.pk)
            if locked.result_asset_id:
                return _response(204, **_state_headers(locked))
            if upload.asset_id:
                asset = Asset.objects.get(pk=upload.asset_id)
                version = asset_version_add(
                    organization=request.organization,
                    actor=request.user,
                    asset=asset,
                    file=handle,
                    filename=filename,
                    note=meta.get("note", ""),
                )
            else:
                collection_id = meta.get("collection")
                collection = Collection.objects.filter(pk=int(collection_id)).first() if collection_id else None
                asset = asset_create(
                    organization=request.organization,
                    actor=request.user,
                    kind=AssetKind.FILE,
                    title=meta.get("title", ""),
                    description=meta.get("description", ""),
                    tags=[t for t in meta.get("tags", "").split(",") if t.strip()],
                    collection=collection,
                    language=meta.get("language", ""),
                    requires_approval=meta.get("requires_approval", "").lower() in {"1", "true", "yes", "on"},
                    file=handle,
                    filename=filename,
                    note=meta.get("note", ""),
                )
                version = asset.current_version
            locked.result_asset = asset
            locked.save(update_fields=["result_asset", "updated_at"])
    except DomainError as exc:
        # The bytes go; the row stays with the reason until it expires, so the page can list what was refused.
        AssetUpload.objects.filter(pk=upload.pk).update(error=exc.message[:500])
        upload_path(upload.pk).unlink(missing_ok=True)
        return _domain_error(exc)
    upload_path(upload.pk).unlink(missing_ok=True)
    return _response(204, Upload_Offset=upload.length, Asset_Id=asset.pk, Asset_Version_Id=version.pk)


def uploads_expire(*, now=None) -> int:
    """Delete unfinished uploads idle for longer than ASSETS_UPLOAD_EXPIRY_HOURS, and finished ones after the same
    time (their HEAD answer is no longer needed), with their partial files. Returns how many went."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.ASSETS_UPLOAD_EXPIRY_HOURS)
    ids = list(AssetUpload.objects.filter(updated_at__lt=cutoff).values_list("pk", flat=True))
    AssetUpload.objects.filter(pk__in=ids).delete()
    for upload_id in ids:
        upload_path(upload_id).unlink(missing_ok=True)
    return len(ids)


def orphan_partials(known_ids: set[str]) -> list[str]:
    """Partial files with no upload row (a crash between the two): for the expiry task."""
    directory = upload_dir()
    if not directory.exists():
        return []
    return [name for name in os.listdir(directory) if name not in known_ids]
