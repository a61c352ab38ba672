"""Privacy tasks: building a contact's export, the nightly retention run, and removing taken or expired export
files (tickets.services.privacy). Beat entries in config/settings.py."""

from celery import shared_task
from django_scopes import scopes_disabled

from accounts.models import Organization
from core.task_base import TenantTask
from tickets.models import ContactExport, ExportStatus, RetentionPolicy
from tickets.services import privacy


@shared_task(base=TenantTask, name="tickets.privacy_export_build", acks_late=True)
def privacy_export_build(*, organization, export_id: int) -> str:
    export = privacy.contact_export_build(organization=organization, export_id=export_id)
    return export.status if export is not None else "gone"


@shared_task(name="tickets.retention_everywhere")
def retention_everywhere() -> int:
    """Nightly: one retention run per organization with an enabled policy."""
    with scopes_disabled():
        organization_ids = list(RetentionPolicy.objects.filter(enabled=True).values_list("organization_id", flat=True))
    for organization_id in organization_ids:
        retention_run.delay(organization_id=organization_id)
    return len(organization_ids)


@shared_task(base=TenantTask, name="tickets.retention_run", acks_late=True)
def retention_run(*, organization: Organization) -> int:
    return privacy.retention_apply(organization=organization)


@shared_task(name="tickets.privacy_exports_sweep_everywhere")
def privacy_exports_sweep_everywhere() -> int:
    """Hourly: organizations with an export file to remove (downloaded, expired or failed)."""
    with scopes_disabled():
        organization_ids = list(
            ContactExport.objects.exclude(file="")
            .exclude(status=ExportStatus.PENDING)
            .values_list("organization_id", flat=True)
            .distinct()
        )
    for organization_id in organization_ids:
        privacy_exports_sweep.delay(organization_id=organization_id)
    return len(organization_ids)


@shared_task(base=TenantTask, name="tickets.privacy_exports_sweep", acks_late=True)
def privacy_exports_sweep(*, organization: Organization) -> int:
    return privacy.contact_exports_sweep(organization=organization)
