"""Pages under /<org-slug>/ provided by the tickets app: canned responses, next to their logic (tickets.canned),
and the privacy pages (tickets.privacy_views). Included by config.urls in the `org` namespace."""

from django.urls import path

from tickets import canned_views, privacy_views

urlpatterns = [
    path("settings/canned-responses/", canned_views.canned_list, name="canned_list"),
    path("settings/canned-responses/<int:canned_id>/", canned_views.canned_edit, name="canned_edit"),
    path("settings/canned-responses/<int:canned_id>/delete/", canned_views.canned_delete, name="canned_delete"),
    path("settings/data-retention/", privacy_views.retention_settings, name="retention_settings"),
    path("contacts/<int:contact_id>/privacy/", privacy_views.contact_privacy, name="contact_privacy"),
    path("contacts/<int:contact_id>/privacy/export/", privacy_views.contact_export, name="contact_privacy_export"),
    path("contacts/<int:contact_id>/privacy/erase/", privacy_views.contact_erase, name="contact_privacy_erase"),
    path("privacy/exports/<int:export_id>/download/", privacy_views.export_download, name="privacy_export_download"),
]
