"""Reads for tickets. Every list starts from `visible_tickets(membership)`: the connections the member may see
(channels_integrations.permissions.connections_visible_to) inside the active organization's scope."""

import json
from base64 import urlsafe_b64decode, urlsafe_b64encode
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection
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
from tickets.search import (
    filter_matching,
    filter_tier,
    rank_expression,
    rank_queries,
    tier_expression,
    tsquery_literal,
)

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
# A ranked page finds the window's matches by walking the list's recency order over at most this many tickets, and
# only the rarer matches beyond through the search index (`_newest_matches`). About 1.5 µs a ticket whose page is in
# PostgreSQL's buffers (each ticket is a page read: its search vector is tested), 5 µs or more beyond them.
RANKED_SCAN = 10000
# When that walk found matches often enough, it goes on over at most this many tickets rather than asking the search
# index for the rest (`_newest_matches`): the index holds every organization's matches of common words.
RANKED_SCAN_MORE = 50000


def _ranked(f: "TicketFilter") -> bool:
    return bool(f.q) and f.sort == "recent" and bool(rank_queries(f.q))


def visible_tickets(membership: Membership, *, connection_ids: list[int] | None = None) -> QuerySet[Ticket]:
    """Tickets the member may see. Members who see every channel get no connection filter at all, others a
    literal id list: both keep the recency index usable (a subquery here made PostgreSQL scan whole inboxes).
    `connection_ids`: those of `connections_visible_to(membership)` when the caller has read them already."""
    tickets = Ticket.objects.filter(merged_into__isnull=True)
    if membership.has(Capability.TICKETS_VIEW_ALL):
        return tickets
    if connection_ids is None:
        connection_ids = list(connections_visible_to(membership).values_list("pk", flat=True))
    return tickets.filter(connection_id__in=connection_ids)


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
    *,
    search: bool = True,
) -> QuerySet[Ticket]:
    """The filters of `f`; with `search_tier`, only the search matches of that tier (tickets.search.filter_tier),
    ranked above the last tier only from `window` on (last_message_at) when given. `search=False`: every filter of a
    search but the match itself (the tickets a ranked search walks, `_newest_matches`)."""
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
    if f.q and search:
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
    return _decorated(tickets).order_by(*order)


