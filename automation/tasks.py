"""Automation's Celery tasks, kept next to the code they run (routing, rules, SLA): Celery's autodiscovery imports
only this module."""

from automation.routing.tasks import drain_queues_everywhere, drain_team_queue
from automation.rules.tasks import (
    deliver_webhook,
    prune_rule_runs,
    run_scheduled_rules,
    run_scheduled_rules_everywhere,
)
from automation.sla.tasks import sla_scan, sla_scan_everywhere

__all__ = [
    "deliver_webhook",
    "drain_queues_everywhere",
    "drain_team_queue",
    "prune_rule_runs",
    "run_scheduled_rules",
    "run_scheduled_rules_everywhere",
    "sla_scan",
    "sla_scan_everywhere",
]
