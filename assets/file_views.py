"""Asset files and thumbnails, served only to members who may see the asset (a 404 for everyone else, as for a
missing one), through core.files.serve_file: the one file-serving path (download for anything but raster images,
nosniff, sandbox CSP, private caching). Stored names are random and never public."""

from django.http import Http404
from django.views.decorators.http import require_GET

from assets.permissions import AssetAccess
from assets.selectors import version_visible
from core.files import serve_file

_THUMBNAIL_TYPES = {".webp": "image/webp", ".png": "image/png", ".jpg": "image/jpeg"}


@require_GET
def asset_file(request, org_slug, version_id):
    version = version_visible(
        request.organization, request.user, version_id, access=AssetAccess.for_member(request.membership)
    )
    if version is None or not version.file:
        raise Http404
    return serve_file(request, version.file, filename=version.filename, content_type=version.mime_type)


@require_GET
def asset_thumbnail(request, org_slug, version_id):
    version = version_visible(
        request.organization, request.user, version_id, access=AssetAccess.for_member(request.membership)
    )
    if version is None or not version.thumbnail:
        raise Http404
    extension = "." + version.thumbnail.name.rsplit(".", 1)[-1].lower()
    return serve_file(
        request,
        version.thumbnail,
        filename=f"thumbnail-{version.pk}{extension}",
        content_type=_THUMBNAIL_TYPES.get(extension, "application/octet-stream"),
    )
