"""Automation's models: rules and their log, outgoing webhook calls, automation settings and crisis alerts (rules),
SLA policies, business calendars and SLA events (sla), auto-responses (autoresponses). Their tables keep the
`tickets_` names they had before automation became its own app (automation/migrations/0001)."""

from automation.models.autoresponses import AutoResponse, AutoResponseKind, AutoResponseSent
from automation.models.rules import (
    AutomationSettings,
    CrisisAlert,
    Rule,
    RuleRun,
    RuleTrigger,
    WebhookCall,
    WebhookCallState,
)
from automation.models.sla import BusinessCalendar, BusinessClosure, SlaEvent, SlaEventKind, SlaPolicy
from tickets.models import SlaMetric

__all__ = [
    "AutoResponse",
    "AutoResponseKind",
    "AutoResponseSent",
    "AutomationSettings",
    "BusinessCalendar",
    "BusinessClosure",
    "CrisisAlert",
    "Rule",
    "RuleRun",
    "RuleTrigger",
    "SlaEvent",
    "SlaEventKind",
    "SlaMetric",
    "SlaPolicy",
    "WebhookCall",
    "WebhookCallState",
]
