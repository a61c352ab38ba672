"""Pages under /<org-slug>/ provided by the assets app. Included by config.urls in the `org` namespace."""

from django.urls import path

from assets import file_views, uploads

urlpatterns: list = [
    path("assets/versions/<int:version_id>/file/", file_views.asset_file, name="asset_file"),
    path("assets/versions/<int:version_id>/thumbnail/", file_views.asset_thumbnail, name="asset_thumbnail"),
    path("assets/uploads/", uploads.tus_collection, name="asset_upload"),
    path("assets/uploads/<uuid:upload_id>/", uploads.tus_resource, name="asset_upload_resource"),
]

