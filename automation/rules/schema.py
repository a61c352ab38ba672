"""What a rule may say: the condition fields with their operators, the actions with their parameters, and the
validation that turns a bad rule into field errors (never a 500).

A rule's conditions are a tree of groups and conditions, stored as JSON:

    {"all": [                                          # every item must hold ("any": at least one)
        {"field": "message.text", "op": "contains_any", "value": ["返金", "refund"]},
        {"any": [
            {"field": "contact.vip", "op": "is", "value": true},
            {"field": "contact.attribute", "key": "plan", "op": "eq", "value": "gold"}
        ]}
    ]}

An empty "all" holds, an empty "any" does not. Actions are a list: [{"type": "set_priority", "priority": "high"}, …].
"""

from dataclasses import dataclass

import re2
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Membership, Organization, Team
from automation.models import RuleTrigger, SlaPolicy
from automation.rules.url_check import url_problem
from channels_integrations.models import ChannelConnection
from channels_integrations.registry import platform_choices
from tickets.models import CannedResponse, MessageKind, Priority, Sentiment, TicketStatus

MAX_DEPTH = 5
MAX_CONDITIONS = 100
MAX_ACTIONS = 20
MAX_KEYWORDS = 200
MAX_PATTERN = 500
MAX_MINUTES = 60 * 24 * 365

# The ticket fields whose change a "ticket updated" rule can ask about.
CHANGEABLE = ("status", "priority", "assignee", "team", "tags")
# The verdicts of inbound email sender authentication (channels_integrations/providers/email/authentication.py).
EMAIL_AUTHENTICATION = ("pass", "fail", "none")
LANGUAGES = ("ja", "en", "zh", "ko", "es", "fr", "de", "pt", "it", "th", "vi", "id")


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    kind: str  # "set" (one value among choices), "tags" (a set of strings), "text", "bool", "minutes", "attribute",
    #            "ref" (an id of the organization's objects, or none), "hours" (inside/outside business hours)
    ops: tuple[str, ...]
    choices: tuple[str, ...] = ()  # fixed values, when the field has them


SET_OPS = ("in", "not_in")
TAG_OPS = ("contains_any", "contains_all", "contains_none")
TEXT_OPS = ("contains_any", "contains_all", "contains_none", "matches", "not_matches")
MINUTE_OPS = ("gt", "lt")
REF_OPS = ("in", "not_in", "is_set", "is_not_set")
ATTRIBUTE_OPS = ("eq", "ne", "contains", "exists", "not_exists")

