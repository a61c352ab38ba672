"""Asset files and thumbnails: only through the permission-checked views, 404 across organizations and for what a
member may not see, with the one file-serving path's safe headers."""

import pytest
from django.urls import reverse

from assets.models import CollectionGrant
from assets.services import collection_create
from assets.tests.factories import make_file_asset, make_snippet, png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def _urls(tenant, version_id):
    kwargs = {"org_slug": tenant.slug, "version_id": version_id}
    return reverse("org:asset_file", kwargs=kwargs), reverse("org:asset_thumbnail", kwargs=kwargs)


def test_member_gets_file_and_thumbnail_with_safe_headers(tenant_a, login, django_assert_max_num_queries):
    data = png_bytes(64, 64)
    asset = make_file_asset(tenant_a, data=data, filename="logo.png")
    file_url, thumb_url = _urls(tenant_a, asset.current_version_id)
    client = login(tenant_a.users["agent"])
    with django_assert_max_num_queries(12):
        response = client.get(file_url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "logo.png" in response["Content-Disposition"]
    thumb = client.get(thumb_url)
    assert thumb.status_code == 200 and thumb["Content-Type"] in {"image/webp", "image/png"}


def test_other_organization_gets_404(tenant_a, tenant_b, login):
    asset = make_file_asset(tenant_b)
    client = login(tenant_a.users["owner"])
    for url in _urls(tenant_a, asset.current_version_id) + _urls(tenant_b, asset.current_version_id):
        assert client.get(url).status_code == 404


def test_svg_is_a_download(tenant_a, login):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    asset = make_file_asset(tenant_a, data=svg, filename="icon.svg")
    response = login(tenant_a.users["owner"]).get(_urls(tenant_a, asset.current_version_id)[0])
    assert response["Content-Type"] == "image/svg+xml"
    assert response["Content-Disposition"].startswith("attachment")
    assert "sandbox" in response["Content-Security-Policy"]


def test_agent_gets_404_for_unapproved_or_restricted_assets(tenant_a, login):
    draft = make_file_asset(tenant_a, requires_approval=True)
    with tenant_a.scope():
        secret = collection_create(organization=tenant_a.organization, actor=tenant_a.users["owner"], name="Legal")
        CollectionGrant.objects.create(organization=tenant_a.organization, collection=secret, role_key="editor")
    restricted = make_file_asset(tenant_a, collection=secret)
    agent, editor = login(tenant_a.users["agent"]), None
    for asset in (draft, restricted):
        assert agent.get(_urls(tenant_a, asset.current_version_id)[0]).status_code == 404
    editor = login(tenant_a.users["editor"])
    for asset in (draft, restricted):
        assert editor.get(_urls(tenant_a, asset.current_version_id)[0]).status_code == 200


def test_text_asset_has_no_file(tenant_a, login):
    snippet = make_snippet(tenant_a)
    assert login(tenant_a.users["owner"]).get(_urls(tenant_a, snippet.current_version_id)[0]).status_code == 404
