"""How an audit entry reads, for the audit log page and its CSV export alike: who acted, the action's label, the
object and what changed as labelled fields. Values read as people read them (choice labels, Yes/No, lists, local
times), never as Python reprs.

`changes` has no single shape: services that change something record `{field: [old, new]}`, creations and
deletions record plain values or lists, some nest one level (`{"members": {"added": [...], "removed": [...]}}`,
routing's `{"members": {email: {field: [old, new]}}}`). Which actions record pairs is stated below, because a plain
two-item list (a team created with two members) looks exactly like a pair.
"""

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from accounts.models import AuditAction, AuditEntry, Organization
from accounts.roles import RoleKey
from core.csv_safety import csv_safe

A = AuditAction

# Actions whose two-item lists are [old, new].
DIFF_ACTIONS = frozenset(
    {
        A.ORG_UPDATED,
        A.MEMBER_ROLE_CHANGED,
        A.TEAM_UPDATED,
        A.ROUTING_CHANGED,
        A.CHANNEL_UPDATED,
        A.CHANNEL_PAUSED,
        A.CHANNEL_RESUMED,
        A.CHANNEL_DISCONNECTED,
        A.RULE_UPDATED,
        A.RULES_REORDERED,
        A.SLA_POLICY_CHANGED,
        A.CALENDAR_CHANGED,
        A.AUTO_RESPONSE_CHANGED,
        A.AUTOMATION_SETTINGS_CHANGED,
        A.CANNED_UPDATED,
        A.TAG_UPDATED,
    }
)
# Keys whose lists are never pairs, even within those actions (team.updated: members added / removed).
NOT_PAIRS = frozenset({"added", "removed"})

# The model whose fields an action's keys name (for their labels and choice labels). Models of higher layers are
# named by label and looked up at run time, never imported.
ACTION_MODELS = {
    A.ORG_UPDATED: "accounts.organization",
    A.TEAM_CREATED: "accounts.team",
    A.TEAM_UPDATED: "accounts.team",
    A.TEAM_DELETED: "accounts.team",
    A.ROUTING_CHANGED: "accounts.team",
    A.RULE_CREATED: "automation.rule",
    A.RULE_UPDATED: "automation.rule",
    A.RULE_DELETED: "automation.rule",
    A.RULES_REORDERED: "automation.rule",
    A.SLA_POLICY_CHANGED: "automation.slapolicy",
    A.CALENDAR_CHANGED: "automation.businesscalendar",
    A.AUTO_RESPONSE_CHANGED: "automation.autoresponse",
    A.AUTOMATION_SETTINGS_CHANGED: "automation.automationsettings",
    A.CANNED_CREATED: "tickets.cannedresponse",
    A.CANNED_UPDATED: "tickets.cannedresponse",
    A.CANNED_DELETED: "tickets.cannedresponse",
    A.TAG_UPDATED: "tickets.tag",
    A.TAG_DELETED: "tickets.tag",
    A.REPORT_SCHEDULE_CHANGED: "analytics_reports.reportschedule",
}
# Keys whose value lists field names of the entry's model (the operator admin's changes): shown by their labels.
FIELD_NAME_KEYS = frozenset({"fields"})
# A nested mapping whose keys name fields of another model: routing's per-member changes.
NESTED_MODELS = {(A.ROUTING_CHANGED, "members"): "accounts.membership"}


