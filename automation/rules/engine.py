"""Running the organization's rules: on events (inside the transaction of the change that caused them), on a
schedule (time-based rules, Celery beat), and as a dry run over recent tickets.

Rules are compiled once per change and kept per process; the fingerprint of the organization's automation setup
(automation.setup_cache, one query per ingest batch) tells a process that its copy is stale. Facts are loaded only for
the fields some rule of the trigger reads."""

import dataclasses
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import BigIntegerField, Exists, F, Func, Lookup, OuterRef, TextField, Value
from django.db.models.functions import Cast, Coalesce, Concat
from django.utils import timezone

from accounts.models import Organization
from automation.models import Rule, RuleRun, RuleTrigger
from automation.rules import actions as rule_actions
from automation.rules.actions import SPAM_TAG
from automation.rules.compiler import (
    Facts,
    Predicate,
    TagNames,
    TextIndex,
    compile_conditions,
    condition_filter,
    fields_used,
)
from automation.rules.schema import References, validate_rule
from automation.setup_cache import cached_setup
from automation.sla.calendar import default_calendar_spec, is_open
from core import realtime
from tickets.models import ACTIVE_STATUSES, Direction, Message, MessageKind, Tag, Ticket

logger = logging.getLogger("tsunagu.rules")

SCHEDULED_BATCH = 500  # candidate tickets of a time-based pass loaded and evaluated together


@dataclass(frozen=True)
class CompiledRule:
    pk: int
    name: str
    trigger: str
    matches: Predicate
    actions: list[dict]
    stop_processing: bool
    fields: frozenset[str]
    conditions: dict | None = None  # as stored: time-based rules turn them into a database filter too


@dataclass(frozen=True)
class RuleSet:
    by_trigger: dict[str, list[CompiledRule]]

    def rules(self, trigger: str) -> list[CompiledRule]:
        return self.by_trigger.get(trigger, [])


def compile_rule(rule: Rule, index: TextIndex | None = None) -> CompiledRule:
    return CompiledRule(
        pk=rule.pk,
        name=rule.name,
        trigger=rule.trigger,
        matches=compile_conditions(rule.conditions, index),
        actions=list(rule.actions),
        stop_processing=rule.stop_processing,
        fields=frozenset(fields_used(rule.conditions)),
        conditions=rule.conditions,
    )


def ruleset(organization: Organization) -> RuleSet:
    """The organization's enabled rules, compiled (kept while its automation setup is unchanged)."""
    return cached_setup(organization.pk, "ruleset", lambda: _ruleset(organization))


def _ruleset(organization: Organization) -> RuleSet:
    by_trigger: dict[str, list[CompiledRule]] = {}
    indexes: dict[str, TextIndex] = {}
    for rule in Rule.objects.filter(enabled=True).order_by("trigger", "position", "id"):
        index = indexes.setdefault(rule.trigger, TextIndex())
        try:
            by_trigger.setdefault(rule.trigger, []).append(compile_rule(rule, index))
        except Exception:  # a rule stored before a validation change; skipping it beats stopping every rule
            logger.exception("rule %s of organization %s cannot be compiled; skipped", rule.pk, organization.pk)
    for index in indexes.values():
        index.freeze()
    return RuleSet(by_trigger=by_trigger)


# --- facts ------------------------------------------------------------------------------------------------------


