"""Writes for organizations, members, invitations, teams and API tokens. Every service audits what it does."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_scopes import scope
from guardian.shortcuts import assign_perm, get_groups_with_perms, get_users_with_perms, remove_perm

from accounts import hooks
from accounts.audit import audit_record
from accounts.auth import user_has_two_factor
from accounts.models import (
    API_TOKEN_MAX_DAYS,
    ApiToken,
    AuditAction,
    Invitation,
    Membership,
    Organization,
    Role,
    Team,
    User,
)
from accounts.permissions import VIEW_CONNECTION
from accounts.roles import DEFAULT_MATRIX, Capability, RoleKey
from accounts.tasks import send_invitation_email
from accounts.tokens import digest, new_api_key, new_invitation_token
from core import notification_kinds, realtime
from core.errors import Conflict, DomainError, NotAllowed


def _access_changed(organization: Organization, user_ids) -> None:
    """Tell these members' open browsers to recompute what they may see (after commit)."""

    groups = [realtime.user_group(organization.pk, user_id) for user_id in sorted(set(user_ids))]
    if groups:
        realtime.publish(organization=organization, type="access.changed", payload={}, groups=groups)


# --- organizations ----------------------------------------------------------------------------------------------


def roles_seed(*, organization: Organization) -> dict[str, Role]:
    """Create the seven standard roles if missing (idempotent)."""
    with scope(organization=organization):
        roles = {}
        for key, capabilities in DEFAULT_MATRIX.items():
            role, _created = Role.objects.get_or_create(
                organization=organization, key=key, defaults={"capabilities": sorted(capabilities)}
            )
            roles[key] = role
        return roles


@transaction.atomic
def organization_create(
    *,
    name: str,
    slug: str,
    owner: User,
    timezone_name: str = "Asia/Tokyo",
    default_language: str = "ja",
    starter_content: bool = False,
) -> Organization:
    """`starter_content`: an owner's new organization gets what apps provide to start with (accounts.hooks); tests
    and benches create bare ones."""
    if Organization.objects.filter(slug=slug).exists():
        raise Conflict(_("This address is already taken."), field="slug")
    organization = Organization(name=name, slug=slug, timezone=timezone_name, default_language=default_language)
    organization.full_clean()
    organization.save()
    roles = roles_seed(organization=organization)
    with scope(organization=organization):
        Membership.objects.create(organization=organization, user=owner, role=roles[RoleKey.OWNER])
        if starter_content:
            hooks.organization_started(organization)
    return organization


@transaction.atomic
def organization_update(*, organization: Organization, actor: User, request=None, **fields) -> Organization:
    allowed = {
        "name",
        "timezone",
        "default_language",
        "require_two_factor",
        "ticket_reopen_days",
        "api_token_max_days",
        "japanese_era_dates",
    }
    if set(fields) - allowed:
        raise DomainError(_("Unknown setting."))
    if fields.get("require_two_factor") and not organization.require_two_factor:
        if not user_has_two_factor(actor):
            raise DomainError(
                _("Set up two-factor authentication for yourself before requiring it."), field="require_two_factor"
            )
    changes = {}
    for field, value in fields.items():
        old = getattr(organization, field)
        if old != value:
            changes[field] = [old, value]
            setattr(organization, field, value)
    if changes:
        organization.full_clean()
        organization.save(update_fields=list(changes))
        audit_record(
            organization=organization,
            actor=actor,
            action=AuditAction.ORG_UPDATED,
            obj=organization,
            changes=changes,
            request=request,
        )
    return organization


# --- members ----------------------------------------------------------------------------------------------------


def _owner_count(organization: Organization) -> int:
    return Membership.objects.filter(organization=organization, role__key=RoleKey.OWNER).count()