FIELDS: dict[str, Field] = {
    f.key: f
    for f in [
        Field("channel", gettext_lazy("Channel"), "ref", ("in", "not_in")),
        Field("platform", gettext_lazy("Platform"), "set", SET_OPS, tuple(p for p, _label in platform_choices())),
        Field(
            "message.kind",
            gettext_lazy("Message kind"),
            "set",
            SET_OPS,
            tuple(k for k in MessageKind.values if k != MessageKind.NOTE),
        ),
        Field("message.text", gettext_lazy("Message text"), "text", TEXT_OPS),
        Field("message.language", gettext_lazy("Message language"), "set", SET_OPS, LANGUAGES),
        Field("message.sentiment", gettext_lazy("Message sentiment"), "set", SET_OPS, tuple(Sentiment.values)),
        Field("ticket.sentiment", gettext_lazy("Ticket sentiment"), "set", SET_OPS, tuple(Sentiment.values)),
        Field(
            "message.email_authentication",
            gettext_lazy("Email sender verification"),
            "set",
            SET_OPS,
            EMAIL_AUTHENTICATION,
        ),
        Field("contact.tags", gettext_lazy("Contact tags"), "tags", TAG_OPS),
        Field("contact.vip", gettext_lazy("Contact is VIP"), "bool", ("is",)),
        Field("contact.attribute", gettext_lazy("Contact attribute"), "attribute", ATTRIBUTE_OPS),
        Field("contact.first_contact", gettext_lazy("First contact (no earlier ticket)"), "bool", ("is",)),
        Field("ticket.status", gettext_lazy("Status"), "set", SET_OPS, tuple(TicketStatus.values)),
        Field("ticket.priority", gettext_lazy("Priority"), "set", SET_OPS, tuple(Priority.values)),
        Field("ticket.tags", gettext_lazy("Ticket tags"), "tags", TAG_OPS),
        Field("ticket.assignee", gettext_lazy("Assignee"), "ref", REF_OPS),
        Field("ticket.team", gettext_lazy("Team"), "ref", REF_OPS),
        Field("ticket.changed", gettext_lazy("Changed fields"), "tags", ("contains_any", "contains_none")),
        Field("business_hours", gettext_lazy("Business hours"), "hours", ("inside", "outside")),
        Field(
            "ticket.minutes_since_created", gettext_lazy("Minutes since the ticket was created"), "minutes", MINUTE_OPS
        ),
        Field(
            "ticket.minutes_since_activity",
            gettext_lazy("Minutes since the last message"),
            "minutes",
            MINUTE_OPS,
        ),
        Field(
            "ticket.minutes_since_customer",
            gettext_lazy("Minutes since the customer's last message"),
            "minutes",
            MINUTE_OPS,
        ),
        Field(
            "ticket.minutes_in_status",
            gettext_lazy("Minutes in the current status"),
            "minutes",
            MINUTE_OPS,
        ),
    ]
}

OP_LABELS = {
    "in": gettext_lazy("is one of"),
    "not_in": gettext_lazy("is none of"),
    "contains_any": gettext_lazy("contains any of"),
    "contains_all": gettext_lazy("contains all of"),
    "contains_none": gettext_lazy("contains none of"),
    "matches": gettext_lazy("matches the pattern"),
    "not_matches": gettext_lazy("does not match the pattern"),
    "gt": gettext_lazy("more than"),
    "lt": gettext_lazy("less than"),
    "is": gettext_lazy("is"),
    "is_set": gettext_lazy("is set"),
    "is_not_set": gettext_lazy("is not set"),
    "eq": gettext_lazy("equals"),
    "ne": gettext_lazy("does not equal"),
    "contains": gettext_lazy("contains"),
    "exists": gettext_lazy("exists"),
    "not_exists": gettext_lazy("does not exist"),
    "inside": gettext_lazy("inside business hours"),
    "outside": gettext_lazy("outside business hours"),
}

# Which ref fields point at which objects (validated against the organization's own rows).
REF_TARGETS = {"channel": "connection", "ticket.assignee": "member", "ticket.team": "team"}
VALUELESS_OPS = {"is_set", "is_not_set", "exists", "not_exists", "inside", "outside"}

ACTIONS: dict[str, str] = {
    "assign_agent": gettext_lazy("Assign to an agent"),
    "assign_team": gettext_lazy("Route to a team (its assignment strategy picks the agent)"),
    "set_priority": gettext_lazy("Set priority"),
    "set_status": gettext_lazy("Set status"),
    "add_tags": gettext_lazy("Add tags"),
    "remove_tags": gettext_lazy("Remove tags"),
    "apply_sla": gettext_lazy("Apply an SLA policy"),
    "auto_reply": gettext_lazy("Send an automatic reply"),
    "add_note": gettext_lazy("Add a private note"),
    "notify": gettext_lazy("Notify members or a team"),
    "escalate": gettext_lazy("Escalate (team and priority)"),
    "mark_spam": gettext_lazy("Mark as spam and close"),
    "webhook": gettext_lazy("Call an external URL"),
    "skip_survey": gettext_lazy("Skip the satisfaction survey"),
}

# Rules fired by events without a customer message cannot look at the message.
MESSAGE_TRIGGERS = {RuleTrigger.TICKET_CREATED, RuleTrigger.MESSAGE_RECEIVED}


