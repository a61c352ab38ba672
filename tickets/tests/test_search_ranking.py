"""Ranking of a search in the inbox list: exact phrase first, then all terms by their words, then an unknown word
matched by its bigrams only; most recent first within each tier. The keyset pages read one tier at a time and must
give the same order as the ranked list, each ticket once."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from tickets import selectors
from tickets.models import Ticket
from tickets.search import filter_tier, rank_queries, vector_expression
from tickets.selectors import TicketFilter, ticket_list, ticket_page
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db

# (text, minutes ago): the newer tickets are the weaker matches, so recency alone would give the reverse order.
TEXTS = {
    "phrase_old": ("Please update my delivery address today", 50),
    "phrase_new": ("The delivery address is wrong", 40),
    "terms_old": ("Address of the delivery: Osaka", 30),
    "terms_new": ("My address changed before the delivery", 20),
    "other": ("Delivery was late", 10),
    "store": ("ツナグマートのポイントが消えました", 45),
    "store_longer": ("ツナグマートンの件で連絡しました", 5),
}


@pytest.fixture
def inbox(tenant_a):
    conn = connection(tenant_a, "email")
    now = timezone.now()
    tickets = {}
    with tenant_a.scope():
        for key, (text, minutes) in TEXTS.items():
            message_ingest(organization=tenant_a.organization, connection=conn, inbound=inbound(text, thread=key))
            ticket = Ticket.objects.get(external_thread_key=key)
            Ticket.objects.filter(pk=ticket.pk).update(
                last_message_at=now - timedelta(minutes=minutes), search_vector=vector_expression(text)
            )
            tickets[ticket.pk] = key
    tenant_a.keys = tickets
    return tenant_a


def keys(inbox, rows) -> list[str]:
    return [inbox.keys[row.pk] for row in rows]


def pages(inbox, query: str, size: int) -> list[str]:
    seen, cursor = [], ""
    with inbox.scope():
        while True:
            rows, cursor = ticket_page(inbox.memberships["manager"], TicketFilter(q=query), after=cursor, size=size)
            seen += keys(inbox, rows)
            if not cursor:
                return seen


def test_exact_phrase_then_all_terms_then_recency(inbox):
    with inbox.scope():
        ranked = keys(inbox, ticket_list(inbox.memberships["manager"], TicketFilter(q="delivery address")))
    assert ranked == ["phrase_new", "phrase_old", "terms_new", "terms_old"]


def test_a_word_match_ranks_above_a_bigram_match(inbox):
    with inbox.scope():
        ranked = keys(inbox, ticket_list(inbox.memberships["manager"], TicketFilter(q="ツナグマート")))
    assert ranked == ["store", "store_longer"]  # the longer unknown name is newer, yet below


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_keyset_pages_follow_the_ranked_order_across_tiers(inbox, size):
    with inbox.scope():
        expected = keys(inbox, ticket_list(inbox.memberships["manager"], TicketFilter(q="delivery address")))
    assert pages(inbox, "delivery address", size) == expected
    assert pages(inbox, "ツナグマート", size) == ["store", "store_longer"]


def test_other_sorts_and_single_tier_queries_are_not_ranked(inbox):
    assert rank_queries("delivery") == []
    with inbox.scope():
        oldest = keys(
            inbox, ticket_list(inbox.memberships["manager"], TicketFilter(q="delivery address", sort="oldest"))
        )
    assert oldest == ["phrase_old", "phrase_new", "terms_old", "terms_new"]


def test_each_tier_is_one_gin_searchable_match(inbox):
    with inbox.scope():
        for tier in range(3):
            tickets = filter_tier(Ticket.objects.all(), "delivery address", tier)
            assert str(tickets.query).count(" @@ ") == 1
        assert filter_tier(Ticket.objects.all(), "delivery address", 2).count() == 0


@pytest.mark.parametrize("size", [1, 2, 4])
def test_pages_rank_within_the_newest_matches_only(inbox, size, monkeypatch):
    """With a window of 3, the oldest phrase match is not looked for above the last tier: it follows, by recency."""
    monkeypatch.setattr(selectors, "RANKED_WINDOW", 3)
    assert pages(inbox, "delivery address", size) == ["phrase_new", "terms_new", "terms_old", "phrase_old"]


def test_the_window_start_travels_in_the_cursor(inbox, monkeypatch):
    """A ticket that arrives between two pages neither moves the window nor repeats a row."""
    monkeypatch.setattr(selectors, "RANKED_WINDOW", 3)
    membership, query = inbox.memberships["manager"], TicketFilter(q="delivery address")
    with inbox.scope():
        first, cursor = ticket_page(membership, query, size=2)
        conn = connection(inbox, "email")
        message_ingest(
            organization=inbox.organization, connection=conn, inbound=inbound("delivery address?", thread="n")
        )
        rest, _ = ticket_page(membership, query, after=cursor, size=10)
    assert keys(inbox, first) + [inbox.keys.get(row.pk, "new") for row in rest] == [
        "phrase_new",
        "terms_new",
        "terms_old",
        "phrase_old",
    ]


@pytest.mark.parametrize("scan", [1, 2, 3, 6])
@pytest.mark.parametrize("window", [2, 3, 2000])
@pytest.mark.parametrize("size", [1, 2, 5])
def test_pages_are_the_same_when_the_walk_stops_short(inbox, scan, window, size, monkeypatch):
    """A page's matches are found by a bounded walk of the newest tickets, then through the search index beyond it:
    wherever the walk stops, the pages are the same as with every ticket walked."""
    monkeypatch.setattr(selectors, "RANKED_WINDOW", window)
    expected = pages(inbox, "delivery address", size)
    monkeypatch.setattr(selectors, "RANKED_SCAN", scan)
    assert pages(inbox, "delivery address", size) == expected
    assert pages(inbox, "ツナグマート", size) == ["store", "store_longer"]


def test_ties_on_the_windows_start_are_all_inside_it(inbox, monkeypatch):
    """The window starts at the activity time of its RANKED_WINDOW-th newest match: a match with the same time is
    inside it too (ranked), even when the walk or the limit stops right before it."""
    with inbox.scope():
        by_key = {key: pk for pk, key in inbox.keys.items()}
        same = Ticket.objects.get(pk=by_key["terms_new"]).last_message_at
        Ticket.objects.filter(pk=by_key["phrase_old"]).update(last_message_at=same)
    monkeypatch.setattr(selectors, "RANKED_WINDOW", 2)
    for scan in (1, 2, 10):
        monkeypatch.setattr(selectors, "RANKED_SCAN", scan)
        # The window: phrase_old and terms_new (tied, 20 minutes ago); the older ones follow by recency.
        assert pages(inbox, "delivery address", 1) == ["phrase_old", "terms_new", "terms_old", "phrase_new"]


def test_the_walk_for_a_ranked_page_never_reads_the_search_index(inbox, django_assert_max_num_queries):
    """PostgreSQL's guess of how many tickets match a tsquery can be ten times too low; it then reads every match of
    every organization from the search index and sorts them, where walking the recency index stops at a page's worth.
    The walk is a subquery with its own LIMIT, so no plan can read the search index for it, even one that would."""
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    with inbox.scope(), CaptureQueriesContext(db) as ctx:
        ticket_page(inbox.memberships["manager"], TicketFilter(q="delivery address"), size=2)
    searching = [q["sql"] for q in ctx.captured_queries if " @@ " in q["sql"]]
    assert searching
    # A planner that prefers the search index: testing a ticket costs a lot, the tiny table is not read whole.
    settings = {"cpu_operator_cost": "10", "enable_seqscan": "off"}
    with db.cursor() as cursor:
        for setting, value in settings.items():
            cursor.execute(f"SET {setting} = {value}")
        try:
            for sql in searching:
                cursor.execute("EXPLAIN (VERBOSE) " + sql)
                plan = "\n".join(row[0] for row in cursor.fetchall())
                assert "tickets_ticket_search" not in plan, plan
                # The walk works out each ticket's tier itself: its numbering above stores three small values per
                # ticket, not the search vector (copying it cost a fifth of the statement).
                numbering = re.search(r"WindowAgg .*\n\s*Output: (.*)", plan)
                assert numbering, plan
                assert not re.search(r"(^|, )tickets_ticket\.search_vector(,|$)", numbering.group(1)), plan
                # The match is kept above the walk's own LIMIT (a subquery), never pushed into it.
                kept_above = r"Subquery Scan on m\b(.|\n)*Filter: \(\(m\.walk_tier IS NOT NULL\)(.|\n)*-> +Limit"
                assert re.search(kept_above, plan), plan
        finally:
            for setting in settings:
                cursor.execute(f"RESET {setting}")


@pytest.mark.parametrize("scan", [1, 10000])
def test_a_ranked_pages_queries_do_not_grow_with_matches(inbox, scan, monkeypatch):
    """At most: the walk, the matches beyond it, the same two past the window, the rows, their tags."""
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(selectors, "RANKED_SCAN", scan)
    monkeypatch.setattr(selectors, "RANKED_WINDOW", 2)
    membership, query = inbox.memberships["manager"], TicketFilter(q="delivery address")

    def most_queries() -> int:
        counts, cursor = [], ""
        with inbox.scope():
            while True:
                with CaptureQueriesContext(db) as ctx:
                    _rows, cursor = ticket_page(membership, query, after=cursor, size=1)
                counts.append(len(ctx.captured_queries))
                if not cursor:
                    return max(counts)

    assert most_queries() <= 6
    conn = connection(inbox, "email")
    with inbox.scope():
        for i in range(6):
            text = f"delivery address {i}"
            message_ingest(organization=inbox.organization, connection=conn, inbound=inbound(text, thread=f"m{i}"))
    assert most_queries() <= 6


def test_times_read_as_microseconds_keep_their_exact_value(inbox):
    """A ranked page reads activity times as microseconds since the epoch: the window's start and the cursors made
    from them are the very times stored, to the microsecond, before 1970 too."""
    from datetime import UTC, datetime

    from django.db import connection as db

    for when in (
        datetime(2026, 12, 4, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1969, 7, 20, 20, 17, 40, 1, tzinfo=UTC),
        timezone.now(),
    ):
        with db.cursor() as cursor:
            cursor.execute(f"SELECT {selectors._MICROS_SQL.format('%s::timestamptz')}", [when])
            micros = cursor.fetchone()[0]
        assert micros == selectors._micros(when)
        assert selectors._at(micros) == when
    assert selectors._micros(None) is None and selectors._at(None) is None


@pytest.mark.parametrize("more", [1, 2, 3, 50000])
@pytest.mark.parametrize("window", [2, 3, 2000])
@pytest.mark.parametrize("size", [1, 2, 5])
def test_pages_are_the_same_when_the_walk_goes_on(inbox, more, window, size, monkeypatch):
    """A walk that found matches often enough goes on over RANKED_SCAN_MORE tickets before it asks the search index:
    wherever each walk stops, the pages are the same."""
    monkeypatch.setattr(selectors, "RANKED_WINDOW", window)
    expected = pages(inbox, "delivery address", size)
    monkeypatch.setattr(selectors, "RANKED_SCAN", 1)
    monkeypatch.setattr(selectors, "RANKED_SCAN_MORE", more)
    assert pages(inbox, "delivery address", size) == expected
    assert pages(inbox, "ツナグマート", size) == ["store", "store_longer"]


def test_a_walk_that_finds_matches_often_goes_on_instead_of_asking_the_search_index(inbox, monkeypatch):
    """Two common words, matched by one ticket in twenty: the search index would give every organization's tickets
    with both words (about a second at a million tickets), where walking on finds the rest of the window in a few
    tens of thousands of tickets. The index is asked only for what is older than both walks."""
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(selectors, "RANKED_WINDOW", 3)
    # 1 of the 3 newest tickets matches: the 2 more the window needs lie within about 6 more, fewer than 10.
    monkeypatch.setattr(selectors, "RANKED_SCAN", 3)
    monkeypatch.setattr(selectors, "RANKED_SCAN_MORE", 10)
    with inbox.scope(), CaptureQueriesContext(db) as ctx:
        rows, _cursor = ticket_page(inbox.memberships["manager"], TicketFilter(q="delivery address"), size=10)
    assert keys(inbox, rows) == ["phrase_new", "terms_new", "terms_old", "phrase_old"]
    searching = [q["sql"] for q in ctx.captured_queries if " @@ " in q["sql"]]
    assert len(searching) >= 2 and all("walk_tier" in sql for sql in searching), searching
