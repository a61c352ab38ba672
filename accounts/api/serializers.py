from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from accounts.models import (
    API_TOKEN_MAX_DAYS,
    ApiToken,
    AuditEntry,
    Invitation,
    Membership,
    Organization,
    Role,
    Team,
    User,
)


class UserBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "name"]


class OrganizationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["slug", "name", "timezone", "default_language", "require_two_factor"]


class RoleSerializer(serializers.ModelSerializer):
    label = serializers.CharField(read_only=True)

    class Meta:
        model = Role
        fields = ["id", "key", "label", "capabilities"]


class MembershipSerializer(serializers.ModelSerializer):
    user = UserBriefSerializer(read_only=True)
    role = serializers.SlugRelatedField(slug_field="key", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "role", "created_at"]


class MembershipUpdateSerializer(serializers.Serializer):
    role = serializers.SlugRelatedField(slug_field="key", queryset=Role.objects.none())

    def __init__(self, *args, organization=None, **kwargs):
        super().__init__(*args, **kwargs)
        if organization is not None:  # None only while the OpenAPI schema is generated
            self.fields["role"].queryset = Role.objects.filter(organization=organization)


class MeSerializer(serializers.ModelSerializer):
    organizations = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "email", "name", "language", "timezone", "organizations"]

    def get_organizations(self, user) -> list[dict]:
        return [{"slug": org.slug, "name": org.name} for org in self.context["organizations"]]


class TeamSerializer(serializers.ModelSerializer):
    members = serializers.SerializerMethodField()

    class Meta:
        model = Team
        fields = ["id", "name", "description", "members", "created_at"]

    def get_members(self, team) -> list[int]:
        return sorted(user.pk for user in team.group.user_set.all())


class TeamWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    description = serializers.CharField(max_length=255, required=False, allow_blank=True)
    members = serializers.ListField(child=serializers.IntegerField(), required=False)


class InvitationSerializer(serializers.ModelSerializer):
    role = serializers.SlugRelatedField(slug_field="key", read_only=True)
    teams = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    invited_by = UserBriefSerializer(read_only=True)
    status = serializers.SerializerMethodField()

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "teams", "invited_by", "created_at", "expires_at", "status"]

    def get_status(self, invitation) -> str:
        if invitation.accepted_at:
            return "accepted"
        if invitation.revoked_at:
            return "revoked"
        return "open" if invitation.is_open else "expired"


class InvitationCreateSerializer(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.SlugRelatedField(slug_field="key", queryset=Role.objects.none())
    teams = serializers.PrimaryKeyRelatedField(many=True, queryset=Team.objects.none(), required=False)

    def __init__(self, *args, organization=None, **kwargs):
        super().__init__(*args, **kwargs)
        if organization is not None:  # None only while the OpenAPI schema is generated
            self.fields["role"].queryset = Role.objects.filter(organization=organization)
            self.fields["teams"].child_relation.queryset = Team.objects.filter(organization=organization)


class AuditEntrySerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "created_at",
            "action",
            "actor",
            "object_type",
            "object_id",
            "object_repr",
            "changes",
            "ip_address",
            "user_agent",
        ]

    def get_actor(self, entry) -> dict | None:
        return {"id": entry.actor_id, "email": entry.actor_email} if entry.actor_email else None


class ApiTokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "revoked_at", "expires_at"]


class ApiTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80, help_text=_("What the token is for."))
    expires_in_days = serializers.IntegerField(
        min_value=1,
        max_value=API_TOKEN_MAX_DAYS,
        required=False,
        allow_null=True,
        help_text=_(
            "Days until the token stops working; empty for no expiry of its own. The organization's longest "
            "lifetime, when it has one, is the default and the limit."
        ),
    )