class RuleInvalid(Exception):
    """The rule cannot be saved; `errors` maps a path ("conditions.all.1.value", "actions.0.team") to a message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class References:
    """The ids a rule may refer to in one organization (loaded once per validation)."""

    connections: frozenset[int]
    members: frozenset[int]
    teams: frozenset[int]
    policies: frozenset[int]
    responses: frozenset[int]

    @classmethod
    def of(cls, organization: Organization) -> "References":
        return cls(
            connections=frozenset(ChannelConnection.objects.values_list("pk", flat=True)),
            members=frozenset(Membership.objects.values_list("user_id", flat=True)),
            teams=frozenset(Team.objects.values_list("pk", flat=True)),
            policies=frozenset(SlaPolicy.objects.values_list("pk", flat=True)),
            responses=frozenset(CannedResponse.objects.filter(owner__isnull=True).values_list("pk", flat=True)),
        )


def compile_pattern(pattern: str):
    """RE2 runs in time linear in the text, so an administrator's pattern cannot stall a worker (no backtracking);
    it refuses back-references and look-arounds, which is the price."""
    options = re2.Options()
    options.max_mem = 8 << 20
    options.log_errors = False
    return re2.compile(pattern, options)


def pattern_error(exc: Exception) -> str:
    """RE2's message as text (the binding gives bytes, with the pattern quoted after a colon)."""
    detail = exc.args[0] if exc.args else exc
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    return str(detail)[:200]


def validate_rule(*, trigger: str, conditions, actions, refs: References | None) -> tuple[dict, list[dict]]:
    """Check a rule and return its normalized (conditions, actions); raise RuleInvalid with every error found.
    `refs=None` skips the checks of ids (used by the evaluator's tests, which have no database)."""
    errors: dict[str, str] = {}
    if trigger not in RuleTrigger.values:
        errors["trigger"] = _("Choose when the rule runs.")
    counter = [0]
    clean_conditions = _group(conditions, "conditions", 1, errors, refs, counter)
    if trigger not in MESSAGE_TRIGGERS and _uses_message(clean_conditions):
        errors.setdefault(
            "conditions", _("Message conditions only work for rules that run when a customer message arrives.")
        )
    clean_actions = _actions(actions, errors, refs)
    if errors:
        raise RuleInvalid(errors)
    return clean_conditions, clean_actions


def _uses_message(node) -> bool:
    if isinstance(node, dict) and ("all" in node or "any" in node):
        return any(_uses_message(child) for child in node.get("all", node.get("any", [])))
    return isinstance(node, dict) and str(node.get("field", "")).startswith("message.")


def _group(node, path: str, depth: int, errors: dict, refs, counter) -> dict:
    if not isinstance(node, dict) or len(node) != 1 or not ({"all", "any"} & node.keys()):
        errors[path] = _('A group needs exactly one of "all" or "any" with a list of conditions.')
        return {"all": []}
    mode = "all" if "all" in node else "any"
    items = node[mode]
    if not isinstance(items, list):
        errors[f"{path}.{mode}"] = _("A group holds a list of conditions.")
        return {mode: []}
    if depth > MAX_DEPTH:
        errors[path] = _("Groups can be nested at most %(n)d deep.") % {"n": MAX_DEPTH}
        return {mode: []}
    clean = []
    for i, item in enumerate(items):
        item_path = f"{path}.{mode}.{i}"
        if isinstance(item, dict) and ({"all", "any"} & item.keys()):
            clean.append(_group(item, item_path, depth + 1, errors, refs, counter))
        else:
            counter[0] += 1
            if counter[0] > MAX_CONDITIONS:
                errors[item_path] = _("A rule can have at most %(n)d conditions.") % {"n": MAX_CONDITIONS}
                break
            clean.append(_condition(item, item_path, errors, refs))
    return {mode: clean}


