"""Reads for tickets. Every list starts from `visible_tickets(membership)`: the connections the member may see
(channels_integrations.permissions.connections_visible_to) inside the active organization's scope."""

import json
from base64 import urlsafe_b64decode, urlsafe_b64encode
from dataclasses import dataclass, field
from datetime import date, datetime, time

from django.db.models import Case, Count, Exists, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, Value, When
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from accounts.models import Membership
from accounts.roles import Capability
from channels_integrations.models import ChannelConnection
from channels_integrations.permissions import connections_visible_to
from tickets.models import (
    ACTIVE_STATUSES,
    PRIORITY_RANK,
    Contact,
    Message,
    MessageKind,
    Priority,
    Sentiment,
    Tag,
    Ticket,
    TicketStatus,
)
from tickets.search import filter_matching, filter_tier, rank_expression, rank_queries

VIEWS = ("mine", "unassigned", "all", "mentions", "snoozed")
SORTS = {
    "recent": ("-last_message_at", "-id"),
    "oldest": ("last_message_at", "id"),
    "created": ("-created_at", "-id"),
    "priority": ("-priority_rank", "-last_message_at", "-id"),
    "due": ("first_response_due_at", "-id"),
}
# A search in the default (recent) sort: the best tier first (exact phrase, then all terms by their words, then
# unknown words matched by their bigrams: tickets.search.rank_queries), most recent first within a tier.
RANKED = ("search_tier", "-last_message_at", "-id")
# Pages rank within the newest RANKED_WINDOW matches only (older ones follow in the last tier, most recent first): a
# better tier that few tickets reach would otherwise be looked for along the whole organization's recency index. The
# window's start travels in the cursor, so every page of one search splits the tiers the same way.
RANKED_WINDOW = 2000
RANKED_CURSOR = (*RANKED, "search_window")


def _ranked(f: "TicketFilter") -> bool:
    return bool(f.q) and f.sort == "recent" and bool(rank_queries(f.q))


def visible_tickets(membership: Membership) -> QuerySet[Ticket]:
    """Tickets the member may see. Members who see every channel get no connection filter at all, others a
    literal id list: both keep the recency index usable (a subquery here made PostgreSQL scan whole inboxes)."""
    tickets = Ticket.objects.filter(merged_into__isnull=True)
    if membership.has(Capability.TICKETS_VIEW_ALL):
        return tickets
    return tickets.filter(connection_id__in=list(connections_visible_to(membership).values_list("pk", flat=True)))


def visible_contacts(membership: Membership) -> QuerySet[Contact]:
    """Contacts the member may see: every one with `tickets.view_all` (including those typed in or imported without
    a ticket yet), else those with a ticket the member may see. Never merged-away ones: they live on inside their
    survivor (a merge's undo brings them back)."""
    contacts = Contact.objects.filter(merged_into__isnull=True)
    if membership.has(Capability.TICKETS_VIEW_ALL):
        return contacts
    return contacts.filter(Exists(visible_tickets(membership).filter(contact_id=OuterRef("pk"))))


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _day(value) -> date | None:
    try:
        return parse_date(value) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class TicketFilter:
    """The inbox's filters, parsed leniently from a query string (unknown values are ignored, never a 500)."""

    view: str = "all"
    statuses: tuple[str, ...] = ()
    platform: str = ""
    connection: int | None = None
    priority: str = ""
    assignee: str = ""  # "me", "none" or a user id
    team: int | None = None
    tag: str = ""
    sentiment: str = ""
    since: date | None = None
    until: date | None = None
    q: str = ""
    sort: str = "recent"
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_query(cls, query) -> "TicketFilter":
        raw_status = query.getlist("status") if hasattr(query, "getlist") else query.get("status") or []
        if isinstance(raw_status, str):
            raw_status = raw_status.split(",")
        statuses = tuple(s for s in raw_status if s in TicketStatus.values)
        assignee = query.get("assignee", "")
        return cls(
            view=query.get("view") if query.get("view") in VIEWS else "all",
            statuses=statuses,
            platform=query.get("platform", "")[:32],
            connection=_int(query.get("connection")),
            priority=query.get("priority") if query.get("priority") in Priority.values else "",
            assignee=assignee if assignee in {"me", "none"} or assignee.isdigit() else "",
            team=_int(query.get("team")),
            tag=query.get("tag", "")[:60],
            sentiment=query.get("sentiment") if query.get("sentiment") in Sentiment.values else "",
            since=_day(query.get("since")),
            until=_day(query.get("until")),
            q=query.get("q", "").strip()[:200],
            sort=query.get("sort") if query.get("sort") in SORTS else "recent",
        )

    def as_query(self) -> dict:
        """The non-default values, for links and saved views."""
        values = {
            "view": self.view if self.view != "all" else "",
            "status": list(self.statuses),
            "platform": self.platform,
            "connection": self.connection or "",
            "priority": self.priority,
            "assignee": self.assignee,
            "team": self.team or "",
            "tag": self.tag,
            "sentiment": self.sentiment,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "q": self.q,
            "sort": self.sort if self.sort != "recent" else "",
        }
        return {key: value for key, value in values.items() if value}


