"""Walk the URL resolver: every route with its full pattern, name and keyword arguments."""

import re
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver

_PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


@dataclass(frozen=True)
class Route:
    route: str  # e.g. "<slug:org_slug>/settings/teams/<int:team_id>/"
    name: str  # namespaced, e.g. "org:team_detail"
    callback: object

    @property
    def kwargs(self) -> list[str]:
        return [m.group("name") for m in _PARAM.finditer(self.route)]

    @property
    def is_api(self) -> bool:
        return self.route.startswith("api/")

    def url(self, **values) -> str:
        return "/" + _PARAM.sub(lambda m: str(values[m.group("name")]), self.route)

    @property
    def methods(self) -> set[str]:
        """HTTP methods the view implements (class-based views) or all of them (function views)."""
        view_class = getattr(self.callback, "view_class", None) or getattr(self.callback, "cls", None)
        if view_class is None:
            return {"GET", "POST"}
        return {m.upper() for m in ("get", "post", "put", "patch", "delete") if hasattr(view_class, m)}


def _walk(patterns, prefix: str, namespace: str):
    for entry in patterns:
        route = str(entry.pattern)
        if isinstance(entry, URLResolver):
            ns = namespace
            if entry.namespace:
                ns = f"{namespace}{entry.namespace}:"
            yield from _walk(entry.url_patterns, prefix + route, ns)
        elif isinstance(entry, URLPattern):
            yield Route(route=prefix + route, name=f"{namespace}{entry.name or ''}", callback=entry.callback)


def all_routes() -> list[Route]:
    return list(_walk(get_resolver().url_patterns, "", ""))


def org_routes() -> list[Route]:
    """Every route that belongs to an organization (its path carries <org_slug>)."""
    return [r for r in all_routes() if "org_slug" in r.kwargs]
