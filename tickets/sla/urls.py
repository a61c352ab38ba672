"""URLs of the sla settings pages (included by tickets.org_urls)."""

urlpatterns: list = []
