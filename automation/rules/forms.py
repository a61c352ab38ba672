"""Forms of the automation settings: the rule editor (its condition and action trees travel as JSON, written by the
builder script or typed by hand), the crisis alert settings, the auto-response rows and the secret rotation."""

import json

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext, pgettext_lazy

from accounts.models import Membership, Organization, Team
from automation.models import AutoResponseKind, BusinessCalendar, RuleTrigger, SlaPolicy
from automation.rules.describe import choice_label
from automation.rules.schema import ACTIONS, CHANGEABLE, FIELDS, MESSAGE_TRIGGERS, OP_LABELS, REF_TARGETS, VALUELESS_OPS
from automation.rules.services import CRISIS_THRESHOLD_MAX, CRISIS_WINDOW_MAX, WINDOW_HOURS_MAX
from channels_integrations.models import ChannelConnection
from tickets.models import CannedResponse, Priority, TicketStatus

# The parameters of each action, as the editor shows them: (JSON key, editor kind). Kinds: member, team, policy,
# response, priority, status (one of the organization's objects or a fixed value), members, teams (several),
# tags (comma-separated), note (long text), url, bool.
ACTION_PARAMS: dict[str, list[tuple[str, str]]] = {
    "assign_agent": [("user", "member")],
    "assign_team": [("team", "team")],
    "set_priority": [("priority", "priority")],
    "set_status": [("status", "status")],
    "add_tags": [("tags", "tags")],
    "remove_tags": [("tags", "tags")],
    "apply_sla": [("policy", "policy")],
    "auto_reply": [("response", "response")],
    "add_note": [("text", "note")],
    "notify": [("users", "members"), ("teams", "teams"), ("assignee", "bool")],
    "escalate": [("team", "team"), ("priority", "priority")],
    "mark_spam": [],
    "webhook": [("url", "url")],
    "skip_survey": [],
}
PARAM_LABELS = {
    "user": gettext_lazy("Agent"),
    "team": gettext_lazy("Team"),
    "priority": gettext_lazy("Priority"),
    "status": gettext_lazy("Status"),
    "tags": gettext_lazy("Tags (separated by commas)"),
    "policy": gettext_lazy("SLA policy"),
    "response": gettext_lazy("Shared canned response"),
    "text": gettext_lazy("Note"),
    "users": gettext_lazy("Members"),
    "teams": gettext_lazy("Teams"),
    "assignee": gettext_lazy("Also the ticket's assignee"),
    "url": gettext_lazy("URL"),
}
CONDITION_PARTS = {
    "field": gettext_lazy("field"),
    "op": gettext_lazy("operator"),
    "value": gettext_lazy("value"),
    "key": gettext_lazy("attribute name"),
}


class JSONTextField(forms.CharField):
    """A JSON document typed or written by the builder. The raw text stays in the form on any error."""

    widget = forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "json"})

    def __init__(self, *, kind: type, **kwargs):
        self.kind = kind
        super().__init__(strip=True, **kwargs)

    def to_python(self, value):
        text = super().to_python(value)
        if not text:
            return self.kind()
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(_("This is not valid JSON: %(error)s") % {"error": exc}) from exc
        return parsed


class RuleForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=120)
    description = forms.CharField(
        label=gettext_lazy("Description"),
        max_length=300,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("Why the rule exists, for your colleagues."),
    )
    trigger = forms.ChoiceField(label=pgettext_lazy("rule trigger", "When"), choices=RuleTrigger.choices)
    enabled = forms.BooleanField(label=gettext_lazy("Enabled"), required=False, initial=True)
    stop_processing = forms.BooleanField(
        label=gettext_lazy("Stop processing further rules"),
        required=False,
        help_text=gettext_lazy("When this rule acts, the rules after it (for the same event) do not run."),
    )
    conditions = JSONTextField(
        kind=lambda: {"all": []},
        label=gettext_lazy("Conditions (JSON)"),
        required=False,
        initial='{"all": []}',
    )
    actions = JSONTextField(kind=list, label=gettext_lazy("Actions (JSON)"), required=False, initial="[]")

    @classmethod
    def initial_for(cls, rule) -> dict:
        return {
            "name": rule.name,
            "description": rule.description,
            "trigger": rule.trigger,
            "enabled": rule.enabled,
            "stop_processing": rule.stop_processing,
            "conditions": json.dumps(rule.conditions, ensure_ascii=False),
            "actions": json.dumps(rule.actions, ensure_ascii=False),
        }

    def rule_kwargs(self) -> dict:
        data = self.cleaned_data
        return {key: data[key] for key in ("name", "description", "trigger", "conditions", "actions")} | {
            "enabled": data["enabled"],
            "stop_processing": data["stop_processing"],
        }


