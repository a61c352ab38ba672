"""Who may do what: role capabilities (accounts.roles) and object permissions (django-guardian).

Capabilities gate whole features; object permissions narrow which channel connections (and so which tickets) a
member sees (channels_integrations.permissions). `objects_granted` is the only place that calls guardian's
`get_objects_for_user`: always on an organization-scoped queryset, never accepting global permissions, always
including team (group) grants.
"""

import functools

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from guardian.shortcuts import get_objects_for_user

from accounts.models import Membership

VIEW_CONNECTION = "channels_integrations.view_channelconnection"


def objects_granted(membership: Membership, perm: str, queryset: QuerySet) -> QuerySet:
    """Narrow an organization-scoped queryset to the objects granted to the member or to one of their teams."""
    return get_objects_for_user(
        membership.user, perm, klass=queryset, use_groups=True, with_superuser=False, accept_global_perms=False
    )


def require_capability(capability: str):
    """View decorator: 403 unless the current member's role has the capability (membership is already checked
    by TenantMiddleware, so non-members never get here)."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            membership = getattr(request, "membership", None)
            if membership is None or not membership.has(capability):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapper.required_capability = capability
        return wrapper

    return decorator
