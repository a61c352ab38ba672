"""A team's page: its name and members (accounts' services) and how it assigns tickets (routing), with each
member's load and presence. It lives with routing, which it is mostly about."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts.forms import TeamForm
from accounts.roles import Capability
from accounts.selectors import team_list
from accounts.services import team_update
from automation.routing.assignment import MemberRouting, team_member_loads, team_routing_update
from automation.routing.forms import MemberRoutingForm, TeamRoutingForm
from core.errors import DomainError
from core.views import actor_kwargs, form_error


@require_http_methods(["GET", "POST"])
def team_detail(request, org_slug, team_id):
    """The team: its name and members (`members.manage`) and how it assigns tickets (`rules.manage`, which the
    matrix describes as "automation rules, routing and SLA policies"), with each member's load and presence.
    The two forms post here, told apart by `action`."""
    team = get_object_or_404(team_list(), pk=team_id)
    can_manage = request.membership.has(Capability.MEMBERS_MANAGE)
    can_route = request.membership.has(Capability.RULES_MANAGE)
    action = request.POST.get("action", "team") if request.method == "POST" else None
    if action is not None and not (can_route if action == "routing" else can_manage):
        raise PermissionDenied
    team_data = request.POST if action == "team" else None
    routing_data = request.POST if action == "routing" else None
    initial = {"name": team.name, "description": team.description, "members": list(team.group.user_set.all())}
    form = TeamForm(team_data, organization=request.organization, initial=initial) if can_manage else None
    loads = team_member_loads(organization=request.organization, team=team)
    routing_form = TeamRoutingForm(routing_data, initial=TeamRoutingForm.initial_for(team)) if can_route else None
    member_forms = [
        MemberRoutingForm(
            routing_data,
            prefix=f"member-{load.membership.pk}",
            initial=MemberRoutingForm.initial_for(load.membership),
        )
        if can_route
        else None
        for load in loads
    ]
    status = 200
    if action == "team":
        if form.is_valid():
            try:
                team_update(
                    team=team,
                    name=form.cleaned_data["name"],
                    description=form.cleaned_data["description"],
                    members=form.cleaned_data["members"],
                    **actor_kwargs(request),
                )
            except DomainError as exc:
                form_error(form, exc)
                status = 400
            else:
                messages.success(request, _("Team saved."))
                return redirect("org:team_detail", org_slug=org_slug, team_id=team.pk)
        else:
            status = 400
    elif action == "routing":
        valid = [f.is_valid() for f in [routing_form, *member_forms]]  # every form, so each shows its errors
        if all(valid):
            try:
                team_routing_update(
                    team=team,
                    **routing_form.cleaned_data,
                    members={
                        load.membership.pk: MemberRouting(**member_form.cleaned_data)
                        for load, member_form in zip(loads, member_forms, strict=True)
                    },
                    **actor_kwargs(request),
                )
            except DomainError as exc:
                form_error(routing_form, exc)
                status = 400
            else:
                messages.success(request, _("Assignment settings saved."))
                return redirect("org:team_detail", org_slug=org_slug, team_id=team.pk)
        else:
            status = 400
    context = {
        "team": team,
        "form": form,
        "can_manage": can_manage,
        "can_route": can_route,
        "routing_form": routing_form,
        "members": list(zip(loads, member_forms, strict=True)),
    }
    return render(request, "automation/routing/team_detail.html", context, status=status)
