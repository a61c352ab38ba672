"""Tenant isolation, generated from the URL resolver: every organization route, every method it serves.

A member of organization A must get 404 — never 200, 403 or 500 — for organization B's pages and API routes, and
for B's objects addressed through A's own routes; B's names and counts never appear on A's pages. New routes are
covered the day they are added (object keywords come from tests/tenant_objects.py).
"""

import json

import pytest
from django.urls import get_resolver

from tests.tenant_objects import OBJECT_MAKERS, PLAIN_VALUES
from tests.urlwalk import org_routes

ROUTES = org_routes()
ROUTE_IDS = [r.name for r in ROUTES]
WRITE_BODY = {"name": "x", "email": "x@example.com", "role": "agent", "members": [], "description": "x"}


def _kwargs_for(route, tenant, objects):
    values = {"org_slug": tenant.slug}
    for name in route.kwargs:
        if name == "org_slug":
            continue
        if name in PLAIN_VALUES:
            values[name] = PLAIN_VALUES[name]
            continue
        assert name in OBJECT_MAKERS, f"route {route.name} uses <{name}>: add a maker to tests/tenant_objects.py"
        if name not in objects:
            objects[name] = OBJECT_MAKERS[name](tenant)
        values[name] = objects[name]
    return values


def _request(client, method: str, url: str, is_api: bool):
    if is_api:
        return client.generic(method, url, json.dumps(WRITE_BODY), content_type="application/json")
    data = WRITE_BODY if method == "POST" else None
    return client.get(url) if method == "GET" else client.post(url, data)


def test_the_walk_finds_organization_routes():
    # Guards the walker itself: the resolver has both UI and API organization routes.
    assert any(r.is_api for r in ROUTES) and any(not r.is_api for r in ROUTES)
    assert len(ROUTES) >= 20, [r.route for r in ROUTES]
    assert get_resolver()  # resolver imports cleanly


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_member_of_a_gets_404_for_organization_b_routes(route, tenant_a, tenant_b, login, api_client_for):
    objects_b: dict = {}
    url = route.url(**_kwargs_for(route, tenant_b, objects_b))
    clients = [api_client_for(tenant_a, "owner")] if route.is_api else []
    clients.append(login(tenant_a.users["owner"]))
    for client in clients:
        for method in sorted(route.methods):
            response = _request(client, method, url, route.is_api)
            assert response.status_code == 404, (method, url, response.status_code)


def _served_methods(client, route, tenant) -> set[str]:
    """Methods the route serves, probed on the member's own organization with its own objects."""
    url = route.url(**_kwargs_for(route, tenant, {}))
    return {m for m in route.methods if _request(client, m, url, route.is_api).status_code != 405}


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if set(r.kwargs) - {"org_slug", *PLAIN_VALUES}], ids=lambda r: r.name
)
def test_objects_of_b_are_404_through_a_routes(route, tenant_a, tenant_b, login, api_client_for):
    objects_b: dict = {}
    values = _kwargs_for(route, tenant_b, objects_b)
    values["org_slug"] = tenant_a.slug
    url = route.url(**values)
    client = api_client_for(tenant_a, "owner") if route.is_api else login(tenant_a.users["owner"])
    for method in sorted(route.methods):
        response = _request(client, method, url, route.is_api)
        # 405 comes from the method check before any lookup (the view does not serve that method): it reveals nothing.
        assert response.status_code in {404, 405}, (method, url, response.status_code)
        assert response.status_code == 404 or method not in _served_methods(client, route, tenant_a)


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_non_member_gets_the_same_404_as_for_a_missing_organization(route, tenant_a, login):
    from conftest import make_user

    outsider = make_user("outsider@nowhere.test")
    objects: dict = {}
    real = route.url(**_kwargs_for(route, tenant_a, objects))
    missing = real.replace(f"/{tenant_a.slug}/", "/no-such-org/", 1)
    client = login(outsider)
    for url in (real, missing):
        response = client.get(url)
        assert response.status_code == 404, (url, response.status_code)


@pytest.mark.parametrize("route", [r for r in ROUTES if "GET" in r.methods], ids=lambda r: r.name)
def test_b_names_and_counts_never_appear_in_a_pages(route, tenant_a, tenant_b, login, api_client_for):
    # Given B with distinctive names and many more members than A
    from conftest import add_member, make_user

    for i in range(9):
        add_member(tenant_b.organization, make_user(f"zeta{i}@org-b.test", f"Zeta Leak {i}"), "agent")
    OBJECT_MAKERS["team_id"](tenant_b)
    markers = [tenant_b.organization.name, "org-b.test", "Zeta Leak", f"Secret team {tenant_b.slug}"]
    # When A's owner opens every page / API route of A
    objects_a: dict = {}
    url = route.url(**_kwargs_for(route, tenant_a, objects_a))
    client = api_client_for(tenant_a, "owner") if route.is_api else login(tenant_a.users["owner"])
    response = client.get(url)
    assert response.status_code < 500
    body = (b"".join(response.streaming_content) if response.streaming else response.content).decode()
    # Then nothing of B shows, and member counts are A's own (7), never B's (16)
    for marker in markers:
        assert marker not in body, (url, marker)
    if route.name in {"org:home"}:
        assert 'id="member-count">7<' in body
    if route.name == "api:member-list":
        assert len(response.json()["results"]) == 7
