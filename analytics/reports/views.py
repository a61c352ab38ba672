"""Analytics → Live, exports and scheduled reports.

The live panel needs `analytics.view`; exports `analytics.view` and `data.export`; the scheduled reports list
`analytics.view`, and creating, changing or deleting a schedule `analytics.manage`."""

from urllib.parse import quote

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from accounts.permissions import require_capability
from accounts.roles import Capability
from analytics.dashboards.pages import PAGES
from analytics.reports import services
from analytics.reports.exports import FORMATS, ExportError, export_file
from analytics.reports.selectors import live_panel


@require_GET
@require_capability(Capability.ANALYTICS_VIEW)
def reports_live(request, org_slug):
    panel = live_panel(membership=request.membership, now=timezone.now())
    return render(request, "analytics_reports/live.html", {"panel": panel})


@require_GET
@require_capability(Capability.ANALYTICS_VIEW)
def reports_live_panel(request, org_slug):
    """The panel alone, fetched again by the page (htmx) when ticket events arrive and every 30 seconds."""
    panel = live_panel(membership=request.membership, now=timezone.now())
    return render(request, "analytics_reports/_live_panel.html", {"panel": panel})


def attachment_header(filename: str) -> str:
    """Content-Disposition with both the plain and the RFC 5987 `filename*` forms (names are ASCII here, but a
    client that reads only `filename*` gets it too)."""
    plain = filename.encode("ascii", "replace").decode().replace('"', "")
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename)}"


@require_GET
@require_capability(Capability.ANALYTICS_VIEW)
@require_capability(Capability.DATA_EXPORT)
def reports_export(request, org_slug):
    """`?page=<key>&format=csv|pdf` and the dashboard's filter parameters: the page's data as a file."""
    page_key = request.GET.get("page", "")
    file_format = request.GET.get("format", "")
    try:
        export = export_file(
            membership=request.membership, params=request.GET, page_key=page_key, file_format=file_format
        )
    except ExportError:
        message = _("Choose a dashboard (%(pages)s) and a format (%(formats)s).") % {
            "pages": ", ".join(PAGES),
            "formats": ", ".join(FORMATS),
        }
        return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
    services.export_record(
        organization=request.organization,
        actor=request.user,
        export=export,
        file_format=file_format,
        request=request,
    )
    response = HttpResponse(export.content, content_type=export.content_type)
    response["Content-Disposition"] = attachment_header(export.filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
