"""The intake's per-process memories (the pages a webhook names, the connections lately woken) are bounded: however
many organizations send, a process keeps at most a fixed number of entries."""

import pytest

from channels_integrations import services, webhooks
from channels_integrations.tests.test_webhooks import page

pytestmark = pytest.mark.django_db


def test_the_page_memory_keeps_at_most_its_ceiling(tenant_a, settings, monkeypatch):
    settings.WEBHOOK_ACCOUNT_MEMORY_SECONDS = 60
    monkeypatch.setattr(webhooks, "MEMORY_MAX_ENTRIES", 3)
    webhooks._accounts.clear()
    for n in range(7):
        page(tenant_a, page_id=f"31000000000{n}")
    sizes = []
    for n in range(7):
        assert webhooks._connections_of("facebook", f"31000000000{n}")  # found (and remembered)
        sizes.append(len(webhooks._accounts))
    assert max(sizes) == 3
    webhooks._accounts.clear()


def test_the_woken_memory_keeps_at_most_its_ceiling(tenant_a, settings, monkeypatch):
    settings.INGEST_WAKE_DEBOUNCE = 60
    monkeypatch.setattr(services, "WOKEN_MAX_ENTRIES", 3)
    monkeypatch.setattr(services, "_queue_wake", lambda *args: True)  # the size of the memory is what is measured
    services._woken.clear()
    sizes = []
    for n in range(7):
        services.ingest_wake(page(tenant_a, page_id=f"32000000000{n}"))
        sizes.append(len(services._woken))
    assert max(sizes) == 3
    services._woken.clear()


def test_the_per_connection_memory_keeps_at_most_its_ceiling(tenant_a, settings, monkeypatch):
    from channels_integrations.models import ChannelConnection

    settings.WEBHOOK_ACCOUNT_MEMORY_SECONDS = 60
    monkeypatch.setattr(webhooks, "MEMORY_MAX_ENTRIES", 3)
    webhooks._by_uuid.clear()
    with tenant_a.scope():
        connections = [
            ChannelConnection.objects.create(
                organization=tenant_a.organization,
                platform="line",
                display_name=f"LINE {n}",
                external_account_id=f"L{n}",
            )
            for n in range(7)
        ]
    sizes = []
    for connection in connections:
        assert webhooks._connection_of("line", connection.uuid).pk == connection.pk
        sizes.append(len(webhooks._by_uuid))
    assert max(sizes) == 3
    webhooks._by_uuid.clear()
