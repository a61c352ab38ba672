"""Pages under /<org-slug>/ provided by the assets app. Included by config.urls in the `org` namespace."""

from django.urls import path

from assets import file_views, uploads, views

urlpatterns: list = [
    path("assets/versions/<int:version_id>/file/", file_views.asset_file, name="asset_file"),
    path("assets/versions/<int:version_id>/thumbnail/", file_views.asset_thumbnail, name="asset_thumbnail"),
    path("assets/uploads/", uploads.tus_collection, name="asset_upload"),
    path("assets/uploads/<uuid:upload_id>/", uploads.tus_resource, name="asset_upload_resource"),
]

# The library's pages (assets/views.py).
urlpatterns += [
    path("assets/", views.library, name="asset_library"),
    path("assets/uploaded/", views.uploaded, name="asset_uploaded"),
    path("assets/tags/", views.bulk_tag, name="asset_bulk_tag"),
    path("assets/new/", views.new_text, name="asset_new_text"),
    path("assets/picker/", views.picker, name="asset_picker"),
    path("assets/collections/", views.collections, name="asset_collections"),
    path("assets/collections/<int:collection_id>/", views.collection_detail, name="asset_collection"),
    path("assets/collections/<int:collection_id>/rights/", views.collection_rights, name="asset_collection_rights"),
    path("assets/collections/<int:collection_id>/delete/", views.collection_delete, name="asset_collection_delete"),
    path("assets/versions/<int:version_id>/", views.version_view, name="asset_version"),
    path("assets/versions/<int:version_id>/restore/", views.version_restore, name="asset_version_restore"),
    path("assets/<int:asset_id>/", views.detail, name="asset_detail"),
    path("assets/<int:asset_id>/versions/", views.version_new, name="asset_version_new"),
    path("assets/<int:asset_id>/compare/", views.compare, name="asset_compare"),
    path("assets/<int:asset_id>/approve/", views.approve, name="asset_approve"),
    path("assets/<int:asset_id>/archive/", views.archive, name="asset_archive"),
    path("assets/<int:asset_id>/unarchive/", views.unarchive, name="asset_unarchive"),
    path("assets/<int:asset_id>/delete/", views.delete, name="asset_delete"),
]