def _check_owner_rules(*, actor_membership: Membership, target: Membership, new_role: Role | None) -> None:
    touches_owner = target.role.key == RoleKey.OWNER or (new_role is not None and new_role.key == RoleKey.OWNER)
    if touches_owner and not actor_membership.has(Capability.OWNERS_MANAGE):
        raise NotAllowed(_("Only an owner can grant or remove the Owner role."))
    if target.role.key == RoleKey.OWNER and (new_role is None or new_role.key != RoleKey.OWNER):
        if _owner_count(target.organization) <= 1:
            raise Conflict(_("An organization must keep at least one owner."))


@transaction.atomic
def member_change_role(
    *,
    organization: Organization,
    actor: User,
    actor_membership: Membership,
    membership: Membership,
    role: Role,
    request=None,
) -> Membership:
    if role.organization_id != organization.pk or membership.organization_id != organization.pk:
        raise DomainError(_("Unknown role."), field="role")
    membership = Membership.objects.select_for_update().select_related("role", "user").get(pk=membership.pk)
    if membership.role_id == role.pk:
        return membership
    _check_owner_rules(actor_membership=actor_membership, target=membership, new_role=role)
    old = membership.role.key
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.MEMBER_ROLE_CHANGED,
        obj=membership.user,
        changes={"role": [old, role.key]},
        request=request,
    )
    _access_changed(organization, [membership.user_id])
    return membership


@transaction.atomic
def member_remove(
    *, organization: Organization, actor: User, actor_membership: Membership, membership: Membership, request=None
) -> None:
    """Remove a member: their team memberships, grants (channel access: accounts.hooks) and API tokens in this
    organization go with them."""
    membership = Membership.objects.select_for_update().select_related("role", "user").get(pk=membership.pk)
    _check_owner_rules(actor_membership=actor_membership, target=membership, new_role=None)
    user = membership.user
    user.groups.remove(*Group.objects.filter(team__organization=organization))
    hooks.member_removed(organization, user)
    ApiToken.objects.filter(organization=organization, user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    membership.delete()
    if user.last_organization_id == organization.pk:
        User.objects.filter(pk=user.pk).update(last_organization=None)
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.MEMBER_REMOVED,
        obj=user,
        changes={"role": membership.role.key},
        request=request,
    )
    _access_changed(organization, [user.pk])


# --- invitations ------------------------------------------------------------------------------------------------


@transaction.atomic
def invitation_create(
    *,
    organization: Organization,
    actor: User,
    actor_membership: Membership,
    email: str,
    role: Role,
    teams=(),
    request=None,
) -> tuple[Invitation, str]:
    """Create an invitation and email its link after commit. Returns the invitation and the raw token."""
    email = User.objects.normalize_email(email).lower()
    if role.organization_id != organization.pk:
        raise DomainError(_("Unknown role."), field="role")
    if role.key == RoleKey.OWNER and not actor_membership.has(Capability.OWNERS_MANAGE):
        raise NotAllowed(_("Only an owner can grant or remove the Owner role."), field="role")
    if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
        raise Conflict(_("This person is already a member."), field="email")
    token, token_hash = new_invitation_token()
    invitation = Invitation(
        organization=organization,
        email=email,
        role=role,
        token_hash=token_hash,
        invited_by=actor,
        expires_at=timezone.now() + settings.INVITATION_MAX_AGE,
    )
    try:
        with transaction.atomic():
            invitation.save()
    except IntegrityError as exc:
        raise Conflict(_("An invitation to this address is already open."), field="email") from exc
    team_list = [team for team in teams if team.organization_id == organization.pk]
    invitation.teams.set(team_list)
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.MEMBER_INVITED,
        obj=invitation,
        changes={"email": email, "role": role.key, "teams": [t.name for t in team_list]},
        request=request,
    )

    transaction.on_commit(
        lambda: send_invitation_email.delay(organization_id=organization.pk, invitation_id=invitation.pk, token=token)
    )
    return invitation, token