def build_facts(
    *,
    organization: Organization,
    ticket: Ticket,
    message: Message | None,
    needed: Iterable[str],
    changed: Iterable[str] = (),
    now: datetime | None = None,
    calendar_spec=None,
    new_ticket: bool = False,
) -> Facts:
    """Facts about the ticket (and the customer message that triggered the rules), loading only what is needed.
    `new_ticket`: the ticket was opened by this message in the caller's transaction, so it has no tags yet."""
    needed = set(needed)
    now = now or timezone.now()
    contact = ticket.contact if any(f.startswith("contact.") for f in needed) else None
    in_hours = True
    if "business_hours" in needed:
        spec = calendar_spec if calendar_spec is not None else default_calendar_spec(organization)
        in_hours = True if spec is None else is_open(now, spec)
    return Facts(
        now=now,
        connection_id=ticket.connection_id,
        platform=ticket.connection.platform if "platform" in needed else "",
        status=ticket.status,
        priority=ticket.priority,
        created_at=ticket.created_at,
        assignee_id=ticket.assignee_id,
        team_id=ticket.team_id,
        ticket_tags=(
            frozenset(ticket.tags.values_list("name", flat=True))
            if "ticket.tags" in needed and not new_ticket
            else frozenset()
        ),
        ticket_sentiment=ticket.sentiment,
        last_message_at=ticket.last_message_at,
        last_customer_message_at=ticket.last_customer_message_at,
        status_changed_at=ticket.status_changed_at,
        contact_tags=frozenset(contact.tags) if contact else frozenset(),
        vip=contact.vip if contact else False,
        attributes=contact.attributes if contact and isinstance(contact.attributes, dict) else {},
        first_contact=(
            not Ticket.objects.filter(contact_id=ticket.contact_id, created_at__lt=ticket.created_at).exists()
            if "contact.first_contact" in needed
            else False
        ),
        in_business_hours=in_hours,
        changed=frozenset(changed),
        has_message=message is not None,
        message_kind=message.kind if message else "",
        text=message.text if message else "",
        language=message.language if message else "",
        sentiment=message.sentiment if message else "",
        email_authentication=email_verdict(message),
    )


def email_verdict(message: Message | None) -> str:
    """The sender authentication verdict of an inbound email (pass, fail, none; none for one never checked), ""
    for other messages: the `message.email_authentication` condition."""
    if message is None or message.kind != MessageKind.EMAIL:
        return ""
    return (message.sender_authentication or {}).get("verdict") or "none"


# --- running ----------------------------------------------------------------------------------------------------


def run_rules(
    *,
    organization: Organization,
    trigger: str,
    ticket: Ticket,
    message: Message | None = None,
    changed: Iterable[str] = (),
    dedupe_key: str = "",
    now: datetime | None = None,
) -> list[RuleRun]:
    """Run the enabled rules of `trigger` on the ticket, in order, inside the caller's transaction. Each matching
    rule's actions run and are logged on the ticket (RuleRun); later rules see what earlier ones changed;
    `stop_processing` ends the pass. With a `dedupe_key`, a rule acts at most once per ticket and key."""
    rules = ruleset(organization).rules(trigger)
    if not rules:
        return []
    needed = frozenset().union(*(rule.fields for rule in rules))
    facts = build_facts(
        organization=organization, ticket=ticket, message=message, needed=needed, changed=changed, now=now
    )
    return _run(organization, trigger, rules, ticket, message, frozenset(changed), dedupe_key, now, facts, needed)[0]


def run_message_rules(*, organization: Organization, ticket: Ticket, message: Message, created: bool) -> list[RuleRun]:
    """A customer message's rules: "ticket created" ones first when it opened the ticket, then "message received"
    ones; the facts are loaded once for both passes (what the rules read of the contact and the ticket's history
    does not change in between) and kept current as rules act."""
    rules = ruleset(organization)
    passes = ([RuleTrigger.TICKET_CREATED] if created else []) + [RuleTrigger.MESSAGE_RECEIVED]
    passes = [(trigger, rules.rules(trigger)) for trigger in passes if rules.rules(trigger)]
    if not passes:
        return []
    needed = frozenset().union(*(rule.fields for _, found in passes for rule in found))
    facts = build_facts(organization=organization, ticket=ticket, message=message, needed=needed, new_ticket=created)
    runs = []
    for trigger, found in passes:
        acted, facts = _run(
            organization, trigger, found, ticket, message, frozenset(), "", None, facts, needed, write_log=False
        )
        runs += acted
    if runs:
        RuleRun.objects.bulk_create(runs)  # both passes' log in one INSERT
    return runs


