"""File facts from content: type by bytes (spoofed names refused), image limits (bombs refused), thumbnails."""

import io

import pytest
from PIL import Image

from assets.metadata import detect_type, inspect
from assets.tests.factories import EXE_AS_JPEG, HTML_AS_JPEG, jpeg_bytes, mp4_bytes, png_bomb, png_bytes
from core.errors import DomainError


def test_png_facts_and_thumbnail(settings):
    facts = inspect(io.BytesIO(png_bytes(640, 480)), filename="photo.png")
    assert facts.mime_type == "image/png"
    assert (facts.width, facts.height) == (640, 480)
    assert len(facts.sha256) == 64 and facts.size > 0
    thumb = Image.open(io.BytesIO(facts.thumbnail))
    assert max(thumb.size) <= 480


def test_type_comes_from_content_not_name():
    # A JPEG named .png is a JPEG; a PNG named .pdf is a PNG.
    assert inspect(io.BytesIO(jpeg_bytes()), filename="x.png").mime_type == "image/jpeg"
    assert inspect(io.BytesIO(png_bytes()), filename="x.pdf").mime_type == "image/png"


@pytest.mark.parametrize("data", [HTML_AS_JPEG, EXE_AS_JPEG], ids=["html", "exe"])
def test_spoofed_jpeg_refused(data):
    with pytest.raises(DomainError) as raised:
        inspect(io.BytesIO(data), filename="holiday.jpg")
    assert raised.value.code == "file_type_not_allowed"


def test_image_bomb_refused(settings):
    bomb = png_bomb()
    assert len(bomb) < 100_000  # small on disk
    with pytest.raises(DomainError) as raised:
        inspect(io.BytesIO(bomb), filename="bomb.png")
    assert raised.value.code == "image_too_large"
    assert "million pixels" in raised.value.message


def test_image_just_over_the_limit_refused(settings):
    """Between MAX_IMAGE_PIXELS and twice that, Pillow only warns: that is a refusal too."""
    settings.ASSETS_MAX_IMAGE_PIXELS = 100 * 100
    with pytest.raises(DomainError):
        inspect(io.BytesIO(png_bytes(120, 100)), filename="a.png")
    assert inspect(io.BytesIO(png_bytes(100, 100)), filename="a.png").width == 100


def test_damaged_image_refused():
    data = png_bytes()[:40]
    with pytest.raises(DomainError) as raised:
        inspect(io.BytesIO(data), filename="a.png")
    assert raised.value.code == "bad_image"


def test_text_svg_and_empty():
    assert detect_type("こんにちは、ご注文ありがとうございます。".encode(), "a.txt") == "text/plain"
    assert detect_type(b"name,email\nA,a@example.com\n", "list.csv") == "text/csv"
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>'
    assert detect_type(svg, "a.svg") == "image/svg+xml"
    assert detect_type(b"\x00\x01\x02binary", "a.bin") == ""
    with pytest.raises(DomainError):
        inspect(io.BytesIO(b""), filename="empty.txt")


def test_pdf_allowed():
    data = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    assert inspect(io.BytesIO(data), filename="brochure.pdf").mime_type == "application/pdf"


def test_video_duration_without_ffmpeg_has_no_poster(monkeypatch):
    monkeypatch.setattr("assets.metadata.shutil.which", lambda name: None)
    facts = inspect(io.BytesIO(mp4_bytes(5.5)), filename="clip.mp4")
    assert facts.mime_type == "video/mp4"
    assert facts.duration_seconds == 5.5
    assert facts.thumbnail is None  # the page shows a placeholder
