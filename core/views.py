"""What every app's page views share: the keywords a service takes from the request, a service's refusal shown on
the form that caused it, and the confirmation a destructive action asks for."""

from django import forms
from django.http import HttpResponse
from django.shortcuts import render

from core.errors import DomainError

CONFIRMED = "confirmed"  # the field a confirmed destructive POST carries (templates/confirm.html, static/js/app.js)


def actor_kwargs(request, *, with_membership: bool = False) -> dict:
    """`organization=`, `actor=` and `request=` (for the audit entry) for a service called by this request's member;
    `actor_membership=` too for services that check the actor's role."""
    kwargs = {"organization": request.organization, "actor": request.user, "request": request}
    if with_membership:
        kwargs["actor_membership"] = request.membership
    return kwargs


def form_error(form: forms.Form, exc: DomainError) -> None:
    """Show a service's refusal on the field it names, or above the form."""
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


def unconfirmed(request, *, question: str, detail: str = "", action: str, cancel_url: str) -> HttpResponse | None:
    """A destructive POST that does not carry `confirmed=yes` gets a page that asks first (the dialog of app.js asks
    in the page itself; without JavaScript this page does). Returns None once confirmed: go ahead."""
    if request.POST.get(CONFIRMED) == "yes":
        return None
    fields = [
        (name, value)
        for name in request.POST
        if name not in {"csrfmiddlewaretoken", CONFIRMED}
        for value in request.POST.getlist(name)
    ]
    context = {"question": question, "detail": detail, "action": action, "cancel_url": cancel_url, "fields": fields}
    return render(request, "confirm.html", context)