def _condition(item, path: str, errors: dict, refs: References | None) -> dict:
    if not isinstance(item, dict):
        errors[path] = _("A condition needs a field, an operator and a value.")
        return {}
    field = FIELDS.get(item.get("field"))
    if field is None:
        errors[f"{path}.field"] = _("Unknown field “%(field)s”.") % {"field": str(item.get("field"))[:60]}
        return {}
    op = item.get("op")
    if op not in field.ops:
        errors[f"{path}.op"] = _("“%(op)s” cannot be used with %(field)s.") % {
            "op": str(op)[:30],
            "field": field.label,
        }
        return {}
    clean = {"field": field.key, "op": op}
    value = item.get("value")
    if field.kind == "attribute":
        key = item.get("key")
        if not isinstance(key, str) or not key.strip() or len(key) > 60:
            errors[f"{path}.key"] = _("Name the contact attribute (at most 60 characters).")
            return {}
        clean["key"] = key.strip()
    if op in VALUELESS_OPS:
        return clean
    value_path = f"{path}.value"
    if field.kind == "set":
        values = _string_list(value, value_path, errors)
        unknown = [v for v in values if v not in field.choices]
        if unknown:
            errors[value_path] = _("Unknown value “%(value)s”.") % {"value": unknown[0][:40]}
        clean["value"] = values
    elif field.kind == "tags":
        values = [v.strip() for v in _string_list(value, value_path, errors) if v.strip()]
        if field.key == "ticket.changed" and any(v not in CHANGEABLE for v in values):
            errors[value_path] = _("Choose among: %(fields)s.") % {"fields": ", ".join(CHANGEABLE)}
        clean["value"] = sorted(set(values))
    elif field.kind == "text":
        if op in ("matches", "not_matches"):
            if not isinstance(value, str) or not value or len(value) > MAX_PATTERN:
                errors[value_path] = _("Write a pattern of at most %(n)d characters.") % {"n": MAX_PATTERN}
            else:
                try:
                    compile_pattern(value)
                except re2.error as exc:
                    errors[value_path] = _("This pattern is not valid: %(error)s") % {"error": pattern_error(exc)}
            clean["value"] = value
        else:
            values = [v for v in _string_list(value, value_path, errors) if v.strip()]
            if not values and value_path not in errors:
                errors[value_path] = _("Give at least one keyword.")
            if len(values) > MAX_KEYWORDS:
                errors[value_path] = _("Give at most %(n)d keywords.") % {"n": MAX_KEYWORDS}
            clean["value"] = values
    elif field.kind == "bool":
        if not isinstance(value, bool):
            errors[value_path] = _("Choose yes or no.")
        clean["value"] = bool(value)
    elif field.kind == "minutes":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_MINUTES:
            errors[value_path] = _("Give a whole number of minutes between 0 and %(n)d.") % {"n": MAX_MINUTES}
        clean["value"] = value if isinstance(value, int) else 0
    elif field.kind == "attribute":
        if not isinstance(value, str) or len(value) > 200:
            errors[value_path] = _("Give a value of at most 200 characters.")
        clean["value"] = value if isinstance(value, str) else ""
    elif field.kind == "ref":
        ids = _id_list(value, value_path, errors)
        if refs is not None and value_path not in errors:
            known = getattr(
                refs, {"connection": "connections", "member": "members", "team": "teams"}[REF_TARGETS[field.key]]
            )
            if any(i not in known for i in ids):
                errors[value_path] = _("Choose among this organization's %(what)s.") % {"what": field.label}
        clean["value"] = ids
    return clean


def _string_list(value, path: str, errors: dict) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and len(v) <= 200 for v in value):
        errors[path] = _("Give a list of values (each at most 200 characters).")
        return []
    if not value:
        errors[path] = _("Give at least one value.")
    return value


