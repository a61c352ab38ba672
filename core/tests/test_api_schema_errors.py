"""The API's errors in its schema and on paths no route matches (issue 15)."""

import pytest

pytestmark = pytest.mark.django_db


def test_an_api_path_no_route_matches_is_a_json_404_for_every_method(client):
    for method in ("get", "post", "delete"):
        response = getattr(client, method)("/api/v1/orgs/org-a/tickets/not-a-number/")
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert response.json()["error"]["code"] == "not_found"


def test_the_schema_documents_the_error_responses(client):
    schema = client.get("/api/schema/?format=json").json()
    assert "Error" in schema["components"]["schemas"]
    ticket = schema["paths"]["/api/v1/orgs/{org_slug}/tickets/{ticket_id}/"]
    assert {"401", "403", "404"} <= set(ticket["get"]["responses"])
    assert {"400", "401", "403", "404", "409"} <= set(ticket["patch"]["responses"])
    me = schema["paths"]["/api/v1/me/"]["get"]["responses"]
    assert "404" not in me and "401" in me
