"""The asset library's REST API: list with filters, upload (multipart) of an asset and of a version, versions,
restore, metadata, usage; errors in the one envelope; query counts independent of the data size."""

import pytest
from django.urls import reverse

from assets.services import asset_approve
from assets.tests.factories import EXE_AS_JPEG, make_file_asset, make_snippet, png_bytes, upload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def url(tenant, name, **kwargs):
    return reverse(f"api:{name}", kwargs={"org_slug": tenant.slug, **kwargs})


def test_upload_list_versions_restore_and_metadata(tenant_a, api_client_for):
    api = api_client_for(tenant_a, "editor")
    created = api.post(
        url(tenant_a, "asset-list"),
        {"file": upload("商品写真.png", png_bytes(120, 80)), "tags": ["商品", "summer"], "title": "商品写真"},
        format="multipart",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    version = body["current_version"]
    assert body["tags"] == ["商品", "summer"] and body["status"] == "draft"
    assert version["mime_type"] == "image/png" and (version["width"], version["height"]) == (120, 80)
    assert version["file_url"].endswith(f"/assets/versions/{version['id']}/file/") and version["thumbnail_url"]
    asset_id = body["id"]

    second = api.post(
        url(tenant_a, "asset-versions", asset_id=asset_id),
        {"file": upload("v2.png", png_bytes(60, 40))},
        format="multipart",
    )
    assert second.status_code == 201 and second.json()["number"] == 2
    versions = api.get(url(tenant_a, "asset-versions", asset_id=asset_id)).json()["results"]
    assert [v["number"] for v in versions] == [2, 1]

    restored = api.post(url(tenant_a, "asset-version-restore", version_id=version["id"]))
    assert restored.status_code == 201 and restored.json()["number"] == 3 and restored.json()["width"] == 120
    meta = api.get(url(tenant_a, "asset-version-detail", version_id=version["id"])).json()
    assert meta["size"] > 0 and len(meta["sha256"]) == 64

    found = api.get(url(tenant_a, "asset-list"), {"q": "商品", "kind": "file"}).json()["results"]
    assert [a["id"] for a in found] == [asset_id]
    assert api.get(url(tenant_a, "asset-list"), {"tag": "winter"}).json()["results"] == []


def test_text_snippet_and_approval(tenant_a, api_client_for):
    editor = api_client_for(tenant_a, "editor")
    created = editor.post(
        url(tenant_a, "asset-list"),
        {
            "kind": "snippet",
            "title": "お詫び",
            "text": "ご迷惑をおかけし申し訳ございません。",
            "requires_approval": True,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    asset_id = created.json()["id"]
    assert editor.post(url(tenant_a, "asset-approve", asset_id=asset_id)).status_code == 403
    approved = api_client_for(tenant_a, "approver").post(url(tenant_a, "asset-approve", asset_id=asset_id))
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    # The agent sees it now that it is approved, and only usable assets.
    agent = api_client_for(tenant_a, "agent")
    assert [a["id"] for a in agent.get(url(tenant_a, "asset-list")).json()["results"]] == [asset_id]


def test_errors_are_enveloped(tenant_a, api_client_for):
    api = api_client_for(tenant_a, "editor")
    spoofed = api.post(url(tenant_a, "asset-list"), {"file": upload("x.jpg", EXE_AS_JPEG)}, format="multipart")
    assert spoofed.status_code == 400
    assert spoofed.json()["error"]["code"] == "file_type_not_allowed" and "file" in spoofed.json()["error"]["fields"]
    agent = api_client_for(tenant_a, "agent")
    refused = agent.post(url(tenant_a, "asset-list"), {"kind": "snippet", "title": "x", "text": "y"}, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"


def test_other_organization_is_404(tenant_a, tenant_b, api_client_for):
    asset = make_file_asset(tenant_b)
    api = api_client_for(tenant_a, "owner")
    assert api.get(url(tenant_a, "asset-detail", asset_id=asset.pk)).status_code == 404
    assert api.get(url(tenant_a, "asset-version-detail", version_id=asset.current_version_id)).status_code == 404
    assert api.get(url(tenant_b, "asset-list")).status_code == 404


def test_list_query_count_does_not_grow(tenant_a, api_client_for, django_assert_max_num_queries):
    api = api_client_for(tenant_a, "agent")
    make_snippet(tenant_a, title="one")
    with django_assert_max_num_queries(14) as few:
        assert len(api.get(url(tenant_a, "asset-list")).json()["results"]) == 1
    for i in range(6):
        make_file_asset(tenant_a, title=f"image {i}")
        make_snippet(tenant_a, title=f"snippet {i}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(api.get(url(tenant_a, "asset-list")).json()["results"]) == 13


def test_usages_listed(tenant_a, api_client_for):
    from assets.services import asset_usage_record
    from tickets.services.ingest import message_ingest
    from tickets.tests.factories import connection, inbound

    asset = make_snippet(tenant_a)
    conn = connection(tenant_a)
    with tenant_a.scope():
        message, _ = message_ingest(
            organization=tenant_a.organization, connection=conn, inbound=inbound("hi", thread="u")
        )
        asset_approve(organization=tenant_a.organization, actor=tenant_a.users["owner"], asset=asset)
        asset_usage_record(
            organization=tenant_a.organization,
            actor=tenant_a.users["agent"],
            versions=[asset.current_version],
            target=message,
        )
    rows = api_client_for(tenant_a, "agent").get(url(tenant_a, "asset-usages", asset_id=asset.pk)).json()["results"]
    assert rows == [
        {
            "id": rows[0]["id"],
            "version": asset.current_version_id,
            "version_number": 1,
            "target_type": "tickets.message",
            "target_id": message.pk,
            "used_by": tenant_a.users["agent"].pk,
            "used_at": rows[0]["used_at"],
        }
    ]