# Actions after which the engine's ticket instance holds every field the facts read (they change the instance in
# place: status, priority, assignee and team) and whose tag changes the engine can follow from the action's result.
_TAG_ACTIONS = {"add_tags", "remove_tags", "mark_spam"}
_INSTANCE_CURRENT = rule_actions.TAG_NEUTRAL | _TAG_ACTIONS  # the tag-neutral ones change the instance in place


def _after_actions(facts: Facts, ticket: Ticket, results: list[dict], needed: frozenset[str]) -> Facts | None:
    """The facts once a rule's actions ran, from the ticket instance and the actions' results (no query); None
    when they cannot be known that way (an unknown or failed tag action): then they are loaded again."""
    tags = set(facts.ticket_tags)
    for result in results:
        kind = result.get("type")
        if kind not in _INSTANCE_CURRENT or (kind in _TAG_ACTIONS and not result.get("ok")):
            return None
        if not result.get("ok"):
            continue
        if kind == "add_tags":
            tags |= set(result.get("tags", ()))
        elif kind == "remove_tags":
            tags -= set(result.get("tags", ()))
        elif kind == "mark_spam":
            tags.add(SPAM_TAG)
    return dataclasses.replace(
        facts,
        status=ticket.status,
        priority=ticket.priority,
        assignee_id=ticket.assignee_id,
        team_id=ticket.team_id,
        status_changed_at=ticket.status_changed_at,
        ticket_tags=frozenset(tags) if "ticket.tags" in needed else frozenset(),
    )


def _run(
    organization: Organization,
    trigger: str,
    rules: list[CompiledRule],
    ticket: Ticket,
    message: Message | None,
    changed: frozenset[str],
    dedupe_key: str,
    now: datetime | None,
    facts: Facts,
    needed: frozenset[str],
    write_log: bool = True,
) -> tuple[list[RuleRun], Facts]:
    """One pass of `rules` over `facts` (loaded for `needed`, which covers what these rules read); returns the runs
    and the facts as they stand after it. `write_log=False`: the caller writes the runs without a `dedupe_key`.

    Without a `dedupe_key` (the log is written at the end of the pass) the pass's tag changes are gathered and
    written together (`rule_actions.TagChanges`): one savepoint, one read of the ticket's tags and one tag event per
    pass instead of per action. They are written before any action that may read or change the ticket's tags, and
    at the end of the pass; the later rules' facts follow them from the actions' results as before."""
    runs = []
    tag_changes = None if dedupe_key else rule_actions.TagChanges(organization=organization, ticket=ticket)
    for rule in rules:
        if not _matches(rule, facts):
            continue
        if dedupe_key:
            run = _record_run(organization, rule, ticket, trigger, dedupe_key)
            if run is None:
                continue  # this rule already acted on this ticket for this key
        else:
            # Nothing to claim (only keyed runs are unique): the log is written once, with what the actions did,
            # for the whole pass below — one INSERT instead of a savepoint, an INSERT and an UPDATE per rule.
            run = RuleRun(
                organization=organization, ticket=ticket, rule_id=rule.pk, rule_name=rule.name, trigger=trigger
            )
        results = []
        for action in rule.actions:
            if tag_changes is not None and tag_changes.takes(action):
                results.append(tag_changes.add(rule, action))
                continue
            if tag_changes is not None and action.get("type") not in rule_actions.TAG_NEUTRAL:
                tag_changes.write()
            results.append(
                rule_actions.perform(
                    organization=organization, rule=rule, ticket=ticket, action=action, message=message
                )
            )
        run.actions = results
        if run.pk is not None:
            run.save(update_fields=["actions"])
        runs.append(run)
        if rule.stop_processing:
            break
        following = _after_actions(facts, ticket, results, needed)
        if following is None:  # read again: the gathered tag changes first
            if tag_changes is not None:
                tag_changes.write()
            following = build_facts(
                organization=organization, ticket=ticket, message=message, needed=needed, changed=changed, now=now
            )
        facts = following
    if tag_changes is not None:
        tag_changes.write()
    if not dedupe_key and runs and write_log:
        RuleRun.objects.bulk_create(runs)
    if runs:
        logger.info("ticket %s: %s rule(s) acted on %s", ticket.pk, len(runs), trigger)
    return runs, facts


