"""Logging a phone call on a ticket by hand (tickets.services.calls.call_log): a call made or taken outside Tsunagu
— on the office phone, a mobile — recorded in the conversation as a private entry for the team. Whoever may work the
ticket (and so reply) may log one."""

from django import forms
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django.views.decorators.http import require_POST

from accounts.roles import Capability
from core import phone
from core.errors import DomainError
from tickets import selectors
from tickets.models import CallDirection, CallOutcome, Ticket
from tickets.services import calls


class CallLogForm(forms.Form):
    direction = forms.ChoiceField(
        label=_("Direction"), choices=list(calls.DIRECTION_LABELS.items()), initial=CallDirection.OUTBOUND
    )
    outcome = forms.ChoiceField(
        label=pgettext_lazy("phone call", "Outcome"),
        choices=list(calls.OUTCOME_LABELS.items()),
        initial=CallOutcome.ANSWERED,
    )
    duration = forms.CharField(
        label=_("Duration"),
        required=False,
        max_length=12,
        help_text=_("Minutes and seconds (4:05) or minutes (5)."),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "placeholder": "4:05", "autocomplete": "off"}),
    )
    number = forms.CharField(
        label=_("Phone number"),
        required=False,
        max_length=40,
        help_text=_("Leave empty for the customer's number."),
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))

    prefix = "call"  # its fields' ids stay apart from the other forms of the conversation


def _ticket(request, ticket_id: int) -> Ticket:
    return get_object_or_404(
        selectors.visible_tickets(request.membership).select_related("contact", "connection"), pk=ticket_id
    )


def call_log_context(ticket: Ticket, form: CallLogForm | None = None) -> dict:
    """The "Log a call" form of a ticket (its number field shows the customer's number as a hint)."""
    form = form or CallLogForm()
    known = calls.contact_number(ticket)
    if known:
        form.fields["number"].widget.attrs["placeholder"] = phone.display(known)
    return {"call_form": form, "ticket": ticket}


@require_POST
def call_log(request, org_slug, ticket_id):
    """Store the call and answer with a fresh form, the new entry added to the conversation out of band (the live
    update brings it to other browsers; inbox.js never shows a bubble twice). Bad input: the form with its errors."""
    if not request.membership.has(Capability.TICKETS_WORK):
        raise PermissionDenied
    ticket = _ticket(request, ticket_id)
    form = CallLogForm(request.POST)
    logged = []
    if form.is_valid():
        data = form.cleaned_data
        try:
            logged.append(
                calls.call_log(
                    organization=request.organization,
                    actor=request.user,
                    ticket=ticket,
                    direction=data["direction"],
                    outcome=data["outcome"],
                    duration=data["duration"],
                    note=data["note"],
                    number=data["number"],
                )
            )
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    context = call_log_context(ticket, CallLogForm() if logged else form)
    context.update(
        logged=[selectors.conversation(ticket).get(pk=logged[0].pk)] if logged else [],
        open=not logged,
        can_work=True,
        organization=request.organization,
    )
    # 200 with the errors in place: htmx swaps only successful answers, and the form is what shows them.
    return render(request, "inbox/_call_log.html", context)
