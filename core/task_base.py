"""The Celery task base for tenant data. Tasks are queued with ids (`organization_id=...`), never instances; the
body receives the organization itself as `organization=` and runs inside its django-scopes scope.

A database or Redis outage (core.retry.is_outage) does not fail the task: the organization is looked up again after
a short wait, and a task declared `resume_after_outage=True` (an idempotent body: the ingest) runs its body again,
in the same worker, until the outage ends. Broken database connections are dropped first, so the next try opens a
new one."""

import logging
import time

from celery import Task
from django.db import connections
from django_scopes import scope

from core.retry import is_outage, outage_delay
from core.tenancy import organization_model

logger = logging.getLogger("tsunagu.tasks")


class TenantTask(Task):
    """Base for tasks on tenant data: queue with `organization_id=...`; the task function takes `organization`."""

    abstract = True
    # The function takes `organization`, its callers pass `organization_id`: Celery's argument check would refuse.
    typing = False
    # Whether the body may simply run again after an outage met halfway (its writes are one transaction, or it
    # finds what it already did). Otherwise only the organization lookup, before the body, is tried again.
    resume_after_outage = False

    def __call__(self, *args, **kwargs):
        organization_id = kwargs.pop("organization_id", None)
        if organization_id is None:
            raise TypeError(f"{self.name} must be called with organization_id=")
        first_outage = None
        tries = 0
        while True:
            in_body = False
            try:
                organization = organization_model().objects.get(pk=organization_id)
                in_body = True
                with scope(organization=organization):
                    return super().__call__(*args, organization=organization, **kwargs)
            except Exception as exc:
                if not is_outage(exc) or (in_body and not self.resume_after_outage):
                    raise
                now = time.monotonic()
                first_outage = first_outage or now
                tries += 1
                delay = outage_delay(tries, waited=now - first_outage)
                if delay is None:
                    raise
                logger.warning("%s: %s: %s; trying again in %.2g s", self.name, type(exc).__name__, exc, delay)
                _drop_broken_connections()
                time.sleep(delay)


def _drop_broken_connections() -> None:
    """Close the database connections an error left unusable (the next query opens a new one), as Django does
    after a request. One inside a transaction is left alone: that transaction's owner (a test) handles it."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()
