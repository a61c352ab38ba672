"""Pages under /<org-slug>/ for dashboards (included by analytics.org_urls)."""

from django.urls import path

from analytics.dashboards import views
from analytics.dashboards.pages import PAGES
from analytics.dashboards.views import OWN_PAGES

urlpatterns = [
    path("analytics/dashboards/", views.dashboard, name="analytics_overview"),
    path("analytics/dashboards/drilldown/", views.drilldown_view, name="analytics_drilldown"),
    *[
        path(f"analytics/dashboards/{key}/", views.dashboard, {"page": key}, name=f"analytics_{key}")
        for key in PAGES
        if key != "overview" and key not in OWN_PAGES
    ],
]
