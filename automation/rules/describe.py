"""Rules in words, in the member's language: the rule list, the dry run and a ticket's "why" log all say what a rule
checks and does the same way ("Assign to 佐藤 花子", "Route to team Support → waits in the team queue").

Ids inside conditions, actions and action results (members, teams, channels, SLA policies, canned responses) are
resolved by `Names.load` for any number of rules at once, in at most one query per kind of object. Describing never
fails: a rule stored before a validation change, or pointing at something since deleted, still reads sensibly."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.utils.text import Truncator
from django.utils.translation import get_language_info, ngettext
from django.utils.translation import gettext as _

from accounts.models import Membership, Organization, Team
from automation.models import SlaPolicy
from automation.rules.schema import ACTIONS, FIELDS, OP_LABELS, REF_TARGETS, VALUELESS_OPS
from channels_integrations.models import ChannelConnection
from channels_integrations.registry import platform_choices
from tickets.models import CannedResponse, MessageKind, Priority, Sentiment, TicketStatus

# Which parameter of an action (or result) names which kind of object.
_ACTION_REFS = {"user": "members", "users": "members", "team": "teams", "teams": "teams"}
_ACTION_REFS_BY_TYPE = {"apply_sla": {"policy": "policies"}, "auto_reply": {"response": "responses"}}
_CONDITION_REFS = {"connection": "channels", "member": "members", "team": "teams"}


@dataclass
class Names:
    """Display names of the organization's objects that some rules mention, keyed by id."""

    members: dict[int, str] = field(default_factory=dict)
    teams: dict[int, str] = field(default_factory=dict)
    channels: dict[int, str] = field(default_factory=dict)
    policies: dict[int, str] = field(default_factory=dict)
    responses: dict[int, str] = field(default_factory=dict)

    @classmethod
    def load(cls, organization: Organization, *sources) -> "Names":
        """Resolve every id in `sources` (condition trees, action lists, result lists, or lists of those). Only
        this organization's objects are looked up, inside its scope, so a foreign id shows as unknown."""
        wanted: dict[str, set[int]] = {k: set() for k in ("members", "teams", "channels", "policies", "responses")}
        for source in sources:
            _collect(source, wanted)
        names = cls()
        if wanted["members"]:
            names.members = {
                m.user_id: m.user.get_full_name()
                for m in Membership.objects.filter(organization=organization, user_id__in=wanted["members"])
                .select_related("user")
                .only("user_id", "user__name", "user__email")
            }
        if wanted["teams"]:
            names.teams = dict(
                Team.objects.filter(organization=organization, pk__in=wanted["teams"]).values_list("pk", "name")
            )
        if wanted["channels"]:
            names.channels = {
                c.pk: str(c)
                for c in ChannelConnection.objects.filter(organization=organization, pk__in=wanted["channels"]).only(
                    "pk", "platform", "display_name"
                )
            }
        if wanted["policies"]:
            names.policies = dict(
                SlaPolicy.objects.filter(organization=organization, pk__in=wanted["policies"]).values_list("pk", "name")
            )
        if wanted["responses"]:
            names.responses = {
                pk: f"/{shortcut} {title}"
                for pk, shortcut, title in CannedResponse.objects.filter(
                    organization=organization, pk__in=wanted["responses"]
                ).values_list("pk", "shortcut", "title")
            }
        return names

    def member(self, pk) -> str:
        return self.members.get(pk) or _("a former member (#%(id)s)") % {"id": pk}

    def team(self, pk) -> str:
        return self.teams.get(pk) or _("a deleted team (#%(id)s)") % {"id": pk}

    def channel(self, pk) -> str:
        return self.channels.get(pk) or _("a removed channel (#%(id)s)") % {"id": pk}

    def policy(self, pk) -> str:
        return self.policies.get(pk) or _("a deleted SLA policy (#%(id)s)") % {"id": pk}

    def response(self, pk) -> str:
        return self.responses.get(pk) or _("a deleted canned response (#%(id)s)") % {"id": pk}


def _ints(value) -> list[int]:
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, int) and not isinstance(v, bool)]


def _collect(node, wanted: dict[str, set[int]]) -> None:
    if isinstance(node, list | tuple):
        for item in node:
            _collect(item, wanted)
        return
    if not isinstance(node, dict):
        return
    if "all" in node or "any" in node:
        _collect(node.get("all", node.get("any")), wanted)
        return
    if "field" in node:
        target = REF_TARGETS.get(node.get("field"))
        if target:
            wanted[_CONDITION_REFS[target]].update(_ints(node.get("value")))
        return
    if "type" in node:
        refs = {**_ACTION_REFS, **_ACTION_REFS_BY_TYPE.get(node.get("type"), {})}
        for key, kind in refs.items():
            if key in node:
                wanted[kind].update(_ints(node[key]))


# --- conditions ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConditionGroup:
    """A described group: "All of these" / "Any of these" over strings and nested groups."""

    mode: str
    label: str
    items: list  # of str | ConditionGroup
    is_group: bool = True