def _id_list(value, path: str, errors: dict) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        errors[path] = _("Choose at least one.")
        return []
    return sorted(set(value))


def _actions(actions, errors: dict, refs: References | None) -> list[dict]:
    if not isinstance(actions, list) or not actions:
        errors["actions"] = _("Add at least one action.")
        return []
    if len(actions) > MAX_ACTIONS:
        errors["actions"] = _("A rule can have at most %(n)d actions.") % {"n": MAX_ACTIONS}
        return []
    return [_action(a, f"actions.{i}", errors, refs) for i, a in enumerate(actions)]


def _ref(value, path: str, errors: dict, known: frozenset[int] | None, message: str) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or (known is not None and value not in known):
        errors[path] = message
        return None
    return value


def _action(action, path: str, errors: dict, refs: References | None) -> dict:
    if not isinstance(action, dict) or action.get("type") not in ACTIONS:
        errors[f"{path}.type"] = _("Unknown action.")
        return {}
    kind = action["type"]
    clean: dict = {"type": kind}
    if kind == "assign_agent":
        clean["user"] = _ref(action.get("user"), f"{path}.user", errors, refs and refs.members, _("Choose a member."))
    elif kind == "assign_team":
        clean["team"] = _ref(action.get("team"), f"{path}.team", errors, refs and refs.teams, _("Choose a team."))
    elif kind == "set_priority":
        if action.get("priority") not in Priority.values:
            errors[f"{path}.priority"] = _("Choose a priority.")
        clean["priority"] = action.get("priority")
    elif kind == "set_status":
        if action.get("status") not in TicketStatus.values:
            errors[f"{path}.status"] = _("Choose a status.")
        clean["status"] = action.get("status")
    elif kind in ("add_tags", "remove_tags"):
        tags = action.get("tags")
        if isinstance(tags, str):
            tags = [t for t in tags.split(",")]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            tags = []
        tags = sorted({t.strip()[:60] for t in tags if t.strip()})
        if not tags:
            errors[f"{path}.tags"] = _("Give at least one tag.")
        clean["tags"] = tags
    elif kind == "apply_sla":
        clean["policy"] = _ref(
            action.get("policy"), f"{path}.policy", errors, refs and refs.policies, _("Choose an SLA policy.")
        )
    elif kind == "auto_reply":
        clean["response"] = _ref(
            action.get("response"),
            f"{path}.response",
            errors,
            refs and refs.responses,
            _("Choose a shared canned response."),
        )
    elif kind == "add_note":
        text = action.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > 5000:
            errors[f"{path}.text"] = _("Write the note (at most 5000 characters).")
        clean["text"] = text.strip() if isinstance(text, str) else ""
    elif kind == "notify":
        users = action.get("users") or []
        teams = action.get("teams") or []
        assignee = bool(action.get("assignee"))
        if not isinstance(users, list) or not isinstance(teams, list):
            errors[f"{path}.users"] = _("Choose members or teams to notify.")
            users, teams = [], []
        for user in users:
            _ref(user, f"{path}.users", errors, refs and refs.members, _("Choose members of this organization."))
        for team in teams:
            _ref(team, f"{path}.teams", errors, refs and refs.teams, _("Choose teams of this organization."))
        if not users and not teams and not assignee:
            errors[f"{path}.users"] = _("Choose who to notify.")
        clean.update(users=sorted(set(users)), teams=sorted(set(teams)), assignee=assignee)
    elif kind == "escalate":
        clean["team"] = _ref(action.get("team"), f"{path}.team", errors, refs and refs.teams, _("Choose a team."))
        if action.get("priority") not in Priority.values:
            errors[f"{path}.priority"] = _("Choose a priority.")
        clean["priority"] = action.get("priority")
    elif kind == "webhook":
        url = action.get("url")

        problem = url_problem(url)
        if problem:
            errors[f"{path}.url"] = problem
        clean["url"] = url
    return clean
