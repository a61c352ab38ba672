"""Writing automation: rules (create, change, delete, order, switch on and off), the organization's automation
settings and the per-channel auto-responses. Every write validates first, runs in one transaction and leaves an
audit entry with what changed.

The engine notices changes by (rule count, latest `updated_at`), so every write that changes what runs or in which
order touches `updated_at` (see automation.rules.engine.ruleset)."""

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import audit_record
from accounts.models import AuditAction, Organization
from automation.models import AutomationSettings, AutoResponse, AutoResponseKind, BusinessCalendar, Rule, RuleTrigger
from automation.rules.schema import References, RuleInvalid, validate_rule
from channels_integrations.models import ChannelConnection
from core.errors import Conflict, DomainError
from tickets.models import CannedResponse

NAME_MAX = Rule._meta.get_field("name").max_length
DESCRIPTION_MAX = Rule._meta.get_field("description").max_length
CRISIS_THRESHOLD_MAX = 10_000
CRISIS_WINDOW_MAX = 24 * 60
WINDOW_HOURS_MAX = 24 * 30

RULE_FIELDS = ("name", "description", "trigger", "conditions", "actions", "enabled", "stop_processing")


def _clean_rule(
    *, organization: Organization, name, description, trigger, conditions, actions
) -> tuple[str, str, dict, list]:
    """Name, description and the validated (normalized) conditions and actions; every error at once."""
    errors: dict[str, str] = {}
    name = name.strip() if isinstance(name, str) else ""
    description = description.strip() if isinstance(description, str) else ""
    if not name:
        errors["name"] = _("Give the rule a name.")
    elif len(name) > NAME_MAX:
        errors["name"] = _("Use at most %(n)d characters.") % {"n": NAME_MAX}
    if len(description) > DESCRIPTION_MAX:
        errors["description"] = _("Use at most %(n)d characters.") % {"n": DESCRIPTION_MAX}
    try:
        conditions, actions = validate_rule(
            trigger=trigger, conditions=conditions, actions=actions, refs=References.of(organization)
        )
    except RuleInvalid as exc:
        errors.update(exc.errors)
    if errors:
        raise RuleInvalid(errors)
    return name, description, conditions, actions


def _snapshot(rule: Rule) -> dict:
    return {field: getattr(rule, field) for field in RULE_FIELDS} | {"position": rule.position}


def _locked(organization: Organization, rule: Rule) -> Rule:
    """The rule re-read under a row lock, from this organization only (a foreign rule is DoesNotExist → 404)."""
    return Rule.objects.select_for_update().get(pk=rule.pk, organization=organization)


def _next_position(trigger: str) -> int:
    last = Rule.objects.filter(trigger=trigger).aggregate(last=Max("position"))["last"]
    return 0 if last is None else last + 1


@transaction.atomic
def rule_create(
    *,
    organization: Organization,
    actor,
    name: str,
    description: str = "",
    trigger: str,
    conditions,
    actions,
    enabled: bool = True,
    stop_processing: bool = False,
    request=None,
) -> Rule:
    """A new rule, last of its trigger. Raises RuleInvalid with every problem (paths as in automation.rules.schema)."""
    name, description, conditions, actions = _clean_rule(
        organization=organization,
        name=name,
        description=description,
        trigger=trigger,
        conditions=conditions,
        actions=actions,
    )
    rule = Rule.objects.create(
        organization=organization,
        name=name,
        description=description,
        trigger=trigger,
        conditions=conditions,
        actions=actions,
        enabled=bool(enabled),
        stop_processing=bool(stop_processing),
        position=_next_position(trigger),
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.RULE_CREATED,
        obj=rule,
        changes=_snapshot(rule),
        request=request,
    )
    return rule


