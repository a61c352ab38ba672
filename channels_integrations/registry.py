"""The one map of platforms. A platform is a package under `providers/` (connector, client, schemas, connect form or
OAuth flow, simulator part, fixtures, tests) that declares what it provides in its `__init__.py`:

    CONNECTORS = {"<platform>": "<module>.<Connector class>", ...}   # one or more platforms (Meta: facebook, instagram)
    SIMULATOR = "<module>.<SimulatorPart class>"                     # its part of the platform simulator, or ""

and one line in PROVIDERS below. Everything else — webhook URLs, connect pages, the simulator, the choices of the
`platform` fields — is derived from here (README, "Adding a channel").

This module imports nothing of Django, so the simulator (which never imports Django) reads it too."""

from __future__ import annotations

from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from channels_integrations.connector import Connector

PROVIDERS = [
    "channels_integrations.providers.email",
    "channels_integrations.providers.meta",
    "channels_integrations.providers.phone",
    "channels_integrations.providers.whatsapp",
    "channels_integrations.providers.line",
    "channels_integrations.providers.telegram",
    "channels_integrations.providers.x",
    "channels_integrations.providers.api",
]


def _load(path: str):
    module, _, name = path.rpartition(".")
    return getattr(import_module(module), name)


@cache
def _connector_paths() -> dict[str, str]:
    paths: dict[str, str] = {}
    for package in PROVIDERS:
        paths.update(import_module(package).CONNECTORS)
    return paths


@cache
def connector_for(platform: str) -> Connector:
    """The connector of a platform; KeyError when the platform has none."""
    return _load(_connector_paths()[platform])()


def has_connector(platform: str) -> bool:
    return platform in _connector_paths()


def all_connectors() -> list[Connector]:
    return [connector_for(platform) for platform in _connector_paths()]


def app_level_connectors(endpoint: str) -> list[Connector]:
    """Connectors sharing one app-level webhook endpoint (`/webhooks/<endpoint>/`; Meta: facebook, instagram)."""
    return [c for c in all_connectors() if c.app_level_webhook == endpoint]


def platform_choices() -> list[tuple[str, str]]:
    """(platform, label) of every registered platform: the choices of the `platform` fields (a callable, so adding a
    platform needs no migration)."""
    return [(c.platform, c.label) for c in all_connectors()]


def simulator_parts() -> list[type]:
    """Every provider's simulator part (deduplicated: one package may provide several platforms)."""
    parts = []
    for package in PROVIDERS:
        path = getattr(import_module(package), "SIMULATOR", "")
        if path:
            parts.append(_load(path))
    return parts


def reset() -> None:
    """Forget what was loaded (tests that add a provider to PROVIDERS)."""
    _connector_paths.cache_clear()
    connector_for.cache_clear()
