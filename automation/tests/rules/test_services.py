"""Rule services: validation (errors keyed by path, nothing written), audit entries with the changes, order and its
effect on the engine, switching on and off, automation settings, auto-responses, and tenant isolation (B's rules,
teams and canned responses are not A's to use or to reach through A's pages)."""

import pytest
from django.utils import translation

from accounts import services as account_services
from accounts.models import AuditAction, AuditEntry
from automation.models import AutoResponse, AutoResponseKind, Rule
from automation.rules import services
from automation.rules.describe import Names, condition_lines, describe_action
from automation.rules.engine import ruleset
from automation.rules.schema import RuleInvalid
from core.errors import Conflict, DomainError
from tickets.canned import canned_response_create
from tickets.tests.factories import connection

pytestmark = pytest.mark.django_db

SPAM = [{"type": "mark_spam"}]


def _create(tenant, name="Refunds", trigger="message_received", conditions=None, actions=None, **extra):
    with tenant.scope():
        return services.rule_create(
            organization=tenant.organization,
            actor=tenant.users["admin"],
            name=name,
            description=extra.pop("description", ""),
            trigger=trigger,
            conditions=conditions if conditions is not None else {"all": []},
            actions=actions if actions is not None else SPAM,
            **extra,
        )


def _team(tenant, name="Support"):
    with tenant.scope():
        return account_services.team_create(
            organization=tenant.organization, actor=tenant.users["owner"], name=name, members=[tenant.users["agent"]]
        )


def _audit(tenant, action):
    with tenant.scope():
        return list(AuditEntry.objects.filter(action=action).order_by("pk"))


def test_invalid_rules_raise_errors_by_path_and_write_nothing(tenant_a, tenant_b):
    # Given a team of another organization and a rule full of mistakes
    foreign_team = _team(tenant_b)
    conditions = {
        "all": [
            {"field": "message.text", "op": "contains_any", "value": ["返金"]},
            {"any": [{"field": "message.text", "op": "matches", "value": "(unclosed"}, {"field": "nope", "op": "in"}]},
        ]
    }
    # When it is created
    with pytest.raises(RuleInvalid) as caught, translation.override("en"):
        _create(tenant_a, name="  ", conditions=conditions, actions=[{"type": "assign_team", "team": foreign_team.pk}])
    # Then every problem is reported at its path, and nothing is stored or audited
    errors = caught.value.errors
    assert set(errors) == {"name", "conditions.all.1.any.0.value", "conditions.all.1.any.1.field", "actions.0.team"}
    assert "not valid" in errors["conditions.all.1.any.0.value"]
    with tenant_a.scope():
        assert not Rule.objects.exists()
    assert _audit(tenant_a, AuditAction.RULE_CREATED) == []


def test_message_conditions_need_a_message_trigger(tenant_a):
    with pytest.raises(RuleInvalid) as caught:
        _create(
            tenant_a,
            trigger="scheduled",
            conditions={"all": [{"field": "message.text", "op": "contains_any", "value": ["x"]}]},
        )
    assert set(caught.value.errors) == {"conditions"}


def test_create_normalizes_puts_last_and_audits(tenant_a):
    first = _create(tenant_a, name="First")
    other_trigger = _create(tenant_a, name="Other", trigger="ticket_created")
    second = _create(
        tenant_a,
        name="  Second  ",
        conditions={"all": [{"field": "ticket.tags", "op": "contains_any", "value": ["vip", " gold ", "vip"]}]},
        actions=[{"type": "add_tags", "tags": "b, a"}],
        stop_processing=True,
    )
    assert (first.position, other_trigger.position, second.position) == (0, 0, 1)
    assert second.name == "Second"
    assert second.conditions == {"all": [{"field": "ticket.tags", "op": "contains_any", "value": ["gold", "vip"]}]}
    assert second.actions == [{"type": "add_tags", "tags": ["a", "b"]}]
    entries = _audit(tenant_a, AuditAction.RULE_CREATED)
    assert len(entries) == 3
    assert entries[-1].object_id == str(second.pk) and entries[-1].actor == tenant_a.users["admin"]
    assert entries[-1].changes["stop_processing"] is True and entries[-1].changes["actions"] == second.actions


