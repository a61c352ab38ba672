"""Pages under /<org-slug>/ provided by the automation app: SLA and business hours, automation rules, team routing
(included by config.urls in the `org` namespace)."""

from django.urls import include, path

urlpatterns = [
    path("", include("automation.sla.urls")),
    path("", include("automation.rules.urls")),
    path("", include("automation.routing.urls")),
]