def error_anchor(path: str) -> str:
    """The id of the editor row an error path belongs to ("conditions.all.1.value" → the row of condition 1)."""
    parts = path.split(".")
    if parts[0] == "actions":
        parts = parts[:2]
    else:
        while parts and not parts[-1].isdigit() and len(parts) > 1:
            parts.pop()
    return "rule-path-" + "-".join(parts)


def error_location(path: str) -> str:
    """Where an error is, in words: "Condition 2.1 (value)", "Action 1 (team)", "Conditions"."""
    parts = path.split(".")
    if parts[0] == "actions":
        if len(parts) == 1:
            return pgettext("rule", "Actions")
        number = int(parts[1]) + 1 if parts[1].isdigit() else parts[1]
        if len(parts) > 2:
            what = _("kind") if parts[2] == "type" else PARAM_LABELS.get(parts[2], parts[2])
            return _("Action %(n)s (%(what)s)") % {"n": number, "what": what}
        return _("Action %(n)s") % {"n": number}
    if parts[0] == "conditions":
        numbers = [str(int(p) + 1) for p in parts if p.isdigit()]
        if not numbers:
            return _("Conditions")
        last = parts[-1]
        where = _("Condition %(n)s") % {"n": ".".join(numbers)}
        if last in CONDITION_PARTS:
            return f"{where} ({CONDITION_PARTS[last]})"
        return where
    return path


def editor_spec(organization: Organization) -> dict:
    """What the condition and action builders offer: fields with their operators and values, actions with their
    parameters, this organization's objects to pick from and the builder's words (five queries)."""
    members = [
        {"value": m.user_id, "label": m.user.get_full_name()}
        for m in Membership.objects.select_related("user").order_by("user__name", "user__email")
    ]
    options = {
        "connection": [{"value": c.pk, "label": str(c)} for c in ChannelConnection.objects.order_by("platform", "pk")],
        "member": members,
        "team": [{"value": pk, "label": name} for pk, name in Team.objects.order_by("name").values_list("pk", "name")],
        "policy": [
            {"value": pk, "label": name}
            for pk, name in SlaPolicy.objects.order_by("priority", "name").values_list("pk", "name")
        ],
        "response": [
            {"value": pk, "label": f"/{shortcut} {title}"}
            for pk, shortcut, title in CannedResponse.objects.filter(owner__isnull=True)
            .order_by("shortcut")
            .values_list("pk", "shortcut", "title")
        ],
        "priority": [{"value": v, "label": str(label)} for v, label in Priority.choices],
        "status": [{"value": v, "label": str(label)} for v, label in TicketStatus.choices],
    }
    fields = []
    for spec in FIELDS.values():
        choices = spec.choices or (CHANGEABLE if spec.key == "ticket.changed" else ())
        fields.append(
            {
                "key": spec.key,
                "label": str(spec.label),
                "kind": spec.kind,
                "ops": [{"value": op, "label": str(OP_LABELS[op])} for op in spec.ops],
                "choices": [{"value": c, "label": choice_label(spec.key, c)} for c in choices],
                "ref": REF_TARGETS.get(spec.key),
                "message": spec.key.startswith("message."),
            }
        )
    actions = [
        {
            "type": kind,
            "label": str(label),
            "params": [{"name": name, "kind": k, "label": str(PARAM_LABELS[name])} for name, k in ACTION_PARAMS[kind]],
        }
        for kind, label in ACTIONS.items()
    ]
    return {
        "fields": fields,
        "actions": actions,
        "options": options,
        "valueless": sorted(VALUELESS_OPS),
        "messageTriggers": sorted(MESSAGE_TRIGGERS),
        "i18n": {
            "all": _("All of these"),
            "any": _("Any of these"),
            "match": _("Match"),
            "addCondition": _("Add condition"),
            "addGroup": _("Add group"),
            "removeGroup": _("Remove group"),
            "removeCondition": _("Remove condition"),
            "field": _("Field"),
            "operator": _("Operator"),
            "value": _("Value"),
            "attributeName": _("Attribute name"),
            "attributeValue": _("Attribute value"),
            "chooseField": _("Choose a field…"),
            "chooseAction": _("Choose an action…"),
            "choose": _("Choose…"),
            "unknown": _("(unknown)"),
            "yes": _("Yes"),
            "no": _("No"),
            "keywords": _("Keywords, one per line or separated by commas"),
            "pattern": _("Pattern (RE2 regular expression)"),
            "tags": _("Tags, separated by commas"),
            "minutes": _("Minutes"),
            "addAction": _("Add action"),
            "removeAction": _("Remove action"),
            "moveUp": _("Move up"),
            "moveDown": _("Move down"),
            "action": pgettext("rule", "Action"),
            "condition": _("Condition"),
            "group": _("Group"),
            "noConditions": _("No conditions: the rule acts every time its event happens."),
            "noActions": _("No actions yet."),
            "noOptions": _("Nothing to choose from yet."),
            "messageOnly": _("Only for rules that run when a customer message arrives."),
            "jsonBroken": _("The JSON below cannot be read, so the builder is off: fix it or reload the page."),
        },
    }


