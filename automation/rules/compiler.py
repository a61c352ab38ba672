"""Turn a rule's conditions into one Python function, once per rule change, and evaluate it against `Facts`.

Keyword matching is Japanese-aware without relying on spaces: text and keywords are NFKC-normalized and case-folded
(ＡＢＣ = abc, ｶﾀｶﾅ = カタカナ), a keyword in a script without spaces (kana, kanji, Hangul) matches anywhere as a
substring (「返金」 in 「返金してください」), and a keyword made of Latin letters or digits matches only as a whole word
("refund" in "refund please!" or in 「refundをお願いします」, not "ok" in "book").
"""

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

import re2

from automation.rules.schema import compile_pattern

MAX_TEXT = 20_000  # characters of a message the conditions look at


@dataclass(frozen=True)
class Facts:
    """Everything a condition can look at, as plain values (built by the engine from a ticket and a message)."""

    now: datetime
    connection_id: int
    platform: str
    status: str
    priority: str
    created_at: datetime
    assignee_id: int | None = None
    team_id: int | None = None
    ticket_tags: frozenset[str] = frozenset()
    ticket_sentiment: str = ""
    last_message_at: datetime | None = None
    last_customer_message_at: datetime | None = None
    status_changed_at: datetime | None = None
    contact_tags: frozenset[str] = frozenset()
    vip: bool = False
    attributes: dict = field(default_factory=dict)
    first_contact: bool = False
    in_business_hours: bool = True
    changed: frozenset[str] = frozenset()
    has_message: bool = False
    message_kind: str = ""
    text: str = ""
    language: str = ""
    sentiment: str = ""
    email_authentication: str = ""  # pass | fail | none for an inbound email, "" for other messages

    @cached_property
    def folded_text(self) -> str:
        return fold(self.text[:MAX_TEXT])

    @cached_property
    def folded_ticket_tags(self) -> frozenset[str]:
        return frozenset(fold(t) for t in self.ticket_tags)

    @cached_property
    def folded_contact_tags(self) -> frozenset[str]:
        return frozenset(fold(t) for t in self.contact_tags)


def fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


_WORDLIKE = re.compile(r"^[0-9a-z_'\-. ]+$")


def keyword_regex(keyword: str) -> str:
    """An RE2 pattern for one keyword in folded text (see the module docstring)."""
    folded = fold(keyword).strip()
    escaped = re2.escape(folded)
    if _WORDLIKE.match(folded):
        return f"(?:^|[^0-9a-z]){escaped}(?:[^0-9a-z]|$)"
    return escaped


class TextIndex:
    """Every keyword and pattern of a set of rules, matched against a message in two passes (one RE2 set over the
    folded text for keywords, one over the text for patterns) instead of one search per condition and keyword.
    The answer is kept on the message's Facts, so each message is scanned once whatever the number of rules."""

    def __init__(self):
        self._keywords: dict[str, int] = {}
        self._patterns: dict[str, int] = {}
        self._keyword_set = None
        self._pattern_set = None
        self._memo = f"_hits_{id(self)}"

    def keyword(self, keyword: str) -> int:
        return self._keywords.setdefault(keyword_regex(keyword), len(self._keywords))

    def pattern(self, pattern: str) -> int:
        compile_pattern(pattern)  # raises re2.error for an invalid one, as validation does
        return self._patterns.setdefault(pattern, len(self._patterns))

    def freeze(self) -> "TextIndex":
        self._keyword_set = _re2_set(self._keywords)
        self._pattern_set = _re2_set(self._patterns)
        return self

    def hits(self, facts: "Facts") -> tuple[frozenset[int], frozenset[int]]:
        memo = facts.__dict__.get(self._memo)  # Facts is frozen; its __dict__ also holds its cached properties
        if memo is None:
            keywords = self._keyword_set.Match(facts.folded_text) if self._keyword_set and facts.text else ()
            patterns = self._pattern_set.Match(facts.text[:MAX_TEXT]) if self._pattern_set else ()
            memo = (frozenset(keywords or ()), frozenset(patterns or ()))
            facts.__dict__[self._memo] = memo
        return memo