# Short words like "Created" or "Position" mean something else elsewhere: these labels have their own context.
LABELS = {
    "account": pgettext_lazy("audit log detail", "Account"),
    "added": pgettext_lazy("audit log detail", "Added"),
    "changed": pgettext_lazy("audit log detail", "Changed"),
    "closure_added": pgettext_lazy("audit log detail", "Closure added"),
    "closure_deleted": pgettext_lazy("audit log detail", "Closure removed"),
    "created": pgettext_lazy("audit log detail", "Created"),
    "deleted": pgettext_lazy("audit log detail", "Deleted"),
    "email": pgettext_lazy("audit log detail", "Email address"),
    "error": pgettext_lazy("audit log detail", "Error"),
    "event": pgettext_lazy("audit log detail", "Event"),
    "fields": pgettext_lazy("audit log detail", "Fields"),
    "from": pgettext_lazy("audit log detail", "From"),
    "members": pgettext_lazy("audit log detail", "Members"),
    "new": pgettext_lazy("audit log detail", "New connection"),
    "order": pgettext_lazy("audit log detail", "Order"),
    "platform": pgettext_lazy("audit log detail", "Platform"),
    "position": pgettext_lazy("audit log detail", "Position"),
    "reason": pgettext_lazy("audit log detail", "Reason"),
    "removed": pgettext_lazy("audit log detail", "Removed"),
    "role": pgettext_lazy("audit log detail", "Role"),
    "skill_languages": pgettext_lazy("audit log detail", "Languages"),
    "skill_platforms": pgettext_lazy("audit log detail", "Platforms"),
    "teams": pgettext_lazy("audit log detail", "Teams"),
    "text": pgettext_lazy("audit log detail", "Text"),
    "tickets_tagged": pgettext_lazy("audit log detail", "Tickets that had it"),
    "tickets_stopped": pgettext_lazy("audit log detail", "Tickets whose SLA clocks stopped"),
    "until": pgettext_lazy("audit log detail", "Until"),
    "users": pgettext_lazy("audit log detail", "Members"),
}
ACTION_LABELS = {(A.WEBHOOK_REJECTED, "status"): pgettext_lazy("audit log detail", "HTTP status")}
# An export records its dashboard, file format, date range and the filters by their labels.
ACTION_LABELS |= {
    (A.REPORT_EXPORTED, "page"): pgettext_lazy("audit log detail", "Dashboard"),
    (A.REPORT_EXPORTED, "format"): pgettext_lazy("audit log detail", "File format"),
    (A.REPORT_EXPORTED, "to"): pgettext_lazy("audit log detail", "To"),
    (A.REPORT_EXPORTED, "filters"): pgettext_lazy("audit log detail", "Filters"),
}
# A canned response's text is recorded per language code.
ACTION_LABELS |= {
    (action, code): name
    for action in (A.CANNED_CREATED, A.CANNED_UPDATED, A.CANNED_DELETED)
    for code, name in settings.LANGUAGES
}
TIME_KEYS = frozenset({"from", "until"})
NESTING = " › "
ARROW = " → "

# Objects the page can link to while they exist: model label -> (URL name, its id keyword).
LINKS = {
    "accounts.organization": ("org:settings", None),
    "accounts.team": ("org:team_detail", "team_id"),
    "accounts.user": (None, None),
    "channels_integrations.channelconnection": ("org:channel_detail", "connection_id"),
    "automation.rule": ("org:rules_edit", "rule_id"),
    "automation.businesscalendar": ("org:sla_calendar_edit", "calendar_id"),
    "automation.slapolicy": ("org:sla_policy_edit", "policy_id"),
    "analytics_reports.reportschedule": ("org:reports_schedule_edit", "schedule_id"),
}

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Detail:
    """One labelled field of an entry's details: a plain value, or a change from `old` to `new`."""

    label: str
    value: str = ""
    old: str = ""
    new: str = ""
    changed: bool = False

    def as_text(self) -> str:
        if self.changed:
            return f"{self.label}: {self.old}{ARROW}{self.new}"
        return f"{self.label}: {self.value}"


@dataclass(frozen=True)
class ObjectRef:
    type_label: str
    name: str
    url: str = ""


@dataclass(frozen=True)
class Row:
    entry: AuditEntry
    actor: str
    actor_email: str
    action: str
    object: ObjectRef | None
    details: list[Detail]