def describe_conditions(conditions, names: Names) -> ConditionGroup:
    """The condition tree in words. An empty top-level "all" reads "Always (no conditions)"."""
    if not isinstance(conditions, dict) or not ({"all", "any"} & conditions.keys()):
        return ConditionGroup(mode="all", label=_("All of these"), items=[_("(conditions not readable)")])
    group = _group(conditions, names)
    if group.mode == "all" and not group.items:
        return ConditionGroup(mode="all", label=_("Always (no conditions)"), items=[])
    return group


def condition_lines(conditions, names: Names) -> list[tuple[int, str]]:
    """The same tree flattened to (depth, text) lines, for plain lists and for tests."""
    lines: list[tuple[int, str]] = []

    def walk(group: ConditionGroup, depth: int) -> None:
        lines.append((depth, group.label))
        for item in group.items:
            if isinstance(item, ConditionGroup):
                walk(item, depth + 1)
            else:
                lines.append((depth + 1, item))

    walk(describe_conditions(conditions, names), 0)
    return lines


def _group(node: dict, names: Names) -> ConditionGroup:
    mode = "all" if "all" in node else "any"
    items = node.get(mode)
    items = items if isinstance(items, list) else []
    described = []
    for item in items:
        if isinstance(item, dict) and ({"all", "any"} & item.keys()):
            described.append(_group(item, names))
        else:
            described.append(describe_condition(item, names))
    label = _("All of these") if mode == "all" else _("Any of these")
    if mode == "any" and not described:
        label = _("Any of these (empty: never holds)")
    return ConditionGroup(mode=mode, label=label, items=described)


def _quoted(values) -> str:
    values = values if isinstance(values, list) else [values]
    return ", ".join(f"“{Truncator(str(v)).chars(60)}”" for v in values)


def _language(code: str) -> str:
    for candidate in (code, f"{code}-hans"):
        try:
            return str(get_language_info(candidate)["name_translated"])
        except KeyError:
            continue
    return code


_EMAIL_AUTHENTICATION_LABELS = {
    "pass": lambda: _("verified (DMARC pass)"),
    "fail": lambda: _("not verified: DMARC failed"),
    "none": lambda: _("not checked or no policy"),
}

_CHANGEABLE_LABELS = {
    "status": lambda: _("Status"),
    "priority": lambda: _("Priority"),
    "assignee": lambda: _("Assignee"),
    "team": lambda: _("Team"),
    "tags": lambda: _("Tags"),
}


def choice_label(field_key: str, value: str) -> str:
    """The translated label of one fixed value of a set field (also used by the editor's checkboxes)."""
    if field_key == "platform":
        return str(dict(platform_choices()).get(value, value))
    enum = {
        "message.kind": MessageKind,
        "message.sentiment": Sentiment,
        "ticket.sentiment": Sentiment,
        "ticket.status": TicketStatus,
        "ticket.priority": Priority,
    }.get(field_key)
    if enum is not None:
        try:
            return str(enum(value).label)
        except ValueError:
            return str(value)
    if field_key == "message.language":
        return _language(str(value))
    if field_key == "message.email_authentication" and value in _EMAIL_AUTHENTICATION_LABELS:
        return _EMAIL_AUTHENTICATION_LABELS[value]()
    if field_key == "ticket.changed" and value in _CHANGEABLE_LABELS:
        return _CHANGEABLE_LABELS[value]()
    return str(value)


