"""Turn a rule's conditions into one Python function, once per rule change, and evaluate it against `Facts`.

Keyword matching is Japanese-aware without relying on spaces: text and keywords are NFKC-normalized and case-folded
(ＡＢＣ = abc, ｶﾀｶﾅ = カタカナ), a keyword in a script without spaces (kana, kanji, Hangul) matches anywhere as a
substring (「返金」 in 「返金してください」), and a keyword made of Latin letters or digits matches only as a whole word
("refund" in "refund please!" or in 「refundをお願いします」, not "ok" in "book").
"""

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from tickets.rules.schema import compile_pattern

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


def keyword_matcher(keyword: str) -> Callable[[str], bool]:
    """A test for one keyword in folded text (see the module docstring)."""
    folded = fold(keyword).strip()
    if _WORDLIKE.match(folded):
        pattern = re.compile(r"(?<![0-9a-z])" + re.escape(folded) + r"(?![0-9a-z])")
        return lambda text: pattern.search(text) is not None
    return lambda text: folded in text


def minutes_between(earlier: datetime | None, now: datetime) -> float | None:
    if earlier is None:
        return None
    return (now - earlier).total_seconds() / 60


Predicate = Callable[[Facts], bool]


def compile_conditions(node: dict) -> Predicate:
    """The conditions (already validated by schema.validate_rule) as one function of Facts."""
    if "all" in node or "any" in node:
        mode = "all" if "all" in node else "any"
        children = [compile_conditions(child) for child in node[mode]]
        if mode == "all":
            return lambda facts: all(child(facts) for child in children)
        return lambda facts: any(child(facts) for child in children)
    return _compile_condition(node)


def fields_used(node: dict) -> set[str]:
    """Which fields a condition tree reads (the engine loads only what is needed)."""
    if "all" in node or "any" in node:
        return set().union(*(fields_used(child) for child in node.get("all", node.get("any", []))))
    return {node["field"]}


def _set_predicate(get: Callable[[Facts], object], op: str, values) -> Predicate:
    allowed = frozenset(values)
    if op == "in":
        return lambda facts: get(facts) in allowed
    return lambda facts: get(facts) not in allowed


def _tags_predicate(get: Callable[[Facts], frozenset[str]], op: str, values) -> Predicate:
    wanted = frozenset(fold(v) for v in values)
    if op == "contains_any":
        return lambda facts: not wanted.isdisjoint(get(facts))
    if op == "contains_all":
        return lambda facts: wanted <= get(facts)
    return lambda facts: wanted.isdisjoint(get(facts))


def _minutes_predicate(get: Callable[[Facts], datetime | None], op: str, value: int) -> Predicate:
    # A time that never happened (no customer message yet) is neither more nor less than anything.
    def predicate(facts: Facts) -> bool:
        minutes = minutes_between(get(facts), facts.now)
        if minutes is None:
            return False
        return minutes > value if op == "gt" else minutes < value

    return predicate


_TIMES: dict[str, Callable[[Facts], datetime | None]] = {
    "ticket.minutes_since_created": lambda f: f.created_at,
    "ticket.minutes_since_activity": lambda f: f.last_message_at or f.created_at,
    "ticket.minutes_since_customer": lambda f: f.last_customer_message_at,
    "ticket.minutes_in_status": lambda f: f.status_changed_at or f.created_at,
}

_VALUES: dict[str, Callable[[Facts], object]] = {
    "channel": lambda f: f.connection_id,
    "platform": lambda f: f.platform,
    "message.kind": lambda f: f.message_kind,
    "message.language": lambda f: f.language,
    "message.sentiment": lambda f: f.sentiment,
    "ticket.sentiment": lambda f: f.ticket_sentiment,
    "ticket.status": lambda f: f.status,
    "ticket.priority": lambda f: f.priority,
    "ticket.assignee": lambda f: f.assignee_id,
    "ticket.team": lambda f: f.team_id,
}


def _compile_condition(node: dict) -> Predicate:
    field_key, op, value = node["field"], node["op"], node.get("value")
    if field_key in _TIMES:
        return _minutes_predicate(_TIMES[field_key], op, value)
    if field_key in ("ticket.assignee", "ticket.team") and op in ("is_set", "is_not_set"):
        get = _VALUES[field_key]
        return (lambda f: get(f) is not None) if op == "is_set" else (lambda f: get(f) is None)
    if field_key in _VALUES:
        return _set_predicate(_VALUES[field_key], op, value)
    if field_key == "ticket.tags":
        return _tags_predicate(lambda f: f.folded_ticket_tags, op, value)
    if field_key == "contact.tags":
        return _tags_predicate(lambda f: f.folded_contact_tags, op, value)
    if field_key == "ticket.changed":
        return _tags_predicate(lambda f: f.changed, op, value)
    if field_key == "contact.vip":
        return lambda f: f.vip is value
    if field_key == "contact.first_contact":
        return lambda f: f.first_contact is value
    if field_key == "business_hours":
        return (lambda f: f.in_business_hours) if op == "inside" else (lambda f: not f.in_business_hours)
    if field_key == "contact.attribute":
        return _attribute_predicate(node["key"], op, value)
    if field_key == "message.text":
        return _text_predicate(op, value)
    raise ValueError(f"unknown field {field_key}")  # validate_rule refuses these before anything is compiled


def _attribute_predicate(key: str, op: str, value) -> Predicate:
    if op == "exists":
        return lambda f: f.attributes.get(key) not in (None, "")
    if op == "not_exists":
        return lambda f: f.attributes.get(key) in (None, "")
    wanted = fold(str(value))
    if op == "eq":
        return lambda f: fold(str(f.attributes.get(key, ""))) == wanted
    if op == "ne":
        return lambda f: fold(str(f.attributes.get(key, ""))) != wanted
    return lambda f: wanted in fold(str(f.attributes.get(key, "")))


def _text_predicate(op: str, value) -> Predicate:
    if op in ("matches", "not_matches"):
        pattern = compile_pattern(value)
        if op == "matches":
            return lambda f: pattern.search(f.text[:MAX_TEXT]) is not None
        return lambda f: pattern.search(f.text[:MAX_TEXT]) is None
    matchers = [keyword_matcher(k) for k in value]
    if op == "contains_any":
        return lambda f: any(m(f.folded_text) for m in matchers)
    if op == "contains_all":
        return lambda f: all(m(f.folded_text) for m in matchers)
    return lambda f: not any(m(f.folded_text) for m in matchers)
