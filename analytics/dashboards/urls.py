"""Pages under /<org-slug>/ for dashboards (included by analytics.org_urls)."""

urlpatterns = []
