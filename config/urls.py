from django.urls import include, path, re_path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView

from accounts import admin as operator_admin
from accounts.api import urls as accounts_api
from accounts.api.views import MeView
from accounts.views.auth import home
from approvals.api import urls as approvals_api
from assets.api import urls as assets_api
from channels_integrations import views as channel_views
from channels_integrations import webhooks
from config import health, security_txt
from core.api.errors import api_not_found
from tickets.api import urls as tickets_api

# Everything an organization owns lives under one of these two prefixes; TenantMiddleware scopes both.
org_patterns = [
    path("", include("accounts.org_urls")),
    path("", include("inbox.org_urls")),
    path("", include("channels_integrations.org_urls")),
    path("", include("tickets.org_urls")),
    path("", include("automation.org_urls")),
    path("", include("analytics.org_urls")),
    path("", include("assets.org_urls")),
    path("", include("approvals.org_urls")),
]
org_api_patterns = [
    path("", include(accounts_api.org_urlpatterns)),
    path("", include(tickets_api.org_urlpatterns)),
    path("", include(assets_api.org_urlpatterns)),
    path("", include(approvals_api.org_urlpatterns)),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path(".well-known/security.txt", security_txt.security_txt, name="security-txt"),
    path("admin/", operator_admin.site.urls),  # two-factor sessions of staff only (accounts/admin.py)
    path("webhooks/<slug:endpoint>/", webhooks.app_level, name="webhook-app"),
    path("oauth/<slug:platform>/callback/", channel_views.oauth_callback, name="oauth-callback"),
    path("webhooks/<slug:platform>/<uuid:connection_uuid>/", webhooks.per_connection, name="webhook-connection"),
    path("accounts/", include("accounts.urls")),
    path("survey/", include("analytics.csat.public_urls")),
    path("published-media/", include("approvals.public_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", TemplateView.as_view(template_name="api_docs.html"), name="api-docs"),
    path("api/v1/me/", MeView.as_view(), name="api-me"),
    path("api/v1/orgs/<slug:org_slug>/", include((org_api_patterns, "api"), namespace="api")),
    re_path(r"^api/", api_not_found),  # last of the API: what no route above matches is a JSON 404
    path("", home, name="home"),
    path("<slug:org_slug>/", include((org_patterns, "org"), namespace="org")),
]