def _mentions_me(membership: Membership):
    return Exists(Message.objects.filter(ticket=OuterRef("pk"), kind=MessageKind.NOTE, mentions=membership.user_id))


def apply_filters(
    tickets: QuerySet[Ticket],
    membership: Membership,
    f: TicketFilter,
    search_tier: int | None = None,
    window: datetime | None = None,
) -> QuerySet[Ticket]:
    """The filters of `f`; with `search_tier`, only the search matches of that tier (tickets.search.filter_tier),
    ranked above the last tier only from `window` on (last_message_at) when given."""
    user_id = membership.user_id
    if f.view == "mine":
        tickets = tickets.filter(assignee_id=user_id)
    elif f.view == "unassigned":
        tickets = tickets.filter(assignee__isnull=True)
    elif f.view == "mentions":
        tickets = tickets.filter(_mentions_me(membership))
    if f.view == "snoozed":
        tickets = tickets.filter(snoozed_until__gt=timezone.now())
    elif not f.q:
        # Snoozed tickets stay out of the working views until they wake (a search still finds them).
        tickets = tickets.filter(Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=timezone.now()))
    if f.statuses:
        tickets = tickets.filter(status__in=f.statuses)
    elif f.view != "mentions" and not f.q:
        tickets = tickets.filter(status__in=ACTIVE_STATUSES)
    if f.platform:
        # Resolved to ids first: a join here steers PostgreSQL away from the recency index on large inboxes.
        ids = list(ChannelConnection.objects.filter(platform=f.platform).values_list("pk", flat=True))
        tickets = tickets.filter(connection_id__in=ids)
    if f.connection:
        tickets = tickets.filter(connection_id=f.connection)
    if f.priority:
        tickets = tickets.filter(priority=f.priority)
    if f.assignee == "me":
        tickets = tickets.filter(assignee_id=user_id)
    elif f.assignee == "none":
        tickets = tickets.filter(assignee__isnull=True)
    elif f.assignee:
        tickets = tickets.filter(assignee_id=int(f.assignee))
    if f.team:
        tickets = tickets.filter(team_id=f.team)
    if f.tag:
        tickets = tickets.filter(tags__name=f.tag)
    if f.sentiment:
        tickets = tickets.filter(sentiment=f.sentiment)
    tz = timezone.get_current_timezone()
    if f.since:
        tickets = tickets.filter(last_message_at__gte=datetime.combine(f.since, time.min, tzinfo=tz))
    if f.until:
        tickets = tickets.filter(last_message_at__lte=datetime.combine(f.until, time.max, tzinfo=tz))
    if f.q:
        # The ticket's vector holds its subject, the customer's name and every message (tickets.services).
        if search_tier is None:
            tickets = filter_matching(tickets, f.q)
        else:
            since = Q(last_message_at__gte=window) if window else None
            tickets = filter_tier(tickets, f.q, search_tier, window=since)
    return tickets


