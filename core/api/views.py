"""The API base: organization endpoints and the capability check every one of them makes. Tenant scope and
membership come from TenantMiddleware, so every query below is already limited to the URL's organization."""

from rest_framework import generics, mixins
from rest_framework.permissions import BasePermission, IsAuthenticated


class HasCapability(BasePermission):
    """DRF permission: `required_capabilities = {"GET": ..., "POST": ...}` on the view (None = any member)."""

    def has_permission(self, request, view) -> bool:
        membership = getattr(request._request, "membership", None)
        if membership is None:
            return False
        required = getattr(view, "required_capabilities", {}).get(request.method)
        return required is None or membership.has(required)


class OrgAPIView(generics.GenericAPIView):
    """Base for `/api/v1/orgs/<org_slug>/...`: membership is guaranteed by TenantMiddleware."""

    permission_classes = [IsAuthenticated, HasCapability]
    required_capabilities: dict[str, str | None] = {}

    @property
    def organization(self):
        return self.request._request.organization

    @property
    def membership(self):
        return self.request._request.membership

    def actor_kwargs(self) -> dict:
        return {"organization": self.organization, "actor": self.request.user, "request": self.request._request}


class OrgListAPIView(mixins.ListModelMixin, OrgAPIView):
    """A paginated list (GET) of `get_queryset()`."""

    def get(self, request, org_slug):
        return self.list(request)
