"""The Celery application. Tasks take ids, never model instances; `TenantTask` activates the organization's scope
from the `organization_id` keyword before the task body runs."""

import os

from celery import Celery, Task
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("tsunagu")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in ("inbound", "outbound", "default", "analytics")]
app.autodiscover_tasks()


class TenantTask(Task):
    """Base for tasks on tenant data: call with `organization_id=...`; the body runs inside that scope."""

    abstract = True

    def __call__(self, *args, **kwargs):
        from accounts.tenancy import organization_scope

        organization_id = kwargs.get("organization_id")
        if organization_id is None:
            raise TypeError(f"{self.name} must be called with organization_id=")
        with organization_scope(organization_id):
            return super().__call__(*args, **kwargs)
