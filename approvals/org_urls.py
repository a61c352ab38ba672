"""Pages under /<org-slug>/ provided by the approvals app. Included by config.urls in the `org` namespace."""

urlpatterns: list = []
