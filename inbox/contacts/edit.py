"""Editing a ticket's customer from the conversation: their name and its reading (フリガナ), which the inbox
search and the name order use (tickets.services.contacts)."""

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from accounts.roles import Capability
from core.errors import DomainError
from tickets import selectors
from tickets.services.contacts import contact_update


@require_POST
def contact_edit(request, org_slug, ticket_id):
    if not request.membership.has(Capability.TICKETS_WORK):
        raise PermissionDenied
    ticket = get_object_or_404(selectors.visible_tickets(request.membership).select_related("contact"), pk=ticket_id)
    context = {"ticket": ticket, "can_work": True, "organization": request.organization}
    try:
        contact_update(
            organization=request.organization,
            contact=ticket.contact,
            name=request.POST.get("name", ticket.contact.name),
            reading=request.POST.get("reading", ticket.contact.reading),
        )
    except DomainError as exc:
        context["contact_error"] = exc.message
        return render(request, "inbox/_contact_identity.html", context, status=400)
    return render(request, "inbox/_contact_identity.html", context)
