"""Celery tasks of the rule engine: outgoing webhook calls and the time-based rules pass."""

from celery import shared_task
from django_scopes import scopes_disabled

from core.task_base import TenantTask


@shared_task(base=TenantTask, name="tickets.deliver_webhook", acks_late=True)
def deliver_webhook(*, organization, call_id: int) -> str:
    from tickets.rules.webhooks import webhook_deliver

    retry_in = webhook_deliver(organization=organization, call_id=call_id)
    if retry_in is not None:
        deliver_webhook.apply_async(kwargs={"organization_id": organization.pk, "call_id": call_id}, countdown=retry_in)
        return "retrying"
    return "done"


@shared_task(name="tickets.run_scheduled_rules_everywhere")
def run_scheduled_rules_everywhere() -> int:
    """Beat (every minute): one task per organization that has enabled time-based rules."""
    from tickets.models import Rule, RuleTrigger

    with scopes_disabled():
        organization_ids = list(
            Rule.objects.filter(trigger=RuleTrigger.SCHEDULED, enabled=True)
            .values_list("organization_id", flat=True)
            .distinct()
        )
    for organization_id in organization_ids:
        run_scheduled_rules.delay(organization_id=organization_id)
    return len(organization_ids)


@shared_task(base=TenantTask, name="tickets.run_scheduled_rules", acks_late=True)
def run_scheduled_rules(*, organization) -> int:
    from tickets.rules.engine import run_scheduled_rules as run

    return run(organization=organization)
