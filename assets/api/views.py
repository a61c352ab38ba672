"""REST API of the asset library: list and search, detail, upload (multipart: a new asset or a new version),
versions, restore, approve, archive, usage. Rights are the library's own (role and collection: assets.permissions),
checked by the services; the lists show only what the caller may see."""

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from assets import selectors, services
from assets.api import serializers as s
from assets.models import AssetKind, AssetStatus, AssetVersion
from assets.permissions import AssetAccess
from core.api.views import OrgAPIView, OrgListAPIView

ASSET_FILTER_PARAMETERS = [
    OpenApiParameter("q", str, description="words (Japanese-aware) in title, description, tags, file name, text"),
    OpenApiParameter("tag", str, many=True, description="assets having all these tags"),
    OpenApiParameter("kind", str, enum=AssetKind.values),
    OpenApiParameter("collection", int, description="this collection and the ones below it"),
    OpenApiParameter("status", str, enum=AssetStatus.values),
    OpenApiParameter("usable", bool, description="only what can be attached to a new reply or post now"),
]


def _collection_id(value: str) -> int | None:
    """A collection id from the query string; anything else (or beyond PostgreSQL's integer) filters to nothing."""
    if value.isascii() and value.isdigit():
        number = int(value)
        return number if number < 2**31 else -1
    return -1 if value else None


class AssetCursorPagination(CursorPagination):
    ordering = ("-updated_at", "-id")
    page_size_query_param = "page_size"
    max_page_size = 200


class VersionCursorPagination(CursorPagination):
    ordering = ("-number",)
    page_size_query_param = "page_size"
    max_page_size = 200


class UsageCursorPagination(CursorPagination):
    ordering = ("-used_at", "-id")
    page_size_query_param = "page_size"
    max_page_size = 200


class AssetAPIView(OrgAPIView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def access(self) -> AssetAccess:
        if not hasattr(self, "_access"):
            self._access = AssetAccess.for_member(self.membership)
        return self._access

    def visible(self):
        return selectors.assets_visible(self.organization, self.request.user, access=self.access())

    def get_asset(self):
        return get_object_or_404(selectors.asset_with_details(self.visible()), pk=self.kwargs["asset_id"])

    def require(self, collection_id, right: str):
        if not getattr(self.access().rights(collection_id), right):
            raise PermissionDenied(_("You do not have the right to do this in this collection."))


class AssetListView(AssetAPIView, OrgListAPIView):
    serializer_class = s.AssetSerializer
    pagination_class = AssetCursorPagination

    def get_queryset(self):
        params = self.request.query_params
        return selectors.asset_with_details(
            selectors.asset_search(
                self.visible(),
                text=params.get("q", ""),
                tags=[t.replace("\x00", "") for t in params.getlist("tag")],
                kind=params.get("kind", "") if params.get("kind") in AssetKind.values else "",
                collection=_collection_id(params.get("collection", "")),
                status=params.get("status", "") if params.get("status") in AssetStatus.values else "",
                usable=params.get("usable", "").lower() in {"1", "true"},
            )
        )

    @extend_schema(parameters=ASSET_FILTER_PARAMETERS)
    def get(self, request, org_slug):
        return self.list(request)

    @extend_schema(request={"multipart/form-data": s.AssetCreateSerializer}, responses={201: s.AssetSerializer})
    def post(self, request, org_slug):
        if not self.access().may_upload_somewhere:
            raise PermissionDenied(_("You may not add assets."))
        data = s.AssetCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        asset = services.asset_create(organization=self.organization, actor=request.user, **data.validated_data)
        asset = selectors.asset_with_details(self.visible()).get(pk=asset.pk)
        return Response(self.get_serializer(asset).data, status=status.HTTP_201_CREATED)


class AssetDetailView(AssetAPIView):
    serializer_class = s.AssetSerializer

    def get(self, request, org_slug, asset_id):
        return Response(self.get_serializer(self.get_asset()).data)

    @extend_schema(request=s.AssetWriteSerializer)
    def patch(self, request, org_slug, asset_id):
        asset = self.get_asset()
        self.require(asset.collection_id, "upload")
        data = s.AssetWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.asset_update(organization=self.organization, actor=request.user, asset=asset, **data.validated_data)
        return Response(self.get_serializer(self.get_asset()).data)

    def delete(self, request, org_slug, asset_id):
        asset = self.get_asset()
        self.require(asset.collection_id, "delete")
        services.asset_delete(organization=self.organization, actor=request.user, asset=asset)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AssetVersionsView(AssetAPIView, OrgListAPIView):
    serializer_class = s.AssetVersionSerializer
    pagination_class = VersionCursorPagination

    def get_queryset(self):
        return selectors.asset_versions(self.get_asset())

    def get(self, request, org_slug, asset_id):
        return self.list(request)

    @extend_schema(
        request={"multipart/form-data": s.AssetVersionCreateSerializer}, responses={201: s.AssetVersionSerializer}
    )
    def post(self, request, org_slug, asset_id):
        asset = self.get_asset()
        self.require(asset.collection_id, "upload")
        data = s.AssetVersionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.asset_version_add(
            organization=self.organization, actor=request.user, asset=asset, **data.validated_data
        )
        return Response(self.get_serializer(version).data, status=status.HTTP_201_CREATED)


class AssetUsagesView(AssetAPIView, OrgListAPIView):
    """Every reply and post that used the asset, with the version used."""

    serializer_class = s.AssetUsageSerializer
    pagination_class = UsageCursorPagination

    def get_queryset(self):
        return selectors.asset_usages(self.get_asset()).prefetch_related(None)

    def get(self, request, org_slug, asset_id):
        return self.list(request)


class AssetApproveView(AssetAPIView):
    serializer_class = s.AssetSerializer

    @extend_schema(request=None, responses={200: s.AssetSerializer})
    def post(self, request, org_slug, asset_id):
        asset = self.get_asset()
        self.require(asset.collection_id, "approve")
        services.asset_approve(organization=self.organization, actor=request.user, asset=asset)
        return Response(self.get_serializer(self.get_asset()).data)


class AssetArchiveView(AssetAPIView):
    serializer_class = s.AssetSerializer

    @extend_schema(request=None, responses={200: s.AssetSerializer})
    def post(self, request, org_slug, asset_id):
        asset = self.get_asset()
        self.require(asset.collection_id, "upload")
        services.asset_archive(organization=self.organization, actor=request.user, asset=asset)
        return Response(self.get_serializer(self.get_asset()).data)


class VersionAPIView(AssetAPIView):
    serializer_class = s.AssetVersionSerializer

    def get_version(self) -> AssetVersion:
        return get_object_or_404(
            AssetVersion.objects.filter(asset__in=self.visible()).select_related("asset"),
            pk=self.kwargs["version_id"],
        )


class AssetVersionDetailView(VersionAPIView):
    """One version's metadata (type by content, size, dimensions, duration, sha256) and text."""

    def get(self, request, org_slug, version_id):
        return Response(self.get_serializer(self.get_version()).data)


class AssetVersionRestoreView(VersionAPIView):
    @extend_schema(request=None, responses={201: s.AssetVersionSerializer})
    def post(self, request, org_slug, version_id):
        version = self.get_version()
        self.require(version.asset.collection_id, "upload")
        new = services.asset_version_restore(organization=self.organization, actor=request.user, version=version)
        return Response(self.get_serializer(new).data, status=status.HTTP_201_CREATED)