def _re2_set(patterns: dict[str, int]):
    if not patterns:
        return None
    options = re2.Options()
    options.max_mem = 64 << 20
    options.log_errors = False
    matcher = re2.Set.SearchSet(options)
    for pattern, number in sorted(patterns.items(), key=lambda item: item[1]):
        if matcher.Add(pattern) != number:
            raise ValueError(f"pattern {number} not added in order")
    matcher.Compile()
    return matcher


def minutes_between(earlier: datetime | None, now: datetime) -> float | None:
    if earlier is None:
        return None
    return (now - earlier).total_seconds() / 60


def _longer(earlier: datetime | None, now: datetime, limit: timedelta) -> bool:
    """More than `limit` since `earlier` (False when it never happened). Compared as timedeltas, exactly to the
    microsecond, like the SQL filter of `condition_filter` (minutes as floats drift at the boundary)."""
    return earlier is not None and now - earlier > limit


def _shorter(earlier: datetime | None, now: datetime, limit: timedelta) -> bool:
    return earlier is not None and now - earlier < limit


Predicate = Callable[[Facts], bool]


def compile_conditions(node: dict, index: TextIndex | None = None) -> Predicate:
    """The conditions (already validated by schema.validate_rule) as one Python function of Facts.

    The tree becomes one expression (`f.status in C[0] and (…)`), compiled once: evaluating 200 rules is then 200
    calls, not thousands of nested closure calls. The expression only ever names Facts attributes and helpers from
    fixed tables here; every value an administrator typed is a constant reached by index (`C[3]`), never source.
    Rules compiled together share one `index` (frozen by the caller once all are compiled)."""
    own = index is None
    index = TextIndex() if own else index
    constants: list = []
    source = "lambda f: " + _expression(node, index, constants)
    namespace = {
        "__builtins__": {},
        "C": tuple(constants),
        "K": index.hits,
        "GT": _longer,
        "LT": _shorter,
        "A": _attribute,
    }
    predicate = eval(compile(source, "<rule>", "eval"), namespace)  # noqa: S307 - source built from fixed tables only
    if own:
        index.freeze()
    return predicate


def fields_used(node: dict) -> set[str]:
    """Which fields a condition tree reads (the engine loads only what is needed)."""
    if "all" in node or "any" in node:
        return set().union(*(fields_used(child) for child in node.get("all", node.get("any", []))))
    return {node["field"]}


def _cost(node: dict) -> int:
    """Cheap checks first: evaluation is free of side effects, so a group may test its members in any order."""
    if "all" in node or "any" in node:
        return max((_cost(child) for child in node.get("all", node.get("any", []))), default=0) + 1
    if node["field"] == "message.text":
        return 3
    return 2 if node["field"] in ("contact.attribute", "ticket.tags", "contact.tags") else 1


# Facts attributes (and expressions over them) per field.
_VALUES = {
    "channel": "f.connection_id",
    "platform": "f.platform",
    "message.kind": "f.message_kind",
    "message.language": "f.language",
    "message.sentiment": "f.sentiment",
    "message.email_authentication": "f.email_authentication",
    "ticket.sentiment": "f.ticket_sentiment",
    "ticket.status": "f.status",
    "ticket.priority": "f.priority",
    "ticket.assignee": "f.assignee_id",
    "ticket.team": "f.team_id",
}
_TAGS = {"ticket.tags": "f.folded_ticket_tags", "contact.tags": "f.folded_contact_tags", "ticket.changed": "f.changed"}
_TIMES = {
    "ticket.minutes_since_created": "f.created_at",
    "ticket.minutes_since_activity": "(f.last_message_at or f.created_at)",
    "ticket.minutes_since_customer": "f.last_customer_message_at",
    "ticket.minutes_in_status": "(f.status_changed_at or f.created_at)",
}


