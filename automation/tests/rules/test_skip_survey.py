"""The "skip the satisfaction survey" rule action: saved like any action, shown by the dry run without acting, and
when the rule runs, the ticket's next survey is skipped with the rule's name as the reason (and the why-log)."""

import pytest
from django.core import mail

from automation.models import RuleRun
from automation.rules import services
from automation.rules.describe import Names, describe_action
from automation.rules.engine import rules_dry_run
from automation.rules.schema import ACTIONS
from tickets.models import Survey, SurveyState
from tickets.services.changes import ticket_update
from tickets.tests.services.test_surveys import enable, line_ticket, solve

pytestmark = pytest.mark.django_db

VIP = {"all": [{"field": "ticket.tags", "op": "contains_any", "value": ["vip"]}]}


def test_dry_run_lists_the_match_and_changes_nothing(tenant_a):
    enable(tenant_a)
    ticket = line_ticket(tenant_a, email="vip@example.jp")
    with tenant_a.scope():
        ticket_update(organization=tenant_a.organization, actor=None, ticket=ticket, tags=["vip"])
        looked_at, matches = rules_dry_run(
            organization=tenant_a.organization,
            trigger="ticket_updated",
            conditions=VIP,
            actions=[{"type": "skip_survey"}],
        )
        assert [match.ticket.pk for match in matches] == [ticket.pk] and looked_at == 1
        assert not Survey.objects.exists()
        assert describe_action({"type": "skip_survey"}, Names()) == str(ACTIONS["skip_survey"])


def test_rule_skips_the_survey_of_the_solve_and_logs_why(tenant_a, django_capture_on_commit_callbacks):
    enable(tenant_a)
    with tenant_a.scope():
        services.rule_create(
            organization=tenant_a.organization,
            actor=tenant_a.users["admin"],
            name="VIP: no survey",
            trigger="ticket_updated",
            conditions=VIP,
            actions=[{"type": "skip_survey"}],
        )
    ticket = line_ticket(tenant_a, email="vip@example.jp")
    with tenant_a.scope(), django_capture_on_commit_callbacks(execute=True):
        ticket_update(organization=tenant_a.organization, actor=tenant_a.users["agent"], ticket=ticket, tags=["vip"])
    solve(tenant_a, ticket, django_capture_on_commit_callbacks)
    with tenant_a.scope():
        [survey] = Survey.objects.filter(ticket=ticket)
        run = RuleRun.objects.filter(ticket=ticket, rule_name="VIP: no survey").first()
    assert survey.state == SurveyState.SKIPPED and survey.reason == "VIP: no survey" and survey.solve_event_id
    assert run is not None and run.actions[0]["type"] == "skip_survey" and run.actions[0]["ok"]
    assert mail.outbox == []
