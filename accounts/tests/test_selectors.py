"""Query budgets: pages and API lists cost the same number of queries whatever the number of rows."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import services
from conftest import add_member, make_user

pytestmark = pytest.mark.django_db


_serial = iter(range(10**6))


def _grow(tenant, n):
    for _ in range(n):
        i = next(_serial)
        user = make_user(f"bulk{i}@{tenant.slug}.test")
        add_member(tenant.organization, user, "agent")
        with tenant.scope():
            services.team_create(
                organization=tenant.organization, actor=tenant.users["owner"], name=f"T{i}", members=[user]
            )
            services.api_token_create(organization=tenant.organization, actor=tenant.users["owner"], name=f"k{i}")


def _count(fn) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = fn()
        assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    "path", ["", "settings/members/", "settings/teams/", "settings/roles/", "settings/audit/", "settings/tokens/"]
)
def test_pages_have_constant_query_counts(path, tenant_a, login):
    client = login(tenant_a.users["owner"])
    url = f"/{tenant_a.slug}/{path}"
    client.get(url)  # the first visit records it as the member's last organization (one write)
    _grow(tenant_a, 2)
    small = _count(lambda: client.get(url))
    _grow(tenant_a, 10)
    assert _count(lambda: client.get(url)) == small
    assert small <= 16, small


@pytest.mark.parametrize("path", ["members/", "teams/", "invitations/", "audit-log/", "tokens/", "roles/"])
def test_api_lists_have_constant_query_counts(path, tenant_a, api_client_for):
    api = api_client_for(tenant_a, "owner")
    url = f"/api/v1/orgs/{tenant_a.slug}/{path}"
    api.get(url)  # the first use stamps the token's last_used_at (one write, then at most once a minute)
    _grow(tenant_a, 2)
    small = _count(lambda: api.get(url))
    _grow(tenant_a, 10)
    assert _count(lambda: api.get(url)) == small
    assert small <= 8, small
