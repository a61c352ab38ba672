"""Pages under /<org-slug>/ provided by the analytics app: dashboards, reports, CSAT and listening. Included by
config.urls in the `org` namespace."""

from django.urls import include, path

urlpatterns = [
    path("", include("analytics.dashboards.urls")),
    path("", include("analytics.reports.urls")),
    path("", include("analytics.csat.urls")),
    path("", include("analytics.listening.urls")),
]
