"""Reading automation: a ticket's "why" log (which rules acted on it and what each action did), the rule list with
descriptions, the rule templates on offer, and the webhook delivery log. Each reads in a constant number of queries."""

from dataclasses import dataclass
from datetime import datetime

from django.core.paginator import Page, Paginator

from accounts.models import Organization, Team
from automation.models import BusinessCalendar, Rule, RuleRun, RuleTrigger, WebhookCall
from automation.rules.catalogue import TEMPLATES, RuleTemplate, describe_template
from automation.rules.describe import ConditionGroup, Names, describe_action, describe_conditions
from tickets.models import CannedResponse, Ticket

WHY_LOG_LIMIT = 50
WEBHOOK_PAGE_SIZE = 50


@dataclass(frozen=True)
class ActionLine:
    text: str
    ok: bool


@dataclass(frozen=True)
class RunEntry:
    """One rule that acted on a ticket."""

    pk: int
    rule_id: int | None
    rule_name: str
    trigger: str
    trigger_label: str
    created_at: datetime
    actions: list[ActionLine]

    @property
    def failed(self) -> bool:
        return any(not line.ok for line in self.actions)


def rule_runs_for(ticket: Ticket, *, limit: int = WHY_LOG_LIMIT) -> list[RunEntry]:
    """The newest rule runs on the ticket (newest first), actions in words. Two queries at most plus one per kind
    of object the actions name (members, teams, SLA policies, canned responses), whatever the number of runs.
    Webhook URLs show their host only: agents read this log, and a URL can carry a token."""
    runs = list(
        RuleRun.objects.filter(ticket_id=ticket.pk)
        .only("pk", "rule_id", "rule_name", "trigger", "actions", "created_at")
        .order_by("-created_at", "-pk")[:limit]
    )
    if not runs:
        return []
    names = Names.load(_organization(ticket), [run.actions for run in runs])
    labels = dict(RuleTrigger.choices)
    return [
        RunEntry(
            pk=run.pk,
            rule_id=run.rule_id,
            rule_name=run.rule_name,
            trigger=run.trigger,
            trigger_label=str(labels.get(run.trigger, run.trigger)),
            created_at=run.created_at,
            actions=[
                ActionLine(
                    text=describe_action(result, names, full_urls=False),
                    ok=not (isinstance(result, dict) and result.get("ok") is False),
                )
                for result in (run.actions if isinstance(run.actions, list) else [])
            ],
        )
        for run in runs
    ]


def _organization(ticket: Ticket) -> Organization:
    # Not ticket.organization: that would be a query whenever the relation is not loaded yet; an id is enough.
    return Organization(pk=ticket.organization_id)


@dataclass(frozen=True)
class RuleRow:
    rule: Rule
    conditions: ConditionGroup
    actions: list[str]
    first: bool
    last: bool


@dataclass(frozen=True)
class TriggerGroup:
    trigger: str
    label: str
    rows: list[RuleRow]


def rules_by_trigger(organization: Organization) -> list[TriggerGroup]:
    """Every rule, grouped by trigger in the order they run, with conditions and actions in words."""
    rules = list(Rule.objects.order_by("trigger", "position", "pk"))
    names = Names.load(organization, [r.conditions for r in rules], [r.actions for r in rules])
    groups = []
    for value, label in RuleTrigger.choices:
        mine = [r for r in rules if r.trigger == value]
        groups.append(
            TriggerGroup(
                trigger=value,
                label=str(label),
                rows=[
                    RuleRow(
                        rule=rule,
                        conditions=describe_conditions(rule.conditions, names),
                        actions=[describe_action(a, names) for a in rule.actions],
                        first=i == 0,
                        last=i == len(mine) - 1,
                    )
                    for i, rule in enumerate(mine)
                ],
            )
        )
    return groups


def webhook_calls_page(organization: Organization, page_number) -> Page:
    """The delivery log, newest first, with every attempt (the count, one page and its attempts: three queries)."""
    calls = (
        WebhookCall.objects.select_related("rule", "ticket")
        .prefetch_related("attempt_log")
        .defer("payload", "rule__conditions", "rule__actions", "ticket__search_vector")
        .order_by("-created_at", "-pk")
    )
    return Paginator(calls, WEBHOOK_PAGE_SIZE).get_page(page_number)


# --- rule templates -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateCard:
    """A ready-made rule as the list offers it: in words, with what this organization still lacks to use it."""

    template: RuleTemplate
    conditions: ConditionGroup
    actions: list[str]
    missing: list[str]


def template_missing(template: RuleTemplate, available: dict[str, bool]) -> list[str]:
    """What the template needs that the organization has none of yet: "team", "response", "calendar"."""
    missing = [kind for kind in template.needs if not available.get(kind)]
    if template.uses_business_hours and not available.get("calendar"):
        missing.append("calendar")
    return missing


def template_setup_available(organization: Organization) -> dict[str, bool]:
    """Whether the organization has teams, shared canned responses and business hours (three queries)."""
    return {
        "team": Team.objects.filter(organization=organization).exists(),
        "response": CannedResponse.objects.filter(organization=organization, owner__isnull=True).exists(),
        "calendar": BusinessCalendar.objects.filter(organization=organization).exists(),
    }


def rule_template_cards(organization: Organization) -> list[TemplateCard]:
    available = template_setup_available(organization)
    cards = []
    for template in TEMPLATES:
        conditions, actions = describe_template(template)
        cards.append(
            TemplateCard(
                template=template,
                conditions=conditions,
                actions=actions,
                missing=template_missing(template, available),
            )
        )
    return cards
