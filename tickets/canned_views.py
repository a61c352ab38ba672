"""Settings → Canned responses: the member's own and the shared ones, in Japanese and English."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from accounts.roles import Capability
from core.errors import DomainError, NotAllowed
from core.views import unconfirmed
from tickets import canned


class CannedForm(forms.Form):
    title = forms.CharField(label=gettext_lazy("Title"), max_length=120)
    shortcut = forms.SlugField(
        label=gettext_lazy("Shortcut"),
        max_length=40,
        help_text=gettext_lazy('Type "/" and this in the reply box, e.g. "thanks".'),
    )
    shared = forms.BooleanField(label=gettext_lazy("Shared with the organization"), required=False)
    body_ja = forms.CharField(
        label=gettext_lazy("Text (Japanese)"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    body_en = forms.CharField(
        label=gettext_lazy("Text (English)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=gettext_lazy(
            "Placeholders: {{contact.name}}, {{agent.name}}, {{ticket.number}}, {{organization.name}}"
        ),
    )

    def clean(self):
        cleaned = super().clean()
        if not (cleaned.get("body_ja") or "").strip() and not (cleaned.get("body_en") or "").strip():
            raise forms.ValidationError(_("Write the text in at least one language."))
        return cleaned

    def variants(self) -> list[dict]:
        return [
            {"language": code, "body": self.cleaned_data[f"body_{code}"]}
            for code in ("ja", "en")
            if self.cleaned_data[f"body_{code}"].strip()
        ]


def _actor(request) -> dict:
    return {
        "organization": request.organization,
        "actor": request.user,
        "actor_membership": request.membership,
        "request": request,
    }


@require_http_methods(["GET", "POST"])
def canned_list(request, org_slug):
    form = CannedForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if not request.membership.has(Capability.TICKETS_WORK):
            raise PermissionDenied
        if form.is_valid():
            try:
                canned.canned_response_create(
                    title=form.cleaned_data["title"],
                    shortcut=form.cleaned_data["shortcut"],
                    shared=form.cleaned_data["shared"],
                    variants=form.variants(),
                    **_actor(request),
                )
            except NotAllowed as exc:
                raise PermissionDenied from exc
            except DomainError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, _("Canned response saved."))
                return redirect("org:canned_list", org_slug=org_slug)
        status = 400
    items = list(canned.canned_for(request.membership))
    return render(request, "tickets/canned_list.html", {"items": items, "form": form}, status=status)


@require_http_methods(["GET", "POST"])
def canned_edit(request, org_slug, canned_id):
    item = get_object_or_404(canned.canned_for(request.membership), pk=canned_id)
    variants = {v.language: v.body for v in item.variants.all()}
    initial = {
        "title": item.title,
        "shortcut": item.shortcut,
        "shared": item.owner_id is None,
        "body_ja": variants.get("ja", ""),
        "body_en": variants.get("en", ""),
    }
    form = CannedForm(request.POST or None, initial=initial)
    form.fields["shared"].disabled = True  # shared or personal is decided when it is created
    editable = canned.can_manage(request.membership, shared=item.owner_id is None, owner_id=item.owner_id)
    status = 200
    if request.method == "POST":
        if not editable:
            raise PermissionDenied
        if form.is_valid():
            try:
                canned.canned_response_update(
                    canned=item,
                    title=form.cleaned_data["title"],
                    shortcut=form.cleaned_data["shortcut"],
                    variants=form.variants(),
                    **_actor(request),
                )
            except DomainError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, _("Canned response saved."))
                return redirect("org:canned_list", org_slug=org_slug)
        status = 400
    return render(
        request, "tickets/canned_edit.html", {"item": item, "form": form, "editable": editable}, status=status
    )


@require_POST
def canned_delete(request, org_slug, canned_id):
    item = get_object_or_404(canned.canned_for(request.membership), pk=canned_id)
    if not canned.can_manage(request.membership, shared=item.owner_id is None, owner_id=item.owner_id):
        raise PermissionDenied  # refused before asking: a question only for what the member may do
    asked = unconfirmed(
        request,
        question=_("Delete the canned response “%(title)s”?") % {"title": item.title},
        detail=_("Automatic replies that use it stop."),
        action=_("Delete"),
        cancel_url=reverse("org:canned_edit", args=[org_slug, item.pk]),
    )
    if asked:
        return asked
    try:
        canned.canned_response_delete(canned=item, **_actor(request))
    except NotAllowed as exc:
        raise PermissionDenied from exc
    messages.success(request, _("Canned response deleted."))
    return redirect("org:canned_list", org_slug=org_slug)