def test_update_records_old_and_new_and_a_new_trigger_puts_the_rule_last(tenant_a):
    _create(tenant_a, name="Existing", trigger="ticket_created")
    rule = _create(tenant_a, name="Moving")
    with tenant_a.scope():
        updated = services.rule_update(
            organization=tenant_a.organization,
            actor=tenant_a.users["admin"],
            rule=rule,
            name="Moved",
            description="",
            trigger="ticket_created",
            conditions={"all": []},
            actions=[{"type": "set_priority", "priority": "high"}],
            enabled=False,
            stop_processing=False,
        )
        # An update that changes nothing writes no audit entry
        services.rule_update(
            organization=tenant_a.organization,
            actor=tenant_a.users["admin"],
            rule=updated,
            name="Moved",
            description="",
            trigger="ticket_created",
            conditions={"all": []},
            actions=[{"type": "set_priority", "priority": "high"}],
            enabled=False,
            stop_processing=False,
        )
    assert updated.position == 1 and updated.trigger == "ticket_created"
    [entry] = _audit(tenant_a, AuditAction.RULE_UPDATED)
    assert entry.changes["name"] == ["Moving", "Moved"]
    assert entry.changes["trigger"] == ["message_received", "ticket_created"]
    assert entry.changes["enabled"] == [True, False]
    assert entry.changes["actions"] == [SPAM, [{"type": "set_priority", "priority": "high"}]]
    assert "description" not in entry.changes


def test_reorder_changes_what_the_engine_runs_first_and_refuses_a_stale_list(tenant_a):
    a, b, c = (_create(tenant_a, name=n) for n in "ABC")
    with tenant_a.scope():
        assert [r.name for r in ruleset(tenant_a.organization).rules("message_received")] == ["A", "B", "C"]
        services.rules_reorder(
            organization=tenant_a.organization,
            actor=tenant_a.users["admin"],
            trigger="message_received",
            ids=[c.pk, a.pk, b.pk],
        )
        # The engine's cached rule set notices the new order
        assert [r.name for r in ruleset(tenant_a.organization).rules("message_received")] == ["C", "A", "B"]
        with pytest.raises(Conflict):
            services.rules_reorder(
                organization=tenant_a.organization,
                actor=tenant_a.users["admin"],
                trigger="message_received",
                ids=[a.pk, b.pk],
            )
        services.rule_move(organization=tenant_a.organization, actor=tenant_a.users["admin"], rule=b, offset=-1)
        assert list(Rule.objects.order_by("position").values_list("name", flat=True)) == ["C", "B", "A"]
    entries = _audit(tenant_a, AuditAction.RULES_REORDERED)
    assert [e.changes["order"] for e in entries] == [
        [[a.pk, b.pk, c.pk], [c.pk, a.pk, b.pk]],
        [[c.pk, a.pk, b.pk], [c.pk, b.pk, a.pk]],
    ]


def test_switching_on_checks_the_rule_again(tenant_a):
    team = _team(tenant_a)
    rule = _create(tenant_a, actions=[{"type": "assign_team", "team": team.pk}])
    with tenant_a.scope():
        off = services.rule_set_enabled(
            organization=tenant_a.organization, actor=tenant_a.users["admin"], rule=rule, enabled=False
        )
        assert off.enabled is False
        assert ruleset(tenant_a.organization).rules("message_received") == []
        account_services.team_delete(organization=tenant_a.organization, actor=tenant_a.users["owner"], team=team)
        # The team it routes to is gone: it cannot be switched on until it is fixed
        with pytest.raises(RuleInvalid) as caught:
            services.rule_set_enabled(
                organization=tenant_a.organization, actor=tenant_a.users["admin"], rule=rule, enabled=True
            )
        assert set(caught.value.errors) == {"actions.0.team"}
        assert Rule.objects.get(pk=rule.pk).enabled is False
    assert [e.changes for e in _audit(tenant_a, AuditAction.RULE_UPDATED)] == [{"enabled": [True, False]}]


def test_delete_audits_the_rule_as_it_was(tenant_a):
    rule = _create(tenant_a, name="Gone")
    with tenant_a.scope():
        services.rule_delete(organization=tenant_a.organization, actor=tenant_a.users["admin"], rule=rule)
        assert not Rule.objects.exists()
    [entry] = _audit(tenant_a, AuditAction.RULE_DELETED)
    assert entry.object_id == str(rule.pk) and entry.changes["name"] == "Gone"


