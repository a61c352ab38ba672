"""Automatic assignment: a ticket routed to a team waits in the team's queue (`ticket.team`, no assignee) and, unless
the team assigns by hand, goes to one of its agents at once or as soon as one can take it.

Who is eligible for a ticket: a member of the team whose role works tickets (`tickets.work`), who is available (not
away), online when the team asks for it (a browser with the inbox open, core.presence), below their capacity of
open tickets, and who may see the ticket's channel (accounts.permissions: never a ticket they could not open).

Open tickets — what capacity counts — are the agent's `new` and `open` tickets (not merged). Pending tickets wait on
the customer and on-hold ones on someone else: they need nothing from the agent now, and counting them would starve
agents who keep many conversations parked. A customer reply turns a pending ticket open, so it counts again then.

Skills (when the team matches them): an agent's languages and platforms say what they can handle; an empty list
means anything. Agents whose skills fit the ticket come first; when none of them can take it (busy, away, cannot
see the channel), the others are the fallback — a ticket waiting for the perfect agent helps no customer. A ticket
of unknown language excludes nobody. Languages match on their primary subtag (`zh-hans` is `zh`).

Fairness: round robin gives the ticket to the eligible agent assigned longest ago (never assigned first, then by
user id); fewest open tickets picks the least loaded, ties broken the same way. `Membership.last_assigned_at` is
per organization, so an agent in two teams takes their turn once, not once per team.

Locks (the concurrency contract, see `_decide`): ticket -> team -> the team's candidate memberships in primary-key
order. Routing and drains take them in that order, one decision per transaction; the routing settings take team ->
memberships by id; the availability switch takes one membership and nothing else.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.audit import audit_record
from accounts.models import (
    AssignmentStrategy,
    AuditAction,
    Availability,
    Membership,
    Organization,
    Role,
    Team,
    User,
)
from accounts.roles import Capability
from automation.routing import tasks as routing_tasks  # the module, not its names: the tasks call assignment
from channels_integrations.permissions import granted_params, granted_sql
from channels_integrations.registry import has_connector
from core import realtime
from core.errors import DomainError, NotAllowed
from core.presence import online_user_ids
from tickets.models import ACTIVE_STATUSES, Ticket, TicketStatus
from tickets.services.assignment import statements_run, ticket_assign_routed
from tickets.services.changes import ticket_update

logger = logging.getLogger("tsunagu.assignment")

OPEN_STATUSES = [TicketStatus.NEW, TicketStatus.OPEN]  # what counts against an agent's capacity (see above)
MAX_CAPACITY = 500

# The languages an agent can declare. Tickets carry the language detected from the customer's messages.
SKILL_LANGUAGES = [
    ("ja", gettext_lazy("Japanese")),
    ("en", gettext_lazy("English")),
    ("zh", gettext_lazy("Chinese")),
    ("ko", gettext_lazy("Korean")),
    ("vi", gettext_lazy("Vietnamese")),
    ("th", gettext_lazy("Thai")),
    ("id", gettext_lazy("Indonesian")),
    ("es", gettext_lazy("Spanish")),
    ("fr", gettext_lazy("French")),
    ("de", gettext_lazy("German")),
    ("pt", gettext_lazy("Portuguese")),
]


# --- reads --------------------------------------------------------------------------------------------------------


def open_ticket_count_expression():
    """A subquery annotation on Membership: the member's open tickets (the load capacity is measured against)."""
    return Coalesce(
        Subquery(
            Ticket.objects.filter(assignee_id=OuterRef("user_id"), status__in=OPEN_STATUSES, merged_into__isnull=True)
            .order_by()
            .values("assignee_id")
            .annotate(n=Count("pk"))
            .values("n"),
            output_field=IntegerField(),
        ),
        Value(0),
    )


def waiting_tickets(team: Team) -> QuerySet[Ticket]:
    """The team's queue: active, unassigned, not merged, not snoozed."""
    return Ticket.objects.filter(
        Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=timezone.now()),
        team=team,
        assignee__isnull=True,
        status__in=ACTIVE_STATUSES,
        merged_into__isnull=True,
    )


