"""Pages under /<org-slug>/ for reports (included by analytics.org_urls)."""

from django.urls import path

from analytics.reports import views

urlpatterns = [
    path("analytics/live/", views.reports_live, name="reports_live"),
    path("analytics/live/panel/", views.reports_live_panel, name="reports_live_panel"),
    path("analytics/export/", views.reports_export, name="reports_export"),
    path("analytics/reports/", views.reports_schedules, name="reports_schedules"),
    path("analytics/reports/new/", views.reports_schedule_create, name="reports_schedule_create"),
    path("analytics/reports/<int:schedule_id>/", views.reports_schedule_edit, name="reports_schedule_edit"),
    path("analytics/reports/<int:schedule_id>/delete/", views.reports_schedule_delete, name="reports_schedule_delete"),
]
