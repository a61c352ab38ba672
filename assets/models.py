"""The asset library: brand media, pre-approved copy and reply templates, in collections with their own rights, kept
in versions, with a record of every reply and post that used one.

Rights: organization-wide capabilities (accounts.roles: `assets.manage` uploads, edits and deletes; `assets.approve`
approves) narrowed per collection by `CollectionGrant` rows (assets/permissions.py says how they combine).
"""

import os
import re
import uuid

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_scopes import ScopedManager

from assets.storage import asset_storage


def scoped():
    return ScopedManager(organization="organization")


def _random_name(prefix: str, instance, filename: str) -> str:
    """<prefix>/<organization id>/<random><extension>: nobody can guess a stored name or derive it from the uploaded
    file's name (kept on the version); files are served only by the permission-checked views."""
    extension = os.path.splitext(filename or "")[1].lower()
    if not re.fullmatch(r"\.[a-z0-9]{1,10}", extension):
        extension = ""
    return f"{prefix}/{instance.organization_id}/{uuid.uuid4().hex}{extension}"


def version_upload_to(instance: "AssetVersion", filename: str) -> str:
    return _random_name("assets", instance, filename)


def thumbnail_upload_to(instance: "AssetVersion", filename: str) -> str:
    return _random_name("assets/thumbs", instance, filename)