@transaction.atomic
def rule_update(
    *,
    organization: Organization,
    actor,
    rule: Rule,
    name: str,
    description: str = "",
    trigger: str,
    conditions,
    actions,
    enabled: bool = True,
    stop_processing: bool = False,
    request=None,
) -> Rule:
    """Change a rule. Moving it to another trigger puts it last there. The audit entry holds {field: [old, new]}."""
    name, description, conditions, actions = _clean_rule(
        organization=organization,
        name=name,
        description=description,
        trigger=trigger,
        conditions=conditions,
        actions=actions,
    )
    rule = _locked(organization, rule)
    before = _snapshot(rule)
    if trigger != rule.trigger:
        rule.position = _next_position(trigger)
    rule.name, rule.description, rule.trigger = name, description, trigger
    rule.conditions, rule.actions = conditions, actions
    rule.enabled, rule.stop_processing = bool(enabled), bool(stop_processing)
    after = _snapshot(rule)
    changes = {key: [before[key], after[key]] for key in after if before[key] != after[key]}
    if changes:
        rule.save()
        audit_record(
            organization=organization,
            actor=actor,
            action=AuditAction.RULE_UPDATED,
            obj=rule,
            changes=changes,
            request=request,
        )
    return rule


@transaction.atomic
def rule_set_enabled(*, organization: Organization, actor, rule: Rule, enabled: bool, request=None) -> Rule:
    """Switch a rule on or off. Switching on checks the rule again: what it points at may have been deleted since."""
    rule = _locked(organization, rule)
    enabled = bool(enabled)
    if rule.enabled == enabled:
        return rule
    if enabled:
        _clean_rule(
            organization=organization,
            name=rule.name,
            description=rule.description,
            trigger=rule.trigger,
            conditions=rule.conditions,
            actions=rule.actions,
        )
    rule.enabled = enabled
    rule.save(update_fields=["enabled", "updated_at"])
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.RULE_UPDATED,
        obj=rule,
        changes={"enabled": [not enabled, enabled]},
        request=request,
    )
    return rule


@transaction.atomic
def rule_delete(*, organization: Organization, actor, rule: Rule, request=None) -> None:
    """Delete a rule. Its runs on tickets and its webhook calls stay (they keep the rule's name)."""
    rule = _locked(organization, rule)
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.RULE_DELETED,
        obj=rule,
        changes=_snapshot(rule),
        request=request,
    )
    rule.delete()


@transaction.atomic
def rules_reorder(*, organization: Organization, actor, trigger: str, ids: list[int], request=None) -> list[Rule]:
    """Put the rules of one trigger in the given order. `ids` must be exactly that trigger's rules: a list made from
    a stale page (a rule added or deleted meanwhile) is refused rather than guessed at."""
    if trigger not in RuleTrigger.values:
        raise DomainError(_("Choose when the rules run."), field="trigger")
    rules = {r.pk: r for r in Rule.objects.select_for_update().filter(trigger=trigger).order_by("position", "pk")}
    try:
        wanted = [int(i) for i in ids]
    except (TypeError, ValueError) as exc:
        raise DomainError(_("The order of the rules is not valid."), field="ids") from exc
    if len(wanted) != len(set(wanted)) or set(wanted) != set(rules):
        raise Conflict(_("The rules changed in the meantime; reload the page and try again."), field="ids")
    before = list(rules)
    if before == wanted:
        return [rules[pk] for pk in wanted]
    now = timezone.now()
    ordered = []
    for position, pk in enumerate(wanted):
        rule = rules[pk]
        rule.position = position
        rule.updated_at = now  # the engine's cached rule set is keyed on the latest updated_at
        ordered.append(rule)
    Rule.objects.bulk_update(ordered, ["position", "updated_at"])
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.RULES_REORDERED,
        changes={"trigger": trigger, "order": [before, wanted]},
        request=request,
    )
    return ordered


def rule_move(*, organization: Organization, actor, rule: Rule, offset: int, request=None) -> list[Rule]:
    """Move a rule up (offset -1) or down (+1) among its trigger's rules (the list page's buttons)."""
    with transaction.atomic():
        ids = list(
            Rule.objects.select_for_update()
            .filter(trigger=rule.trigger)
            .order_by("position", "pk")
            .values_list("pk", flat=True)
        )
        if rule.pk not in ids:
            raise Rule.DoesNotExist
        index = ids.index(rule.pk)
        target = max(0, min(len(ids) - 1, index + offset))
        ids.insert(target, ids.pop(index))
        return rules_reorder(organization=organization, actor=actor, trigger=rule.trigger, ids=ids, request=request)


# --- automation settings -----------------------------------------------------------------------------------------


