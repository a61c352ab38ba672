"""Settings → Contact fields: the organization's custom contact attributes (text, number, date, choice), for
members who manage the organization's settings."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from accounts.roles import Capability
from core.errors import DomainError
from core.views import form_error, unconfirmed
from tickets.models import AttributeType, ContactAttributeDefinition
from tickets.services.contacts import contact_attribute_define, contact_attribute_delete, contact_attribute_update


def _require_manage(request) -> None:
    if not request.membership.has(Capability.ORG_MANAGE):
        raise PermissionDenied


def _choices(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


class AttributeForm(forms.Form):
    label = forms.CharField(label=gettext_lazy("Label"), max_length=120)
    key = forms.CharField(
        label=gettext_lazy("Key"),
        max_length=60,
        help_text=gettext_lazy("Lower-case letters, digits and _; used in the API, CSV files and rules."),
    )
    type = forms.ChoiceField(label=gettext_lazy("Type"), choices=AttributeType.choices)
    choices = forms.CharField(
        label=gettext_lazy("Choices"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("For the choice type: one per line."),
    )
    required = forms.BooleanField(label=gettext_lazy("Required"), required=False)
    position = forms.IntegerField(label=gettext_lazy("Position"), min_value=0, max_value=1000, initial=0)


class AttributeEditForm(AttributeForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["key"], self.fields["type"]  # fixed once values exist


@require_http_methods(["GET", "POST"])
def attribute_list(request, org_slug):
    _require_manage(request)
    form = AttributeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                contact_attribute_define(
                    organization=request.organization,
                    actor=request.user,
                    key=data["key"],
                    label=data["label"],
                    type=data["type"],
                    choices=_choices(data["choices"]),
                    required=data["required"],
                    position=data["position"],
                    request=request,
                )
            except DomainError as exc:
                form_error(form, exc)
            else:
                messages.success(request, _("Contact field added."))
                return redirect("org:contact_attributes", org_slug)
        status = 400
    items = list(ContactAttributeDefinition.objects.all())
    return render(request, "inbox/contacts/attributes.html", {"form": form, "items": items}, status=status)


@require_http_methods(["GET", "POST"])
def attribute_edit(request, org_slug, attribute_id):
    _require_manage(request)
    definition = get_object_or_404(ContactAttributeDefinition.objects.all(), pk=attribute_id)
    initial = {
        "label": definition.label,
        "choices": "\n".join(definition.choices),
        "required": definition.required,
        "position": definition.position,
    }
    form = AttributeEditForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                contact_attribute_update(
                    organization=request.organization,
                    actor=request.user,
                    definition=definition,
                    label=data["label"],
                    choices=_choices(data["choices"]) if definition.type == AttributeType.CHOICE else None,
                    required=data["required"],
                    position=data["position"],
                    request=request,
                )
            except DomainError as exc:
                form_error(form, exc)
            else:
                messages.success(request, _("Contact field saved."))
                return redirect("org:contact_attributes", org_slug)
        status = 400
    context = {"form": form, "definition": definition}
    return render(request, "inbox/contacts/attribute_edit.html", context, status=status)


@require_POST
def attribute_delete(request, org_slug, attribute_id):
    _require_manage(request)
    definition = get_object_or_404(ContactAttributeDefinition.objects.all(), pk=attribute_id)
    asked = unconfirmed(
        request,
        question=_("Delete the contact field “%(label)s”?") % {"label": definition.label},
        detail=_("Its value is removed from every contact."),
        action=request.path,
        cancel_url=request.build_absolute_uri("../"),
    )
    if asked is not None:
        return asked
    contact_attribute_delete(
        organization=request.organization, actor=request.user, definition=definition, request=request
    )
    messages.success(request, _("Contact field deleted."))
    return redirect("org:contact_attributes", org_slug)
