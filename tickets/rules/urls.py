"""URLs of the rules settings pages (included by tickets.org_urls)."""

urlpatterns: list = []
