"""Analytics → Live, exports and scheduled reports.

The live panel needs `analytics.view`; exports `analytics.view` and `data.export`; the scheduled reports list
`analytics.view`, and creating, changing or deleting a schedule `analytics.manage`."""

from urllib.parse import quote

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import require_capability
from accounts.roles import Capability
from analytics.dashboards.pages import PAGES
from analytics.reports import services
from analytics.reports.exports import FORMATS, ExportError, export_file
from analytics.reports.forms import ScheduleForm
from analytics.reports.models import ReportSchedule
from analytics.reports.selectors import SKIP_REASONS, live_panel, schedules_with_last_run
from core.db_replica import reads_from_replica
from core.views import actor_kwargs, unconfirmed


@require_GET
@require_capability(Capability.ANALYTICS_VIEW)
@reads_from_replica
def reports_live(request, org_slug):
    panel = live_panel(membership=request.membership, now=timezone.now())
    return render(request, "analytics_reports/live.html", {"panel": panel})


@require_GET
@require_capability(Capability.ANALYTICS_VIEW)
@reads_from_replica
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
@reads_from_replica
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


# --- scheduled reports --------------------------------------------------------------------------------------------


@require_GET
@require_capability(Capability.ANALYTICS_VIEW)
def reports_schedules(request, org_slug):
    schedules = schedules_with_last_run(organization=request.organization)
    return render(
        request,
        "analytics_reports/schedules.html",
        {
            "schedules": schedules,
            "can_manage": request.membership.has(Capability.ANALYTICS_MANAGE),
            "page_titles": {key: title for key, (title, _build) in PAGES.items()},
            "reasons": SKIP_REASONS,
        },
    )


def _schedule_form(request, schedule: ReportSchedule | None):
    form = ScheduleForm(request.POST or None, instance=schedule, membership=request.membership)
    if request.method == "POST" and form.is_valid():
        saved = form.save(commit=False)
        saved.filters = form.saved_filters()
        services.schedule_save(
            schedule=saved, recipients=list(form.cleaned_data["recipients"]), **actor_kwargs(request)
        )
        messages.success(request, _("Scheduled report “%(name)s” saved.") % {"name": saved.name})
        return redirect("org:reports_schedules", org_slug=request.organization.slug)
    status = 400 if request.method == "POST" else 200
    return render(request, "analytics_reports/schedule_form.html", {"form": form, "schedule": schedule}, status=status)


@require_http_methods(["GET", "POST"])
@require_capability(Capability.ANALYTICS_MANAGE)
def reports_schedule_create(request, org_slug):
    return _schedule_form(request, None)


@require_http_methods(["GET", "POST"])
@require_capability(Capability.ANALYTICS_MANAGE)
def reports_schedule_edit(request, org_slug, schedule_id):
    return _schedule_form(request, get_object_or_404(ReportSchedule, pk=schedule_id))


@require_POST
@require_capability(Capability.ANALYTICS_MANAGE)
def reports_schedule_delete(request, org_slug, schedule_id):
    schedule = get_object_or_404(ReportSchedule, pk=schedule_id)
    name = schedule.name
    asked = unconfirmed(
        request,
        question=_("Delete the scheduled report “%(name)s”?") % {"name": name},
        detail=_("Its recipients stop receiving it. Reports already sent stay in their mailboxes."),
        action=_("Delete"),
        cancel_url=reverse("org:reports_schedule_edit", args=[org_slug, schedule.pk]),
    )
    if asked:
        return asked
    services.schedule_delete(schedule=schedule, **actor_kwargs(request))
    messages.success(request, _("Scheduled report “%(name)s” deleted.") % {"name": name})
    return redirect("org:reports_schedules", org_slug=org_slug)
