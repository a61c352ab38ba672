"""The tus 1.0 server: create, append, resume after an interruption, offsets checked, quota at creation, refusals
that leave nothing, expiry of abandoned uploads."""

import base64
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from assets.models import Asset, AssetUpload
from assets.tasks import expire_uploads
from assets.tests.factories import EXE_AS_JPEG, make_file_asset, png_bytes
from assets.uploads import parse_metadata, upload_path

pytestmark = pytest.mark.django_db
TUS = {"HTTP_TUS_RESUMABLE": "1.0.0"}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def _meta(**values) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def _create(client, tenant, length, **meta):
    return client.post(
        reverse("org:asset_upload", kwargs={"org_slug": tenant.slug}),
        HTTP_UPLOAD_LENGTH=str(length),
        HTTP_UPLOAD_METADATA=_meta(**meta),
        **TUS,
    )


def _patch(client, location, offset, data):
    return client.generic(
        "PATCH", location, data, content_type="application/offset+octet-stream", HTTP_UPLOAD_OFFSET=str(offset), **TUS
    )


def test_options_advertises_the_protocol(tenant_a, login):
    response = login(tenant_a.users["editor"]).options(reverse("org:asset_upload", kwargs={"org_slug": tenant_a.slug}))
    assert response.status_code == 204
    assert response["Tus-Version"] == "1.0.0" and "creation" in response["Tus-Extension"]
    assert int(response["Tus-Max-Size"]) > 0


def test_round_trip_with_resume_after_interruption(tenant_a, login, media):
    data = png_bytes(400, 300)
    client = login(tenant_a.users["editor"])
    created = _create(client, tenant_a, len(data), filename="夏のバナー.png", title="Summer banner", tags="夏,banner")
    assert created.status_code == 201 and created["Tus-Resumable"] == "1.0.0"
    location = created["Location"]
    # The first chunk arrives, then the connection drops.
    first = _patch(client, location, 0, data[:1000])
    assert first.status_code == 204 and first["Upload-Offset"] == "1000"
    # The client asks where to resume…
    head = client.head(location, **TUS)
    assert head.status_code == 200 and head["Upload-Offset"] == "1000" and head["Upload-Length"] == str(len(data))
    # …a stale offset is refused with 409…
    assert _patch(client, location, 0, data).status_code == 409
    # …and the rest completes the upload.
    last = _patch(client, location, 1000, data[1000:])
    assert last.status_code == 204 and last["Upload-Offset"] == str(len(data))
    with tenant_a.scope():
        asset = Asset.objects.get(pk=last["Asset-Id"])
        assert asset.title == "Summer banner" and asset.tags == ["夏", "banner"]
        assert asset.current_version_id == int(last["Asset-Version-Id"])
        assert asset.current_version.file.read() == data
        assert asset.current_version.filename == "夏のバナー.png"
    assert not upload_path(location.rstrip("/").rsplit("/", 1)[1]).exists()
    assert client.head(location, **TUS)["Asset-Id"] == str(asset.pk)


def test_new_version_of_an_asset(tenant_a, login):
    asset = make_file_asset(tenant_a)
    data = png_bytes(20, 20)
    client = login(tenant_a.users["editor"])
    created = _create(client, tenant_a, len(data), filename="v2.png", asset=str(asset.pk))
    done = _patch(client, created["Location"], 0, data)
    assert done.status_code == 204 and done["Asset-Id"] == str(asset.pk)
    with tenant_a.scope():
        asset.refresh_from_db()
        assert asset.current_version.number == 2


def test_refused_content_leaves_nothing(tenant_a, login, media):
    client = login(tenant_a.users["editor"])
    created = _create(client, tenant_a, len(EXE_AS_JPEG), filename="photo.jpg")
    done = _patch(client, created["Location"], 0, EXE_AS_JPEG)
    assert done.status_code == 422
    assert done.json()["error"]["code"] == "file_type_not_allowed"
    with tenant_a.scope():
        assert not Asset.objects.exists()
        assert AssetUpload.objects.get().error.startswith("This type of file is not allowed")
    assert [p for p in media.rglob("*") if p.is_file()] == []
    assert _patch(client, created["Location"], 0, EXE_AS_JPEG).status_code == 410


