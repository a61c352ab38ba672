"""The one tenant-scoping mechanism: django-scopes, activated from the URL by TenantMiddleware.

Every tenant-owned model uses `ScopedManager(organization="organization")`, so a query made while no organization
is active raises `ScopeError` instead of returning every tenant's rows. Requests under `/<org-slug>/...` and
`/api/v1/orgs/<org-slug>/...` get the scope of that organization once membership is checked; Celery tasks get it
from `organization_id` (see `TenantTask`); management commands and cross-tenant selectors use `scopes_disabled()`
visibly and say why.
"""

import contextlib

from django_scopes import scope, scopes_disabled

from accounts.models import Organization

__all__ = ["organization_scope", "scope", "scopes_disabled", "organizations_for_user"]


@contextlib.contextmanager
def organization_scope(organization: Organization | int):
    """Activate one organization's scope; accepts an instance or an id (Celery tasks take ids)."""
    if not isinstance(organization, Organization):
        organization = Organization.objects.get(pk=organization)
    with scope(organization=organization):
        yield organization


def organizations_for_user(user):
    """Organizations the user belongs to (for the switcher): the one query that spans tenants by design,
    limited to the user's own memberships."""
    if not user.is_authenticated:
        return Organization.objects.none()
    return Organization.objects.filter(memberships__user=user).order_by("name")