@transaction.atomic
def invitation_revoke(*, organization: Organization, actor: User, invitation: Invitation, request=None) -> None:
    if invitation.accepted_at or invitation.revoked_at:
        raise Conflict(_("This invitation is no longer open."))
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_record(
        organization=organization, actor=actor, action=AuditAction.INVITATION_REVOKED, obj=invitation, request=request
    )


def invitation_by_token(token: str) -> Invitation | None:
    """Find an open invitation by its raw token. The token names the organization, so this lookup precedes any
    scope; the caller activates the invitation's organization before touching anything else."""
    from django_scopes import scopes_disabled

    with scopes_disabled():
        invitation = Invitation.objects.select_related("organization", "role").filter(token_hash=digest(token)).first()
    if invitation is None or not invitation.is_open:
        return None
    return invitation


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: User, request=None) -> Membership:
    organization = invitation.organization
    with scope(organization=organization):
        invitation = Invitation.objects.select_for_update().select_related("role").get(pk=invitation.pk)
        if not invitation.is_open:
            raise Conflict(_("This invitation is no longer valid."))
        if user.email.lower() != invitation.email.lower():
            raise NotAllowed(_("This invitation was sent to another email address."))
        membership, created = Membership.objects.get_or_create(
            organization=organization, user=user, defaults={"role": invitation.role}
        )
        for team in invitation.teams.select_related("group"):
            team.group.user_set.add(user)
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        if created:
            audit_record(
                organization=organization,
                actor=user,
                action=AuditAction.MEMBER_JOINED,
                obj=user,
                changes={"role": invitation.role.key},
                request=request,
            )
        return membership


# --- teams ------------------------------------------------------------------------------------------------------


def _validate_team_members(organization: Organization, users) -> list[User]:
    users = list(users)
    member_ids = set(
        Membership.objects.filter(organization=organization, user__in=users).values_list("user_id", flat=True)
    )
    if any(user.pk not in member_ids for user in users):
        raise DomainError(_("Only members of this organization can join its teams."), field="members")
    return users


@transaction.atomic
def team_create(
    *, organization: Organization, actor: User, name: str, description: str = "", members=(), request=None
) -> Team:
    if Team.objects.filter(organization=organization, name=name).exists():
        raise Conflict(_("A team with this name already exists."), field="name")
    users = _validate_team_members(organization, members)
    group = Group.objects.create(name=f"team:{organization.pk}:{timezone.now().timestamp()}:{name}"[:150])
    team = Team.objects.create(organization=organization, name=name, description=description, group=group)
    group.user_set.set(users)
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.TEAM_CREATED,
        obj=team,
        changes={"members": sorted(u.email for u in users)},
        request=request,
    )
    return team


@transaction.atomic
def team_update(
    *,
    organization: Organization,
    actor: User,
    team: Team,
    name: str | None = None,
    description: str | None = None,
    members=None,
    request=None,
) -> Team:
    changes = {}
    if name is not None and name != team.name:
        if Team.objects.filter(organization=organization, name=name).exclude(pk=team.pk).exists():
            raise Conflict(_("A team with this name already exists."), field="name")
        changes["name"] = [team.name, name]
        team.name = name
    if description is not None and description != team.description:
        changes["description"] = [team.description, description]
        team.description = description
    if changes:
        team.save(update_fields=[f for f in ("name", "description") if f in changes])
    if members is not None:
        users = _validate_team_members(organization, members)
        before = dict(team.group.user_set.values_list("email", "pk"))
        after = {u.email: u.pk for u in users}
        if set(before) != set(after):
            team.group.user_set.set(users)
            changes["members"] = {
                "added": sorted(set(after) - set(before)),
                "removed": sorted(set(before) - set(after)),
            }
            _access_changed(
                organization,
                [before[e] for e in set(before) - set(after)] + [after[e] for e in set(after) - set(before)],
            )
    if changes:
        audit_record(
            organization=organization,
            actor=actor,
            action=AuditAction.TEAM_UPDATED,
            obj=team,
            changes=changes,
            request=request,
        )
    return team