def _model(label: str | None) -> type[models.Model] | None:
    if not label:
        return None
    try:
        return apps.get_model(label)
    except (LookupError, ValueError):
        return None


def _field(model, key: str) -> models.Field | None:
    if model is None or not isinstance(key, str):
        return None
    try:
        return model._meta.get_field(key)
    except FieldDoesNotExist:
        return None


def _label(key, *, action: str = "", model=None) -> str:
    key = str(key)
    if (action, key) in ACTION_LABELS:
        return str(ACTION_LABELS[action, key])
    if key in LABELS:
        return str(LABELS[key])
    field = _field(model, key)
    if field is not None and hasattr(field, "verbose_name"):
        return str(capfirst(field.verbose_name))
    if _IDENTIFIER.fullmatch(key):
        return str(capfirst(key.replace("_", " ")))
    return key  # an email address, a name: shown as it is


def show(value, *, key: str = "", field: models.Field | None = None) -> str:
    """A stored value as text: choice labels, Yes/No, "—" for nothing, lists joined, mappings as "label: value"."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, list | tuple):
        separator = "; " if any(isinstance(item, dict) for item in value) else ", "
        return separator.join(show(item, key=key, field=field) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{_label(k)}: {show(v, key=str(k))}" for k, v in value.items())
    if key == "role" and value in RoleKey.values:
        return str(RoleKey(value).label)
    if field is not None and field.is_relation and isinstance(value, int):
        return f"#{value}"
    if key == "event":
        return f"#{value}"
    if field is not None and field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if key in TIME_KEYS and isinstance(value, str):
        moment = parse_datetime(value)
        if moment is not None:
            if timezone.is_naive(moment):
                return value
            return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")
    return str(value)


FLAGS = ("created", "changed", "deleted")


def _ordered(mapping: dict, model) -> list:
    """Keys in reading order: what happened (created, deleted), then the model's fields as it declares them, then the
    rest by name (PostgreSQL keeps no order of JSON keys)."""
    fields = [f.name for f in model._meta.get_fields()] if model is not None else []

    def rank(key):
        key = str(key)
        if key in FLAGS:
            return (0, FLAGS.index(key), "")
        if key in fields:
            return (1, fields.index(key), "")
        return (2, 0, key)

    return sorted(mapping, key=rank)


def _walk(mapping: dict, *, prefix: tuple[str, ...], action: str, model, pairs: bool, creating: bool):
    for key in _ordered(mapping, model):
        value = mapping[key]
        field = _field(model, key)
        label = NESTING.join((*prefix, _label(key, action=action, model=model)))
        if key in FIELD_NAME_KEYS and isinstance(value, list) and not pairs:
            names = ", ".join(_label(name, model=model) for name in value)
            yield Detail(label=label, value=names or "—")
        elif pairs and key not in NOT_PAIRS and isinstance(value, list) and len(value) == 2:
            old, new = value
            if creating:  # everything is new: the values alone say it
                yield Detail(label=label, value=show(new, key=key, field=field))
            else:
                yield Detail(
                    label=label,
                    old=show(old, key=key, field=field),
                    new=show(new, key=key, field=field),
                    changed=True,
                )
        elif isinstance(value, dict) and value:
            nested = _model(NESTED_MODELS.get((action, key))) or model
            yield from _walk(
                value,
                prefix=(*prefix, _label(key, action=action, model=model)),
                action=action,
                model=nested,
                pairs=pairs,
                creating=creating,
            )
        else:
            yield Detail(label=label, value=show(value, key=key, field=field))


def details(entry: AuditEntry) -> list[Detail]:
    """The entry's `changes` as labelled fields."""
    changes = entry.changes
    if not changes:
        return []
    if not isinstance(changes, dict):
        return [Detail(label=_("Details"), value=show(changes))]
    model = _model(ACTION_MODELS.get(entry.action) or entry.object_type)
    return list(
        _walk(
            changes,
            prefix=(),
            action=entry.action,
            model=model,
            pairs=entry.action in DIFF_ACTIONS,
            creating=changes.get("created") is True,
        )
    )


