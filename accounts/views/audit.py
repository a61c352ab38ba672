"""The audit log under /<org-slug>/settings/audit/: the filtered, paginated page and the same entries as CSV.
TenantMiddleware has already checked membership and activated the scope; both need AUDIT_VIEW."""

import csv
import io
from datetime import datetime, time, timedelta

from django.core.handlers.asgi import ASGIRequest
from django.core.paginator import InvalidPage, Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from accounts import audit_display, selectors
from accounts.forms import AuditFilterForm
from accounts.models import AuditEntry
from accounts.permissions import require_capability
from accounts.roles import Capability

PAGE_SIZE = 50
EXPORT_CHUNK = 1000  # rows per database fetch (a server-side cursor) and per piece of the response


def _filter_form(request) -> AuditFilterForm:
    members = [membership.user for membership in selectors.membership_list()]
    return AuditFilterForm(request.GET or None, members=members)


def _day_start(day) -> datetime:
    """Midnight of `day` in the active time zone (the member's, else the organization's: the zone the page shows)."""
    return timezone.make_aware(datetime.combine(day, time.min))


def _filtered(request, form: AuditFilterForm) -> QuerySet[AuditEntry]:
    """This organization's entries, narrowed by the form's valid fields (an invalid one is shown as an error)."""
    entries = selectors.audit_list().filter(organization=request.organization)
    if not form.is_bound:
        return entries
    form.is_valid()
    cleaned = form.cleaned_data
    if cleaned.get("actor") == AuditFilterForm.SYSTEM:
        entries = entries.filter(actor__isnull=True)
    elif cleaned.get("actor"):
        entries = entries.filter(actor_id=int(cleaned["actor"]))
    if cleaned.get("action"):
        entries = entries.filter(action=cleaned["action"])
    if cleaned.get("since"):
        entries = entries.filter(created_at__gte=_day_start(cleaned["since"]))
    if cleaned.get("until"):
        entries = entries.filter(created_at__lt=_day_start(cleaned["until"] + timedelta(days=1)))
    return entries


def _query_without_page(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@require_GET
@require_capability(Capability.AUDIT_VIEW)
def audit_log(request, org_slug):
    form = _filter_form(request)
    entries = _filtered(request, form).select_related("actor")
    paginator = Paginator(entries, PAGE_SIZE)
    try:
        page = paginator.page(request.GET.get("page") or 1)
    except InvalidPage as exc:
        raise Http404 from exc
    context = {
        "form": form,
        "page": page,
        "rows": audit_display.rows(page.object_list, organization=request.organization),
        "query": _query_without_page(request),
        "can_export": not form.is_bound or form.is_valid(),
        "timezone_name": timezone.get_current_timezone_name(),
    }
    return render(request, "accounts/audit_log.html", context)


class _CsvBuffer:
    """Rows written as CSV text and taken out in pieces, so the response never holds the whole log."""

    def __init__(self):
        self.text = io.StringIO()
        self.writer = csv.writer(self.text)
        self.rows = 0

    def write(self, cells: list[str]) -> None:
        self.writer.writerow(cells)
        self.rows += 1

    def take(self) -> bytes:
        data = self.text.getvalue().encode("utf-8")
        self.text.seek(0)
        self.text.truncate()
        self.rows = 0
        return data


def _csv_sync(entries: QuerySet[AuditEntry], language: str, zone):
    with translation.override(language), timezone.override(zone):
        buffer = _CsvBuffer()
        buffer.write(audit_display.csv_header(str(zone)))
        yield "\ufeff".encode() + buffer.take()  # the BOM: Excel then reads UTF-8 (Japanese names) correctly
        for entry in entries.iterator(chunk_size=EXPORT_CHUNK):
            buffer.write(audit_display.csv_row(entry))
            if buffer.rows >= EXPORT_CHUNK:
                yield buffer.take()
        yield buffer.take()


async def _csv_async(entries: QuerySet[AuditEntry], language: str, zone):
    # Under ASGI a synchronous iterator would be read into a list before sending: this one streams.
    with translation.override(language), timezone.override(zone):
        buffer = _CsvBuffer()
        buffer.write(audit_display.csv_header(str(zone)))
        yield "\ufeff".encode() + buffer.take()
        async for entry in entries.aiterator(chunk_size=EXPORT_CHUNK):
            buffer.write(audit_display.csv_row(entry))
            if buffer.rows >= EXPORT_CHUNK:
                yield buffer.take()
        yield buffer.take()


@require_GET
@require_capability(Capability.AUDIT_VIEW)
def audit_export(request, org_slug):
    """The filtered entries as CSV (UTF-8 with BOM), streamed from one query. Not itself audited: the log has no
    action for exports yet."""
    form = _filter_form(request)
    if form.is_bound and not form.is_valid():
        return HttpResponseBadRequest(_("Correct the filters of the audit log first."), content_type="text/plain")
    entries = _filtered(request, form).select_related("actor")
    zone = timezone.get_current_timezone()
    language = translation.get_language()
    stream = _csv_async if isinstance(request, ASGIRequest) else _csv_sync
    response = StreamingHttpResponse(stream(entries, language, zone), content_type="text/csv; charset=utf-8")
    filename = f"audit-log-{request.organization.slug}-{timezone.localdate():%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response
