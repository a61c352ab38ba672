"""Contacts list (search, filters, segments, bulk tag), the 360° profile (edit, timeline, duplicates, merges) and
its compact copy beside the conversation. Writes go through tickets' contact services; a contact the member may not
see is a 404 like another organization's."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.roles import Capability
from channels_integrations.registry import platform_choices
from core.errors import DomainError
from inbox.contacts import selectors
from inbox.contacts.models import ContactSegment
from tickets.models import AttributeType, ContactAttributeDefinition, ContactDuplicateSuggestion, ContactMerge
from tickets.services.contact_matching import suggestion_dismiss
from tickets.services.contact_merge import contact_merge, contact_merge_undo
from tickets.services.contacts import ContactAttributeError, contact_update, contacts_tag

PRIVACY_TEMPLATE = "inbox/contacts/_privacy.html"


def _require_work(request) -> None:
    if not request.membership.has(Capability.TICKETS_WORK):
        raise PermissionDenied


def _contact(request, contact_id):
    return get_object_or_404(selectors.visible_contacts(request.membership), pk=contact_id)


def _segments(request):
    return ContactSegment.objects.filter(Q(owner__isnull=True) | Q(owner_id=request.user.pk))


def _pair(contact_id: int) -> Q:
    """Suggestions about this contact (on either side of the pair)."""
    return Q(contact_id=contact_id) | Q(other_id=contact_id)


def _page(request) -> int:
    try:
        return max(1, min(int(request.GET.get("page") or 1), 10000))
    except ValueError:
        return 1


@require_GET
def contact_list(request, org_slug):
    contact_filter = selectors.ContactFilter.from_query(request.GET)
    page = _page(request)
    size = selectors.PAGE_SIZE
    rows = list(selectors.contact_list(request.membership, contact_filter)[(page - 1) * size : page * size + 1])
    query = contact_filter.as_query()
    context = {
        "contacts": rows[:size],
        "filter": contact_filter,
        "query": urlencode(query),
        "next_page": page + 1 if len(rows) > size else None,
        "previous_page": page - 1 if page > 1 else None,
        "platforms": platform_choices(),
        "attribute_filters": [
            (d, dict(contact_filter.attributes).get(d.key, "")) for d in ContactAttributeDefinition.objects.all()
        ],
        "segments": list(_segments(request)),
        "can_work": request.membership.has(Capability.TICKETS_WORK),
        "can_export": request.membership.has(Capability.DATA_EXPORT),
        "can_import": request.membership.has(Capability.TICKETS_VIEW_ALL)
        and request.membership.has(Capability.TICKETS_WORK),
        "can_share": request.membership.has(Capability.RULES_MANAGE),
    }
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "contact-results":
        return render(request, "inbox/contacts/_results.html", context)
    return render(request, "inbox/contacts/list.html", context)


@require_POST
def contact_bulk_tag(request, org_slug):
    """Add or remove a tag on the ticked contacts (only ones the member may see are touched)."""
    _require_work(request)
    ids = [int(pk) for pk in request.POST.getlist("contact") if pk.isdigit()][:500]
    tag = " ".join(request.POST.get("tag", "").split())[:60]
    back = reverse("org:contacts", args=[org_slug]) + (
        "?" + request.POST["return_query"] if request.POST.get("return_query") else ""
    )
    if not ids or not tag:
        messages.error(request, _("Tick at least one contact and type a tag."))
        return redirect(back)
    contacts = list(selectors.visible_contacts(request.membership).filter(pk__in=ids).only("pk"))
    remove = request.POST.get("action") == "remove"
    count = contacts_tag(
        organization=request.organization,
        actor=request.user,
        contacts=contacts,
        add=[] if remove else [tag],
        remove=[tag] if remove else [],
    )
    messages.success(request, _("Tags changed on %(count)d contacts.") % {"count": count})
    return redirect(back)


@require_POST
def segment_create(request, org_slug):
    """Save the current filters as a segment (shared ones need rules.manage, like shared inbox views)."""
    _require_work(request)
    name = request.POST.get("name", "").strip()[:80]
    shared = request.POST.get("shared") == "1"
    if shared and not request.membership.has(Capability.RULES_MANAGE):
        raise PermissionDenied
    filters = selectors.ContactFilter.from_query(QueryDict(request.POST.get("query", ""))).as_query()
    if not name:
        messages.error(request, _("Give the segment a name."))
        return redirect(reverse("org:contacts", args=[org_slug]) + ("?" + urlencode(filters) if filters else ""))
    segment = ContactSegment.objects.create(
        organization=request.organization, owner=None if shared else request.user, name=name, filters=filters
    )
    messages.success(request, _("Segment “%(name)s” saved.") % {"name": segment.name})
    return redirect(reverse("org:contacts", args=[org_slug]) + ("?" + urlencode(filters) if filters else ""))


@require_POST
def segment_delete(request, org_slug, segment_id):
    _require_work(request)
    segment = get_object_or_404(_segments(request), pk=segment_id)
    if segment.owner_id is None and not request.membership.has(Capability.RULES_MANAGE):
        raise PermissionDenied
    segment.delete()
    messages.success(request, _("Segment deleted."))
    return redirect("org:contacts", org_slug)


# --- the profile ---------------------------------------------------------------------------------------------------


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.replace(",", "\n").replace("、", "\n").splitlines() if line.strip()]


class ContactForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200, required=False)
    reading = forms.CharField(
        label=gettext_lazy("Reading (furigana)"),
        max_length=200,
        required=False,
        help_text=gettext_lazy("In katakana or hiragana; used to sort and find Japanese names."),
    )
    emails = forms.CharField(
        label=gettext_lazy("Email addresses"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("One per line; the first is the main one."),
    )
    phones = forms.CharField(
        label=gettext_lazy("Phone numbers"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("One per line, e.g. 090-1234-5678 or +81 3 1234 5678."),
    )
    company = forms.CharField(label=gettext_lazy("Company"), max_length=200, required=False)
    language = forms.CharField(
        label=gettext_lazy("Language"), max_length=16, required=False, help_text=gettext_lazy("e.g. ja or en")
    )
    timezone = forms.CharField(
        label=gettext_lazy("Time zone"), max_length=64, required=False, help_text=gettext_lazy("e.g. Asia/Tokyo")
    )
    tags = forms.CharField(label=gettext_lazy("Tags"), required=False, help_text=gettext_lazy("Separated by commas."))
    vip = forms.BooleanField(label=gettext_lazy("VIP"), required=False)
    consent_marketing = forms.BooleanField(label=gettext_lazy("Agrees to marketing messages"), required=False)
    consent_survey = forms.BooleanField(label=gettext_lazy("Agrees to surveys"), required=False)
    notes = forms.CharField(label=gettext_lazy("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, definitions, **kwargs):
        super().__init__(*args, **kwargs)
        self.definitions = definitions
        for d in definitions:
            name = f"attr_{d.key}"
            if d.type == AttributeType.CHOICE:
                field = forms.ChoiceField(
                    label=d.label, required=False, choices=[("", "—"), *((c, c) for c in d.choices)]
                )
            elif d.type == AttributeType.DATE:
                field = forms.CharField(label=d.label, required=False, widget=forms.DateInput(attrs={"type": "date"}))
            elif d.type == AttributeType.NUMBER:
                field = forms.CharField(
                    label=d.label, required=False, widget=forms.TextInput(attrs={"inputmode": "decimal"})
                )
            else:
                field = forms.CharField(label=d.label, required=False, max_length=1000)
            if d.required:
                field.label = _("%(label)s (required)") % {"label": d.label}
            self.fields[name] = field

    @classmethod
    def initial_for(cls, contact) -> dict:
        initial = {
            "name": contact.name,
            "reading": contact.reading,
            "emails": "\n".join(contact.emails),
            "phones": "\n".join(contact.phones),
            "company": contact.company,
            "language": contact.language,
            "timezone": contact.timezone,
            "tags": ", ".join(contact.tags),
            "vip": contact.vip,
            "consent_marketing": contact.consent_marketing,
            "consent_survey": contact.consent_survey,
            "notes": contact.notes,
        }
        initial.update({f"attr_{key}": value for key, value in (contact.attributes or {}).items()})
        return initial

    def service_fields(self) -> dict:
        data = self.cleaned_data
        fields = {name: data[name] for name in ("name", "reading", "company", "language", "timezone", "notes")}
        fields.update(
            emails=_lines(data["emails"]),
            phones=_lines(data["phones"]),
            tags=[t for t in (part.strip() for part in data["tags"].replace("、", ",").split(",")) if t],
            vip=data["vip"],
            consent_marketing=data["consent_marketing"],
            consent_survey=data["consent_survey"],
            attributes={d.key: data.get(f"attr_{d.key}") or None for d in self.definitions},
        )
        return fields


def _profile_context(request, contact, form=None) -> dict:
    membership = request.membership
    definitions = list(ContactAttributeDefinition.objects.all())
    tickets = list(selectors.contact_tickets(membership, contact)[:50])
    return {
        "contact": contact,
        "identities": list(contact.identities.order_by("platform", "id")),
        "definitions": definitions,
        "attributes": [(d, (contact.attributes or {}).get(d.key)) for d in definitions],
        "form": form or ContactForm(initial=ContactForm.initial_for(contact), definitions=definitions),
        "open_tickets": [t for t in tickets if t.status in selectors.ACTIVE_STATUSES],
        "tickets": tickets,
        "timeline": selectors.contact_timeline(membership, contact, before=request.GET.get("before", "")),
        "sentiments": selectors.contact_sentiments(membership, contact),
        "csat": selectors.contact_csat(membership, contact),
        "suggestions": selectors.contact_suggestions(membership, contact),
        "merges": selectors.contact_merges(contact),
        "can_work": membership.has(Capability.TICKETS_WORK),
        "privacy_template": _privacy_template(),
    }


def _privacy_template() -> str | None:
    """The privacy buttons (C3's include) once that template exists: the profile works without it."""
    try:
        get_template(PRIVACY_TEMPLATE)
    except TemplateDoesNotExist:
        return None
    return PRIVACY_TEMPLATE


@require_http_methods(["GET", "POST"])
def contact_profile(request, org_slug, contact_id):
    contact = _contact(request, contact_id)
    form = None
    status = 200
    if request.method == "POST":
        _require_work(request)
        definitions = list(ContactAttributeDefinition.objects.all())
        form = ContactForm(request.POST, definitions=definitions)
        if form.is_valid():
            try:
                contact_update(
                    organization=request.organization, contact=contact, actor=request.user, **form.service_fields()
                )
            except ContactAttributeError as exc:
                for key, message in exc.errors.items():
                    form.add_error(f"attr_{key}" if f"attr_{key}" in form.fields else None, message)
            except DomainError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, _("Contact saved."))
                return redirect("org:contact_profile", org_slug, contact.pk)
        status = 400
    return render(request, "inbox/contacts/profile.html", _profile_context(request, contact, form), status=status)