def ticket_list(
    membership: Membership, f: TicketFilter, search_tier: int | None = None, window: datetime | None = None
) -> QuerySet[Ticket]:
    """The ticket list: one query for the rows (with the last message as preview) and one for their tags. A ranked
    search (`_ranked`) is ordered by RANKED, its tier worked out for every match (the inbox's pages read one tier at a
    time instead: `ticket_page`); with `search_tier`, only that tier's matches, most recent first."""
    last_message = (
        Message.objects.filter(ticket=OuterRef("pk")).exclude(kind=MessageKind.NOTE).order_by("-created_at", "-id")
    )
    tickets = apply_filters(visible_tickets(membership), membership, f, search_tier, window)
    order = SORTS[f.sort]
    if search_tier is not None:
        tickets = tickets.annotate(search_tier=Value(search_tier, output_field=IntegerField()))
    elif _ranked(f):
        tickets = tickets.annotate(search_tier=rank_expression(f.q))
        order = RANKED
    if f.sort == "priority":
        tickets = tickets.annotate(
            priority_rank=Case(
                *[When(priority=p, then=Value(r)) for p, r in PRIORITY_RANK.items()], output_field=IntegerField()
            )
        )
    return (
        tickets.defer("search_vector", "contact__search_vector")  # can be large; the list never shows them
        .select_related("contact", "assignee", "connection", "team")
        .prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name")))
        .annotate(preview=Subquery(last_message.values("text")[:1]))
        .order_by(*order)
    )


# --- keyset pages of the list -------------------------------------------------------------------------------------
# The list loads more rows as it is scrolled: each page starts after the last row of the one before, by the values of
# the sort order (ending with the id, so every row has one place). Unlike an offset, a ticket that arrives or moves
# meanwhile neither repeats a row nor skips one.


