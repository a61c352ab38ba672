"""Who may do what: role capabilities (accounts.roles) and object permissions (django-guardian).

Capabilities gate whole features; object permissions narrow which channel connections (and so which tickets) a
member sees. `objects_granted` is the only place that calls guardian's `get_objects_for_user`: always on an
organization-scoped queryset, never accepting global permissions, always including team (group) grants.
"""

import functools

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from guardian.shortcuts import get_objects_for_user
from rest_framework.permissions import BasePermission

from accounts.models import Membership
from accounts.roles import Capability

VIEW_CONNECTION = "channels_integrations.view_channelconnection"


def objects_granted(membership: Membership, perm: str, queryset: QuerySet) -> QuerySet:
    """Narrow an organization-scoped queryset to the objects granted to the member or to one of their teams."""
    return get_objects_for_user(
        membership.user, perm, klass=queryset, use_groups=True, with_superuser=False, accept_global_perms=False
    )


def connections_visible_to(membership: Membership) -> QuerySet:
    """Channel connections whose tickets the member may see: all of them with `tickets.view_all`, else the
    ones granted to them or their teams."""
    from channels_integrations.models import ChannelConnection

    connections = ChannelConnection.objects.filter(organization=membership.organization_id)
    if membership.has(Capability.TICKETS_VIEW_ALL):
        return connections
    return objects_granted(membership, VIEW_CONNECTION, connections)


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


class HasCapability(BasePermission):
    """DRF permission: `required_capabilities = {"GET": ..., "POST": ...}` on the view (None = any member)."""

    def has_permission(self, request, view) -> bool:
        membership = getattr(request._request, "membership", None)
        if membership is None:
            return False
        required = getattr(view, "required_capabilities", {}).get(request.method)
        return required is None or membership.has(required)
