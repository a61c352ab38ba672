"""Pruning the rules' log: the runs on tickets solved or closed longer than the retention go, in batches, and the
time-based pass finds exactly what it found before (a reopened ticket is in a new state, pruned or not)."""

import itertools
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_scopes import scopes_disabled

from automation.models import Rule, RuleRun, RuleTrigger
from automation.rules import engine
from automation.rules.pruning import rule_runs_prune
from automation.rules.tasks import prune_rule_runs
from tickets.models import Contact, Ticket, TicketStatus
from tickets.services.changes import ticket_update
from tickets.tests.factories import connection

pytestmark = pytest.mark.django_db

_numbers = itertools.count(1)
DAY = timedelta(days=1)


def ticket_in(tenant, status: str, since) -> Ticket:
    """A ticket whose status has been `status` since `since`."""
    n = next(_numbers)
    with tenant.scope():
        contact = Contact.objects.create(organization=tenant.organization, name="山田 花子")
        ticket = Ticket.objects.create(
            organization=tenant.organization,
            number=n,
            connection=connection(tenant),
            contact=contact,
            external_thread_key=f"prune-{n}",
        )
        Ticket.objects.filter(pk=ticket.pk).update(
            status=status, status_changed_at=since, created_at=since - DAY, last_message_at=since - DAY
        )
        return Ticket.objects.get(pk=ticket.pk)


def runs_on(tenant, ticket: Ticket, *created) -> list[int]:
    """Runs of a (since deleted) rule on the ticket, created at the given times."""
    ids = []
    with tenant.scope():
        for at in created:
            run = RuleRun.objects.create(
                organization=tenant.organization, ticket=ticket, rule_name="old rule", trigger=RuleTrigger.SCHEDULED
            )
            RuleRun.objects.filter(pk=run.pk).update(created_at=at)
            ids.append(run.pk)
    return ids


def test_runs_on_tickets_closed_longer_than_the_retention_go_in_batches(tenant_a, tenant_b, settings):
    # Given a retention of 90 days, and runs on tickets in every situation, in two organizations
    settings.RULE_RUN_RETENTION_DAYS = 90
    now = timezone.now()
    long_ago = now - 100 * DAY
    closed_long_ago = ticket_in(tenant_a, TicketStatus.CLOSED, long_ago)
    solved_long_ago = ticket_in(tenant_b, TicketStatus.SOLVED, long_ago)
    closed_lately = ticket_in(tenant_a, TicketStatus.CLOSED, now - 10 * DAY)
    open_for_long = ticket_in(tenant_a, TicketStatus.OPEN, long_ago)
    pending_for_long = ticket_in(tenant_b, TicketStatus.PENDING, long_ago)
    # (ids in creation order, as the sequence gives them)
    gone = runs_on(tenant_a, closed_long_ago, long_ago, long_ago + DAY, long_ago + 2 * DAY)
    gone += runs_on(tenant_b, solved_long_ago, long_ago + 3 * DAY, long_ago + 3 * DAY)
    kept = runs_on(tenant_a, closed_lately, long_ago + 4 * DAY)
    kept += runs_on(tenant_a, open_for_long, long_ago + 5 * DAY)
    kept += runs_on(tenant_b, pending_for_long, long_ago + 6 * DAY)
    kept += runs_on(tenant_a, closed_lately, now - 11 * DAY)
    # a run made on the long-closed ticket since (a rule on a change to it) is not due yet
    kept += runs_on(tenant_a, closed_long_ago, now - DAY)
    # When the prune runs, 3 runs at a time
    with CaptureQueriesContext(db_connection) as queries:
        assert rule_runs_prune(before=now - 90 * DAY, batch=3) == len(gone)
    # Then the runs on the tickets closed or solved more than 90 days ago went, the rest stayed
    with scopes_disabled():
        assert sorted(RuleRun.objects.values_list("pk", flat=True)) == sorted(kept)
    # in one statement per batch of 3, the walk stopping at the batch that reached the runs of the last 90 days
    assert len([q for q in queries.captured_queries if "DELETE" in q["sql"]]) == 3
    # And the hourly task finds nothing more
    assert prune_rule_runs() == 0


def test_the_beat_prunes_hourly(settings):
    assert settings.CELERY_BEAT_SCHEDULE["prune-rule-runs"] == {
        "task": "automation.prune_rule_runs",
        "schedule": 3600.0,
    }


UNASSIGNED_OPEN = {
    "all": [
        {"field": "ticket.status", "op": "in", "value": ["open"]},
        {"field": "ticket.assignee", "op": "is_not_set"},
        {"field": "ticket.minutes_since_created", "op": "gt", "value": 10},
    ]
}


@pytest.mark.parametrize("pruned", [False, True], ids=["kept", "pruned"])
def test_the_time_pass_acts_the_same_with_the_runs_of_closed_tickets_pruned(tenant_a, settings, pruned):
    # (a retention of 0 days: the ticket's times are the services' own, none set by hand)
    settings.RULE_RUN_RETENTION_DAYS = 0
    now = timezone.now()
    # Given an open unassigned ticket that a time-based rule acted on
    ticket = ticket_in(tenant_a, TicketStatus.OPEN, now - 10 * DAY)
    with tenant_a.scope():
        Rule.objects.create(
            organization=tenant_a.organization,
            name="unassigned open",
            trigger=RuleTrigger.SCHEDULED,
            conditions=UNASSIGNED_OPEN,
            actions=[{"type": "add_tags", "tags": ["放置"]}],
        )
        assert engine.run_scheduled_rules(organization=tenant_a.organization, now=now) == 1
        first = RuleRun.objects.get()
        # then closed by an agent
        ticket_update(organization=tenant_a.organization, actor=tenant_a.users["agent"], ticket=ticket, status="closed")
        acted = [engine.run_scheduled_rules(organization=tenant_a.organization, now=now)]
    # When its runs are pruned (or not)
    if pruned:
        assert prune_rule_runs() == 1
    with tenant_a.scope():
        assert RuleRun.objects.filter(pk=first.pk).exists() is not pruned
        acted.append(engine.run_scheduled_rules(organization=tenant_a.organization, now=now))
        # and the ticket is reopened: a new state (its status change is stamped), whatever its runs in the past
        ticket = ticket_update(
            organization=tenant_a.organization,
            actor=tenant_a.users["agent"],
            ticket=Ticket.objects.get(pk=ticket.pk),
            status="open",
        )
        assert engine.state_key(ticket) != first.dedupe_key
        acted.append(engine.run_scheduled_rules(organization=tenant_a.organization, now=now + timedelta(minutes=1)))
        acted.append(engine.run_scheduled_rules(organization=tenant_a.organization, now=now + timedelta(minutes=2)))
        runs = RuleRun.objects.filter(ticket_id=ticket.pk).count()
    # Then the pass acted exactly as it does with every run kept: never on the closed ticket, once on the reopened one
    assert acted == [0, 0, 1, 0]
    assert runs == (1 if pruned else 2)