def _matches(rule: CompiledRule, facts: Facts) -> bool:
    try:
        return bool(rule.matches(facts))
    except Exception:  # odd stored data (a contact attribute of an unexpected type): this rule does not apply
        logger.exception("rule %s could not be evaluated", rule.pk)
        return False


def _record_run(organization, rule: CompiledRule, ticket: Ticket, trigger: str, dedupe_key: str) -> RuleRun | None:
    """The RuleRun is written before the actions run, so that its unique key claims the (rule, ticket, key)."""
    try:
        with transaction.atomic():
            return RuleRun.objects.create(
                organization=organization,
                ticket=ticket,
                rule_id=rule.pk,
                rule_name=rule.name,
                trigger=trigger,
                dedupe_key=dedupe_key,
            )
    except IntegrityError:
        return None


def state_key(ticket: Ticket) -> str:
    """Identifies the ticket's state for time-based rules: a rule fires once per state, again once it changes.
    `state_key_expression` computes the same key in SQL (the scheduled pass leaves out the states already acted on)."""
    parts = [
        ticket.status,
        ticket.status_changed_at.isoformat() if ticket.status_changed_at else "",
        ticket.last_message_at.isoformat() if ticket.last_message_at else "",
        str(ticket.assignee_id or ""),
        str(ticket.team_id or ""),
    ]
    return "t:" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


class _IsoFormat(Func):
    """Python's `datetime.isoformat()` of a UTC timestamp column ('' for NULL): seconds, then microseconds only when
    there are any, then +00:00."""

    arity = 1
    output_field = TextField()
    template = (
        "COALESCE(to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS')"
        " || CASE WHEN to_char(%(expressions)s, 'US') = '000000' THEN ''"
        " ELSE '.' || to_char(%(expressions)s, 'US') END || '+00:00', '')"
    )


class _Sha256Hex(Func):
    """The first 32 hex digits of the SHA-256 of a text's UTF-8 bytes (PostgreSQL's core sha256)."""

    arity = 1
    output_field = TextField()
    template = "left(encode(sha256(convert_to(%(expressions)s, 'UTF8')), 'hex'), 32)"


def state_key_expression():
    """`state_key` as an SQL expression over the ticket's columns (equal for every ticket: a test compares them)."""
    separator = Value("|", output_field=TextField())
    empty = Value("", output_field=TextField())
    return Concat(
        Value("t:", output_field=TextField()),
        _Sha256Hex(
            Concat(
                Cast("status", TextField()),
                separator,
                _IsoFormat(F("status_changed_at")),
                separator,
                _IsoFormat(F("last_message_at")),
                separator,
                Coalesce(Cast("assignee_id", TextField()), empty),
                separator,
                Coalesce(Cast("team_id", TextField()), empty),
                output_field=TextField(),
            )
        ),
        output_field=TextField(),
    )


# The ticket's columns a time-based run keeps (RuleRun.state_*): the fields `state_key` hashes.
_STATE_COLUMNS = {
    "state_status": "status",
    "state_status_changed_at": "status_changed_at",
    "state_last_message_at": "last_message_at",
    "state_assignee_id": "assignee_id",
    "state_team_id": "team_id",
}


class _NotDistinct(Lookup):
    """`a IS NOT DISTINCT FROM b`: equal, NULL equal to NULL (a state without a status change, or unassigned)."""

    lookup_name = "not_distinct"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} IS NOT DISTINCT FROM {rhs}", [*lhs_params, *rhs_params]


