"""Privacy pages (tickets.services.privacy): a contact's privacy page (export its data, download the export once,
erase it with a typed confirmation) and Settings → Data retention (the policy and its dry-run count).

Who may: the privacy page and exporting need `data.export` (the right to take personal data out: the export holds
the contact's conversations on every channel) and a contact the member can see (tickets.selectors.visible_contacts'
rule: a ticket of theirs on a channel the member sees); erasing and the retention policy need `org.manage`. The
contact's profile shows the buttons through inbox/templates/inbox/contacts/_privacy.html."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.roles import Capability
from core.errors import DomainError, NotAllowed
from core.files import serve_file
from tickets.models import Contact, ContactErasure, ContactExport, RetentionAction, RetentionPolicy, Ticket
from tickets.services import privacy


def can_export(membership) -> bool:
    return membership.has(Capability.DATA_EXPORT)


def can_erase(membership) -> bool:
    return membership.has(Capability.ORG_MANAGE)


def _contact(request, contact_id: int) -> Contact:
    if not can_export(request.membership):
        raise PermissionDenied
    return get_object_or_404(privacy.privacy_contacts(request.membership), pk=contact_id)


def _page(request, contact: Contact, *, erase_error: str = "", status: int = 200):
    erasure = ContactErasure.objects.filter(contact=contact).select_related("erased_by").first()
    context = {
        "contact": contact,
        "erasure": erasure,
        "ticket_count": Ticket.objects.filter(contact=contact).count(),
        "exports": list(privacy.contact_export_visible(actor=request.user, contact=contact)[:5]),
        "can_export": can_export(request.membership),
        "can_erase": can_erase(request.membership),
        "confirmation_word": privacy.erase_confirmation_word(contact),
        "erase_error": erase_error,
    }
    return render(request, "tickets/privacy/contact.html", context, status=status)


@require_GET
def contact_privacy(request, org_slug, contact_id):
    return _page(request, _contact(request, contact_id))


@require_POST
def contact_export(request, org_slug, contact_id):
    contact = _contact(request, contact_id)
    if not can_export(request.membership):
        raise PermissionDenied
    try:
        privacy.contact_export_request(
            organization=request.organization, actor=request.user, contact=contact, request=request
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The export is being prepared. Download it from this page when it is ready."))
    return redirect("org:contact_privacy", org_slug=org_slug, contact_id=contact.pk)


@require_GET
def export_download(request, org_slug, export_id):
    if not can_export(request.membership):
        raise PermissionDenied
    # Someone else's export is a 404, like a missing one: its existence is not theirs to learn.
    export = get_object_or_404(ContactExport.objects.all(), pk=export_id, requested_by=request.user)
    try:
        export = privacy.contact_export_take(
            organization=request.organization, actor=request.user, export=export, request=request
        )
    except NotAllowed as exc:
        raise Http404 from exc
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("org:contact_privacy", org_slug=org_slug, contact_id=export.contact_id)
    return serve_file(
        request,
        export.file,
        filename=f"contact-{export.contact_id}-{export.ready_at:%Y%m%d}.zip",
        content_type="application/zip",
    )


@require_POST
def contact_erase(request, org_slug, contact_id):
    contact = _contact(request, contact_id)
    if not can_erase(request.membership):
        raise PermissionDenied
    try:
        privacy.contact_erase(
            organization=request.organization,
            actor=request.user,
            contact=contact,
            confirmation=request.POST.get("confirmation", ""),
            request=request,
        )
    except DomainError as exc:
        return _page(request, contact, erase_error=exc.message, status=400)
    messages.success(request, _("The contact's personal data was erased."))
    return redirect("org:contact_privacy", org_slug=org_slug, contact_id=contact.pk)


class RetentionForm(forms.Form):
    enabled = forms.BooleanField(label=gettext_lazy("Apply the policy every night"), required=False)
    days = forms.IntegerField(
        label=gettext_lazy("Keep solved and closed tickets for (days)"),
        min_value=1,
        max_value=36500,
        help_text=gettext_lazy("Counted from the day the ticket was solved or closed."),
    )
    action = forms.ChoiceField(label=gettext_lazy("Then"), choices=RetentionAction.choices, widget=forms.RadioSelect)


@require_http_methods(["GET", "POST"])
def retention_settings(request, org_slug):
    if not request.membership.has(Capability.ORG_MANAGE):
        raise PermissionDenied
    policy = privacy.retention_policy(request.organization)
    initial = {"enabled": policy.enabled, "days": policy.days, "action": policy.action}
    form = RetentionForm(request.POST or None, initial=initial)
    status = 200
    preview = policy
    if request.method == "POST":
        if form.is_valid():
            values = form.cleaned_data
            if request.POST.get("intent") == "save":
                try:
                    privacy.retention_policy_update(
                        organization=request.organization, actor=request.user, request=request, **values
                    )
                except DomainError as exc:
                    form.add_error(exc.field if exc.field in form.fields else None, exc.message)
                    status = 400
                else:
                    messages.success(request, _("Retention policy saved."))
                    return redirect("org:retention_settings", org_slug=org_slug)
            # "Count" (or a failed save): the dry run of what was entered, nothing saved.
            preview = RetentionPolicy(organization=request.organization, **values)
        else:
            status = 400
    count = privacy.retention_dry_run(policy=preview) if form.is_bound is False or form.is_valid() else None
    context = {"form": form, "policy": policy, "count": count, "preview": preview}
    return render(request, "tickets/privacy/retention.html", context, status=status)