def actor_name(entry: AuditEntry) -> str:
    """The member's name; the address tried for events without a known user; "System" for automatic actions."""
    if entry.actor_id:
        return entry.actor.name or entry.actor.email
    return entry.actor_email or _("System")


def actor_email(entry: AuditEntry) -> str:
    return entry.actor.email if entry.actor_id else entry.actor_email


def object_type_label(entry: AuditEntry) -> str:
    model = _model(entry.object_type)
    if model is None:
        return entry.object_type
    return str(capfirst(model._meta.verbose_name))


def _current_objects(entries: list[AuditEntry], organization: Organization) -> dict[tuple[str, str], ObjectRef]:
    """The objects named by these entries that still exist in this organization, with their current names and
    links: one query per kind of object on the page, whatever the number of entries."""
    wanted: dict[str, set[int]] = defaultdict(set)
    for entry in entries:
        if entry.object_type in LINKS and entry.object_id.isdigit():
            wanted[entry.object_type].add(int(entry.object_id))
    found: dict[tuple[str, str], ObjectRef] = {}
    for label, ids in wanted.items():
        url_name, kwarg = LINKS[label]
        model = _model(label)
        if model is None:
            continue
        if model is Organization:
            objects = [organization] if organization.pk in ids else []
        elif model is get_user_model():
            # Members of this organization only: another organization's people are not shown by their new names.
            objects = model.objects.filter(pk__in=ids, memberships__organization=organization)
        else:
            objects = model._default_manager.filter(pk__in=ids, organization=organization)
        type_label = str(capfirst(model._meta.verbose_name))
        for obj in objects:
            url = ""
            if url_name:
                kwargs = {"org_slug": organization.slug} | ({kwarg: obj.pk} if kwarg else {})
                try:
                    url = reverse(url_name, kwargs=kwargs)
                except NoReverseMatch:
                    url = ""
            found[label, str(obj.pk)] = ObjectRef(type_label=type_label, name=str(obj), url=url)
    return found


def rows(entries: Iterable[AuditEntry], *, organization: Organization) -> list[Row]:
    """Entries (with `actor` selected) as the page shows them."""
    entries = list(entries)
    current = _current_objects(entries, organization)
    result = []
    for entry in entries:
        obj = None
        if entry.object_type:
            obj = current.get((entry.object_type, entry.object_id)) or ObjectRef(
                type_label=object_type_label(entry), name=entry.object_repr or f"#{entry.object_id}"
            )
        result.append(
            Row(
                entry=entry,
                actor=actor_name(entry),
                actor_email=actor_email(entry) if entry.actor_id else "",
                action=entry.get_action_display(),
                object=obj,
                details=details(entry),
            )
        )
    return result


# --- CSV ---------------------------------------------------------------------------------------------------------


def csv_header(zone_name: str) -> list[str]:
    return [
        _("When (%(zone)s)") % {"zone": zone_name},
        _("Who"),
        _("Email address"),
        _("Action"),
        _("Object type"),
        _("Object"),
        _("Details"),
        _("IP address"),
    ]


def csv_row(entry: AuditEntry) -> list[str]:
    """One entry as CSV cells, in the active time zone and language; every cell safe to open in a spreadsheet."""
    cells = [
        timezone.localtime(entry.created_at).strftime("%Y-%m-%d %H:%M:%S"),
        actor_name(entry),
        actor_email(entry),
        entry.get_action_display(),
        object_type_label(entry) if entry.object_type else "",
        entry.object_repr or (f"#{entry.object_id}" if entry.object_id else ""),
        "\n".join(detail.as_text() for detail in details(entry)),
        entry.ip_address or "",
    ]
    return [csv_safe(str(cell)) for cell in cells]
