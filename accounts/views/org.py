"""Organization pages under /<org-slug>/: overview, settings, members, invitations, teams, roles, audit log,
API tokens. TenantMiddleware has already checked membership and activated the scope."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import selectors, services
from accounts.api.authentication import token_creation_refused
from accounts.forms import (
    ApiTokenForm,
    InviteForm,
    MemberRoleForm,
    OrganizationSettingsForm,
    TeamForm,
)
from accounts.models import ApiToken, Role
from accounts.permissions import require_capability
from accounts.roles import DEFAULT_MATRIX, SHOWN, Capability, RoleKey
from core.errors import DomainError
from core.views import actor_kwargs, form_error, unconfirmed


@require_http_methods(["GET", "POST"])
@require_capability(Capability.ORG_MANAGE)
def org_settings(request, org_slug):
    organization = request.organization
    form = OrganizationSettingsForm(request.POST or None, instance=organization)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            organization.refresh_from_db()  # the form mutated the instance; the service computes the diff
            try:
                services.organization_update(**actor_kwargs(request), **form.cleaned_data)
            except DomainError as exc:
                form_error(form, exc)
            else:
                messages.success(request, _("Settings saved."))
                return redirect("org:settings", org_slug=org_slug)
        status = 400
    return render(request, "accounts/org_settings.html", {"form": form}, status=status)


@require_http_methods(["GET", "POST"])
def members(request, org_slug):
    membership = request.membership
    can_manage = membership.has(Capability.MEMBERS_MANAGE)
    invite_form = InviteForm(request.POST or None, organization=request.organization) if can_manage else None
    status = 200
    if request.method == "POST":
        if not can_manage:
            raise PermissionDenied
        if invite_form.is_valid():
            try:
                invitation, _token = services.invitation_create(
                    actor_membership=membership,
                    email=invite_form.cleaned_data["email"],
                    role=invite_form.cleaned_data["role"],
                    teams=invite_form.cleaned_data["teams"],
                    **actor_kwargs(request),
                )
            except DomainError as exc:
                form_error(invite_form, exc)
                status = 400
            else:
                messages.success(request, _("Invitation sent to %(email)s.") % {"email": invitation.email})
                return redirect("org:members", org_slug=org_slug)
        else:
            status = 400
    context = {
        "memberships": selectors.membership_list(),
        "invitations": selectors.open_invitation_list() if can_manage else [],
        "invite_form": invite_form,
        "roles": Role.objects.all(),
        "can_manage": can_manage,
    }
    return render(request, "accounts/members.html", context, status=status)


@require_POST
@require_capability(Capability.MEMBERS_MANAGE)
def member_update(request, org_slug, membership_id):
    target = get_object_or_404(selectors.membership_list(), pk=membership_id)
    form = MemberRoleForm(request.POST, organization=request.organization)
    if not form.is_valid():
        messages.error(request, _("Choose a valid role."))
    else:
        try:
            services.member_change_role(
                actor_membership=request.membership,
                membership=target,
                role=form.cleaned_data["role"],
                **actor_kwargs(request),
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Role changed for %(user)s.") % {"user": target.user})
    return redirect("org:members", org_slug=org_slug)


@require_POST
@require_capability(Capability.MEMBERS_MANAGE)
def member_remove(request, org_slug, membership_id):
    target = get_object_or_404(selectors.membership_list(), pk=membership_id)
    asked = unconfirmed(
        request,
        question=_("Remove %(user)s from the organization?") % {"user": target.user},
        detail=_("Their team memberships, channel access and API tokens here go with them."),
        action=_("Remove"),
        cancel_url=reverse("org:members", args=[org_slug]),
    )
    if asked:
        return asked
    try:
        services.member_remove(actor_membership=request.membership, membership=target, **actor_kwargs(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("%(user)s was removed.") % {"user": target.user})
    return redirect("org:members", org_slug=org_slug)


@require_POST
@require_capability(Capability.MEMBERS_MANAGE)
def invitation_revoke(request, org_slug, invitation_id):
    invitation = get_object_or_404(selectors.invitation_list(), pk=invitation_id)
    asked = unconfirmed(
        request,
        question=_("Revoke the invitation of %(email)s?") % {"email": invitation.email},
        detail=_("The link in the email stops working."),
        action=_("Revoke"),
        cancel_url=reverse("org:members", args=[org_slug]),
    )
    if asked:
        return asked
    try:
        services.invitation_revoke(invitation=invitation, **actor_kwargs(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Invitation revoked."))
    return redirect("org:members", org_slug=org_slug)


@require_http_methods(["GET", "POST"])
def teams(request, org_slug):
    can_manage = request.membership.has(Capability.MEMBERS_MANAGE)
    form = TeamForm(request.POST or None, organization=request.organization) if can_manage else None
    status = 200
    if request.method == "POST":
        if not can_manage:
            raise PermissionDenied
        if form.is_valid():
            try:
                team = services.team_create(
                    name=form.cleaned_data["name"],
                    description=form.cleaned_data["description"],
                    members=form.cleaned_data["members"],
                    **actor_kwargs(request),
                )
            except DomainError as exc:
                form_error(form, exc)
                status = 400
            else:
                messages.success(request, _("Team “%(name)s” created.") % {"name": team.name})
                return redirect("org:teams", org_slug=org_slug)
        else:
            status = 400
    return render(
        request,
        "accounts/teams.html",
        {"teams": selectors.team_list(), "form": form, "can_manage": can_manage},
        status=status,
    )


@require_POST
@require_capability(Capability.MEMBERS_MANAGE)
def team_delete(request, org_slug, team_id):
    team = get_object_or_404(selectors.team_list(), pk=team_id)
    asked = unconfirmed(
        request,
        question=_("Delete the team “%(name)s”?") % {"name": team.name},
        detail=_("Channel access granted to it is removed; its members stay in the organization."),
        action=_("Delete"),
        cancel_url=reverse("org:team_detail", args=[org_slug, team.pk]),
    )
    if asked:
        return asked
    services.team_delete(team=team, **actor_kwargs(request))
    messages.success(request, _("Team “%(name)s” deleted.") % {"name": team.name})
    return redirect("org:teams", org_slug=org_slug)


@require_GET
def roles(request, org_slug):
    """The permission matrix, as this organization's roles define it."""
    role_list = list(Role.objects.all())
    order = list(RoleKey)
    role_list.sort(key=lambda r: order.index(RoleKey(r.key)))
    matrix = [(capability, [capability.value in role.capabilities for role in role_list]) for capability in SHOWN]
    return render(request, "accounts/roles.html", {"roles": role_list, "matrix": matrix, "defaults": DEFAULT_MATRIX})


