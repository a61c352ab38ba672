"""API shapes of the asset library."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from assets.models import Asset, AssetKind, AssetUsage, AssetVersion, Collection


class AssetVersionSerializer(serializers.ModelSerializer):
    """One version with its metadata; `file_url`/`thumbnail_url` are the permission-checked routes (or null)."""

    file_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()

    class Meta:
        model = AssetVersion
        fields = [
            "id",
            "number",
            "filename",
            "mime_type",
            "size",
            "width",
            "height",
            "duration_seconds",
            "sha256",
            "text",
            "note",
            "restored_from",
            "approved_at",
            "created_by",
            "created_at",
            "file_url",
            "thumbnail_url",
        ]
        read_only_fields = fields

    def _url(self, name: str, version: AssetVersion) -> str:
        request = self.context["request"]
        return reverse(name, kwargs={"org_slug": request._request.organization.slug, "version_id": version.pk})

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_file_url(self, version: AssetVersion) -> str | None:
        return self._url("org:asset_file", version) if version.file else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_thumbnail_url(self, version: AssetVersion) -> str | None:
        return self._url("org:asset_thumbnail", version) if version.thumbnail else None


class AssetSerializer(serializers.ModelSerializer):
    current_version = AssetVersionSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Asset
        fields = [
            "id",
            "kind",
            "title",
            "description",
            "tags",
            "collection",
            "language",
            "owner",
            "status",
            "requires_approval",
            "license_note",
            "expires_at",
            "approved_by",
            "approved_at",
            "created_at",
            "updated_at",
            "current_version",
        ]
        read_only_fields = fields


@extend_schema_field(OpenApiTypes.INT)
class CollectionField(serializers.PrimaryKeyRelatedField):
    def get_queryset(self):
        return Collection.objects.all()  # scoped to the URL's organization by TenantMiddleware


class AssetWriteSerializer(serializers.Serializer):
    """Details of an asset (create and update)."""

    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField(max_length=60), required=False, max_length=30)
    collection = CollectionField(required=False, allow_null=True)
    language = serializers.CharField(max_length=8, required=False, allow_blank=True)
    requires_approval = serializers.BooleanField(required=False)
    license_note = serializers.CharField(required=False, allow_blank=True)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)

    def validate_expires_at(self, value):
        # Far past or future dates are typos (and a year like 780 would read back in a local mean time offset).
        if value is not None and not 2000 <= value.year <= 2999:
            raise serializers.ValidationError(_("Enter a date between the years 2000 and 2999."))
        return value


class AssetCreateSerializer(AssetWriteSerializer):
    """A new asset: multipart with `file` for a file asset, or `text` for a snippet or template."""

    kind = serializers.ChoiceField(choices=AssetKind.choices, default=AssetKind.FILE)
    file = serializers.FileField(required=False)
    text = serializers.CharField(required=False, allow_blank=True)
    note = serializers.CharField(max_length=300, required=False, allow_blank=True)


class AssetVersionCreateSerializer(serializers.Serializer):
    """A new version: multipart with `file` (file assets) or `text` (snippets and templates)."""

    file = serializers.FileField(required=False)
    text = serializers.CharField(required=False, allow_blank=True)
    note = serializers.CharField(max_length=300, required=False, allow_blank=True)


class AssetUsageSerializer(serializers.ModelSerializer):
    version_number = serializers.IntegerField(source="version.number", read_only=True)
    target_type = serializers.SerializerMethodField()

    class Meta:
        model = AssetUsage
        fields = ["id", "version", "version_number", "target_type", "target_id", "used_by", "used_at"]
        read_only_fields = fields

    def get_target_type(self, usage: AssetUsage) -> str:
        return usage.target_type.model_class()._meta.label_lower if usage.target_type.model_class() else ""
