"""Celery tasks of the rule engine: outgoing webhook calls, the time-based rules pass and the pruning of its log."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone
from django_scopes import scopes_disabled

from automation.models import Rule, RuleTrigger
from automation.rules import engine, webhooks  # the modules, not their names: they queue these tasks
from automation.rules.pruning import rule_runs_prune
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


@shared_task(name="automation.prune_rule_runs")
def prune_rule_runs() -> int:
    """Forget the rules' runs on tickets solved or closed longer than RULE_RUN_RETENTION_DAYS."""
    return rule_runs_prune(before=timezone.now() - timedelta(days=settings.RULE_RUN_RETENTION_DAYS))