@require_http_methods(["GET", "POST"])
def tokens(request, org_slug):
    organization = request.organization
    form = ApiTokenForm(request.POST or None, organization=organization)
    refused = token_creation_refused(request)
    new_key = None
    status = 200
    if request.method == "POST":
        if refused:
            status = 403
        elif form.is_valid():
            try:
                _token, new_key = services.api_token_create(
                    name=form.cleaned_data["name"],
                    expires_in_days=form.cleaned_data["expires_in_days"],
                    **actor_kwargs(request),
                )
            except DomainError as exc:
                form_error(form, exc)
                status = 400
            else:
                form = ApiTokenForm(organization=organization)
        else:
            status = 400
    token_list = ApiToken.objects.filter(user=request.user).select_related("organization")
    context = {"form": form, "tokens": token_list, "new_key": new_key, "refused": refused, "now": timezone.now()}
    return render(request, "accounts/tokens.html", context, status=status)


@require_POST
def token_revoke(request, org_slug, token_id):
    token = get_object_or_404(ApiToken.objects.filter(user=request.user), pk=token_id)
    asked = unconfirmed(
        request,
        question=_("Revoke the token “%(name)s”?") % {"name": token.name},
        detail=_("Programs using it stop working at once."),
        action=_("Revoke"),
        cancel_url=reverse("org:tokens", args=[org_slug]),
    )
    if asked:
        return asked
    services.api_token_revoke(token=token, **actor_kwargs(request))
    messages.success(request, _("Token revoked."))
    return redirect("org:tokens", org_slug=org_slug)
