"""Celery tasks of the rule engine: outgoing webhook calls and the time-based rules pass."""

from celery import shared_task
from django_scopes import scopes_disabled

from automation.models import Rule, RuleTrigger
from automation.rules import engine, webhooks  # the modules, not their names: they queue these tasks
from core.retry import retry_later
from core.task_base import TenantTask


# resume_after_outage: after an outage the call is made again rather than left pending for ever; receivers tell a
# repeated call by its X-Tsunagu-Delivery id.
@shared_task(base=TenantTask, name="automation.deliver_webhook", acks_late=True, resume_after_outage=True)
def deliver_webhook(*, organization, call_id: int) -> str:
    retry_in = webhooks.webhook_deliver(organization=organization, call_id=call_id)
    if retry_in is not None:
        retry_later(deliver_webhook, kwargs={"organization_id": organization.pk, "call_id": call_id}, delay=retry_in)
        return "retrying"
    return "done"


@shared_task(name="automation.run_scheduled_rules_everywhere")
def run_scheduled_rules_everywhere() -> int:
    """Beat (every minute): one task per organization that has enabled time-based rules."""

    with scopes_disabled():
        organization_ids = list(
            Rule.objects.filter(trigger=RuleTrigger.SCHEDULED, enabled=True)
            .values_list("organization_id", flat=True)
            .distinct()
        )
    for organization_id in organization_ids:
        run_scheduled_rules.delay(organization_id=organization_id)
    return len(organization_ids)


@shared_task(base=TenantTask, name="automation.run_scheduled_rules", acks_late=True)
def run_scheduled_rules(*, organization) -> int:
    return engine.run_scheduled_rules(organization=organization)