def _acted_on(rule_pk: int):
    """The runs of the rule on the outer ticket in its current state: the ticket's columns compared with the state
    the run kept (no key computed per candidate; a hash anti-join on the ticket serves it). A run without a kept
    state (one older than these columns and not backfilled) leaves nothing out: the unique `dedupe_key` still stops
    the rule from acting twice."""
    return RuleRun.objects.filter(
        _NotDistinct(F("state_status_changed_at"), OuterRef("status_changed_at")),
        _NotDistinct(F("state_last_message_at"), OuterRef("last_message_at")),
        _NotDistinct(F("state_assignee_id"), OuterRef("assignee_id")),
        _NotDistinct(F("state_team_id"), OuterRef("team_id")),
        rule_id=rule_pk,
        ticket_id=OuterRef("pk"),
        state_status=OuterRef("status"),
    )


def _candidate_tickets(rule: CompiledRule, now: datetime, in_hours: bool | None, tags: TagNames | None):
    tickets = Ticket.objects.filter(status__in=ACTIVE_STATUSES, merged_into__isnull=True)
    restriction = condition_filter(rule.conditions, now, in_hours=in_hours, tags=tags)
    if restriction is not None:
        tickets = tickets.filter(restriction)
    return tickets.filter(~Exists(_acted_on(rule.pk))).order_by()


def scheduled_candidate_query(
    rule: CompiledRule, now: datetime, *, in_hours: bool | None = None, tags: TagNames | None = None
):
    """The ids of the active tickets `rule` may act on at `now`: those its filter (`compiler.condition_filter`: the
    time conditions, the ticket's columns and tags, business hours; served by the partial indexes on active tickets)
    lets through and on which it has not acted in their current state (no RuleRun keeping that state)."""
    return _candidate_tickets(rule, now, in_hours, tags).values_list("pk", flat=True)


def scheduled_candidates(
    *, rules: list[CompiledRule], now: datetime, in_hours: bool | None = None, tags: TagNames | None = None
) -> dict[int, set[int]]:
    """The active tickets some time-based rule may act on at `now` → the rules (pks) that may: a superset of what the
    rules match (the compiled predicates decide). One query for all the rules (a UNION ALL of each rule's)."""
    queries = [
        _candidate_tickets(rule, now, in_hours, tags)
        .annotate(rule_pk=Value(rule.pk, output_field=BigIntegerField()))
        .values_list("pk", "rule_pk")
        for rule in rules
    ]
    if not queries:
        return {}
    query = queries[0].union(*queries[1:], all=True) if len(queries) > 1 else queries[0]
    found: dict[int, set[int]] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        # Every filter is served by a partial index on the active tickets, but the planner estimates a time range
        # over all of the organization's tickets (mostly old and closed): "created more than 30 days ago" was
        # planned as a scan of the whole table (1.5 s of a 6 s pass at 1,000,000 tickets) to find 200 rows.
        cursor.execute("SET LOCAL enable_seqscan = off")
        for ticket_id, rule_pk in query.iterator(chunk_size=SCHEDULED_BATCH * 10):
            found.setdefault(ticket_id, set()).add(rule_pk)
    return found


_FACT_COLUMNS = (
    "pk",
    "connection_id",
    "status",
    "priority",
    "created_at",
    "assignee_id",
    "team_id",
    "sentiment",
    "last_message_at",
    "last_customer_message_at",
    "status_changed_at",
)


