"""Pages under /<org-slug>/ provided by the tickets app: canned responses, next to their logic (tickets.canned).
Included by config.urls in the `org` namespace."""

from django.urls import path

from tickets import canned_views

urlpatterns = [
    path("settings/canned-responses/", canned_views.canned_list, name="canned_list"),
    path("settings/canned-responses/<int:canned_id>/", canned_views.canned_edit, name="canned_edit"),
    path("settings/canned-responses/<int:canned_id>/delete/", canned_views.canned_delete, name="canned_delete"),
]