def ticket_page(membership: Membership, f: TicketFilter, *, after: str = "", size: int) -> tuple[list[Ticket], str]:
    """Up to `size` rows of the list after the cursor `after` ("" = from the top), and the cursor of the next page
    ("" when this is the last). Raises ValueError for a cursor that is not one of ours."""
    if _ranked(f):
        return _ranked_page(membership, f, after=after, size=size)
    order = SORTS[f.sort]
    tickets = ticket_list(membership, f)
    if after:
        tickets = tickets.filter(_after(order, _cursor_values(after, order)))
    rows = list(tickets[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return rows, (_cursor(rows[-1], order) if more else "")


def _ranked_page(membership: Membership, f: TicketFilter, *, after: str, size: int) -> tuple[list[Ticket], str]:
    """`ticket_page` of a ranked search, in RANKED order: tier by tier, each read as a plain search (one `@@`, most
    recent first, so PostgreSQL may walk the recency index and stop at the page's end), never ranking every match;
    within the newest RANKED_WINDOW matches (the window). The cursor carries the tier and the window's start."""
    tiers = len(rank_queries(f.q)) + 1
    first, values = 0, None
    if after:
        values = _cursor_values(after, RANKED_CURSOR)
        first, window = values[0], values[3]
        if not 0 <= first < tiers:
            raise ValueError("not a list cursor")
    else:
        newest = ticket_list(membership, f).order_by("-last_message_at").values_list("last_message_at", flat=True)
        window = next(iter(newest[RANKED_WINDOW - 1 : RANKED_WINDOW]), None)  # None: fewer matches, rank them all
    rows: list[Ticket] = []
    for tier in range(first, tiers):
        tickets = ticket_list(membership, f, search_tier=tier, window=window)
        if values is not None and tier == first:
            tickets = tickets.filter(_after(RANKED[1:], values[1:3]))
        rows += list(tickets[: size + 1 - len(rows)])
        if len(rows) > size:
            break
    more = len(rows) > size
    rows = rows[:size]
    for row in rows:
        row.search_window = window
    return rows, (_cursor(rows[-1], RANKED_CURSOR) if more else "")


def _after(order: tuple[str, ...], values: list) -> Q:
    """Rows after `values` in `order`, with PostgreSQL's places for NULL (last ascending, first descending)."""
    after, same = Q(pk__in=[]), Q()
    for spec, value in zip(order, values, strict=True):
        name, descending = spec.lstrip("-"), spec.startswith("-")
        if value is None:
            step = Q(**{f"{name}__isnull": False}) if descending else Q(pk__in=[])
            equal = Q(**{f"{name}__isnull": True})
        else:
            step = Q(**{f"{name}__lt" if descending else f"{name}__gt": value})
            if not descending:
                step |= Q(**{f"{name}__isnull": True})
            equal = Q(**{name: value})
        after |= same & step
        same &= equal
    return after


def _cursor(row: Ticket, order: tuple[str, ...]) -> str:
    values = [getattr(row, spec.lstrip("-")) for spec in order]
    encoded = [value.isoformat() if isinstance(value, datetime) else value for value in values]
    return urlsafe_b64encode(json.dumps(encoded).encode()).decode().rstrip("=")


def _cursor_values(cursor: str, order: tuple[str, ...]) -> list:
    try:
        values = json.loads(urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError) as exc:
        raise ValueError("not a list cursor") from exc
    if not isinstance(values, list) or len(values) != len(order):
        raise ValueError("not a list cursor")
    parsed = []
    for spec, value in zip(order, values, strict=True):
        name = spec.lstrip("-")
        if value is None:
            parsed.append(None)
        elif name in _CURSOR_TIMES:
            when = parse_datetime(value) if isinstance(value, str) else None
            if when is None:
                raise ValueError("not a list cursor")
            parsed.append(when)
        elif isinstance(value, int) and not isinstance(value, bool):
            parsed.append(value)
        else:
            raise ValueError("not a list cursor")
    return parsed


_CURSOR_TIMES = {"last_message_at", "created_at", "first_response_due_at", "search_window"}


def view_counts(membership: Membership) -> dict:
    """Live counts for the inbox's left pane (active tickets): two queries, whatever the number of tickets."""
    now = timezone.now()
    active = visible_tickets(membership).filter(status__in=ACTIVE_STATUSES)
    snoozed = Q(snoozed_until__gt=now)
    totals = active.exclude(snoozed).aggregate(
        all=Count("pk"),
        mine=Count("pk", filter=Q(assignee_id=membership.user_id)),
        unassigned=Count("pk", filter=Q(assignee__isnull=True)),
        mentions=Count("pk", filter=_mentions_me(membership)),
    )
    totals["snoozed"] = active.filter(snoozed).count()
    working = active.exclude(snoozed)
    per_connection = dict(working.order_by().values_list("connection_id").annotate(n=Count("pk")))
    per_team = dict(working.exclude(team__isnull=True).order_by().values_list("team_id").annotate(n=Count("pk")))
    return {**totals, "connections": per_connection, "teams": per_team}


def conversation(ticket: Ticket) -> QuerySet[Message]:
    """All messages of the ticket, oldest first, with authors and attachments (constant query count)."""
    return (
        Message.objects.filter(ticket=ticket)
        .defer("search_vector", "author_contact__search_vector")
        .select_related("author_user", "author_contact", "call", "call__logged_by")
        .prefetch_related("attachments")
        .order_by("created_at", "id")
    )


def contact_history(membership: Membership, ticket: Ticket, limit: int = 20) -> QuerySet[Ticket]:
    """The same customer's other tickets across the channels this member may see."""
    return (
        visible_tickets(membership)
        .filter(contact_id=ticket.contact_id)
        .exclude(pk=ticket.pk)
        .select_related("connection")
        .order_by("-created_at")[:limit]
    )
