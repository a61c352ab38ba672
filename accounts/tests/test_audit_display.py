"""How audit entries read: every shape of `changes` the services record becomes labelled fields, never a Python repr,
and CSV cells never start a spreadsheet formula."""

from datetime import UTC, datetime

import pytest
from django.utils import timezone, translation

from accounts import audit_display
from accounts.audit_display import Detail
from accounts.models import AuditAction, AuditEntry

A = AuditAction

# The shapes recorded across the codebase (grep "audit_record("), one per kind.
RECORDED = [
    (A.ORG_UPDATED, "accounts.organization", {"timezone": ["Asia/Tokyo", "UTC"], "require_two_factor": [False, True]}),
    (A.ORG_UPDATED, "accounts.organization", {"created": True}),
    (A.MEMBER_INVITED, "accounts.invitation", {"email": "x@a.test", "role": "agent", "teams": ["Night", "Day"]}),
    (A.MEMBER_ROLE_CHANGED, "accounts.user", {"role": ["agent", "editor"]}),
    (A.MEMBER_REMOVED, "accounts.user", {"role": "analyst"}),
    (A.TEAM_CREATED, "accounts.team", {"members": ["a@a.test", "b@a.test"]}),
    (A.TEAM_UPDATED, "accounts.team", {"name": ["Day", "Night"], "members": {"added": ["a@x", "b@x"], "removed": []}}),
    (
        A.ROUTING_CHANGED,
        "accounts.team",
        {
            "assignment_strategy": ["manual", "least_open"],
            "members": {"agent@a.test": {"capacity": [None, 3], "skill_languages": [[], ["en", "ja"]]}},
        },
    ),
    (A.CHANNEL_ACCESS_CHANGED, "channels_integrations.channelconnection", {"users": ["a@x", "b@x"], "teams": []}),
    (
        A.CHANNEL_CONNECTED,
        "channels_integrations.channelconnection",
        {"platform": "line", "account": "U1", "new": True},
    ),
    (A.CHANNEL_PAUSED, "channels_integrations.channelconnection", {"status": ["active", "paused"]}),
    (A.CHANNEL_UPDATED, "channels_integrations.channelconnection", {"display_name": ["Old", "New"]}),
    (A.CHANNEL_NEEDS_REAUTH, "channels_integrations.channelconnection", {"error": "token expired"}),
    (
        A.WEBHOOK_REJECTED,
        "channels_integrations.channelconnection",
        {"platform": "line", "reason": "bad", "status": 403},
    ),
    (A.EVENT_REPLAYED, "channels_integrations.channelconnection", {"event": 12}),
    (
        A.RULE_CREATED,
        "automation.rule",
        {
            "name": "VIP",
            "trigger": "message_received",
            "conditions": {"all": [{"field": "platform", "op": "is", "value": "line"}]},
            "actions": [{"type": "add_tags", "tags": ["vip"]}, {"type": "set_priority", "priority": "high"}],
            "enabled": True,
            "stop_processing": False,
            "position": 1,
        },
    ),
    (A.RULE_UPDATED, "automation.rule", {"enabled": [True, False], "actions": [[], [{"type": "mark_spam"}]]}),
    (A.RULES_REORDERED, "", {"trigger": "message_received", "order": [[3, 1], [1, 3]]}),
    (A.AUTOMATION_SETTINGS_CHANGED, "", {"crisis_threshold": [10, 5]}),
    (
        A.AUTO_RESPONSE_CHANGED,
        "channels_integrations.channelconnection",
        {"kind": "out_of_hours", "response": [None, 4], "enabled": [False, True]},
    ),
    (
        A.CALENDAR_CHANGED,
        "automation.businesscalendar",
        {"created": True, "name": [None, "Office"], "schedule": [None, {"mon": [["09:00", "18:00"]]}]},
    ),
    (
        A.CALENDAR_CHANGED,
        "automation.businesscalendar",
        {
            "closure_added": {
                "name": "New year",
                "from": "2024-12-31T15:00:00+00:00",
                "until": "2025-01-03T15:00:00+00:00",
            }
        },
    ),
    (A.SLA_POLICY_CHANGED, "automation.slapolicy", {"deleted": True, "name": "Gold", "tickets_stopped": 2}),
]