class Collection(models.Model):
    """A folder of assets. Collections nest (`parent`); rights are granted per collection (`CollectionGrant`) and a
    collection without grants of its own follows its parent's."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=120)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children", verbose_name=_("parent")
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = scoped()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "parent", "name"], name="assets_collection_name_unique", nulls_distinct=False
            )
        ]
        verbose_name = _("collection")
        verbose_name_plural = _("collections")

    def __str__(self) -> str:
        return self.name


class CollectionGrant(models.Model):
    """What one role (by key) or one team may do in a collection. A collection with grants is restricted: a member
    works there only through a grant of their role or one of their teams (organization admins excepted)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="grants")
    role_key = models.CharField(_("role"), max_length=32, blank=True, default="", db_default="")
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+", verbose_name=_("team")
    )
    can_use = models.BooleanField(_("use"), default=True, db_default=True)
    can_upload = models.BooleanField(_("upload"), default=False, db_default=False)
    can_approve = models.BooleanField(pgettext_lazy("a right on assets", "approve"), default=False, db_default=False)
    can_delete = models.BooleanField(_("delete"), default=False, db_default=False)

    objects = scoped()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(role_key="") & Q(team__isnull=False)) | (~Q(role_key="") & Q(team__isnull=True)),
                name="assets_grant_role_or_team",
            ),
            models.UniqueConstraint(
                fields=["collection", "role_key"], condition=~Q(role_key=""), name="assets_grant_role_unique"
            ),
            models.UniqueConstraint(
                fields=["collection", "team"], condition=Q(team__isnull=False), name="assets_grant_team_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.collection_id}:{self.role_key or self.team_id}"


class AssetKind(models.TextChoices):
    FILE = "file", _("File")
    SNIPPET = "snippet", _("Text snippet")
    TEMPLATE = "template", _("Reply template")


TEXT_KINDS = frozenset({AssetKind.SNIPPET, AssetKind.TEMPLATE})


class AssetStatus(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("an asset's status", "Draft")
    APPROVED = "approved", pgettext_lazy("an asset's status", "Approved")
    ARCHIVED = "archived", pgettext_lazy("an asset's status", "Archived")


class Asset(models.Model):
    """One item of the library: a file (image, video, document), a text snippet or a reply template. Its content
    lives in versions; `current_version` is what a picker offers. With `requires_approval`, only an approved current
    version may be used; after `expires_at` nothing of it may be used anew (existing uses stay listed)."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    kind = models.CharField(_("type"), max_length=10, choices=AssetKind.choices, default=AssetKind.FILE)
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True, default="", db_default="")
    tags = ArrayField(models.CharField(max_length=60), default=list, db_default=[], blank=True, verbose_name=_("tags"))
    collection = models.ForeignKey(
        Collection,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assets",
        verbose_name=_("collection"),
    )
    language = models.CharField(_("language"), max_length=8, blank=True, default="", db_default="")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        _("status"), max_length=10, choices=AssetStatus.choices, default=AssetStatus.DRAFT, db_default="draft"
    )
    requires_approval = models.BooleanField(_("requires approval before use"), default=False, db_default=False)
    license_note = models.TextField(_("license and usage rights"), blank=True, default="", db_default="")
    expires_at = models.DateTimeField(_("usable until"), null=True, blank=True)
    # When the owner was told that `expires_at` is near (assets.services.expiry); cleared when the date changes.
    expiry_notified_at = models.DateTimeField(null=True, blank=True, editable=False)
    current_version = models.ForeignKey(
        "AssetVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    search_vector = SearchVectorField(null=True, editable=False)

    objects = scoped()

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-updated_at"], name="assets_asset_org_updated"),
            GinIndex(fields=["search_vector"], name="assets_asset_search"),
            GinIndex(fields=["tags"], name="assets_asset_tags"),
        ]
        verbose_name = _("asset")
        verbose_name_plural = _("assets")

    def __str__(self) -> str:
        return self.title

    @property
    def is_text(self) -> bool:
        return self.kind in TEXT_KINDS

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())


class AssetVersion(models.Model):
    """One immutable state of an asset's content: a stored file with its metadata, or a text. Numbered 1, 2, … per
    asset; a restore adds a new version equal to an old one, so history only grows. `approved_at` marks the version an
    approver approved (a new version of an asset that requires approval is a draft until approved)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="versions", db_index=False)
    number = models.PositiveIntegerField()
    file = models.FileField(upload_to=version_upload_to, storage=asset_storage, blank=True, max_length=300)
    text = models.TextField(blank=True, default="", db_default="")
    filename = models.CharField(max_length=255, blank=True, default="", db_default="")
    mime_type = models.CharField(max_length=120, blank=True, default="", db_default="")
    size = models.PositiveBigIntegerField(default=0, db_default=0)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    thumbnail = models.FileField(upload_to=thumbnail_upload_to, storage=asset_storage, blank=True, max_length=300)
    sha256 = models.CharField(max_length=64, blank=True, default="", db_default="")
    note = models.CharField(_("version note"), max_length=300, blank=True, default="", db_default="")
    restored_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = scoped()

    class Meta:
        ordering = ["asset_id", "-number"]
        constraints = [models.UniqueConstraint(fields=["asset", "number"], name="assets_version_asset_number_unique")]

    def __str__(self) -> str:
        return f"{self.asset_id} v{self.number}"


class AssetUsage(models.Model):
    """One use of one exact version in a reply (tickets.Message) or a post version: listed on the asset, so when it
    expires or is withdrawn someone can act. An asset with uses is archived, never deleted."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="usages", db_index=False)
    version = models.ForeignKey(AssetVersion, on_delete=models.PROTECT, related_name="usages")
    target_type = models.ForeignKey("contenttypes.ContentType", on_delete=models.CASCADE, related_name="+")
    target_id = models.PositiveBigIntegerField()
    target = GenericForeignKey("target_type", "target_id")
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    used_at = models.DateTimeField(default=timezone.now)

    objects = scoped()

    class Meta:
        ordering = ["-used_at", "-id"]
        indexes = [
            models.Index(fields=["asset", "-used_at"], name="assets_usage_asset_time"),
            models.Index(fields=["target_type", "target_id"], name="assets_usage_target"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "target_type", "target_id"], name="assets_usage_version_target_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.version} → {self.target_type_id}:{self.target_id}"


class AssetLimits(models.Model):
    """Per-organization overrides of ASSETS_MAX_FILE_BYTES and ASSETS_QUOTA_BYTES (empty: the setting)."""

    organization = models.OneToOneField("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    max_file_bytes = models.PositiveBigIntegerField(_("largest file (bytes)"), null=True, blank=True)
    quota_bytes = models.PositiveBigIntegerField(_("storage quota (bytes)"), null=True, blank=True)

    objects = scoped()

    def __str__(self) -> str:
        return f"limits of {self.organization_id}"


class AssetUpload(models.Model):
    """A resumable (tus) upload in progress: the bytes so far live in MEDIA_ROOT/tus/<id> (never served). On the last
    byte it becomes an asset, or a new version of `asset`, through the services; abandoned ones expire (tasks)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    asset = models.ForeignKey(Asset, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    length = models.PositiveBigIntegerField()
    offset = models.PositiveBigIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    result_asset = models.ForeignKey(
        Asset, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    error = models.CharField(max_length=500, blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = scoped()

    class Meta:
        indexes = [models.Index(fields=["updated_at"], name="assets_upload_updated")]

    def __str__(self) -> str:
        return str(self.id)
