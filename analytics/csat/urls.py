"""Pages under /<org-slug>/ for csat (included by analytics.org_urls)."""

urlpatterns = []