def _scheduled_facts(ids: list[int], needed: frozenset[str], now: datetime, in_hours: bool) -> dict[int, Facts]:
    """`build_facts` for a batch of tickets, from the columns the rules read (no model instances): one query for
    the tickets (with their channel's platform, contact and first-contact flag when read), one for their tags."""
    columns = list(_FACT_COLUMNS)
    tickets = Ticket.objects.filter(pk__in=ids)
    if "platform" in needed:
        columns.append("connection__platform")
    contact = any(f.startswith("contact.") for f in needed)
    if contact:
        columns += ["contact__tags", "contact__vip", "contact__attributes"]
    if "contact.first_contact" in needed:
        earlier = Ticket.objects.filter(contact_id=OuterRef("contact_id"), created_at__lt=OuterRef("created_at"))
        tickets = tickets.annotate(returning=Exists(earlier))
        columns.append("returning")
    tags: dict[int, set[str]] = {}
    if "ticket.tags" in needed:
        links = Ticket.tags.through.objects.filter(ticket_id__in=ids).values_list("ticket_id", "tag__name")
        for ticket_id, name in links:
            tags.setdefault(ticket_id, set()).add(name)
    facts = {}
    for row in tickets.order_by("pk").values(*columns):
        attributes = row.get("contact__attributes")
        facts[row["pk"]] = Facts(
            now=now,
            connection_id=row["connection_id"],
            platform=row.get("connection__platform", ""),
            status=row["status"],
            priority=row["priority"],
            created_at=row["created_at"],
            assignee_id=row["assignee_id"],
            team_id=row["team_id"],
            ticket_tags=frozenset(tags.get(row["pk"], ())),
            ticket_sentiment=row["sentiment"],
            last_message_at=row["last_message_at"],
            last_customer_message_at=row["last_customer_message_at"],
            status_changed_at=row["status_changed_at"],
            contact_tags=frozenset(row["contact__tags"] or ()) if contact else frozenset(),
            vip=row["contact__vip"] if contact else False,
            attributes=attributes if isinstance(attributes, dict) else {},
            first_contact=not row["returning"] if "contact.first_contact" in needed else False,
            in_business_hours=in_hours,
        )
    return facts


def run_scheduled_rules(*, organization: Organization, now: datetime | None = None) -> int:
    """Time-based rules ("pending for 48 hours", "unassigned for 10 minutes"): every active ticket of the
    organization that one of them matches at `now`; each (rule, ticket, state) acts once. The database finds the
    candidates of every rule in one query (`scheduled_candidates`); they are then read and evaluated in batches of
    SCHEDULED_BATCH (a constant number of queries per batch, each ticket against the rules it is a candidate of),
    and each match runs the rules on the locked ticket as before. Returns how many rule runs acted."""
    now = now or timezone.now()
    rules = ruleset(organization).rules(RuleTrigger.SCHEDULED)
    if not rules:
        return 0
    needed = frozenset().union(*(rule.fields for rule in rules))
    in_hours = True
    if "business_hours" in needed:
        spec = default_calendar_spec(organization)
        in_hours = True if spec is None else is_open(now, spec)
    tags = TagNames(Tag.objects.values_list("pk", "name")) if "ticket.tags" in needed else None
    candidates = scheduled_candidates(rules=rules, now=now, in_hours=in_hours, tags=tags)
    candidate_ids = sorted(candidates)
    acted = 0
    for start in range(0, len(candidate_ids), SCHEDULED_BATCH):
        batch = candidate_ids[start : start + SCHEDULED_BATCH]
        facts = _scheduled_facts(batch, needed, now, in_hours)
        # The batch's real-time events (rule actions) are written and sent together, not one transaction each.
        with realtime.batched():
            for ticket_id in batch:
                if ticket_id not in facts:
                    continue  # deleted since
                may_act = [rule for rule in rules if rule.pk in candidates[ticket_id]]
                if any(_matches(rule, facts[ticket_id]) for rule in may_act):
                    acted += _run_scheduled_on(organization, ticket_id, now)
    return acted


