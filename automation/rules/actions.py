"""What a matched rule does to a ticket. Each action goes through the same services an agent's change does (so it
is recorded, published and audited the same way), as automation (`actor=None`, `run_rules=False`: a rule's changes
do not trigger "ticket updated" rules again, so rules cannot loop).

Every action returns what it did as a small dict for the ticket's "why" log: {"type", "ok", …parameters}."""

import logging

from django.db import transaction
from django_scopes import scope

from accounts.models import AssignmentStrategy, Membership, Organization, Team, User
from automation.autoreplies import send_canned_automatically
from automation.models import Rule, SlaPolicy
from automation.routing.assignment import ticket_route
from automation.rules import webhooks
from automation.sla.clocks import sla_start
from channels_integrations.permissions import connections_visible_to
from core.after_batch import defer
from core.batch_reads import cached
from core.errors import DomainError
from tickets.events import publish_ticket
from tickets.models import CannedResponse, Message, Ticket, TicketStatus
from tickets.notifications import notify_about_ticket
from tickets.services.changes import ticket_update
from tickets.services.notes import note_add
from tickets.services.surveys import survey_skip

logger = logging.getLogger("tsunagu.rules")

SPAM_TAG = "spam"


def perform(
    *, organization: Organization, rule: Rule, ticket: Ticket, action: dict, message: Message | None = None
) -> dict:
    """Run one action inside a savepoint: a failing action (a deleted team, a channel that cannot send, a sender
    that failed DMARC) is logged as not done and the rule's other actions still run. `message` is the customer
    message that set the rule off, if any (an automatic reply answers it)."""
    kind = action["type"]
    extra = {"message": message} if kind == "auto_reply" else {}
    try:
        with transaction.atomic():
            outcome = _HANDLERS[kind](organization=organization, rule=rule, ticket=ticket, action=action, **extra)
        return {"type": kind, "ok": True, **outcome}
    except (DomainError, User.DoesNotExist, Team.DoesNotExist, LookupError) as exc:
        logger.info("rule %s: action %s on ticket %s not done: %s", rule.pk, kind, ticket.pk, exc)
        error = str(exc)
    except Exception as exc:  # a bug in one action must not lose the customer's message: it rolls back alone
        logger.exception("rule %s: action %s on ticket %s failed", rule.pk, kind, ticket.pk)
        error = f"{type(exc).__name__}"
    params = {key: value for key, value in action.items() if key != "type"}
    return {"type": kind, "ok": False, **params, "error": error[:300]}


# Actions that neither read nor change the ticket's tags: the tag changes gathered by TagChanges may wait past them.
TAG_NEUTRAL = frozenset(
    {
        "assign_agent",
        "assign_team",
        "set_priority",
        "set_status",
        "apply_sla",
        "auto_reply",
        "add_note",
        "notify",
        "escalate",
        "webhook",
        "skip_survey",
    }
)


class TagChanges:
    """The "add tags" and "remove tags" actions of one pass of the rules over a ticket, written together: one
    savepoint, one read of the ticket's tags, one tag event, instead of each action on its own. The outcome is the
    actions' in order: for each tag, the last action that names it decides. The ticket's history shows them as one
    tag change, after the pass's other changes. Should the write fail, each action is performed again on its own (as
    `perform` does), so that its result says exactly what it did."""

    def __init__(self, *, organization: Organization, ticket: Ticket):
        self.organization = organization
        self.ticket = ticket
        self._last: dict[str, bool] = {}  # tag name as stored -> added (True) or removed (False)
        self._pending: list[tuple[Rule, dict, dict]] = []  # (rule, action, its result), in order

    @staticmethod
    def takes(action: dict) -> bool:
        return action.get("type") in ("add_tags", "remove_tags")

    def add(self, rule: Rule, action: dict) -> dict:
        """Gather one tag action; returns its result (a dict completed in place should the write fail)."""
        added = action["type"] == "add_tags"
        for name in action["tags"]:
            name = name.strip()[:60]  # as ticket_update stores names
            if name:
                self._last.pop(name, None)  # the last action naming the tag decides
                self._last[name] = added
        result = {"type": action["type"], "ok": True, "tags": action["tags"]}
        self._pending.append((rule, action, result))
        return result

    def write(self) -> None:
        if not self._pending:
            return
        pending, last = self._pending, self._last
        self._pending, self._last = [], {}
        try:
            with transaction.atomic():
                _update(
                    self.organization,
                    self.ticket,
                    tags_add=[name for name, added in last.items() if added],
                    tags_remove=[name for name, added in last.items() if not added],
                )
            return
        except Exception:  # one of them cannot be done: each alone, as `perform` would have
            logger.info("ticket %s: the rules' tag changes written one by one", self.ticket.pk, exc_info=True)
        for rule, action, result in pending:
            outcome = perform(organization=self.organization, rule=rule, ticket=self.ticket, action=action)
            result.clear()
            result.update(outcome)


def _update(organization: Organization, ticket: Ticket, **change) -> Ticket:
    # Rules run on the ticket their caller locked (the ingest, the scheduler, the SLA monitor, a ticket change), and
    # each action in its own savepoint (`perform`): the engine's instance is changed in place, not read again.
    return ticket_update(organization=organization, actor=None, ticket=ticket, run_rules=False, locked=True, **change)


def assign_agent(*, organization, rule, ticket, action) -> dict:
    membership = Membership.objects.select_related("role", "user").get(user_id=action["user"])
    if not connections_visible_to(membership).filter(pk=ticket.connection_id).exists():
        raise DomainError(f"{membership.user} cannot see this channel")
    _update(organization, ticket, assignee=membership.user, rule=rule.name)
    return {"user": membership.user_id}