@dataclass(frozen=True)
class MemberLoad:
    """One team member as the routing settings page shows them."""

    membership: Membership
    open_count: int
    capacity: int
    online: bool
    works_tickets: bool

    @property
    def available(self) -> bool:
        return self.membership.availability == Availability.AVAILABLE

    @property
    def at_capacity(self) -> bool:
        return self.open_count >= self.capacity


def team_member_loads(*, organization: Organization, team: Team) -> list[MemberLoad]:
    """The team's members with their open tickets, capacity, presence and availability (one query, one Redis read)."""
    memberships = list(
        Membership.objects.filter(user__groups=team.group_id)
        .select_related("user", "role")
        .annotate(open_count=open_ticket_count_expression())
        .order_by("user__name", "user__email")
    )
    online = online_user_ids(organization.pk)
    return [
        MemberLoad(
            membership=m,
            open_count=m.open_count,
            capacity=_capacity(m.capacity, team.default_capacity),
            online=m.user_id in online,
            works_tickets=m.has(Capability.TICKETS_WORK),
        )
        for m in memberships
    ]


# --- the decision -------------------------------------------------------------------------------------------------


def _capacity(capacity: int | None, default: int) -> int:
    return default if capacity is None else capacity


def _primary(language: str) -> str:
    return (language or "").split("-")[0].split("_")[0].lower()


def _skills_fit(candidate: "_Candidate", ticket: Ticket) -> bool:
    language = _primary(ticket.language)
    if candidate.skill_languages and language and language not in {_primary(x) for x in candidate.skill_languages}:
        return False
    return not candidate.skill_platforms or ticket.connection.platform in candidate.skill_platforms


def _turn_key(candidate: "_Candidate") -> tuple:
    # Never assigned comes first; then the one whose last assignment is oldest; the user id makes it total.
    last = candidate.last_assigned_at
    return (last is not None, last.timestamp() if last else 0.0, candidate.user_id)


@dataclass(frozen=True)
class _Candidate:
    """A member of the team who may take tickets, as read after their row is locked."""

    membership_id: int
    user_id: int
    email: str
    name: str
    capacity: int | None
    last_assigned_at: datetime | None
    skill_languages: list[str]
    skill_platforms: list[str]
    open_count: int  # their new and open tickets, counted after the locks
    sees: bool  # may see the ticket's channel


@dataclass(frozen=True)
class _Decision:
    candidate: _Candidate | None
    capacity_left: bool  # some eligible agent still had room (the ticket may be one none of them can see)


def _candidates_where() -> str:
    """Who may take the team's tickets: active users in the team's group, available, whose role works tickets."""
    return f"""
        m.organization_id = %(org)s AND m.availability = %(available)s AND %(work)s = ANY(r.capabilities)
        AND u.is_active
        AND EXISTS (SELECT 1 FROM {_USER_GROUPS} ug WHERE ug.user_id = m.user_id AND ug.group_id = %(group)s)"""