def _run_scheduled_on(organization: Organization, ticket_id: int, now: datetime) -> int:
    with transaction.atomic():
        locked = (
            Ticket.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("connection", "contact")
            .filter(pk=ticket_id, status__in=ACTIVE_STATUSES, merged_into__isnull=True)
            .first()
        )
        if locked is None:
            return 0  # being changed right now (or no longer active); the next pass looks again
        # The state the runs are keyed by, kept before the rules' actions change the ticket.
        state = {run_column: getattr(locked, column) for run_column, column in _STATE_COLUMNS.items()}
        runs = run_rules(
            organization=organization,
            trigger=RuleTrigger.SCHEDULED,
            ticket=locked,
            dedupe_key=state_key(locked),
            now=now,
        )
        if runs:
            RuleRun.objects.filter(pk__in=[run.pk for run in runs]).update(**state)
        return len(runs)


# --- dry run ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DryRunMatch:
    ticket: Ticket
    message: Message | None


def rules_dry_run(
    *, organization: Organization, trigger: str, conditions, actions, limit: int = 500
) -> tuple[int, list[DryRunMatch]]:
    """Which of the last `limit` tickets would this rule match (as if its trigger happened at the time of the
    ticket's latest customer message, or now for rules without a message)? Nothing is changed. Returns
    (tickets looked at, matches). Raises RuleInvalid for a rule that cannot be saved either."""
    conditions, actions = validate_rule(
        trigger=trigger, conditions=conditions, actions=actions, refs=References.of(organization)
    )
    probe = CompiledRule(
        pk=0,
        name="",
        trigger=trigger,
        matches=compile_conditions(conditions),
        actions=actions,
        stop_processing=False,
        fields=frozenset(fields_used(conditions)),
    )
    needed = probe.fields
    earlier = Ticket.objects.filter(contact_id=OuterRef("contact_id"), created_at__lt=OuterRef("created_at"))
    tickets = list(
        Ticket.objects.filter(merged_into__isnull=True)
        .select_related("connection", "contact")
        .prefetch_related("tags")
        .annotate(returning=Exists(earlier))
        .order_by("-created_at", "-pk")[:limit]
    )
    latest: dict[int, Message] = {}
    message_trigger = trigger in (RuleTrigger.TICKET_CREATED, RuleTrigger.MESSAGE_RECEIVED)
    if message_trigger and tickets:
        for message in (
            Message.objects.filter(ticket_id__in=[t.pk for t in tickets], direction=Direction.INBOUND)
            .order_by("ticket_id", "-created_at", "-pk")
            .distinct("ticket_id")
        ):
            latest[message.ticket_id] = message
    spec = default_calendar_spec(organization) if "business_hours" in needed else None
    now = timezone.now()
    found = []
    for ticket in tickets:
        message = latest.get(ticket.pk)
        at = message.created_at if message is not None else now
        in_hours = True
        if spec is not None:
            in_hours = is_open(at, spec)
        contact = ticket.contact
        facts = Facts(
            now=at,
            connection_id=ticket.connection_id,
            platform=ticket.connection.platform,
            status=ticket.status,
            priority=ticket.priority,
            created_at=ticket.created_at,
            assignee_id=ticket.assignee_id,
            team_id=ticket.team_id,
            ticket_tags=frozenset(tag.name for tag in ticket.tags.all()),
            ticket_sentiment=ticket.sentiment,
            last_message_at=ticket.last_message_at,
            last_customer_message_at=ticket.last_customer_message_at,
            status_changed_at=ticket.status_changed_at,
            contact_tags=frozenset(contact.tags),
            vip=contact.vip,
            attributes=contact.attributes if isinstance(contact.attributes, dict) else {},
            first_contact=not ticket.returning,
            in_business_hours=in_hours,
            has_message=message is not None,
            message_kind=message.kind if message else "",
            text=message.text if message else "",
            language=message.language if message else "",
            sentiment=message.sentiment if message else "",
            email_authentication=email_verdict(message),
        )
        if _matches(probe, facts):
            found.append(DryRunMatch(ticket=ticket, message=message))
    return len(tickets), found