def _decorated(tickets: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """What a row of the list shows: related rows selected, tags prefetched, the last message as `preview`."""
    last_message = (
        Message.objects.filter(ticket=OuterRef("pk")).exclude(kind=MessageKind.NOTE).order_by("-created_at", "-id")
    )
    return (
        tickets.defer("search_vector", "contact__search_vector")  # can be large; the list never shows them
        .select_related("contact", "assignee", "connection", "team")
        .prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name")))
        .annotate(preview=Subquery(last_message.values("text")[:1]))
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
    """`ticket_page` of a ranked search, in RANKED order, within the newest RANKED_WINDOW matches (the window): the
    window's matches are read with their tiers (`_newest_matches`, at most RANKED_WINDOW rows of three integers) and
    ordered here; the matches older than the window follow in the last tier, most recent first. Never ranks every
    match. The cursor carries the tier and the window's start, so every page of one search splits the tiers the same
    way. Times are compared as microseconds since the epoch (`_micros`), as `_newest_matches` reads them."""
    last = len(rank_queries(f.q))
    values = None
    if after:
        values = _cursor_values(after, RANKED_CURSOR)
        if not 0 <= values[0] <= last:
            raise ValueError("not a list cursor")
        window = values[3]
        # A later page: every match of the window again (the window's start bounds them), none older.
        past = values[0] == last and values[1] is not None and window is not None and values[1] < window
        matches = [] if past else _newest_matches(membership, f, since=window)
    else:
        matches = _newest_matches(membership, f, limit=RANKED_WINDOW)
        window = _at(matches[RANKED_WINDOW - 1][1]) if len(matches) >= RANKED_WINDOW else None
        if window is None and len(matches) >= RANKED_WINDOW:
            matches = _newest_matches(membership, f)  # the window would start at a ticket without activity: rank all
    edge = _micros(window)
    # Inside the window, a match keeps its tier; a match without activity time (never "inside") is in the last tier.
    ranked = sorted(((tier if _inside(when, edge) else last, when, pk) for pk, when, tier in matches), key=_ranked_key)
    if values is not None:
        position = _ranked_key((values[0], _micros(values[1]), values[2]))
        ranked = [row for row in ranked if _ranked_key(row) > position]
    picked = ranked[: size + 1]
    if window is not None and len(picked) <= size:
        # Past the window: the older matches, in the last tier, most recent first.
        past = values is not None and values[0] == last and values[1] is not None and values[1] < window
        older = _newest_matches(membership, f, limit=size + 1 - len(picked), after=values[1:3] if past else [window, 0])
        picked += [(last, when, pk) for pk, when, _tier in older][: size + 1 - len(picked)]
    more = len(picked) > size
    picked = picked[:size]
    by_id = {row.pk: row for row in _decorated(visible_tickets(membership).filter(pk__in=[pk for *_, pk in picked]))}
    rows = []
    for tier, _when, pk in picked:
        row = by_id[pk]
        row.search_tier, row.search_window = tier, window
        rows.append(row)
    return rows, (_cursor(rows[-1], RANKED_CURSOR) if more else "")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# A timestamp column read as microseconds since the epoch (exact: `extract` gives a numeric), for the thousands of
# rows a ranked page orders: integers cost a fraction of the datetimes psycopg would build for them.
_MICROS_SQL = "(extract(epoch FROM {}) * 1000000)::bigint"


def _micros(when: datetime | None) -> int | None:
    return None if when is None else (when - _EPOCH) // _MICROSECOND


def _at(micros: int | None) -> datetime | None:
    return None if micros is None else _EPOCH + micros * _MICROSECOND


def _inside(when: int | None, window: int | None) -> bool:
    return window is None or (when is not None and when >= window)


def _ranked_key(row: tuple) -> tuple:
    """RANKED as a sort key of (tier, last_message_at in microseconds, id), with PostgreSQL's place for NULL (first,
    descending)."""
    tier, when, pk = row
    return (tier, when is not None, -when if when is not None else 0, -pk)


def _newest_matches(
    membership: Membership,
    f: TicketFilter,
    *,
    limit: int | None = None,
    since: datetime | None = None,
    after: list | None = None,
) -> list[tuple[int, int | None, int]]:
    """(id, last_message_at in microseconds since the epoch, tier) of the matches of the search `f`, newest first
    (after the list position `after`, [last_message_at, id], when given): the newest `limit` and those tied with the
    last of them, or (no limit) every one from `since` on (and those without activity time).

    Statements whose plans do not hang on PostgreSQL's guess of how many tickets match. Its guess for a tsquery is
    often ten times too low for common words; it then reads every match of every organization from the search index
    and sorts them (seconds), where walking the recency index stops after a few thousand tickets:
    1. a walk along the list's order over at most RANKED_SCAN tickets (`_walk`);
    2. only when the walk ended before `limit` matches (or, from `since`, before the window's start) and before the
       list's end:
       - when the walk found matches often enough that the rest lie within RANKED_SCAN_MORE tickets, the walk goes
         on over at most that many (two common words, matched by one ticket in twenty, say: the search index would
         give every organization's matches of both words, about a second);
       - the matches still older, through the search index (the walks found them rare, so the index has few to
         give)."""
    literal = tsquery_literal(f.q)
    if literal is None:
        return []
    base = apply_filters(visible_tickets(membership), membership, f, search=False)
    if since is not None:
        base = base.filter(Q(last_message_at__gte=since) | Q(last_message_at__isnull=True))
    if after is not None:
        base = base.filter(_after(RANKED[1:], after))
    matches, end = _walk(base, f, scan=RANKED_SCAN, limit=limit)
    # From `since`, the window holds about RANKED_WINDOW matches (it started at the RANKED_WINDOW-th).
    need = (limit or (RANKED_WINDOW if since is not None else 0)) - len(matches)
    if end is not None and need > 0 and len(matches) * RANKED_SCAN_MORE >= need * RANKED_SCAN:
        more, end = _walk(base.filter(_after(RANKED[1:], list(end))), f, scan=RANKED_SCAN_MORE, limit=limit and need)
        matches += more
    if end is None or (limit and len(matches) >= limit and matches[limit - 1][1] != _micros(end[0])):
        return matches  # the walk saw every ticket, or enough matches (and all those tied with the last)
    older = filter_matching(base.filter(_after(RANKED[1:], list(end))), f.q)
    older = older.annotate(search_tier=rank_expression(f.q)).order_by(*RANKED[1:])
    older = older.values_list("id", "last_message_at", "search_tier")
    if not limit:
        return matches + [(pk, _micros(when), tier) for pk, when, tier in older]
    if len(matches) >= limit:  # enough, but those tied with the last may continue past the walk
        tied = older.filter(last_message_at=_at(matches[limit - 1][1]))
        return matches + [(pk, _micros(when), tier) for pk, when, tier in tied]
    older_sql, older_params = older.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT o.id, {_MICROS_SQL.format('o.last_message_at')}, o.search_tier FROM ({older_sql}) o "
            f"ORDER BY o.last_message_at DESC NULLS FIRST FETCH FIRST {int(limit - len(matches))} ROWS WITH TIES",
            older_params,
        )
        return matches + _newest_first(cursor.fetchall())


def _walk(
    tickets: QuerySet[Ticket], f: TicketFilter, *, scan: int, limit: int | None
) -> tuple[list[tuple[int, int | None, int]], tuple[datetime | None, int] | None]:
    """The matches (id, microseconds, tier) among the first `scan` of `tickets` in the list's order, newest first
    (the newest `limit` and those tied with the last, when given), and the last ticket walked when the walk stopped
    at `scan` tickets, else None: where a further look starts. The walk is a subquery with its own LIMIT, so the
    search condition cannot be pushed into it: the search index is never used there. It works out each ticket's tier
    itself (NULL: no match), so only three small values per ticket go through the numbering above it, never the
    search vector."""
    walk = tickets.order_by(*RANKED[1:]).annotate(walk_tier=tier_expression(f.q))
    walk = walk.values("id", "last_message_at", "walk_tier")[:scan]
    walk_sql, walk_params = walk.query.sql_with_params()
    fetch = f"FETCH FIRST {int(limit)} ROWS WITH TIES" if limit else ""
    # The walk's last ticket (n = scan) comes back too, matching or not.
    sql = f"""
        SELECT m.id, {_MICROS_SQL.format("m.last_message_at")}, m.walk_tier, m.n
        FROM (
            SELECT w.id, w.last_message_at, w.walk_tier,
                   row_number() OVER (ORDER BY w.last_message_at DESC, w.id DESC) AS n
            FROM ({walk_sql}) w
        ) m
        WHERE m.walk_tier IS NOT NULL OR m.n = {int(scan)}
        ORDER BY m.last_message_at DESC NULLS FIRST {fetch}"""
    with connection.cursor() as cursor:
        cursor.execute(sql, walk_params)
        rows = cursor.fetchall()
    matches = _newest_first([(pk, when, tier) for pk, when, tier, _n in rows if tier is not None])
    return matches, next(((_at(when), pk) for pk, when, _tier, n in rows if n == scan), None)


def _newest_first(rows: list) -> list:
    """(id, last_message_at in microseconds, …) rows in the list's order: `WITH TIES` orders by the time only."""
    return sorted(rows, key=lambda row: (row[1] is not None, -row[1] if row[1] is not None else 0, -row[0]))


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
