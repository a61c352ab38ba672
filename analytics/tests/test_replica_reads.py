"""The analytics reads go to the replica when one is configured (core/db_replica.py); writes and other reads do not.

The replica here is a second connection to the test database under the alias `replica`, which is what
DATABASE_REPLICA_URL adds; the router only decides which connection a query uses."""

import copy

import pytest
from django.db import connections
from django.db.utils import load_backend
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Organization
from core import db_replica
from core.db_replica import REPLICA, replica_reads
from tickets.models import Tag

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def replica(monkeypatch):
    """What DATABASE_REPLICA_URL configures, made after the test's setup (Django's test case forbids connections to
    aliases it did not set up, except those made while the test runs)."""
    settings_dict = copy.deepcopy(connections["default"].settings_dict)
    wrapper = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, REPLICA)
    setattr(connections._connections, REPLICA, wrapper)
    monkeypatch.setattr(db_replica, "replica_configured", lambda: True)
    try:
        yield wrapper
    finally:
        wrapper.close()
        delattr(connections._connections, REPLICA)


def _sql(captured) -> str:
    return "\n".join(query["sql"] for query in captured.captured_queries)


def test_reads_inside_replica_reads_go_to_the_replica_and_writes_do_not(replica, tenant_a):
    with CaptureQueriesContext(replica) as on_replica, CaptureQueriesContext(connections["default"]) as on_default:
        with replica_reads():
            assert Organization.objects.filter(pk=tenant_a.organization.pk).exists()
            with tenant_a.scope():
                Tag.objects.create(organization=tenant_a.organization, name="replica-write")
        assert Organization.objects.filter(slug=tenant_a.slug).exists()  # outside: default
    assert '"accounts_organization"' in _sql(on_replica) and "INSERT" not in _sql(on_replica)
    assert "INSERT" in _sql(on_default) and f"'{tenant_a.slug}'" in _sql(on_default)


def test_without_a_replica_every_read_uses_default(tenant_a):
    with CaptureQueriesContext(connections["default"]) as on_default, replica_reads():
        assert Organization.objects.filter(pk=tenant_a.organization.pk).exists()
    assert len(on_default.captured_queries) == 1


def test_the_dashboard_reads_its_figures_from_the_replica(replica, tenant_a, login):
    client = login(tenant_a.users["manager"])
    url = reverse("org:analytics_overview", args=[tenant_a.slug])
    with CaptureQueriesContext(replica) as on_replica, CaptureQueriesContext(connections["default"]) as on_default:
        response = client.get(url, {"from": "2026-11-16", "to": "2026-11-29"})
    assert response.status_code == 200
    assert "analytics_" in _sql(on_replica)  # the facts and rollups
    assert "analytics_" not in _sql(on_default)