def _expression(node: dict, index: TextIndex, constants: list) -> str:
    def const(value) -> str:
        constants.append(value)
        return f"C[{len(constants) - 1}]"

    if "all" in node or "any" in node:
        mode = "all" if "all" in node else "any"
        parts = [_expression(child, index, constants) for child in sorted(node[mode], key=_cost)]
        if not parts:
            return "True" if mode == "all" else "False"
        return "(" + (" and " if mode == "all" else " or ").join(parts) + ")"
    field, op, value = node["field"], node["op"], node.get("value")
    if field in _VALUES and op in ("is_set", "is_not_set"):
        return f"({_VALUES[field]} is {'not ' if op == 'is_set' else ''}None)"
    if field in _VALUES:
        return f"({_VALUES[field]} {'in' if op == 'in' else 'not in'} {const(frozenset(value))})"
    if field in _TAGS:
        wanted = const(frozenset(fold(v) for v in value))
        have = _TAGS[field]
        return {
            "contains_any": f"(not {wanted}.isdisjoint({have}))",
            "contains_all": f"({wanted} <= {have})",
            "contains_none": f"{wanted}.isdisjoint({have})",
        }[op]
    if field in _TIMES:
        # A time that never happened (no customer message yet) is neither more nor less than anything.
        return f"{'GT' if op == 'gt' else 'LT'}({_TIMES[field]}, f.now, {const(timedelta(minutes=value))})"
    if field == "contact.vip":
        return f"(f.vip is {bool(value)!r})"
    if field == "contact.first_contact":
        return f"(f.first_contact is {bool(value)!r})"
    if field == "business_hours":
        return "f.in_business_hours" if op == "inside" else "(not f.in_business_hours)"
    if field == "contact.attribute":
        return f"A(f.attributes, {const(node['key'])}, {const(op)}, {const(fold(str(value or '')))})"
    if field == "message.text":
        if op in ("matches", "not_matches"):
            number = const(index.pattern(value))
            return f"({number} {'in' if op == 'matches' else 'not in'} K(f)[1])"
        numbers = const(frozenset(index.keyword(k) for k in value))
        return {
            "contains_any": f"(not {numbers}.isdisjoint(K(f)[0]))",
            "contains_all": f"({numbers} <= K(f)[0])",
            "contains_none": f"{numbers}.isdisjoint(K(f)[0])",
        }[op]
    raise ValueError(f"unknown field {field}")  # validate_rule refuses these before anything is compiled


def _attribute(attributes: dict, key: str, op: str, wanted: str) -> bool:
    current = attributes.get(key)
    if op == "exists":
        return current not in (None, "")
    if op == "not_exists":
        return current in (None, "")
    current = fold(str(current if current is not None else ""))
    if op == "eq":
        return current == wanted
    if op == "ne":
        return current != wanted
    return wanted in current


# --- the same conditions as a database filter (time-based rules) -------------------------------------------------


def _nothing():
    """A filter no ticket passes."""
    from django.db.models import Q

    return Q(pk__in=[])


# Ticket columns (and expressions) of the conditions a filter states exactly; the others stay with Python.
_SQL_VALUES = {
    "channel": "connection_id",
    "platform": "connection__platform",
    "ticket.sentiment": "sentiment",
    "ticket.status": "status",
    "ticket.priority": "priority",
    "ticket.assignee": "assignee_id",
    "ticket.team": "team_id",
}
_NULLABLE = {"assignee_id", "team_id"}


def time_expression(field: str):
    """The ticket column (or expression) a time field measures from, as the compiled predicate reads it (an
    expression index on tickets serves the coalesced ones)."""
    from django.db.models import F
    from django.db.models.functions import Coalesce

    return {
        "ticket.minutes_since_created": F("created_at"),
        "ticket.minutes_since_activity": Coalesce(F("last_message_at"), F("created_at")),
        "ticket.minutes_since_customer": F("last_customer_message_at"),
        "ticket.minutes_in_status": Coalesce(F("status_changed_at"), F("created_at")),
    }[field]