def _minutes(value) -> str:
    if not isinstance(value, int) or isinstance(value, bool):
        return str(value)
    if value and value % 1440 == 0:
        return ngettext("%(n)d day", "%(n)d days", value // 1440) % {"n": value // 1440}
    if value and value % 60 == 0:
        return ngettext("%(n)d hour", "%(n)d hours", value // 60) % {"n": value // 60}
    return ngettext("%(n)d minute", "%(n)d minutes", value) % {"n": value}


def describe_condition(item, names: Names) -> str:
    """One condition in words: "Message text contains any of “返金”, “refund”"."""
    if not isinstance(item, dict):
        return _("(condition not readable)")
    spec = FIELDS.get(item.get("field"))
    if spec is None:
        return _("Unknown field “%(field)s”") % {"field": Truncator(str(item.get("field"))).chars(60)}
    op = item.get("op")
    op_label = str(OP_LABELS.get(op, op))
    value = item.get("value")
    label = str(spec.label)
    if spec.kind == "attribute":
        label = _("Contact attribute “%(key)s”") % {"key": Truncator(str(item.get("key", ""))).chars(60)}
    if spec.kind == "hours":
        return op_label[:1].upper() + op_label[1:]
    if op in VALUELESS_OPS:
        return _phrase(label, op_label)
    if spec.kind == "bool":
        return _("%(field)s: yes") % {"field": label} if value else _("%(field)s: no") % {"field": label}
    if spec.kind == "minutes":
        return _phrase(label, op_label, _minutes(value))
    if spec.kind == "ref":
        target = REF_TARGETS[spec.key]
        resolve = {"connection": names.channel, "member": names.member, "team": names.team}[target]
        shown = [resolve(pk) for pk in _ints(value)]
        if len(shown) == 1 and op in ("in", "not_in"):
            op_label = str(OP_LABELS["is"]) if op == "in" else _("is not")
        return _phrase(label, op_label, ", ".join(shown))
    if spec.kind == "set" or spec.key == "ticket.changed":
        values = value if isinstance(value, list) else [value]
        shown = [choice_label(spec.key, v) for v in values]
        if len(shown) == 1 and op in ("in", "not_in"):
            op_label = str(OP_LABELS["is"]) if op == "in" else _("is not")
        return _phrase(label, op_label, ", ".join(shown))
    if op in ("matches", "not_matches"):
        return _phrase(label, op_label, f"/{Truncator(str(value)).chars(120)}/")
    return _phrase(label, op_label, _quoted(value))


def _phrase(field: str, operator: str, value: str | None = None) -> str:
    """One pattern per shape, so that languages can order the parts their own way."""
    if value is None:
        # Translators: a rule condition without a value, e.g. "Assignee is not set".
        return _("%(field)s %(operator)s") % {"field": field, "operator": operator}
    # Translators: a rule condition, e.g. "Priority is one of High, Urgent".
    return _("%(field)s %(operator)s %(value)s") % {"field": field, "operator": operator, "value": value}


# --- actions ------------------------------------------------------------------------------------------------------


def _routed(result: dict, names: Names) -> str:
    """What routing to a team did (results only: a rule's own action does not know yet)."""
    if "ok" not in result or "user" not in result:
        return ""
    if result.get("user"):
        return " → " + _("assigned to %(name)s") % {"name": names.member(result["user"])}
    return " → " + _("waits in the team queue")


def _url(url, full: bool) -> str:
    url = str(url or "")
    if full:
        return Truncator(url).chars(120)
    # Outside the settings, only the host: a URL can carry a token (chat webhooks put theirs in the path).
    host = urlsplit(url).hostname or "?"
    return host


def describe_action(action, names: Names, *, full_urls: bool = True) -> str:
    """One action of a rule, or one result in a ticket's log, in words. A failed result says why."""
    if not isinstance(action, dict):
        return _("(action not readable)")
    kind = action.get("type")
    if kind not in ACTIONS:
        return _("Unknown action “%(type)s”") % {"type": Truncator(str(kind)).chars(40)}
    if action.get("ok") is False:
        return _("%(action)s — not done: %(error)s") % {
            "action": ACTIONS[kind],
            "error": action.get("error") or _("unknown error"),
        }
    return _describe(kind, action, names, full_urls)


def _describe(kind: str, a: dict, names: Names, full_urls: bool) -> str:
    if kind == "assign_agent":
        return _("Assign to %(name)s") % {"name": names.member(a.get("user"))}
    if kind == "assign_team":
        return _("Route to team %(team)s") % {"team": names.team(a.get("team"))} + _routed(a, names)
    if kind == "set_priority":
        return _("Set priority: %(priority)s") % {"priority": _enum(Priority, a.get("priority"))}
    if kind == "set_status":
        return _("Set status: %(status)s") % {"status": _enum(TicketStatus, a.get("status"))}
    if kind == "add_tags":
        return _("Add tags: %(tags)s") % {"tags": _quoted(a.get("tags") or [])}
    if kind == "remove_tags":
        return _("Remove tags: %(tags)s") % {"tags": _quoted(a.get("tags") or [])}
    if kind == "apply_sla":
        return _("Apply SLA policy %(policy)s") % {"policy": names.policy(a.get("policy"))}
    if kind == "auto_reply":
        return _("Reply automatically with %(response)s") % {"response": names.response(a.get("response"))}
    if kind == "add_note":
        if "ok" in a:
            return _("Added a private note")
        return _("Add a private note: “%(text)s”") % {"text": Truncator(str(a.get("text", ""))).chars(80)}
    if kind == "notify":
        who = [names.member(pk) for pk in _ints(a.get("users") or [])]
        who += [_("team %(team)s") % {"team": names.team(pk)} for pk in _ints(a.get("teams") or [])]
        if a.get("assignee"):
            who.append(_("the assignee"))
        if not who:
            return _("Notify: nobody to notify")
        return _("Notify %(who)s") % {"who": ", ".join(who)}
    if kind == "escalate":
        text = _("Escalate to team %(team)s with priority %(priority)s") % {
            "team": names.team(a.get("team")),
            "priority": _enum(Priority, a.get("priority")),
        }
        return text + _routed(a, names)
    if kind == "mark_spam":
        return _("Mark as spam and close")
    if kind == "webhook":
        text = _("Call %(url)s") % {"url": _url(a.get("url"), full_urls)}
        if a.get("call"):
            text += " " + _("(delivery #%(id)s)") % {"id": a["call"]}
        return text
    return str(ACTIONS[kind])


def _enum(enum, value) -> str:
    try:
        return str(enum(value).label)
    except ValueError:
        return str(value)


def describe_actions(actions: Iterable, names: Names, *, full_urls: bool = True) -> list[str]:
    return [describe_action(a, names, full_urls=full_urls) for a in (actions if isinstance(actions, list) else [])]
