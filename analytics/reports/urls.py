"""Pages under /<org-slug>/ for reports (included by analytics.org_urls)."""

urlpatterns = []