@require_GET
def contact_timeline(request, org_slug, contact_id):
    """The next (older) page of the timeline, appended by htmx."""
    contact = _contact(request, contact_id)
    timeline = selectors.contact_timeline(request.membership, contact, before=request.GET.get("before", ""))
    return render(request, "inbox/contacts/_timeline.html", {"contact": contact, "timeline": timeline})


@require_GET
def contact_panel(request, org_slug, contact_id):
    """The compact profile beside the conversation (loaded after the conversation, so that stays as fast)."""
    contact = _contact(request, contact_id)
    membership = request.membership
    context = {
        "contact": contact,
        "identities": list(contact.identities.order_by("platform", "id")),
        "attributes": [(d, (contact.attributes or {}).get(d.key)) for d in ContactAttributeDefinition.objects.all()],
        "open_tickets": list(
            selectors.contact_tickets(membership, contact).filter(status__in=selectors.ACTIVE_STATUSES)[:10]
        ),
        "suggestions": selectors.contact_suggestions(membership, contact),
        "csat": selectors.contact_csat(membership, contact, limit=3),
        "current_ticket": request.GET.get("ticket", ""),
        "can_work": membership.has(Capability.TICKETS_WORK),
    }
    return render(request, "inbox/contacts/_panel.html", context)


def _back(request, org_slug, contact_id):
    ticket = request.POST.get("ticket", "")
    if ticket.isdigit():
        return redirect("org:inbox_ticket", org_slug, int(ticket))
    return redirect("org:contact_profile", org_slug, contact_id)


