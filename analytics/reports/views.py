"""Analytics → Live, exports and scheduled reports.

The live panel needs `analytics.view`; exports `analytics.view` and `data.export`; the scheduled reports list
`analytics.view`, and creating, changing or deleting a schedule `analytics.manage`."""

from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.permissions import require_capability
from accounts.roles import Capability
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
