"""REST API routes of the assets app under /api/v1/orgs/<org-slug>/ (the `api` namespace)."""

from django.urls import path

from assets.api import views

org_urlpatterns: list = [
    path("assets/", views.AssetListView.as_view(), name="asset-list"),
    path("assets/<int:asset_id>/", views.AssetDetailView.as_view(), name="asset-detail"),
    path("assets/<int:asset_id>/versions/", views.AssetVersionsView.as_view(), name="asset-versions"),
    path("assets/<int:asset_id>/usages/", views.AssetUsagesView.as_view(), name="asset-usages"),
    path("assets/<int:asset_id>/approve/", views.AssetApproveView.as_view(), name="asset-approve"),
    path("assets/<int:asset_id>/archive/", views.AssetArchiveView.as_view(), name="asset-archive"),
    path("asset-versions/<int:version_id>/", views.AssetVersionDetailView.as_view(), name="asset-version-detail"),
    path(
        "asset-versions/<int:version_id>/restore/",
        views.AssetVersionRestoreView.as_view(),
        name="asset-version-restore",
    ),
]
