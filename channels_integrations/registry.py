"""The one map from platform names to connectors. Adding a platform: write `providers/<name>/connector.py`, add it
here, add its simulator part to `simulator/core.py` (see the README, "Adding a channel")."""

from functools import cache
from importlib import import_module

from channels_integrations.connector import Connector

CONNECTORS = {
    "email": "channels_integrations.providers.email.connector.EmailConnector",
    "facebook": "channels_integrations.providers.meta.connector.FacebookConnector",
    "instagram": "channels_integrations.providers.meta.connector.InstagramConnector",
}


@cache
def connector_for(platform: str) -> Connector:
    """The connector of a platform; KeyError when the platform has none (yet)."""
    module, _, name = CONNECTORS[platform].rpartition(".")
    return getattr(import_module(module), name)()


def has_connector(platform: str) -> bool:
    return platform in CONNECTORS


def all_connectors() -> list[Connector]:
    return [connector_for(platform) for platform in CONNECTORS]


def app_level_connectors(endpoint: str) -> list[Connector]:
    """Connectors sharing one app-level webhook endpoint (Meta: facebook, instagram)."""
    return [c for c in all_connectors() if c.app_level_webhook == endpoint]
