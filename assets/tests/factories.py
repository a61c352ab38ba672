"""Makers for asset tests: real image bytes (Pillow), crafted hostile files, assets made through the services."""

import io
import struct
import zlib

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from assets.models import AssetKind
from assets.services import asset_create


def png_bytes(width: int = 16, height: int = 12, color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def jpeg_bytes(width: int = 16, height: int = 12) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(out, "JPEG")
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A valid PNG header for a 20000×20000 1-bit image whose rows are all zero: a few hundred bytes on disk, 400
    million pixels decoded. The whole image data is there (compressed), so only the pixel limit stops it."""
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


HTML_AS_JPEG = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
EXE_AS_JPEG = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"PE\x00\x00" + bytes(200)


def upload(name: str, data: bytes, content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def make_file_asset(tenant, role: str = "owner", *, title: str = "Logo", data: bytes | None = None, **kwargs):
    with tenant.scope():
        return asset_create(
            organization=tenant.organization,
            actor=tenant.users[role],
            kind=AssetKind.FILE,
            title=title,
            file=upload(kwargs.pop("filename", "logo.png"), data or png_bytes()),
            **kwargs,
        )


def make_snippet(tenant, role: str = "owner", *, title: str = "Greeting", text: str = "Hello!", **kwargs):
    with tenant.scope():
        return asset_create(
            organization=tenant.organization,
            actor=tenant.users[role],
            kind=kwargs.pop("kind", AssetKind.SNIPPET),
            title=title,
            text=text,
            **kwargs,
        )


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4_bytes(seconds: float = 5.5) -> bytes:
    """A minimal MP4 (ftyp + moov/mvhd with a 1000 Hz timescale): its duration is all there is to read."""
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2mp41")
    mvhd = _box(b"mvhd", b"\x00\x00\x00\x00" + struct.pack(">IIII", 0, 0, 1000, int(seconds * 1000)) + bytes(80))
    return ftyp + _box(b"moov", mvhd) + _box(b"mdat", b"")