def test_automation_settings_are_checked_and_audited(tenant_a):
    with tenant_a.scope():
        with pytest.raises(DomainError) as caught:
            services.automation_settings_update(
                organization=tenant_a.organization,
                actor=tenant_a.users["admin"],
                crisis_threshold=0,
                crisis_window_minutes=15,
            )
        assert caught.value.field == "crisis_threshold"
        row = services.automation_settings_update(
            organization=tenant_a.organization,
            actor=tenant_a.users["admin"],
            crisis_threshold=8,
            crisis_window_minutes=30,
        )
    assert (row.crisis_threshold, row.crisis_window_minutes) == (8, 30)
    [entry] = _audit(tenant_a, AuditAction.AUTOMATION_SETTINGS_CHANGED)
    assert entry.changes == {"crisis_threshold": [5, 8], "crisis_window_minutes": [15, 30]}


def _canned(tenant, shortcut, shared=True):
    with tenant.scope():
        return canned_response_create(
            organization=tenant.organization,
            actor=tenant.users["owner"],
            actor_membership=tenant.memberships["owner"],
            title=shortcut,
            shortcut=shortcut,
            variants=[{"language": "ja", "body": "ありがとうございます"}],
            shared=shared,
        )


def test_auto_responses_use_shared_canned_responses_of_the_organization(tenant_a, tenant_b):
    line = connection(tenant_a, "line")
    shared, personal, foreign = (
        _canned(tenant_a, "closed"),
        _canned(tenant_a, "mine", shared=False),
        _canned(tenant_b, "b"),
    )
    with tenant_a.scope():
        kwargs = dict(organization=tenant_a.organization, actor=tenant_a.users["admin"], connection=line)
        for response in (personal, foreign):
            with pytest.raises(DomainError) as caught:
                services.auto_response_save(**kwargs, kind=AutoResponseKind.OUT_OF_HOURS, response=response)
            assert caught.value.field == "response"
        saved = services.auto_response_save(
            **kwargs, kind=AutoResponseKind.OUT_OF_HOURS, response=shared, window_hours=12, enabled=True
        )
        assert (saved.response_id, saved.window_hours, saved.enabled) == (shared.pk, 12, True)
        # Saving the same again changes nothing and is not audited; without a response the setting goes away
        services.auto_response_save(
            **kwargs, kind=AutoResponseKind.OUT_OF_HOURS, response=shared, window_hours=12, enabled=True
        )
        assert (
            services.auto_response_save(**kwargs, kind=AutoResponseKind.OUT_OF_HOURS, response=None, enabled=False)
            is None
        )
        assert not AutoResponse.objects.exists()
    entries = _audit(tenant_a, AuditAction.AUTO_RESPONSE_CHANGED)
    assert [e.changes["response"] for e in entries] == [[None, shared.pk], [shared.pk, None]]


def test_names_resolve_only_the_organizations_own_objects(tenant_a, tenant_b):
    mine, theirs = _team(tenant_a, "Support"), _team(tenant_b, "Secret team")
    actions = [{"type": "assign_team", "team": mine.pk}, {"type": "assign_team", "team": theirs.pk}]
    with tenant_a.scope():
        names = Names.load(tenant_a.organization, actions)
    texts = [describe_action(a, names) for a in actions]
    assert "Support" in texts[0] and "Secret team" not in texts[1]
    # A routing result says what became of the ticket; a failed one says why
    result = {"type": "assign_team", "ok": True, "team": mine.pk, "user": None}
    with translation.override("en"):
        assert "queue" in describe_action(result, names)
    failed = {"type": "assign_team", "ok": False, "error": "no such team"}
    assert "no such team" in describe_action(failed, names)
    lines = condition_lines({"all": [{"any": [{"field": "contact.vip", "op": "is", "value": True}]}]}, names)
    assert [depth for depth, _text in lines] == [0, 1, 2]


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("post", ""), ("post", "enabled/"), ("post", "move/"), ("get", "delete/"), ("post", "delete/")],
)
def test_rules_of_b_are_404_through_a_urls(tenant_a, tenant_b, login, method, suffix):
    rule_b = _create(tenant_b, name="B only")
    client = login(tenant_a.users["owner"])
    url = f"/{tenant_a.slug}/settings/rules/{rule_b.pk}/{suffix}"
    response = getattr(client, method)(url, {"direction": "up", "enabled": "0", "name": "x"})
    assert response.status_code == 404
    with tenant_b.scope():
        assert Rule.objects.get(pk=rule_b.pk).name == "B only"