@require_POST
def suggestion_merge(request, org_slug, contact_id, suggestion_id):
    """Merge the suggested duplicate into this contact (this one survives)."""
    _require_work(request)
    contact = _contact(request, contact_id)
    suggestion = get_object_or_404(ContactDuplicateSuggestion.objects.filter(_pair(contact.pk)), pk=suggestion_id)
    other_id = suggestion.other_id if suggestion.contact_id == contact.pk else suggestion.contact_id
    other = _contact(request, other_id)
    try:
        contact_merge(
            organization=request.organization,
            actor=request.user,
            survivor=contact,
            merged=other,
            reason=", ".join(suggestion.reasons),
            request=request,
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("%(other)s was merged into this contact.") % {"other": other})
    return _back(request, org_slug, contact.pk)


@require_POST
def suggestion_dismiss_view(request, org_slug, contact_id, suggestion_id):
    _require_work(request)
    contact = _contact(request, contact_id)
    suggestion = get_object_or_404(ContactDuplicateSuggestion.objects.filter(_pair(contact.pk)), pk=suggestion_id)
    suggestion_dismiss(organization=request.organization, actor=request.user, suggestion=suggestion)
    messages.success(request, _("Suggestion dismissed: these two will not be suggested again."))
    return _back(request, org_slug, contact.pk)


@require_POST
def merge_undo(request, org_slug, contact_id, merge_id):
    _require_work(request)
    contact = _contact(request, contact_id)
    merge = get_object_or_404(ContactMerge.objects.filter(survivor_id=contact.pk), pk=merge_id)
    try:
        contact_merge_undo(organization=request.organization, actor=request.user, merge=merge, request=request)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Merge undone."))
    return redirect("org:contact_profile", org_slug, contact.pk)
