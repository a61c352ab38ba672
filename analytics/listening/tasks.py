"""Celery tasks of social listening: beat queues a poll per due connection (on the analytics queue); each poll
locks its connection's source row."""

from celery import shared_task

from analytics.listening import services
from core.task_base import TenantTask


@shared_task(name="listening.poll_due")
def poll_due() -> int:
    """Beat: queue a listening poll for every connection whose poll is due."""
    due = services.sources_due()
    for organization_id, connection_id in due:
        poll_connection.apply_async(
            kwargs={"organization_id": organization_id, "connection_id": connection_id}, queue="analytics"
        )
    return len(due)


@shared_task(base=TenantTask, name="listening.poll_connection", acks_late=True)
def poll_connection(*, organization, connection_id: int) -> int:
    return services.listening_poll(organization=organization, connection_id=connection_id)
