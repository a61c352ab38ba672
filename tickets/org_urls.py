"""Pages under /<org-slug>/ provided by the tickets app: SLA and business hours, automation rules (included by
config.urls in the `org` namespace)."""

from django.urls import include, path

urlpatterns = [
    path("", include("tickets.sla.urls")),
    path("", include("tickets.rules.urls")),
]