def test_quota_checked_at_creation(tenant_a, login, settings):
    settings.ASSETS_QUOTA_BYTES = 5000
    client = login(tenant_a.users["editor"])
    assert _create(client, tenant_a, 4000, filename="a.mp4").status_code == 201
    # The first upload's promised bytes count: a second one no longer fits.
    refused = _create(client, tenant_a, 2000, filename="b.mp4")
    assert refused.status_code == 413 and refused.json()["error"]["code"] == "quota_exceeded"
    settings.ASSETS_MAX_FILE_BYTES = 100
    too_big = _create(client, tenant_a, 101, filename="c.mp4")
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "file_too_large"


def test_protocol_errors(tenant_a, login):
    client = login(tenant_a.users["editor"])
    url = reverse("org:asset_upload", kwargs={"org_slug": tenant_a.slug})
    assert client.post(url, HTTP_UPLOAD_LENGTH="10").status_code == 412  # no Tus-Resumable
    assert client.post(url, HTTP_UPLOAD_LENGTH="ten", **TUS).status_code == 400
    assert client.post(url, HTTP_UPLOAD_LENGTH="10", HTTP_UPLOAD_METADATA="a !!", **TUS).status_code == 400
    location = _create(client, tenant_a, 10, filename="a.txt")["Location"]
    wrong_type = client.generic("PATCH", location, b"x", content_type="text/plain", HTTP_UPLOAD_OFFSET="0", **TUS)
    assert wrong_type.status_code == 415
    assert _patch(client, location, 0, b"x" * 11).status_code == 400  # more than announced


def test_only_the_uploader_and_uploaders_may_touch_an_upload(tenant_a, login):
    location = _create(login(tenant_a.users["editor"]), tenant_a, 10, filename="a.txt")["Location"]
    assert login(tenant_a.users["manager"]).head(location, **TUS).status_code == 404
    agent = login(tenant_a.users["agent"])
    assert _create(agent, tenant_a, 10, filename="a.txt").status_code == 403


def test_termination_and_expiry(tenant_a, login, settings):
    client = login(tenant_a.users["editor"])
    location = _create(client, tenant_a, 10, filename="a.txt")["Location"]
    assert client.delete(location, **TUS).status_code == 204
    stale = _create(client, tenant_a, 10, filename="b.txt")["Location"]
    fresh = _create(client, tenant_a, 10, filename="c.txt")["Location"]
    stale_id = stale.rstrip("/").rsplit("/", 1)[1]
    with tenant_a.scope():
        AssetUpload.objects.filter(pk=stale_id).update(updated_at=timezone.now() - timedelta(hours=25))
    assert expire_uploads() == 1
    assert client.head(stale, **TUS).status_code == 404 and client.head(fresh, **TUS).status_code == 200
    assert not upload_path(stale_id).exists()


def test_parse_metadata():
    assert parse_metadata("filename bG9nby5wbmc=,empty") == {"filename": "logo.png", "empty": ""}
    for bad in ("a b c", "a !!!", "a YQ==,a YQ=="):
        with pytest.raises(ValueError):
            parse_metadata(bad)


def test_failure_after_the_asset_is_made_leaves_no_asset_file(tenant_a, login, media, monkeypatch):
    """The asset is created inside the upload's own transaction; if that transaction then fails, the stored files
    go with the rows (the partial upload stays, to be retried or to expire)."""
    data = png_bytes(30, 30)
    client = login(tenant_a.users["editor"])
    location = _create(client, tenant_a, len(data), filename="a.png")["Location"]
    original_save = AssetUpload.save

    def failing_save(self, *args, **kwargs):
        if "result_asset" in (kwargs.get("update_fields") or ()):
            raise RuntimeError("database went away")
        return original_save(self, *args, **kwargs)

    monkeypatch.setattr(AssetUpload, "save", failing_save)
    with pytest.raises(RuntimeError):
        _patch(client, location, 0, data)
    with tenant_a.scope():
        assert not Asset.objects.exists()
    assert [p for p in (media / "assets").rglob("*") if p.is_file()] == []