def _route(organization: Organization, ticket: Ticket, team: Team) -> dict:
    """Route the ticket to the team: at once, or — inside an ingest batch — put it in the team's queue now and make
    the decision right after the batch's transaction (core.after_batch), in its own short transaction. A decision
    locks the team row until its transaction ends; inside the batch that would be until the batch commits, and every
    other batch routing to the team would wait for it. Should the worker die between the batch's commit and the
    decision, the ticket waits in the team's queue, which the beat's `automation.drain_queues_everywhere` drains
    every minute. The result names the agent only when the decision was made here (the history records it later)."""
    if team.assignment_strategy != AssignmentStrategy.MANUAL and ticket.assignee_id is None:
        if ticket.team_id != team.pk:
            _update(organization, ticket, team=team)
        if defer(lambda: _route_after_batch(organization, ticket, team)):
            return {"team": team.pk}
    assignee = ticket_route(organization=organization, ticket=ticket, team=team, actor=None)
    return {"team": team.pk, "user": assignee.pk if assignee else None}


def _route_after_batch(organization: Organization, ticket: Ticket, team: Team) -> None:
    # After the batch: the scope of the organization may have ended with the caller's block.
    with scope(organization=organization):
        ticket_route(organization=organization, ticket=ticket, team=team, actor=None)


def _team(organization: Organization, pk: int) -> Team:
    # Once per ingest batch (core.batch_reads): a routing rule names the same team for every new conversation, and
    # nothing in an ingest changes a team. The decision reads the team's strategy again under its lock.
    return cached(("rules.team", organization.pk, pk), lambda: Team.objects.get(pk=pk))


def assign_team(*, organization, rule, ticket, action) -> dict:
    team = _team(organization, action["team"])
    # ticket_route keeps the instance's team and assignee current (nothing else of the row changes).
    return _route(organization, ticket, team)


def set_priority(*, organization, rule, ticket, action) -> dict:
    _update(organization, ticket, priority=action["priority"])
    return {"priority": action["priority"]}


def set_status(*, organization, rule, ticket, action) -> dict:
    _update(organization, ticket, status=action["status"])
    return {"status": action["status"]}


def add_tags(*, organization, rule, ticket, action) -> dict:
    _update(organization, ticket, tags_add=action["tags"])
    return {"tags": action["tags"]}


def remove_tags(*, organization, rule, ticket, action) -> dict:
    _update(organization, ticket, tags_remove=action["tags"])
    return {"tags": action["tags"]}


def apply_sla(*, organization, rule, ticket, action) -> dict:
    policy = SlaPolicy.objects.get(pk=action["policy"])
    # On the caller's locked, current instance (as `_update`): its SLA fields are then current for what follows.
    sla_start(organization=organization, ticket=ticket, policy=policy)
    publish_ticket(organization, ticket)
    return {"policy": policy.pk}


def auto_reply(*, organization, rule, ticket, action, message=None) -> dict:
    response = CannedResponse.objects.get(pk=action["response"], owner__isnull=True)
    reply = send_canned_automatically(organization=organization, ticket=ticket, response=response, answering=message)
    return {"response": response.pk, "message": reply.pk}


def add_note(*, organization, rule, ticket, action) -> dict:
    note = note_add(organization=organization, actor=None, ticket=ticket, text=action["text"], rule=rule.name)
    return {"message": note.pk}


def notify_members(*, organization, rule, ticket, action) -> dict:
    user_ids = set(action.get("users", []))
    if action.get("teams"):
        teams = Team.objects.filter(pk__in=action["teams"]).values_list("group_id", flat=True)
        user_ids |= set(User.objects.filter(groups__in=list(teams)).values_list("pk", flat=True))
    if action.get("assignee") and ticket.assignee_id:
        user_ids.add(ticket.assignee_id)
    members = sorted(Membership.objects.filter(user_id__in=user_ids).values_list("user_id", flat=True))
    for user_id in members:
        notify_about_ticket(
            organization=organization, user_id=user_id, kind="rule", ticket=ticket, params={"rule": rule.name}
        )
    return {"users": members}


def escalate(*, organization, rule, ticket, action) -> dict:
    team = _team(organization, action["team"])
    _update(organization, ticket, priority=action["priority"], team=team, assignee=None)
    return {**_route(organization, ticket, team), "priority": action["priority"]}


def mark_spam(*, organization, rule, ticket, action) -> dict:
    _update(organization, ticket, tags_add=[SPAM_TAG], status=TicketStatus.CLOSED)
    return {}


def call_webhook(*, organization, rule, ticket, action) -> dict:
    call = webhooks.webhook_enqueue(organization=organization, rule=rule, ticket=ticket, url=action["url"])
    return {"call": call.pk, "url": action["url"]}


def skip_survey(*, organization, rule, ticket, action) -> dict:
    """The ticket gets no satisfaction survey: the one waiting to be sent, else the next solve's."""
    survey = survey_skip(organization=organization, actor=None, ticket=ticket, reason=f"{rule.name}"[:300])
    return {"survey": survey.pk}


_HANDLERS = {
    "assign_agent": assign_agent,
    "assign_team": assign_team,
    "set_priority": set_priority,
    "set_status": set_status,
    "add_tags": add_tags,
    "remove_tags": remove_tags,
    "apply_sla": apply_sla,
    "auto_reply": auto_reply,
    "add_note": add_note,
    "notify": notify_members,
    "escalate": escalate,
    "mark_spam": mark_spam,
    "webhook": call_webhook,
    "skip_survey": skip_survey,
}
