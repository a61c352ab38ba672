"""The Celery task base for tenant data. Tasks are queued with ids (`organization_id=...`), never instances; the
body receives the organization itself as `organization=` and runs inside its django-scopes scope."""

from celery import Task
from django_scopes import scope

from core.tenancy import organization_model


class TenantTask(Task):
    """Base for tasks on tenant data: queue with `organization_id=...`; the task function takes `organization`."""

    abstract = True
    # The function takes `organization`, its callers pass `organization_id`: Celery's argument check would refuse.
    typing = False

    def __call__(self, *args, **kwargs):
        organization_id = kwargs.pop("organization_id", None)
        if organization_id is None:
            raise TypeError(f"{self.name} must be called with organization_id=")
        organization = organization_model().objects.get(pk=organization_id)
        with scope(organization=organization):
            return super().__call__(*args, organization=organization, **kwargs)