# --- automation settings -------------------------------------------------------------------------------------------


class AutomationSettingsForm(forms.Form):
    crisis_threshold = forms.IntegerField(
        label=gettext_lazy("Negative messages that raise a crisis alert"),
        min_value=1,
        max_value=CRISIS_THRESHOLD_MAX,
        help_text=gettext_lazy("On one channel within the window."),
    )
    crisis_window_minutes = forms.IntegerField(
        label=gettext_lazy("Crisis window (minutes)"), min_value=1, max_value=CRISIS_WINDOW_MAX
    )


class AutoResponseForm(forms.Form):
    """One channel's out-of-hours or first-contact reply. Choices are passed in (loaded once for every row)."""

    enabled = forms.BooleanField(label=gettext_lazy("Enabled"), required=False)
    response = forms.TypedChoiceField(
        label=gettext_lazy("Canned response"), coerce=int, empty_value=None, required=False
    )
    calendar = forms.TypedChoiceField(
        label=gettext_lazy("Business hours"),
        coerce=int,
        empty_value=None,
        required=False,
        help_text=gettext_lazy("Empty: the default calendar."),
    )
    window_hours = forms.IntegerField(
        label=gettext_lazy("At most once per contact every (hours)"),
        min_value=1,
        max_value=WINDOW_HOURS_MAX,
        initial=24,
    )

    def __init__(self, *args, connection, kind: str, responses: list, calendars: list, **kwargs):
        super().__init__(*args, prefix=f"ar-{connection.pk}-{kind}", **kwargs)
        self.connection = connection
        self.kind = kind
        self.fields["response"].choices = [("", _("— none —"))] + responses
        if kind == AutoResponseKind.OUT_OF_HOURS:
            self.fields["calendar"].choices = [("", _("Default calendar"))] + calendars
        else:
            del self.fields["calendar"]

    @property
    def kind_label(self) -> str:
        return str(AutoResponseKind(self.kind).label)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("enabled") and not cleaned.get("response"):
            self.add_error("response", _("Choose the canned response to send."))
        return cleaned


def auto_response_choices() -> tuple[list, list, dict, dict]:
    """(response choices, calendar choices, responses by id, calendars by id): two queries for every row."""
    responses = {r.pk: r for r in CannedResponse.objects.filter(owner__isnull=True).order_by("shortcut")}
    calendars = {c.pk: c for c in BusinessCalendar.objects.order_by("name")}
    return (
        [(pk, f"/{r.shortcut} {r.title}") for pk, r in responses.items()],
        [(pk, c.name) for pk, c in calendars.items()],
        responses,
        calendars,
    )


class RotateSecretForm(forms.Form):
    confirm = forms.BooleanField(
        label=gettext_lazy("I understand: the current secret stops working at once, receivers must use the new one."),
        required=True,
    )
