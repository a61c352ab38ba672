"""What schemathesis found in the tickets API (issue 15), each pinned by a test that fails without its fix."""

import pytest

from automation.models import AutoResponse
from tickets.models import CannedResponse
from tickets.tests.factories import connection

pytestmark = pytest.mark.django_db


def _url(tenant, path: str) -> str:
    return f"/api/v1/orgs/{tenant.slug}/{path}"


def _canned(api, tenant, shortcut: str = "thanks") -> int:
    response = api.post(
        _url(tenant, "canned-responses/"),
        {
            "title": "Thanks",
            "shortcut": shortcut,
            "variants": [{"language": "ja", "body": "ありがとう"}],
            "shared": True,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_deleting_a_canned_response_an_automatic_reply_uses_is_a_409_that_names_it(tenant_a, api_client_for):
    api = api_client_for(tenant_a)
    canned_id = _canned(api, tenant_a)
    conn = connection(tenant_a, platform="email", name="Support mailbox")
    with tenant_a.scope():
        AutoResponse.objects.create(
            organization=tenant_a.organization,
            connection=conn,
            kind="first_contact",
            response=CannedResponse.objects.get(pk=canned_id),
        )

    response = api.delete(_url(tenant_a, f"canned-responses/{canned_id}/"))

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "conflict"
    assert "Support mailbox" in error["message"]
    with tenant_a.scope():
        assert CannedResponse.objects.filter(pk=canned_id).exists()


def test_a_saved_view_needs_only_a_name(tenant_a, api_client_for):
    api = api_client_for(tenant_a)

    response = api.post(_url(tenant_a, "saved-views/"), {"name": "Everything"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["filters"] == {}

    response = api.post(_url(tenant_a, "saved-views/"), {"name": "First", "position": 0}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["position"] == 0


def test_patching_variants_without_a_language_is_a_field_error(tenant_a, api_client_for):
    api = api_client_for(tenant_a)
    canned_id = _canned(api, tenant_a)

    response = api.patch(
        _url(tenant_a, f"canned-responses/{canned_id}/"), {"variants": [{"body": "no language"}]}, format="json"
    )

    assert response.status_code == 400
    assert "variants" in response.json()["error"]["fields"]
