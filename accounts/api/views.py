"""Organization API: members, roles, teams, invitations, audit log, API tokens. Views are thin: they parse,
check capabilities (HasCapability) and call services/selectors. Tenant scope and membership come from
TenantMiddleware, so every query here is already limited to the URL's organization."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.api import serializers as s
from accounts.api.authentication import token_creation_refused
from accounts.models import ApiToken, Role, User
from accounts.roles import Capability
from accounts.tenancy import organizations_for_user
from core.api.views import OrgAPIView, OrgListAPIView
from core.errors import DomainError


class MeView(APIView):
    """The signed-in user and the organizations they belong to; called with an API token, the token's organization
    only."""

    @extend_schema(responses=s.MeSerializer)
    def get(self, request):
        organizations = organizations_for_user(request.user)
        if isinstance(request.auth, ApiToken):  # a token speaks for its own organization only
            organizations = organizations.filter(pk=request.auth.organization_id)
        return Response(s.MeSerializer(request.user, context={"organizations": organizations}).data)


class RoleListView(OrgListAPIView):
    serializer_class = s.RoleSerializer
    pagination_class = None

    def get_queryset(self):
        return Role.objects.all()


class MemberListView(OrgListAPIView):
    serializer_class = s.MembershipSerializer

    def get_queryset(self):
        return selectors.membership_list()


class MemberDetailView(OrgAPIView):
    serializer_class = s.MembershipSerializer
    required_capabilities = {"PATCH": Capability.MEMBERS_MANAGE, "DELETE": Capability.MEMBERS_MANAGE}

    def get_object(self):
        return get_object_or_404(selectors.membership_list(), pk=self.kwargs["membership_id"])

    def get(self, request, org_slug, membership_id):
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(request=s.MembershipUpdateSerializer)
    def patch(self, request, org_slug, membership_id):
        membership = self.get_object()
        data = s.MembershipUpdateSerializer(data=request.data, organization=self.organization)
        data.is_valid(raise_exception=True)
        membership = services.member_change_role(
            actor_membership=self.membership,
            membership=membership,
            role=data.validated_data["role"],
            **self.actor_kwargs(),
        )
        return Response(self.get_serializer(membership).data)

    def delete(self, request, org_slug, membership_id):
        services.member_remove(actor_membership=self.membership, membership=self.get_object(), **self.actor_kwargs())
        return Response(status=status.HTTP_204_NO_CONTENT)


class TeamListView(OrgListAPIView):
    serializer_class = s.TeamSerializer
    required_capabilities = {"POST": Capability.MEMBERS_MANAGE}

    def get_queryset(self):
        return selectors.team_list()

    @extend_schema(request=s.TeamWriteSerializer, responses={201: s.TeamSerializer})
    def post(self, request, org_slug):
        data = s.TeamWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        team = services.team_create(
            name=data.validated_data["name"],
            description=data.validated_data.get("description", ""),
            members=_members_by_id(data.validated_data.get("members", [])),
            **self.actor_kwargs(),
        )
        return Response(self.get_serializer(selectors.team_list().get(pk=team.pk)).data, status=status.HTTP_201_CREATED)


class TeamDetailView(OrgAPIView):
    serializer_class = s.TeamSerializer
    required_capabilities = {"PATCH": Capability.MEMBERS_MANAGE, "DELETE": Capability.MEMBERS_MANAGE}

    def get_object(self):
        return get_object_or_404(selectors.team_list(), pk=self.kwargs["team_id"])

    def get(self, request, org_slug, team_id):
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(request=s.TeamWriteSerializer)
    def patch(self, request, org_slug, team_id):
        team = self.get_object()
        data = s.TeamWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        members = data.validated_data.get("members")
        services.team_update(
            team=team,
            name=data.validated_data.get("name"),
            description=data.validated_data.get("description"),
            members=None if members is None else _members_by_id(members),
            **self.actor_kwargs(),
        )
        return Response(self.get_serializer(self.get_object()).data)

    def delete(self, request, org_slug, team_id):
        services.team_delete(team=self.get_object(), **self.actor_kwargs())
        return Response(status=status.HTTP_204_NO_CONTENT)


def _members_by_id(ids: list[int]) -> list[User]:
    """Users that are members of the current organization; unknown ids are a field error in the service."""
    users = list(User.objects.filter(pk__in=ids))
    if len(users) != len(set(ids)):
        raise DomainError("Unknown member.", field="members")
    return users


class InvitationListView(OrgListAPIView):
    serializer_class = s.InvitationSerializer
    required_capabilities = {"GET": Capability.MEMBERS_MANAGE, "POST": Capability.MEMBERS_MANAGE}

    def get_queryset(self):
        return selectors.invitation_list()

    @extend_schema(request=s.InvitationCreateSerializer, responses={201: s.InvitationSerializer})
    def post(self, request, org_slug):
        data = s.InvitationCreateSerializer(data=request.data, organization=self.organization)
        data.is_valid(raise_exception=True)
        invitation, _token = services.invitation_create(
            actor_membership=self.membership,
            email=data.validated_data["email"],
            role=data.validated_data["role"],
            teams=data.validated_data.get("teams", []),
            **self.actor_kwargs(),
        )
        invitation = selectors.invitation_list().get(pk=invitation.pk)
        return Response(self.get_serializer(invitation).data, status=status.HTTP_201_CREATED)


class InvitationDetailView(OrgAPIView):
    serializer_class = s.InvitationSerializer
    required_capabilities = {"GET": Capability.MEMBERS_MANAGE, "DELETE": Capability.MEMBERS_MANAGE}

    def get_object(self):
        return get_object_or_404(selectors.invitation_list(), pk=self.kwargs["invitation_id"])

    def get(self, request, org_slug, invitation_id):
        return Response(self.get_serializer(self.get_object()).data)

    def delete(self, request, org_slug, invitation_id):
        services.invitation_revoke(invitation=self.get_object(), **self.actor_kwargs())
        return Response(status=status.HTTP_204_NO_CONTENT)


class AuditLogView(OrgListAPIView):
    """Read-only: there is no endpoint that changes or deletes an audit entry."""

    serializer_class = s.AuditEntrySerializer
    required_capabilities = {"GET": Capability.AUDIT_VIEW}

    @extend_schema(
        parameters=[
            OpenApiParameter("action", str),
            OpenApiParameter("actor", str, description="email"),
            OpenApiParameter("object_type", str),
            OpenApiParameter("since", str, description="ISO 8601"),
            OpenApiParameter("until", str, description="ISO 8601"),
        ]
    )
    def get(self, request, org_slug):
        return self.list(request)

    def get_queryset(self):
        return selectors.audit_list(filters=selectors.AuditFilter.from_query(self.request.query_params))


class TokenListView(OrgListAPIView):
    """The caller's own API tokens for this organization."""

    serializer_class = s.ApiTokenSerializer

    def get_queryset(self):
        return ApiToken.objects.filter(user=self.request.user)

    @extend_schema(request=s.ApiTokenCreateSerializer, responses={201: s.ApiTokenSerializer})
    def post(self, request, org_slug):
        refused = token_creation_refused(request._request)
        if refused:
            raise PermissionDenied(refused, code="session_required")
        data = s.ApiTokenCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token, key = services.api_token_create(
            name=data.validated_data["name"],
            expires_in_days=data.validated_data.get("expires_in_days"),
            **self.actor_kwargs(),
        )
        body = self.get_serializer(token).data | {"key": key}
        return Response(body, status=status.HTTP_201_CREATED)


class TokenDetailView(OrgAPIView):
    serializer_class = s.ApiTokenSerializer

    def get_object(self):
        return get_object_or_404(ApiToken.objects.filter(user=self.request.user), pk=self.kwargs["token_id"])

    def get(self, request, org_slug, token_id):
        return Response(self.get_serializer(self.get_object()).data)

    def delete(self, request, org_slug, token_id):
        services.api_token_revoke(token=self.get_object(), **self.actor_kwargs())
        return Response(status=status.HTTP_204_NO_CONTENT)
