"""Celery tasks of automatic assignment: drain one team's queue, and the beat's safety net that drains every queue
with waiting tickets (for whatever no event triggered: a capacity freed by a solved ticket, a lost task)."""

from celery import shared_task
from django.db import OperationalError
from django.db.models import Q
from django.utils import timezone
from django_scopes import scopes_disabled

from accounts.models import AssignmentStrategy, Team
from automation.routing import assignment  # the module, not its names: assignment queues these tasks
from core.task_base import TenantTask
from tickets.models import ACTIVE_STATUSES, Ticket

BATCH = 200


@shared_task(
    base=TenantTask,
    name="automation.drain_team_queue",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def drain_team_queue(*, organization, team_id: int) -> int:
    """Assign the team's waiting tickets while its agents have room. Idempotent: running it twice assigns nothing
    twice (each ticket is locked and re-checked)."""

    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        return 0  # deleted since the task was queued
    total = 0
    while True:
        # A full batch means more may wait (a long queue, an agent back from a break): go on in batches.
        assigned = assignment.team_queue_drain(organization=organization, team=team, limit=BATCH)
        total += assigned
        if assigned < BATCH:
            return total


@shared_task(name="automation.drain_queues_everywhere")
def drain_queues_everywhere() -> int:
    """Fan out one drain per automatically assigned team that has waiting tickets (the lookup spans tenants by
    design; each drain runs in its organization's scope). Returns the number of drains queued."""

    with scopes_disabled():
        pairs = list(
            Ticket.objects.filter(
                Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=timezone.now()),
                team__isnull=False,
                assignee__isnull=True,
                status__in=ACTIVE_STATUSES,
                merged_into__isnull=True,
            )
            .exclude(team__assignment_strategy=AssignmentStrategy.MANUAL)
            .order_by()
            .values_list("organization_id", "team_id")
            .distinct()
        )
    for organization_id, team_id in pairs:
        drain_team_queue.delay(organization_id=organization_id, team_id=team_id)
    return len(pairs)
