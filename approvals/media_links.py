"""Public, expiring links to one media file of a post, for platforms that fetch media themselves (Instagram curls
`image_url` when a container is made; LINE loads an image message's `originalContentUrl`).

The link is `SITE_URL/published-media/<token>/<filename>`: `token` is Django's signing of {asset version id,
organization id, expiry} under SECRET_KEY with its own salt (an HMAC: it cannot be forged or widened to another
file), so the view needs no session and no organization prefix. It serves exactly that version's file through
`core.files.serve_file` until the expiry, and 404 for anything else (bad signature, expired, file gone). The
filename in the path is decoration for the fetcher; the token alone decides which file is served."""

import time

from django.conf import settings
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.http import urlsafe_base64_encode
from django.views.decorators.http import require_safe
from django_scopes import scopes_disabled

from assets.models import AssetVersion
from core.files import serve_file

SALT = "approvals.published-media"
DEFAULT_LIFETIME = 14 * 24 * 3600
# Instagram fetches while the container is made (minutes); LINE's apps load the image whenever a friend opens the
# message, so its link lives as long as a message is commonly read.
LIFETIMES = {"instagram": 24 * 3600, "line": 30 * 24 * 3600}


def media_token(version: AssetVersion, *, expires_at: int) -> str:
    return signing.dumps({"v": version.pk, "o": version.organization_id, "e": expires_at}, salt=SALT)


def media_url(version: AssetVersion, *, platform: str = "", now: float | None = None) -> str:
    """The public link to `version`'s file for `platform`, valid for that platform's lifetime."""
    expires_at = int((now if now is not None else time.time()) + LIFETIMES.get(platform, DEFAULT_LIFETIME))
    token = media_token(version, expires_at=expires_at)
    name = version.filename or f"media-{version.pk}"
    path = reverse("published-media", args=[token, _safe_name(name)])
    return f"{settings.SITE_URL}{path}"


def _safe_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._-" else "-" for c in name)[-100:]
    return cleaned.strip(".-") or urlsafe_base64_encode(name.encode())[:20] or "media"


@require_safe
def published_media(request: HttpRequest, token: str, filename: str) -> HttpResponse:
    """The file a valid, unexpired token names (no session: the platform's fetcher calls it); 404 otherwise."""
    try:
        data = signing.loads(token, salt=SALT)
        version_id, organization_id, expires_at = int(data["v"]), int(data["o"]), int(data["e"])
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise Http404 from exc
    if expires_at < time.time():
        raise Http404
    # The signed token, not a membership, grants this one file: the lookup names its organization explicitly.
    with scopes_disabled():
        version = AssetVersion.objects.filter(pk=version_id, organization_id=organization_id).first()
    if version is None or not version.file:
        raise Http404
    return serve_file(request, version.file, filename=version.filename or filename, content_type=version.mime_type)
