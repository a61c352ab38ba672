"""REST API routes of the approvals app under /api/v1/orgs/<org-slug>/ (the `api` namespace)."""

org_urlpatterns: list = []
