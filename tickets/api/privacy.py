"""Privacy API (GDPR, Japan's APPI): export a contact's data, download the export, erase a contact, read and set
the retention policy with its dry-run count. The same services and rules as the pages (tickets.privacy_views):
exporting needs `data.export` and a contact the member can see; erasing and retention need `org.manage`.

- `POST contacts/<id>/export/` → 202 and the export (`status` pending, then ready; built by a task).
- `GET privacy/exports/<id>/` → the export's status; `download_url` once it is ready (the requester's only).
- `GET privacy/exports/<id>/download/` → the zip, once (`contact.json` + `attachments/`); a second try is 400.
- `POST contacts/<id>/erase/` with `{"confirmation": "<the contact's id>"}` → 200 and counts of what was erased.
- `GET privacy/retention/` → the policy and `dry_run_count`; `PUT` sets `enabled`, `days`, `action`."""

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from accounts.roles import Capability
from core.api.views import OrgAPIView
from core.files import serve_file
from tickets.models import ContactExport, RetentionAction
from tickets.services import privacy


class ExportSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = ContactExport
        fields = ["id", "contact", "status", "size", "error", "created_at", "ready_at", "expires_at", "download_url"]

    def get_download_url(self, export) -> str | None:
        if export.status != "ready":
            return None
        return reverse(
            "api:privacy-export-download", args=[self.context["request"]._request.organization.slug, export.pk]
        )


class EraseSerializer(serializers.Serializer):
    confirmation = serializers.CharField(help_text="The contact's id, typed again: erasing cannot be undone.")


class EraseResultSerializer(serializers.Serializer):
    contacts = serializers.IntegerField()
    identities = serializers.IntegerField()
    tickets = serializers.IntegerField()
    messages = serializers.IntegerField()
    attachments = serializers.IntegerField()
    inbound_events = serializers.IntegerField()
    exports = serializers.IntegerField()


class RetentionSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    days = serializers.IntegerField(min_value=1, max_value=36500)
    action = serializers.ChoiceField(choices=RetentionAction.choices)
    last_run_at = serializers.DateTimeField(read_only=True, allow_null=True)  # null until the first run
    last_run_count = serializers.IntegerField(read_only=True)
    dry_run_count = serializers.SerializerMethodField()

    def get_dry_run_count(self, policy) -> int:
        return privacy.retention_dry_run(policy=policy)


class ContactExportView(OrgAPIView):
    serializer_class = ExportSerializer
    required_capabilities = {"POST": Capability.DATA_EXPORT}

    @extend_schema(request=None, responses={202: ExportSerializer})
    def post(self, request, org_slug, contact_id):
        contact = get_object_or_404(privacy.privacy_contacts(self.membership), pk=contact_id)
        export = privacy.contact_export_request(**self.actor_kwargs(), contact=contact)
        export.refresh_from_db()
        return Response(self.get_serializer(export).data, status=status.HTTP_202_ACCEPTED)


class ExportDetailView(OrgAPIView):
    serializer_class = ExportSerializer
    required_capabilities = {"GET": Capability.DATA_EXPORT}

    def get(self, request, org_slug, export_id):
        export = get_object_or_404(ContactExport.objects.all(), pk=export_id, requested_by=request.user)
        return Response(self.get_serializer(export).data)


class ExportDownloadView(OrgAPIView):
    required_capabilities = {"GET": Capability.DATA_EXPORT}

    @extend_schema(responses={(200, "application/zip"): bytes})
    def get(self, request, org_slug, export_id):
        export = get_object_or_404(ContactExport.objects.all(), pk=export_id, requested_by=request.user)
        export = privacy.contact_export_take(**self.actor_kwargs(), export=export)
        return serve_file(
            request._request,
            export.file,
            filename=f"contact-{export.contact_id}-{export.ready_at:%Y%m%d}.zip",
            content_type="application/zip",
        )


class ContactEraseView(OrgAPIView):
    serializer_class = EraseSerializer
    required_capabilities = {"POST": Capability.ORG_MANAGE}

    @extend_schema(request=EraseSerializer, responses={200: EraseResultSerializer})
    def post(self, request, org_slug, contact_id):
        contact = get_object_or_404(privacy.privacy_contacts(self.membership), pk=contact_id)
        data = EraseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        counts = privacy.contact_erase(
            **self.actor_kwargs(), contact=contact, confirmation=data.validated_data["confirmation"]
        )
        return Response(EraseResultSerializer(counts).data)


class RetentionView(OrgAPIView):
    serializer_class = RetentionSerializer
    required_capabilities = {"GET": Capability.ORG_MANAGE, "PUT": Capability.ORG_MANAGE}

    def get(self, request, org_slug):
        return Response(self.get_serializer(privacy.retention_policy(self.organization)).data)

    @extend_schema(request=RetentionSerializer)
    def put(self, request, org_slug):
        data = RetentionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        policy = privacy.retention_policy_update(**self.actor_kwargs(), **data.validated_data)
        return Response(self.get_serializer(policy).data)
