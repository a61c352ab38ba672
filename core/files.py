"""The one way stored files reach a browser: after the caller's permission check, `serve_file` answers with the file
(Django's FileResponse) or hands it to the web server in front (FILES_OFFLOAD: nginx's X-Accel-Redirect under an
internal location, or Apache/lighttpd X-Sendfile with the file's path), always with headers that keep a customer's
file from running as our origin: only raster images are shown inline, everything else (HTML, SVG, XML, PDF, unknown
types) is a download; nosniff; a sandboxing Content-Security-Policy; private caching."""

import re
from urllib.parse import quote

from django.conf import settings
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control
from django.utils.http import content_disposition_header

# Shown in the browser; every other type is served as a download.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
SANDBOX_CSP = "sandbox; default-src 'none'"
CACHE_SECONDS = 300  # private, and short: losing access to a channel should not leave its files cached for long
OFFLOAD_ACCEL = "x-accel-redirect"
OFFLOAD_SENDFILE = "x-sendfile"
_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")


def safe_content_type(content_type: str) -> str:
    """The bare media type (no parameters), or application/octet-stream for anything malformed."""
    bare = (content_type or "").split(";", 1)[0].strip().lower()
    return bare if _TYPE.fullmatch(bare) else "application/octet-stream"


def serve_file(request: HttpRequest, fieldfile: FieldFile, *, filename: str, content_type: str) -> HttpResponse:
    """Serve `fieldfile` as `filename`. The caller has checked that the requester may see it. 404 when there is no
    stored file (or it is gone from storage, when Django serves it)."""
    if not fieldfile:
        raise Http404
    content_type = safe_content_type(content_type)
    inline = content_type in INLINE_TYPES
    offload = settings.FILES_OFFLOAD
    if offload == OFFLOAD_ACCEL:
        response = HttpResponse(content_type=content_type)
        prefix = settings.FILES_OFFLOAD_PREFIX.rstrip("/")
        response["X-Accel-Redirect"] = f"{prefix}/{quote(fieldfile.name)}"
    elif offload == OFFLOAD_SENDFILE:
        response = HttpResponse(content_type=content_type)
        response["X-Sendfile"] = fieldfile.path
    elif offload:
        raise ValueError(f"FILES_OFFLOAD must be '', {OFFLOAD_ACCEL!r} or {OFFLOAD_SENDFILE!r}, not {offload!r}")
    else:
        try:
            handle = fieldfile.storage.open(fieldfile.name, "rb")
        except FileNotFoundError as exc:
            raise Http404 from exc
        response = FileResponse(handle, content_type=content_type)
    # FileResponse would guess a Content-Type and set its own disposition; both are decided here, for every mode.
    response["Content-Type"] = content_type
    response["Content-Disposition"] = content_disposition_header(not inline, filename or "file")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = SANDBOX_CSP
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    patch_cache_control(response, private=True, max_age=CACHE_SECONDS)
    return response