@transaction.atomic
def team_delete(*, organization: Organization, actor: User, team: Team, request=None) -> None:
    from guardian.models import GroupObjectPermission

    group = team.group
    audit_record(organization=organization, actor=actor, action=AuditAction.TEAM_DELETED, obj=team, request=request)
    _access_changed(organization, group.user_set.values_list("pk", flat=True))
    team.delete()
    GroupObjectPermission.objects.filter(group=group).delete()
    group.delete()


# --- API tokens -------------------------------------------------------------------------------------------------


@transaction.atomic
def api_token_create(
    *, organization: Organization, actor: User, name: str, expires_in_days: int | None = None, request=None
) -> tuple[ApiToken, str]:
    """Create a personal token for `actor` in this organization. The key is returned once and never stored.
    `expires_in_days`: None for no expiry of its own; the organization's longest lifetime is the default and the
    limit when it has one. Who may create one (a signed-in session, never a token) is the views' check."""
    limit = organization.api_token_max_days
    if expires_in_days is None:
        expires_in_days = limit
    if expires_in_days is not None and not 1 <= expires_in_days <= (limit or API_TOKEN_MAX_DAYS):
        raise DomainError(
            _("A token in this organization lives from 1 to %(days)s days.") % {"days": limit or API_TOKEN_MAX_DAYS},
            field="expires_in_days",
        )
    expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
    key, prefix, key_hash = new_api_key()
    token = ApiToken.objects.create(
        organization=organization, user=actor, name=name, prefix=prefix, key_hash=key_hash, expires_at=expires_at
    )
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.TOKEN_CREATED,
        obj=token,
        changes={"expires_at": expires_at.isoformat() if expires_at else None},
        request=request,
    )
    return token, key


@transaction.atomic
def api_token_revoke(*, organization: Organization, actor: User, token: ApiToken, request=None) -> None:
    if token.revoked_at is not None:
        return
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(organization=organization, actor=actor, action=AuditAction.TOKEN_REVOKED, obj=token, request=request)


# --- channel access (object permissions) ------------------------------------------------------------------------


@transaction.atomic
def connection_access_set(*, organization: Organization, actor: User, connection, users=(), teams=(), request=None):
    """Replace who (besides roles that see every channel) may see this connection's tickets."""
    if connection.organization_id != organization.pk:
        raise DomainError(_("Unknown channel."))
    users = _validate_team_members(organization, users)
    teams = [team for team in teams if team.organization_id == organization.pk]
    perm = VIEW_CONNECTION.split(".")[1]
    current_users = set(get_users_with_perms(connection, only_with_perms_in=[perm], with_group_users=False))
    current_groups = set(get_groups_with_perms(connection))
    wanted_groups = {team.group for team in teams}
    for user in current_users - set(users):
        remove_perm(perm, user, connection)
    for user in set(users) - current_users:
        assign_perm(perm, user, connection)
    for group in current_groups - wanted_groups:
        remove_perm(perm, group, connection)
    for group in wanted_groups - current_groups:
        assign_perm(perm, group, connection)
    affected = {u.pk for u in current_users ^ set(users)}
    for group in current_groups ^ wanted_groups:
        affected |= set(group.user_set.values_list("pk", flat=True))
    _access_changed(organization, affected)
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.CHANNEL_ACCESS_CHANGED,
        obj=connection,
        changes={"users": sorted(u.email for u in users), "teams": sorted(t.name for t in teams)},
        request=request,
    )


@transaction.atomic
def membership_notifications_set(
    *, organization: Organization, membership: Membership, in_app: list[str], email: list[str]
) -> None:
    """A member's notification preferences in this organization: the kinds they want in the app and by email
    (unknown kinds are ignored; the order is the registry's)."""
    keys = notification_kinds.kind_keys()
    membership.notify_in_app = [k for k in keys if k in in_app]
    membership.notify_email = [k for k in keys if k in email]
    membership.save(update_fields=["notify_in_app", "notify_email"])
