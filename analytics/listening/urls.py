"""Pages under /<org-slug>/ for listening (included by analytics.org_urls)."""

urlpatterns = []
