"""What an uploaded file is, read from its bytes (never its name or the browser's word): the MIME type by content
(`filetype`'s signatures, plus a careful look at text), refused unless allowed; size and sha256; image dimensions and
a thumbnail with Pillow under a pixel limit (decompression bombs refused); a video's duration with mutagen (MP4/MOV)
or ffprobe when on PATH, and a poster frame only when ffmpeg is there (otherwise the pages show a placeholder)."""

import hashlib
import io
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from typing import IO

import filetype
from django.conf import settings
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError, features

from core.errors import DomainError

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime", "video/webm", "video/x-m4v"})
DOCUMENT_TYPES = frozenset(
    {
        "application/pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
        "application/zip",
        "audio/mpeg",
        "audio/mp4",
    }
)
# Recognized by a look at the text (no signature): SVG is kept but always served as a download (core.files).
TEXT_TYPES = frozenset({"text/plain", "text/csv", "image/svg+xml"})
ALLOWED_TYPES = IMAGE_TYPES | VIDEO_TYPES | DOCUMENT_TYPES | TEXT_TYPES

SNIFF_BYTES = 8192
THUMBNAIL_SIZE = (480, 480)
CHUNK = 1024 * 1024
# Markup a browser would run if it ever rendered the file: never accepted as "text".
_ACTIVE_MARKUP = (b"<html", b"<!doctype", b"<script", b"<body", b"<head", b"<iframe", b"<?php")


@dataclass
class FileFacts:
    """What a file is, as read from its content."""

    mime_type: str
    size: int
    sha256: str
    width: int | None = None
    height: int | None = None
    duration_seconds: float | None = None
    thumbnail: bytes | None = None  # the thumbnail's bytes, when one could be made
    thumbnail_ext: str = ""


def detect_type(head: bytes, filename: str = "") -> str:
    """The file's MIME type from its first bytes; "" when it is nothing we recognize."""
    kind = filetype.guess(head)
    if kind is not None:
        return kind.mime
    if b"\x00" in head:
        return ""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sniffed window is still text.
        if exc.start < len(head) - 4:
            return ""
        text = head[: exc.start].decode("utf-8")
    lowered = text.lstrip("\ufeff \t\r\n").lower().encode()
    if b"<svg" in lowered[:SNIFF_BYTES] and (lowered.startswith(b"<svg") or lowered.startswith(b"<?xml")):
        return "image/svg+xml"
    if any(marker in lowered for marker in _ACTIVE_MARKUP):
        return ""
    return "text/csv" if filename.lower().endswith(".csv") else "text/plain"


def _hash_and_size(handle: IO[bytes]) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    handle.seek(0)
    while chunk := handle.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    handle.seek(0)
    return digest.hexdigest(), size


def _image_facts(handle: IO[bytes], facts: FileFacts) -> None:
    """Dimensions and a thumbnail; refuse what Pillow cannot read or what is too many pixels (a small file that
    decompresses to gigabytes)."""
    Image.MAX_IMAGE_PIXELS = settings.ASSETS_MAX_IMAGE_PIXELS
    handle.seek(0)
    with warnings.catch_warnings():
        # Past MAX_IMAGE_PIXELS Pillow only warns (an error from twice that): both are refusals here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(handle) as image:
                facts.width, facts.height = image.size
                image.thumbnail(THUMBNAIL_SIZE)
                image = ImageOps.exif_transpose(image)
                if image.mode not in ("RGB", "RGBA"):
                    image = image.convert(
                        "RGBA" if "transparency" in image.info or image.mode in ("LA", "P") else "RGB"
                    )
                out = io.BytesIO()
                if features.check("webp"):
                    image.save(out, "WEBP", quality=80)
                    facts.thumbnail_ext = ".webp"
                else:
                    image.save(out, "PNG")
                    facts.thumbnail_ext = ".png"
                facts.thumbnail = out.getvalue()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise DomainError(
                _("This image is too large (more than %(pixels)s million pixels). Please upload a smaller one.")
                % {"pixels": settings.ASSETS_MAX_IMAGE_PIXELS // 1_000_000},
                code="image_too_large",
                field="file",
            ) from exc
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise DomainError(_("This image is damaged or cannot be read."), code="bad_image", field="file") from exc
    handle.seek(0)


def _video_facts(handle: IO[bytes], facts: FileFacts) -> None:
    """Duration (mutagen reads MP4/MOV boxes; ffprobe when installed reads the rest) and a poster frame with ffmpeg
    when installed. Neither is required: without them the page shows a placeholder."""
    handle.seek(0)
    try:
        from mutagen.mp4 import MP4  # noqa: PLC0415 - only videos need it

        info = MP4(handle).info
        if info and info.length:
            facts.duration_seconds = round(float(info.length), 3)
    except Exception:  # noqa: BLE001 - a container mutagen cannot parse simply has no duration from it
        pass
    handle.seek(0)
    ffprobe, ffmpeg = shutil.which("ffprobe"), shutil.which("ffmpeg")
    if not (ffprobe or ffmpeg):
        return
    with tempfile.NamedTemporaryFile(suffix=".video") as temp:
        shutil.copyfileobj(handle, temp)
        temp.flush()
        handle.seek(0)
        if ffprobe and facts.duration_seconds is None:
            try:
                out = subprocess.run(  # noqa: S603 - fixed argv, our own temp file
                    [ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", temp.name],
                    capture_output=True,
                    timeout=20,
                    check=False,
                )
                facts.duration_seconds = round(float(out.stdout.strip()), 3)
            except (ValueError, subprocess.SubprocessError):
                pass
        if ffmpeg:
            try:
                out = subprocess.run(  # noqa: S603
                    [
                        ffmpeg,
                        "-v",
                        "error",
                        "-ss",
                        "1",
                        "-i",
                        temp.name,
                        "-frames:v",
                        "1",
                        "-f",
                        "image2pipe",
                        "-vcodec",
                        "png",
                        "-vf",
                        f"scale={THUMBNAIL_SIZE[0]}:-2",
                        "-",
                    ],
                    capture_output=True,
                    timeout=30,
                    check=False,
                )
                if out.returncode == 0 and out.stdout:
                    facts.thumbnail, facts.thumbnail_ext = out.stdout, ".png"
            except subprocess.SubprocessError:
                pass


def inspect(handle: IO[bytes], *, filename: str = "") -> FileFacts:
    """Read a (seekable) file and return its facts, or raise DomainError when its content is not an allowed type or
    is a bad image."""
    handle.seek(0)
    head = handle.read(SNIFF_BYTES)
    handle.seek(0)
    if not head:
        raise DomainError(_("The file is empty."), code="empty_file", field="file")
    mime_type = detect_type(head, filename)
    if mime_type not in ALLOWED_TYPES:
        raise DomainError(
            _("This type of file is not allowed: its content is not an image, video, PDF, office document or text."),
            code="file_type_not_allowed",
            field="file",
        )
    sha256, size = _hash_and_size(handle)
    facts = FileFacts(mime_type=mime_type, size=size, sha256=sha256)
    if mime_type in IMAGE_TYPES:
        _image_facts(handle, facts)
    elif mime_type in VIDEO_TYPES:
        _video_facts(handle, facts)
    return facts