def condition_filter(node: dict, now: datetime, *, in_hours: bool | None = None, tags: "TagNames | None" = None):
    """A filter on tickets (a Django Q) that every ticket the conditions match at `now` passes: exactly the time
    conditions ("pending for more than 48 hours" is `coalesce(status_changed_at, created_at) < now - 48 h`) and the
    ticket's own columns (status, priority, channel, platform, assignee, team, sentiment, VIP), so that an index finds
    the candidates of a time-based rule. Business hours are one answer for the whole pass (`in_hours`, when given),
    and the ticket's tags become tag ids when the organization's tag names are given (`tags`: folded name → ids, so
    the SQL compares ids and never folds). What SQL cannot say as Python does (contact tags and attributes, first
    contact) is left out, i.e. treated as true, and the compiled predicate decides on the candidates.
    None means no restriction at all. Conditions only narrow (there is no negated group), so leaving a condition out
    keeps every match."""
    from django.db.models import Q
    from django.db.models.lookups import GreaterThan, LessThan

    if "all" in node or "any" in node:
        mode = "all" if "all" in node else "any"
        parts = [condition_filter(child, now, in_hours=in_hours, tags=tags) for child in node[mode]]
        if mode == "all":
            restricting = [part for part in parts if part is not None]
            if not restricting:
                return None
            combined = restricting[0]
            for part in restricting[1:]:
                combined &= part
            return combined
        if not parts:
            return _nothing()  # an empty "any" holds for no ticket
        if any(part is None for part in parts):
            return None
        combined = parts[0]
        for part in parts[1:]:
            combined |= part
        return combined
    field, op, value = node["field"], node["op"], node.get("value")
    if field in _SQL_VALUES:
        column = _SQL_VALUES[field]
        if op in ("is_set", "is_not_set"):
            return Q(**{f"{column}__isnull": op == "is_not_set"})
        values = list(value)
        if op == "in":
            return Q(**{f"{column}__in": values})
        excluded = ~Q(**{f"{column}__in": values})
        # Python's `None not in {…}` holds; SQL's `NULL NOT IN (…)` does not.
        return (excluded | Q(**{f"{column}__isnull": True})) if column in _NULLABLE else excluded
    if field in _TIMES:
        since = time_expression(field)
        bound = now - timedelta(minutes=value)
        # now - t > limit  <=>  t < now - limit (NULL compares as unknown: a time that never happened never matches)
        return Q(LessThan(since, bound)) if op == "gt" else Q(GreaterThan(since, bound))
    if field == "contact.vip":
        return Q(contact__vip=bool(value))
    if field == "business_hours" and in_hours is not None:
        return None if in_hours == (op == "inside") else _nothing()
    if field == "ticket.tags" and tags is not None:
        return _tags_filter(op, [tags.ids(fold(v)) for v in value])
    return None


class TagNames:
    """The organization's tag ids by folded name (one query per pass): a ticket's tags compare as Python folds them
    (`Facts.folded_ticket_tags`) while the SQL compares ids."""

    def __init__(self, pairs: Iterable[tuple[int, str]]):
        self._ids: dict[str, list[int]] = {}
        for pk, name in pairs:
            self._ids.setdefault(fold(name), []).append(pk)

    def ids(self, folded: str) -> list[int]:
        return self._ids.get(folded, [])


def _tags_filter(op: str, wanted: list[list[int]]):
    """The ticket has a tag among each list of ids (contains_all), among one of them (contains_any), or none of them
    (contains_none); a list is the ids of the tags one value folds to (empty: no tag by that name)."""
    from django.db.models import Exists, OuterRef, Q

    from tickets.models import Ticket

    def having(ids: list[int]):
        return Exists(Ticket.tags.through.objects.filter(ticket_id=OuterRef("pk"), tag_id__in=ids))

    every = sorted({pk for ids in wanted for pk in ids})
    if op == "contains_none":
        return ~Q(having(every)) if every else None
    if op == "contains_any":
        return Q(having(every)) if every else _nothing()
    if not all(wanted):  # contains_all with a value no tag of the organization folds to
        return _nothing()
    combined = Q(having(wanted[0]))
    for ids in wanted[1:]:
        combined &= Q(having(ids))
    return combined
