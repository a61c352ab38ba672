"""Reads for the workspace: saved views, notifications."""

from dataclasses import dataclass

from django.db.models import IntegerField, Q, QuerySet, Subquery
from django.utils import formats, timezone

from accounts.models import Membership, Organization, Team
from channels_integrations.permissions import connections_visible_to
from core.models import Notification, RealtimeEvent
from tickets.models import ACTIVE_STATUSES, Message, MessageKind
from tickets.selectors import visible_tickets


def notifications_for(membership: Membership) -> QuerySet[Notification]:
    return Notification.objects.filter(user_id=membership.user_id).select_related("organization", "target_type")


def unread_count(membership: Membership) -> int:
    return Notification.objects.filter(user_id=membership.user_id, read_at__isnull=True).count()


# The left pane counts up to COUNT_CAP tickets per view and shows "1,000+" beyond: counting every active ticket of a
# large inbox (hundreds of thousands) cost more than the list itself, on every refresh after events.
COUNT_CAP = 1000


class _CappedCount(Subquery):
    """`(SELECT count(*) FROM (<up to COUNT_CAP + 1 rows>))`: PostgreSQL stops reading at the limit."""

    template = "(SELECT count(*) FROM (%(subquery)s) capped)"
    output_field = IntegerField()


def _capped(tickets: QuerySet) -> _CappedCount:
    return _CappedCount(tickets.order_by().values("pk")[: COUNT_CAP + 1])


def _shown(count: int):
    """The number as shown: exact up to the cap, else "1,000+" (grouped as the language groups numbers)."""
    return count if count <= COUNT_CAP else f"{formats.number_format(COUNT_CAP, force_grouping=True)}+"


def view_counts(
    membership: Membership, *, connection_ids: list[int] | None = None, team_ids: list[int] | None = None
) -> dict:
    """The left pane's counts of active tickets (views, channels, teams), each capped at COUNT_CAP, in one statement
    (plus the member's channel and team ids, unless given: the pane has read them already): constant in the number of
    tickets, and bounded in rows read."""
    now = timezone.now()
    if connection_ids is None:
        connection_ids = list(connections_visible_to(membership).values_list("pk", flat=True))
    if team_ids is None:
        team_ids = list(Team.objects.values_list("pk", flat=True))
    active = visible_tickets(membership, connection_ids=connection_ids).filter(status__in=ACTIVE_STATUSES)
    working = active.filter(Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=now))
    # From the mentions' side (few rows), not an EXISTS probe for every active ticket.
    mentioned = Message.objects.filter(kind=MessageKind.NOTE, mentions=membership.user_id).values("ticket_id")
    counts = {
        "all": _capped(working),
        "mine": _capped(working.filter(assignee_id=membership.user_id)),
        "unassigned": _capped(working.filter(assignee__isnull=True)),
        "mentions": _capped(working.filter(pk__in=mentioned)),
        "snoozed": _capped(active.filter(snoozed_until__gt=now)),
    }
    counts |= {f"c{pk}": _capped(working.filter(connection_id=pk)) for pk in connection_ids}
    counts |= {f"t{pk}": _capped(working.filter(team_id=pk)) for pk in team_ids}
    row = Organization.objects.filter(pk=membership.organization_id).values(**counts).get()
    # A query that can match nothing (an agent without channels: `connection_id IN ()`) compiles to NULL.
    row = {name: value or 0 for name, value in row.items()}
    shown = {name: _shown(row[name]) for name in ("all", "mine", "unassigned", "mentions", "snoozed")}
    # Channels and teams without tickets show no number (as before).
    shown["connections"] = {pk: _shown(row[f"c{pk}"]) for pk in connection_ids if row[f"c{pk}"]}
    shown["teams"] = {pk: _shown(row[f"t{pk}"]) for pk in team_ids if row[f"t{pk}"]}
    return shown


COUNTS_TTL = 3  # seconds: counts are refreshed on events; a burst of events costs one computation