# Three statements sent in one round trip (see `_decide`). In READ COMMITTED every statement takes its own snapshot
# when it starts, so the third, which counts the open tickets, sees everything committed while the first two waited
# for their locks.
_MEMBERSHIP = Membership._meta.db_table
_USER_GROUPS = User.groups.through._meta.db_table
_DECIDE_SQL = [
    # (2) the team row: one team's decisions one at a time, and its settings as they are now.
    f"""SELECT assignment_strategy, default_capacity, match_skills, require_online FROM {Team._meta.db_table}
        WHERE id = %(team)s AND organization_id = %(org)s FOR NO KEY UPDATE""",
    # (3) the candidates' memberships, in primary-key order (the global lock order).
    f"""SELECT m.id FROM {_MEMBERSHIP} m
        JOIN {User._meta.db_table} u ON u.id = m.user_id JOIN {Role._meta.db_table} r ON r.id = m.role_id
        WHERE {_candidates_where()}
        ORDER BY m.id FOR NO KEY UPDATE OF m""",
    # What the decision needs of each candidate, with whether they may see the ticket's channel: tickets.view_all,
    # or the connection granted to them or to one of their teams (`granted_sql`, the permissions module's).
    f"""SELECT m.id, m.user_id, u.email, u.name, m.capacity, m.last_assigned_at, m.skill_languages, m.skill_platforms,
            (SELECT count(*) FROM {Ticket._meta.db_table} t
             WHERE t.organization_id = m.organization_id AND t.assignee_id = m.user_id
               AND t.status = ANY(%(open_statuses)s) AND t.merged_into_id IS NULL),
            %(view_all)s = ANY(r.capabilities) OR {granted_sql("m.user_id")}
        FROM {_MEMBERSHIP} m
        JOIN {User._meta.db_table} u ON u.id = m.user_id JOIN {Role._meta.db_table} r ON r.id = m.role_id
        WHERE {_candidates_where()}
        ORDER BY m.id""",
]


def _decide(*, organization: Organization, team: Team, ticket: Ticket, online: set[int] | None) -> _Decision:
    """Choose the agent for a ticket the caller has locked, and mark their turn taken. Runs in the caller's transaction.
    `online`: the organization's online users if the caller read them (it does before any lock when the team asks for
    presence), None to read them here when needed.

    Lock order, the same on every path: (1) the ticket (the caller), (2) the team row, (3) the team's candidate
    memberships, all in one statement ordered by primary key. (2) serialises one team's decisions, so two tickets of
    the team cannot both see the same "next" agent. (3) serialises the decisions of *different* teams that share an
    agent: the open-ticket count is read by a statement that starts after the locks are held, and — at READ
    COMMITTED every statement sees what committed before it started — it includes the assignment the previous lock
    holder made, so nobody goes over capacity. It is deadlock-free because every transaction takes these locks in
    the same global order: tickets before teams before memberships, one team per transaction, memberships in
    ascending id within one statement (PostgreSQL locks the rows of `ORDER BY pk FOR UPDATE` in output order). A
    transaction waiting for a membership holds no membership with a higher id, so no cycle can form. The queue drain
    takes its tickets with SKIP LOCKED and never waits for one at all.

    FOR NO KEY UPDATE rather than FOR UPDATE: it still excludes the other routers, but not the FOR KEY SHARE locks
    PostgreSQL takes on a team or membership when someone inserts or updates a row pointing at it (a ticket moved
    into the team by hand), which need not wait for routing.

    Cost: (2), (3) and the read of the candidates go to PostgreSQL in one round trip, whatever the number of agents
    or tickets; presence is one Redis read; the turn is written with the assignment (`_assign`). Presence is not
    part of the lock statement: locking an offline member too is harmless and keeps presence out of the locks."""
    team_rows, locked_rows, rows = statements_run(
        _DECIDE_SQL,
        {
            "team": team.pk,
            "org": organization.pk,
            "group": team.group_id,
            "available": Availability.AVAILABLE,
            "work": Capability.TICKETS_WORK,
            "view_all": Capability.TICKETS_VIEW_ALL,
            "open_statuses": [str(s) for s in OPEN_STATUSES],
            **granted_params(ticket.connection_id),
        },
    )
    if not team_rows:
        return _Decision(None, False)  # the team was deleted meanwhile
    strategy, default_capacity, match_skills, require_online = team_rows[0]
    if strategy == AssignmentStrategy.MANUAL:
        return _Decision(None, False)
    locked = {row[0] for row in locked_rows}
    # Only rows this transaction locked: one that became eligible between the two statements is not held.
    candidates = [_Candidate(*row[:8], open_count=row[8], sees=row[9]) for row in rows if row[0] in locked]
    if require_online:
        online = online_user_ids(organization.pk) if online is None else online
        candidates = [c for c in candidates if c.user_id in online]
    room = [c for c in candidates if c.open_count < _capacity(c.capacity, default_capacity)]
    if not room:
        return _Decision(None, False)
    if strategy == AssignmentStrategy.LEAST_OPEN:
        room.sort(key=lambda c: (c.open_count, *_turn_key(c)))
    else:
        room.sort(key=_turn_key)
    if match_skills:
        room = [c for c in room if _skills_fit(c, ticket)] + [c for c in room if not _skills_fit(c, ticket)]
    for candidate in room:
        if candidate.sees:
            return _Decision(candidate, True)
    return _Decision(None, True)


