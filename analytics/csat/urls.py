"""Pages under /<org-slug>/ for csat (included by analytics.org_urls)."""

from django.urls import path

from analytics.csat import views

urlpatterns = [
    path("analytics/satisfaction/", views.csat_dashboard, name="csat_dashboard"),
    path("analytics/satisfaction/settings/", views.csat_settings, name="csat_settings"),
]
