"""Pages under /<org-slug>/ provided by the assets app. Included by config.urls in the `org` namespace."""

urlpatterns: list = []
