from django.utils.functional import SimpleLazyObject

from accounts.roles import Capability
from accounts.tenancy import organizations_for_user


def tenancy(request):
    """The current organization, the member's capabilities (for showing menu entries) and the org switcher."""
    membership = getattr(request, "membership", None)
    user = getattr(request, "user", None)
    return {
        "organization": getattr(request, "organization", None),
        "membership": membership,
        "can": {c.name.lower(): membership.has(c) for c in Capability} if membership else {},
        "my_organizations": SimpleLazyObject(lambda: list(organizations_for_user(user))) if user else [],
    }
