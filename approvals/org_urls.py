"""Pages under /<org-slug>/ provided by the approvals app. Included by config.urls in the `org` namespace."""

from approvals.post_urls import urlpatterns as post_urlpatterns

urlpatterns: list = []
urlpatterns += post_urlpatterns