def cached_view_counts(
    membership: Membership, *, as_of: int, connection_ids: list[int] | None = None, team_ids: list[int] | None = None
) -> dict:
    """The left pane's counts, cached briefly per member (visibility differs between members) and per newest event
    (`as_of`, latest_event_id()): a burst of browsers asking after the same events costs one computation, while any
    new event (a ticket arriving, changing) gives fresh counts, not the ones cached just before it."""
    from django.core.cache import cache

    key = f"inbox:counts:{membership.organization_id}:{membership.user_id}:{as_of}"
    counts = cache.get(key)
    if counts is None:
        counts = view_counts(membership, connection_ids=connection_ids, team_ids=team_ids)
        cache.set(key, counts, timeout=COUNTS_TTL)
    return counts


def latest_event_id() -> int:
    """The newest stored event id: a freshly rendered page is current up to here, so the browser resumes after it."""
    from django.db.models import Max

    return RealtimeEvent.objects.aggregate(latest=Max("id"))["latest"] or 0


@dataclass(frozen=True)
class _RowText:
    """What every row of one page shares, worked out once per page instead of once per row: the template engine's
    per-row `{% url %}`, `get_FOO_display` (the platform's choices are a callable, normalised on every call),
    `blocktranslate` and filters were most of the list's time."""

    ticket_url: str
    conversation_url: str
    platforms: dict
    statuses: dict
    priorities: dict
    sla_states: dict
    select_label: str
    unassigned: str
    unknown_customer: str


def _row_text(org_slug: str) -> _RowText:
    from django.urls import reverse
    from django.utils.translation import gettext

    from channels_integrations.registry import platform_choices
    from tickets.models import Priority, SlaState, TicketStatus

    return _RowText(
        # Reversed once with a stand-in id, then the id is put in its place per row.
        ticket_url=reverse("org:inbox_ticket", args=[org_slug, _ID_MARK]),
        conversation_url=reverse("org:ticket_conversation", args=[org_slug, _ID_MARK]),
        platforms={key: str(label) for key, label in platform_choices()},
        statuses={key: str(label) for key, label in TicketStatus.choices},
        priorities={key: str(label) for key, label in Priority.choices},
        sla_states={key: str(label) for key, label in SlaState.choices},
        # The same message as the template's former `{% blocktranslate with n=... %}Select ticket #{{ n }}`.
        select_label=gettext("Select ticket #%(n)s"),
        unassigned=gettext("Unassigned"),
        unknown_customer=gettext("Unknown customer"),
    )


_ID_MARK = 987654321987


def _truncate(text: str, length: int) -> str:
    """Django's `truncatechars` for plain text: at most `length` characters, the last one an ellipsis when cut."""
    return text if len(text) <= length else text[: length - 1] + "…"


def list_rows(tickets: list, *, org_slug: str) -> list:
    """The page's tickets with what `inbox/_rows.html` shows, as plain attributes (`row`): labels, links, times in
    the active time zone and language, tags, truncated texts."""
    from django.utils import formats, timezone

    if not tickets:
        return tickets
    text = _row_text(org_slug)
    mark = str(_ID_MARK)
    for t in tickets:
        when = timezone.localtime(t.last_message_at) if t.last_message_at else None
        due = t.sla_due_at if t.sla_state in ("warning", "breached") else None
        due = timezone.localtime(due) if due else None
        t.row = {
            "url": text.ticket_url.replace(mark, str(t.pk)),
            "conversation_url": text.conversation_url.replace(mark, str(t.pk)),
            "select_label": text.select_label % {"n": t.number},
            "contact": t.contact.name or text.unknown_customer,
            "when_iso": when.isoformat() if when else "",
            "when": f"{formats.date_format(when, 'MONTH_DAY_FORMAT')} {formats.time_format(when, 'TIME_FORMAT')}"
            if when
            else "",
            "subject": _truncate(t.subject, 80),
            "preview": _truncate(t.preview or "", 100),
            "platform": text.platforms.get(t.connection.platform, t.connection.platform),
            "status": text.statuses.get(t.status, t.status),
            "priority": text.priorities.get(t.priority, t.priority) if t.priority != "normal" else "",
            "sla": text.sla_states.get(t.sla_state, "") if t.sla_state in ("warning", "breached") else "",
            "due_iso": due.isoformat() if due else "",
            "due": f"{formats.date_format(due, 'MONTH_DAY_FORMAT')} {formats.time_format(due, 'TIME_FORMAT')}"
            if due
            else "",
            "tags": [tag.name for tag in t.tags.all()],
            "assignee": str(t.assignee) if t.assignee_id else text.unassigned,
        }
    return tickets
