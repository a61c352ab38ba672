"""The availability switch in the page header: a member says whether automatic assignment may give them tickets
(available) or not (away). A plain form POST that htmx upgrades to a swap of the switch itself."""

from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.permissions import require_capability
from accounts.roles import Capability
from automation.routing.assignment import membership_availability_set
from core.errors import DomainError


@require_POST
@require_capability(Capability.TICKETS_WORK)
def availability_set(request, org_slug):
    try:
        membership_availability_set(
            organization=request.organization,
            actor=request.user,
            membership=request.membership,
            availability=request.POST.get("availability", ""),
        )
    except DomainError as exc:
        return HttpResponseBadRequest(exc.message)
    target = request.POST.get("next", "")
    if request.headers.get("HX-Request"):
        return render(request, "inbox/_availability.html", {"next": target})
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return redirect(target)
    return redirect("org:inbox", org_slug=org_slug)
