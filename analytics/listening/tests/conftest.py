"""Listening fixtures: a connected Instagram account and Facebook page of the simulator's demo page, and monitors."""

import pytest

from analytics.listening import services
from analytics.listening.models import Monitor
from channels_integrations.models import ChannelConnection


def meta_connection(tenant, simulator, platform: str = "instagram", account_id: str = "") -> ChannelConnection:
    page = simulator.parts["meta"].provision()["pages"][0]
    with tenant.scope():
        connection = ChannelConnection(
            organization=tenant.organization,
            platform=platform,
            display_name=page["name"] if platform == "facebook" else f"@{page['ig_username']}",
            external_account_id=account_id or (page["id"] if platform == "facebook" else page["ig_id"]),
        )
        connection.set_credentials({"access_token": page["access_token"], "page_id": page["id"]})
        connection.save()
        return connection


def monitor(tenant, name, kind, terms, excluded=(), platforms=()) -> Monitor:
    with tenant.scope():
        return services.monitor_save(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            name=name,
            kind=kind,
            terms=list(terms),
            excluded_terms=list(excluded),
            platforms=list(platforms),
            active=True,
        )


@pytest.fixture
def monitors(tenant_a):
    return {
        "brand": monitor(tenant_a, "ツナグ", "brand", ["ツナグ", "Tsunagu"]),
        "rival": monitor(tenant_a, "カスタマーボックス", "competitor", ["カスタマーボックス", "CustomerBox"]),
        "zen": monitor(tenant_a, "Zen", "competitor", ["Zen"]),
    }