def _entry(action, object_type="", changes=None) -> AuditEntry:
    return AuditEntry(action=action, object_type=object_type, object_id="1" if object_type else "", changes=changes)


def _details(action, object_type, changes) -> list[Detail]:
    with translation.override("en"), timezone.override("Asia/Tokyo"):
        return audit_display.details(_entry(action, object_type, changes))


@pytest.mark.parametrize(
    ("action", "object_type", "changes"), RECORDED, ids=[f"{r[0]}-{i}" for i, r in enumerate(RECORDED)]
)
def test_every_recorded_shape_reads_as_labelled_text(action, object_type, changes):
    fields = _details(action, object_type, changes)
    assert fields
    for field in fields:
        text = field.as_text()
        for raw in ("{", "}", "[", "]", "'", "None", "True", "False"):
            assert raw not in text, (action, text)
        assert field.label and not field.label.startswith(" ")


def test_pairs_are_changes_only_where_the_action_records_changes():
    assert _details(A.MEMBER_ROLE_CHANGED, "accounts.user", {"role": ["agent", "editor"]}) == [
        Detail(label="Role", old="Agent", new="Editor", changed=True)
    ]
    # A team created with two members is a list of two, not a change from one to the other.
    assert _details(A.TEAM_CREATED, "accounts.team", {"members": ["a@a.test", "b@a.test"]}) == [
        Detail(label="Members", value="a@a.test, b@a.test")
    ]
    added = _details(A.TEAM_UPDATED, "accounts.team", {"members": {"added": ["a@x", "b@x"], "removed": []}})
    assert [(f.label, f.value, f.changed) for f in added] == [
        ("Members › Added", "a@x, b@x", False),
        ("Members › Removed", "—", False),
    ]


def test_values_read_as_people_read_them():
    org = {f.label: f for f in _details(*RECORDED[0])}
    assert org["Require two-factor authentication"].as_text() == "Require two-factor authentication: No → Yes"
    routing = {f.label: f for f in _details(*RECORDED[7])}
    assert routing["Automatic assignment"].new != "least_open"  # the choice's label
    capacity = routing["Members › agent@a.test › Open tickets at most"]
    assert (capacity.old, capacity.new) == ("—", "3")
    assert routing["Members › agent@a.test › Languages"].new == "en, ja"
    # Created: the new values alone, no "— → value".
    calendar = _details(*RECORDED[-3])
    assert not any(f.changed for f in calendar) and "Name: Office" in [f.as_text() for f in calendar]
    closure = {f.label: f.value for f in _details(*RECORDED[-2])}
    assert closure["Closure added › From"] == "2025-01-01 00:00"  # in the viewer's zone
    assert _details(*RECORDED[12]) == [Detail(label="Error", value="token expired")]
    assert _details(A.WEBHOOK_REJECTED, "", {"status": 403})[0].label == "HTTP status"


def test_actor_reads_as_the_members_name_the_address_tried_or_system():
    entry = _entry(A.CHANNEL_NEEDS_REAUTH)
    with translation.override("en"):
        assert audit_display.actor_name(entry) == "System"
        entry.actor_email = "who@nowhere.test"
        assert audit_display.actor_name(entry) == "who@nowhere.test"


def test_a_csv_row_is_escaped_cell_by_cell_in_the_active_zone():
    entry = _entry(A.TEAM_UPDATED, "accounts.team", {"name": ["Day", "=cmd"]})
    entry.object_repr = "=cmd"
    entry.actor_email = "@attacker"
    entry.created_at = datetime(2024, 5, 1, 15, 30, tzinfo=UTC)
    with translation.override("en"), timezone.override("Asia/Tokyo"):
        row = audit_display.csv_row(entry)
    assert row[0] == "2024-05-02 00:30:00"
    assert row[1] == "'@attacker" and row[5] == "'=cmd"
    assert row[6] == "Name: Day → =cmd"  # the cell starts with the label: nothing to run
