"""Pages under /<org-slug>/ for reports (included by analytics.org_urls)."""

from django.urls import path

from analytics.reports import views

urlpatterns = [
    path("analytics/live/", views.reports_live, name="reports_live"),
    path("analytics/live/panel/", views.reports_live_panel, name="reports_live_panel"),
    path("analytics/export/", views.reports_export, name="reports_export"),
]
