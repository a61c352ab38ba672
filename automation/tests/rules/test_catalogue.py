"""The rule templates: each one, with its choices made, is a rule the schema accepts and the compiler runs; its example
message matches and an unrelated one does not; what is left to choose is named; its words fit the editor's form."""

from datetime import UTC, datetime

import pytest
from django.utils import translation

from accounts import services as account_services
from automation.nlp import analyze
from automation.rules.catalogue import TEMPLATES, describe_template, template_get
from automation.rules.compiler import Facts, compile_conditions
from automation.rules.forms import RuleForm
from automation.rules.schema import References, RuleInvalid, validate_rule
from tickets.canned import canned_response_create

NOW = datetime(2026, 4, 14, 23, 30, tzinfo=UTC)


def facts(text: str, *, in_hours: bool, tags=(), priority="normal", kind="direct") -> Facts:
    analysis = analyze(text)
    return Facts(
        now=NOW,
        connection_id=1,
        platform="line",
        status="new",
        priority=priority,
        created_at=NOW,
        ticket_tags=frozenset(tags),
        in_business_hours=in_hours,
        has_message=True,
        message_kind=kind,
        text=text,
        language=analysis.language,
        sentiment=analysis.sentiment,
    )


def test_keys_are_unique_and_found():
    assert len({t.key for t in TEMPLATES}) == len(TEMPLATES)
    assert all(template_get(t.key) is t for t in TEMPLATES)
    assert template_get("nope") is None and template_get(None) is None


@pytest.mark.django_db
@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.key)
def test_each_template_with_its_choices_made_validates_and_compiles(tenant_a, template):
    # Given this organization's team and shared canned response, the choices a template asks for
    with tenant_a.scope():
        team = account_services.team_create(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], name="窓口", members=[]
        )
        canned = canned_response_create(
            organization=tenant_a.organization,
            actor=tenant_a.users["owner"],
            actor_membership=tenant_a.memberships["owner"],
            title="営業時間外",
            shortcut="closed",
            variants=[{"language": "ja", "body": "ただいま営業時間外です。"}],
            shared=True,
        )
        refs = References.of(tenant_a.organization)
    conditions, actions = template.filled(team=team.pk, response=canned.pk)
    # When the schema checks it as it checks a hand-written rule
    clean_conditions, clean_actions = validate_rule(
        trigger=template.trigger, conditions=conditions, actions=actions, refs=refs
    )
    # Then it is accepted unchanged, and the compiled rule matches the example and not an unrelated message
    assert (clean_conditions, clean_actions) == (conditions, actions)
    matches = compile_conditions(clean_conditions)
    assert matches(facts(template.example, in_hours=False)), template.example
    assert not matches(facts("営業時間を教えてください", in_hours=True))


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.key)
def test_a_template_left_as_drafted_asks_for_its_choices(template):
    conditions, actions = template.draft()
    if not template.needs:
        validate_rule(trigger=template.trigger, conditions=conditions, actions=actions, refs=None)
        return
    with pytest.raises(RuleInvalid) as caught, translation.override("en"):
        validate_rule(trigger=template.trigger, conditions=conditions, actions=actions, refs=None)
    paths = {path.rsplit(".", 1)[1] for path in caught.value.errors}
    assert paths == set(template.needs)
    assert template.draft() == template.draft() and template.draft()[1] is not template.draft()[1]


def test_needs_name_what_is_chosen_per_organization():
    needs = {t.key: t.needs for t in TEMPLATES}
    assert needs["cancellation"] == ("team",) and needs["refund"] == ("team",)
    assert needs["urgent"] == () and needs["complaint"] == ()
    assert needs["out_of_hours"] == ("response",) and template_get("out_of_hours").uses_business_hours


def test_routing_templates_act_once_per_ticket_and_urgent_once_per_priority():
    cancellation, urgent = template_get("cancellation"), template_get("urgent")
    matches = compile_conditions(cancellation.conditions)
    assert matches(facts("サブスクを解約したい", in_hours=True))
    assert matches(facts("I want to cancel my order", in_hours=True))
    assert not matches(facts("注文をキャンセルしたいです", in_hours=True, tags={"cancellation"}))
    assert not compile_conditions(urgent.conditions)(facts("至急お願いします", in_hours=True, priority="urgent"))


def test_out_of_hours_reply_never_answers_a_public_comment_nor_inside_hours():
    matches = compile_conditions(template_get("out_of_hours").conditions)
    assert matches(facts("こんばんは", in_hours=False, kind="email"))
    assert not matches(facts("こんばんは", in_hours=False, kind="comment"))
    assert not matches(facts("こんばんは", in_hours=True))


@pytest.mark.parametrize("language", ["ja", "en"])
def test_words_fit_the_editor_and_describe_the_choices(language):
    with translation.override(language):
        for template in TEMPLATES:
            initial = template.initial()
            form = RuleForm(data=initial)
            assert form.is_valid(), (template.key, form.errors)
            assert form.cleaned_data["name"] == str(template.name)
            conditions, actions = describe_template(template)
            assert conditions.items and len(actions) == len(template.actions)
            assert not any("#None" in text for text in actions)
    with translation.override("en"):
        assert describe_template(template_get("cancellation"))[1] == [
            "Route to the team you choose",
            "Add tags: “cancellation”",
        ]