def _routable(ticket: Ticket) -> bool:
    return (
        ticket.assignee_id is None
        and ticket.status in ACTIVE_STATUSES
        and ticket.merged_into_id is None
        and (ticket.snoozed_until is None or ticket.snoozed_until <= timezone.now())
    )


def _assign(*, organization: Organization, ticket: Ticket, team: Team, candidate: _Candidate, actor: User | None):
    """Record the decision on the locked ticket (tickets.services.assignment.ticket_assign_routed: what an
    assignment records, with the agent's turn, in one round trip). The agent's membership and channel access were
    checked by `_decide` under its locks, so nothing is read again. Moving the ticket to the team is `actor`'s act
    (None: automation); the assignment is automation's."""
    ticket_assign_routed(
        organization=organization,
        actor=actor,
        ticket=ticket,
        team=team,
        assignee=_user(candidate),
        turn_membership_id=candidate.membership_id,
    )


def _queue(*, organization: Organization, ticket: Ticket, team: Team, actor: User | None) -> Ticket:
    """No agent now: the ticket waits in the team's queue."""
    if ticket.team_id != team.pk:
        return ticket_update(organization=organization, actor=actor, ticket=ticket, team=team, run_rules=False)
    return ticket


def _user(candidate: _Candidate) -> User:
    # The chosen agent as the callers need them (id, name, email), without reading the row again.
    return User.from_db(DEFAULT_DB_ALIAS, ["id", "email", "name"], [candidate.user_id, candidate.email, candidate.name])


def _lock_ticket(queryset: QuerySet[Ticket], **kwargs) -> Ticket | None:
    return queryset.select_for_update(of=("self",), **kwargs).select_related("connection").first()


def _online_before_locks(organization: Organization, team: Team) -> set[int] | None:
    # Presence read before any lock is taken, so that the Redis round trip does not lengthen the team's lock.
    if team.require_online and team.assignment_strategy != AssignmentStrategy.MANUAL:
        return online_user_ids(organization.pk)
    return None


# --- services -----------------------------------------------------------------------------------------------------


def ticket_route(*, organization: Organization, ticket: Ticket, team: Team, actor: User | None = None) -> User | None:
    """Put the ticket in the team's queue and, unless the team assigns by hand or the ticket already has an
    assignee (or is closed, merged or snoozed), give it to an eligible agent of the team. Returns the agent, or None
    when the ticket waits in the queue (the drains assign it when an agent can take it).

    Runs inside the caller's transaction (rules route while the ingest holds the ticket); the team's and the
    candidates' locks are held until the caller commits, so keep what follows short. Make one routing decision per
    transaction: a second one (another ticket or team) breaks the lock order of `_decide` and can deadlock with a
    transaction doing the same the other way round — PostgreSQL would abort one of them (a retryable error, never a
    hang). `actor` is who moved the ticket to the team (None: automation); the assignment itself is always
    automation's. The passed `ticket` gets the new `team_id` and `assignee_id`.

    Cost of a decision, whatever the number of agents and tickets: one Redis read (presence), and seven round trips
    to PostgreSQL in its own transaction (begin, the ticket's lock, the decision, the writes, the notification's two,
    commit); after commit, its real-time events go out together."""
    if ticket.organization_id != organization.pk or team.organization_id != organization.pk:
        raise DomainError(_("This team belongs to another organization."), field="team")
    online = _online_before_locks(organization, team)
    with realtime.batched(), transaction.atomic():
        locked = _lock_ticket(Ticket.objects.filter(pk=ticket.pk))
        decision = _Decision(None, False)
        if _routable(locked) and team.assignment_strategy != AssignmentStrategy.MANUAL:
            decision = _decide(organization=organization, team=team, ticket=locked, online=online)
        if decision.candidate is not None:
            _assign(organization=organization, ticket=locked, team=team, candidate=decision.candidate, actor=actor)
        else:
            locked = _queue(organization=organization, ticket=locked, team=team, actor=actor)
    ticket.team_id, ticket.assignee_id = locked.team_id, locked.assignee_id
    if decision.candidate is None:
        return None
    logger.info("ticket %s routed to user %s in team %s", ticket.pk, decision.candidate.user_id, team.pk)
    return _user(decision.candidate)


