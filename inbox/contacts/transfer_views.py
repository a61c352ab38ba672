"""Contacts CSV export and import (preview, then confirm): the pages around inbox.contacts.csv_io."""

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from accounts.roles import Capability
from core.errors import DomainError
from inbox.contacts import csv_io, selectors
from tickets.models import ContactAttributeDefinition


@require_GET
def contact_export(request, org_slug):
    """The filtered list as CSV (UTF-8 with BOM, for Excel): only contacts the member may see."""
    if not request.membership.has(Capability.DATA_EXPORT):
        raise PermissionDenied
    contact_filter = selectors.ContactFilter.from_query(request.GET)
    contacts = (
        contact_filter.apply(selectors.visible_contacts(request.membership), request.membership)
        .defer("search_vector")
        .prefetch_related("identities")
        .order_by("pk")
    )
    definitions = list(ContactAttributeDefinition.objects.all())
    response = StreamingHttpResponse(
        csv_io.export_rows(request.organization, contacts, definitions), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="contacts-{request.organization.slug}-{stamp}.csv"'
    return response


class ImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        help_text=gettext_lazy("UTF-8 or Shift_JIS (as Excel saves it), up to 2 MB and 5,000 rows."),
    )


def _can_import(request) -> bool:
    # A whole file may touch any contact: only members who see every channel (and work tickets) import.
    return request.membership.has(Capability.TICKETS_VIEW_ALL) and request.membership.has(Capability.TICKETS_WORK)


@require_http_methods(["GET", "POST"])
def contact_import(request, org_slug):
    """Upload → preview (every row with its errors per column; nothing written) → confirm (rows written, counted)."""
    if not _can_import(request):
        raise PermissionDenied
    definitions = list(ContactAttributeDefinition.objects.all())
    context = {
        "form": ImportForm(),
        "columns": [*csv_io.COLUMNS, *(f"{selectors.ATTR_PREFIX}{d.key}" for d in definitions)],
    }
    if request.method == "GET":
        return render(request, "inbox/contacts/import.html", context)
    confirm = request.POST.get("step") == "confirm"
    try:
        if confirm:
            text, encoding = request.POST.get("text", ""), request.POST.get("encoding", "UTF-8")[:20]
            if len(text) > csv_io.MAX_BYTES:
                raise csv_io.ImportFileError(str(gettext_lazy("The file is larger than 2 MB.")), field="file")
            result = csv_io.run(
                organization=request.organization,
                membership=request.membership,
                actor=request.user,
                text=text,
                encoding=encoding,
            )
            return render(request, "inbox/contacts/import_done.html", {**context, "result": result})
        form = ImportForm(request.POST, request.FILES)
        context["form"] = form
        if not form.is_valid():
            return render(request, "inbox/contacts/import.html", context, status=400)
        text, encoding = csv_io.decode(form.cleaned_data["file"].read(csv_io.MAX_BYTES + 1))
        preview = csv_io.preview(
            organization=request.organization, membership=request.membership, text=text, encoding=encoding
        )
    except DomainError as exc:
        context["error"] = exc.message
        return render(request, "inbox/contacts/import.html", context, status=400)
    context.update(preview=preview, text=text, encoding=encoding)
    return render(request, "inbox/contacts/import_preview.html", context)
