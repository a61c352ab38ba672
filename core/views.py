"""What every app's page views share: the keywords a service takes from the request, and a service's refusal shown
on the form that caused it."""

from django import forms

from core.errors import DomainError


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
