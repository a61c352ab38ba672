"""An organization's address (/<slug>/) must never be one the site itself serves: a slug like "webhooks" or
"published-media" would have its pages shadowed by the site's route, or the route by the organization."""

import re

from django.urls import get_resolver

from accounts.models import RESERVED_SLUGS

_SLUG = re.compile(r"[-a-zA-Z0-9_]+")


def test_every_top_level_route_is_a_reserved_slug():
    prefixes = set()
    for pattern in get_resolver().url_patterns:
        text = str(pattern.pattern).lstrip("^")
        first = text.split("/", 1)[0]
        if first and _SLUG.fullmatch(first):
            prefixes.add(first)
    assert {"webhooks", "api", "published-media", "survey"} <= prefixes  # the walk sees the routes
    assert prefixes - RESERVED_SLUGS == set()