def team_queue_drain(*, organization: Organization, team: Team, limit: int = 200) -> int:
    """Assign the team's waiting tickets, oldest first, while eligible agents have room. Returns how many were
    assigned. Each ticket is its own short transaction (call it outside one: the Celery tasks do); a ticket locked
    by someone else (its message being ingested, an agent editing it) is skipped — whoever holds it routes it, or
    the next drain does. Stops early when no eligible agent has room left."""
    if team.assignment_strategy == AssignmentStrategy.MANUAL:
        return 0
    assigned = 0
    ids = list(waiting_tickets(team).order_by("created_at", "pk").values_list("pk", flat=True)[:limit])
    for ticket_id in ids:
        online = _online_before_locks(organization, team)
        with realtime.batched(), transaction.atomic():
            ticket = _lock_ticket(waiting_tickets(team).filter(pk=ticket_id), skip_locked=True)
            if ticket is None:
                continue  # taken meanwhile, or locked by someone who will route it
            decision = _decide(organization=organization, team=team, ticket=ticket, online=online)
            if decision.candidate is not None:
                _assign(organization=organization, ticket=ticket, team=team, candidate=decision.candidate, actor=None)
                assigned += 1
        if decision.candidate is None and not decision.capacity_left:
            break
    return assigned


def _user_team_ids(user: User) -> list[int]:
    return list(
        Team.objects.filter(group__user=user)
        .exclude(assignment_strategy=AssignmentStrategy.MANUAL)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def agent_became_available(*, organization: Organization, user: User) -> int:
    """Drain every automatically assigned team of this user now (one team per transaction). Returns the number of
    tickets assigned (to anyone eligible: the drain is the team's, the user is only why it runs)."""
    return sum(
        team_queue_drain(organization=organization, team=team)
        for team in Team.objects.filter(pk__in=_user_team_ids(user)).order_by("pk")
    )


def agent_queues_drain_later(*, organization: Organization, user: User) -> None:
    """After commit, queue a drain of each automatically assigned team of this member — when they come online,
    become available, or finish work (their capacity freed). Nothing when they are away."""
    if not Membership.objects.filter(user=user, availability=Availability.AVAILABLE).exists():
        return
    team_ids = _user_team_ids(user)
    if team_ids:
        transaction.on_commit(lambda: _enqueue_drains(organization.pk, team_ids))


def _enqueue_drains(organization_id: int, team_ids: list[int]) -> None:
    for team_id in team_ids:
        routing_tasks.drain_team_queue.delay(organization_id=organization_id, team_id=team_id)


@transaction.atomic
def membership_availability_set(
    *, organization: Organization, actor: User, membership: Membership, availability: str
) -> Membership:
    """A member says whether they take automatic assignments now (away: none). Going available drains the queues
    of their teams after commit."""
    if availability not in Availability.values:
        raise DomainError(_("Choose available or away."), field="availability")
    if membership.user_id != actor.pk:
        raise NotAllowed(_("Members set their own availability."))
    locked = Membership.objects.select_for_update(no_key=True).get(pk=membership.pk)
    if locked.availability != availability:
        Membership.objects.filter(pk=locked.pk).update(availability=availability)
        if availability == Availability.AVAILABLE:
            agent_queues_drain_later(organization=organization, user=actor)
    membership.availability = availability
    return membership


@dataclass(frozen=True)
class MemberRouting:
    """A member's routing settings as the team page edits them."""

    capacity: int | None
    skill_languages: list[str]
    skill_platforms: list[str]


def _clean_member(values: MemberRouting) -> dict:
    if values.capacity is not None and not 0 <= values.capacity <= MAX_CAPACITY:
        raise DomainError(_("Capacity must be between 0 and %(max)s.") % {"max": MAX_CAPACITY}, field="capacity")
    languages = sorted({_primary(x) for x in values.skill_languages if x.strip()})
    known = {code for code, _label in SKILL_LANGUAGES}
    if set(languages) - known:
        raise DomainError(_("Unknown language."), field="skill_languages")
    platforms = sorted(set(values.skill_platforms))
    if not all(has_connector(platform) for platform in platforms):
        raise DomainError(_("Unknown platform."), field="skill_platforms")
    return {"capacity": values.capacity, "skill_languages": languages, "skill_platforms": platforms}


@transaction.atomic
def team_routing_update(
    *,
    organization: Organization,
    actor: User,
    team: Team,
    assignment_strategy: str,
    default_capacity: int,
    match_skills: bool,
    require_online: bool,
    members: dict[int, MemberRouting] | None = None,
    request=None,
) -> Team:
    """Change how the team assigns and its members' capacity and skills (`members`: membership id -> settings,
    members of this team only). Audited as one `team.routing_changed` entry with what changed. When the team
    assigns automatically afterwards, its queue is drained after commit (capacity may have grown)."""
    if assignment_strategy not in AssignmentStrategy.values:
        raise DomainError(_("Choose an assignment strategy."), field="assignment_strategy")
    if not 1 <= default_capacity <= MAX_CAPACITY:
        raise DomainError(
            _("Capacity must be between 1 and %(max)s.") % {"max": MAX_CAPACITY}, field="default_capacity"
        )
    cleaned = {pk: _clean_member(values) for pk, values in (members or {}).items()}
    # The same lock order as routing: the team, then its memberships by id.
    locked = Team.objects.select_for_update(no_key=True).get(pk=team.pk)
    changes: dict = {}
    wanted = {
        "assignment_strategy": assignment_strategy,
        "default_capacity": default_capacity,
        "match_skills": match_skills,
        "require_online": require_online,
    }
    for field, value in wanted.items():
        if getattr(locked, field) != value:
            changes[field] = [getattr(locked, field), value]
            setattr(locked, field, value)
    if changes:
        locked.save(update_fields=list(changes))
    if cleaned:
        rows = list(
            Membership.objects.select_for_update(no_key=True, of=("self",))
            .select_related("user")
            .filter(pk__in=list(cleaned), user__groups=locked.group_id)
            .order_by("pk")
        )
        if len(rows) != len(cleaned):
            raise DomainError(_("Only members of this team can be changed here."))
        member_changes = {}
        for membership in rows:
            diff = {
                field: [getattr(membership, field), value]
                for field, value in cleaned[membership.pk].items()
                if getattr(membership, field) != value
            }
            if diff:
                for field, (_old, value) in diff.items():
                    setattr(membership, field, value)
                membership.save(update_fields=list(diff))
                member_changes[membership.user.email] = diff
        if member_changes:
            changes["members"] = member_changes
    if changes:
        audit_record(
            organization=organization,
            actor=actor,
            action=AuditAction.ROUTING_CHANGED,
            obj=locked,
            changes=changes,
            request=request,
        )
        if locked.assignment_strategy != AssignmentStrategy.MANUAL:
            transaction.on_commit(lambda: _enqueue_drains(organization.pk, [locked.pk]))
    for field in wanted:
        setattr(team, field, getattr(locked, field))
    return locked