@transaction.atomic
def automation_settings_update(
    *, organization: Organization, actor, crisis_threshold: int, crisis_window_minutes: int, request=None
) -> AutomationSettings:
    """The crisis alert: `crisis_threshold` negative messages on one channel within `crisis_window_minutes`."""
    if isinstance(crisis_threshold, bool) or not isinstance(crisis_threshold, int):
        raise DomainError(_("Give a whole number."), field="crisis_threshold")
    if not 1 <= crisis_threshold <= CRISIS_THRESHOLD_MAX:
        raise DomainError(
            _("Give a number between 1 and %(n)d.") % {"n": CRISIS_THRESHOLD_MAX}, field="crisis_threshold"
        )
    if isinstance(crisis_window_minutes, bool) or not isinstance(crisis_window_minutes, int):
        raise DomainError(_("Give a whole number."), field="crisis_window_minutes")
    if not 1 <= crisis_window_minutes <= CRISIS_WINDOW_MAX:
        raise DomainError(
            _("Give a number of minutes between 1 and %(n)d.") % {"n": CRISIS_WINDOW_MAX},
            field="crisis_window_minutes",
        )
    AutomationSettings.objects.get_or_create(organization=organization)
    row = AutomationSettings.objects.select_for_update().get(organization=organization)
    changes = {
        key: [getattr(row, key), value]
        for key, value in (("crisis_threshold", crisis_threshold), ("crisis_window_minutes", crisis_window_minutes))
        if getattr(row, key) != value
    }
    if changes:
        row.crisis_threshold, row.crisis_window_minutes = crisis_threshold, crisis_window_minutes
        row.save(update_fields=["crisis_threshold", "crisis_window_minutes"])
        audit_record(
            organization=organization,
            actor=actor,
            action=AuditAction.AUTOMATION_SETTINGS_CHANGED,
            changes=changes,
            request=request,
        )
    return row


# --- auto-responses -----------------------------------------------------------------------------------------------


def _auto_response_state(row: AutoResponse | None) -> dict:
    if row is None:
        return {"response": None, "calendar": None, "window_hours": None, "enabled": False}
    return {
        "response": row.response_id,
        "calendar": row.calendar_id,
        "window_hours": row.window_hours,
        "enabled": row.enabled,
    }


@transaction.atomic
def auto_response_save(
    *,
    organization: Organization,
    actor,
    connection: ChannelConnection,
    kind: str,
    response: CannedResponse | None,
    calendar: BusinessCalendar | None = None,
    window_hours: int = 24,
    enabled: bool = True,
    request=None,
) -> AutoResponse | None:
    """Set one channel's out-of-hours or first-contact reply. Without a canned response the setting is removed
    (returns None). The calendar only matters out of hours; empty means the default calendar."""
    if connection.organization_id != organization.pk:
        raise ChannelConnection.DoesNotExist
    if kind not in AutoResponseKind.values:
        raise DomainError(_("Choose the kind of automatic reply."), field="kind")
    if response is not None and (response.organization_id != organization.pk or response.owner_id is not None):
        raise DomainError(_("Choose a shared canned response."), field="response")
    if calendar is not None and calendar.organization_id != organization.pk:
        raise DomainError(_("Choose business hours of this organization."), field="calendar")
    if response is None and enabled:
        raise DomainError(_("Choose the canned response to send."), field="response")
    if isinstance(window_hours, bool) or not isinstance(window_hours, int) or not 1 <= window_hours <= WINDOW_HOURS_MAX:
        raise DomainError(
            _("Give a number of hours between 1 and %(n)d.") % {"n": WINDOW_HOURS_MAX}, field="window_hours"
        )
    if kind != AutoResponseKind.OUT_OF_HOURS:
        calendar = None
    row = AutoResponse.objects.select_for_update().filter(connection=connection, kind=kind).first()
    before = _auto_response_state(row)
    if response is None:
        if row is None:
            return None
        row.delete()
        after = _auto_response_state(None)
        saved = None
    else:
        if row is None:
            row = AutoResponse(organization=organization, connection=connection, kind=kind)
        row.response, row.calendar, row.window_hours, row.enabled = response, calendar, window_hours, bool(enabled)
        after = _auto_response_state(row)
        if after == before:
            return row
        row.save()
        saved = row
    changes = {key: [before[key], after[key]] for key in after if before[key] != after[key]}
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.AUTO_RESPONSE_CHANGED,
        obj=connection,
        changes={"kind": kind, **changes},
        request=request,
    )
    return saved
