"""Writes of the reports app: the audit entry of an export; scheduled reports (saved, deleted, run)."""

from django.db import transaction

from accounts.audit import audit_record
from accounts.models import AuditAction
from analytics.reports.exports import ExportFile


def export_record(*, organization, actor, export: ExportFile, file_format: str, request=None) -> None:
    """Audit one export: who took which page's data, for which range and filters, in which format."""
    context = export.context
    with transaction.atomic():
        audit_record(
            organization=organization,
            actor=actor,
            action=AuditAction.REPORT_EXPORTED,
            changes={
                "page": context.page_key,
                "format": file_format,
                "from": context.first_day.isoformat(),
                "to": context.last_day.isoformat(),
                "filters": dict(context.filters),
            },
            request=request,
        )
