"""Reads for the live panel and the scheduled reports list."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, OuterRef, Q, Subquery
from django.utils.translation import gettext_lazy as _

from accounts.models import Membership
from analytics.reports.models import ReportRun, ReportSchedule
from channels_integrations.permissions import connections_visible_to
from core.presence import online_user_ids
from tickets.models import ACTIVE_CONDITION, Ticket

# "Breaching soon": an SLA clock due within this long from now.
BREACHING_SOON = timedelta(hours=1)


def breaching_soon_condition(now: datetime) -> Q:
    """Tickets with an SLA clock that is running (not held while the ticket waits on the customer) and due in
    [now, now + 1 h): first response not yet given, next response, or resolution. Tickets already overdue are not
    "breaching soon"."""
    window = {"gte": now, "lt": now + BREACHING_SOON}

    def due(column: str) -> Q:
        return Q(**{f"{column}__{op}": value for op, value in window.items()})

    return Q(sla_paused_at__isnull=True) & (
        (due("first_response_due_at") & Q(first_response_at__isnull=True))
        | due("next_response_due_at")
        | due("resolution_due_at")
    )


@dataclass(frozen=True)
class OnlineAgent:
    user_id: int
    name: str
    role: str
    open_tickets: int


@dataclass(frozen=True)
class LivePanel:
    open: int
    unassigned: int
    breaching_soon: int
    agents: list[OnlineAgent]
    at: datetime


def live_panel(*, membership: Membership, now: datetime) -> LivePanel:
    """The numbers of the live panel, within the channels the member may see: active tickets (new, open, pending, on
    hold; not merged), those with no assignee, those breaching soon, and the members online with how many of those
    active tickets each is assigned. Three queries, whatever the number of tickets or agents."""
    organization = membership.organization
    active = Ticket.objects.filter(
        ACTIVE_CONDITION, organization=organization, connection__in=connections_visible_to(membership).values("pk")
    )
    totals = active.aggregate(
        open=Count("id"),
        unassigned=Count("id", filter=Q(assignee__isnull=True)),
        breaching_soon=Count("id", filter=breaching_soon_condition(now)),
    )
    online = online_user_ids(organization.pk, now=now.timestamp())
    agents: list[OnlineAgent] = []
    if online:
        loads = dict(
            active.filter(assignee_id__in=online).values_list("assignee_id").annotate(n=Count("id")).order_by()
        )
        members = (
            Membership.objects.filter(organization=organization, user_id__in=online)
            .select_related("user", "role")
            .order_by("user__name", "user_id")
        )
        agents = [OnlineAgent(m.user_id, str(m.user), m.role.label, loads.get(m.user_id, 0)) for m in members]
    return LivePanel(
        open=totals["open"],
        unassigned=totals["unassigned"],
        breaching_soon=totals["breaching_soon"],
        agents=agents,
        at=now,
    )


SKIP_REASONS = {
    "left": _("no longer a member"),
    "inactive": _("account deactivated"),
    "no_access": _("may no longer read dashboards"),
    "filters": _("the saved filters name a channel they may not see"),
    "error": _("the email could not be sent"),
}


def schedules_with_last_run(*, organization) -> list[ReportSchedule]:
    """The organization's schedules by name, each with `last_run` (its latest run or None) and `recipient_count`.
    Three queries, whatever the number of schedules and runs."""
    latest = ReportRun.objects.filter(schedule=OuterRef("pk")).order_by("-due_at").values("pk")[:1]
    schedules = list(
        ReportSchedule.objects.filter(organization=organization)
        .annotate(last_run_id=Subquery(latest), recipient_count=Count("recipients"))
        .order_by("name", "pk")
    )
    runs = ReportRun.objects.in_bulk([s.last_run_id for s in schedules if s.last_run_id])
    for schedule in schedules:
        schedule.last_run = runs.get(schedule.last_run_id)
    return schedules
