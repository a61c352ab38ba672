"""What tickets sets in motion in automation (the seam tickets.automation_hooks defines): language and sentiment,
the rules, the SLA clocks, routing, auto-responses and the crisis check. Registered by AutomationConfig.ready; runs
inside the ticket services' transactions, on the rows they locked, exactly as those services used to call it."""

from django.utils import timezone

from accounts.models import User
from automation import nlp
from automation.autoreplies import auto_respond
from automation.crisis import crisis_check
from automation.models import RuleTrigger
from automation.routing.assignment import agent_queues_drain_later, ticket_route
from automation.rules.engine import run_message_rules, run_rules
from automation.sla.clocks import (
    sla_agent_reply,
    sla_clear,
    sla_customer_message,
    sla_start,
    sla_status_changed,
)
from tickets.automation_hooks import TicketAutomation
from tickets.models import Ticket, TicketStatus

# What the rules and SLA may change on a ticket while a customer message is processed: copied back onto the caller's
# instance, which publishes it.
SLA_FIELDS = (
    "sla_policy_id",
    "sla_state",
    "sla_paused_at",
    "sla_check_at",
    "first_response_due_at",
    "next_response_due_at",
    "resolution_due_at",
    "first_response_at",
    "status",
    "priority",
    "assignee_id",
    "team_id",
)

# Rule actions that leave the SLA_FIELDS of the ticket row as the engine's instance has them: they change the
# locked instance in place (`ticket_update(locked=True)`, whose status and priority changes move the SLA clocks on
# that same instance; "apply SLA" starts the clocks on it), or touch no SLA field (routing, tags, notes).
_INSTANCE_KEEPS_SLA = {
    "assign_team",
    "assign_agent",
    "add_tags",
    "remove_tags",
    "add_note",
    "notify",
    "webhook",
    "set_priority",
    "set_status",
    "apply_sla",
    "mark_spam",
    "escalate",
}


class Automation(TicketAutomation):
    def analyze(self, text: str):
        return nlp.analyze(text)

    def sentiment_rollup(self, previous, latest):
        return nlp.rollup(previous, latest)

    def message_received(self, *, organization, ticket, message, how, previous_status, author_id) -> None:
        """On the locked ticket, all or nothing with the ingest: the rules, the SLA clocks, the channel's
        auto-response, the crisis check."""
        runs = run_message_rules(organization=organization, ticket=ticket, message=message, created=how == "created")
        # Rule actions change this locked instance in place; read the row again only if one may have changed what
        # the instance does not follow (an automatic reply, an action this list does not know), or if an action
        # failed (its savepoint rolled the row back, not the instance).
        reread = any(
            result.get("type") not in _INSTANCE_KEEPS_SLA or not result.get("ok")
            for run in runs
            for result in run.actions
        )
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk) if reread else ticket
        if how == "created":
            if locked.sla_policy_id is None:  # else a rule applied a policy already
                sla_start(organization=organization, ticket=locked)
        else:
            # The customer's message took the ticket out of "pending" (here) or "solved" (reopened by the thread
            # lookup): the held clocks resume with the time they had left.
            held = TicketStatus.SOLVED if how == "reopened" else previous_status
            if held in (TicketStatus.PENDING, TicketStatus.SOLVED) and locked.status == TicketStatus.OPEN:
                sla_status_changed(
                    organization=organization, ticket=locked, old=held, new=locked.status, at=message.created_at
                )
            sla_customer_message(organization=organization, ticket=locked, at=message.created_at)
        for name in SLA_FIELDS:
            setattr(ticket, name, getattr(locked, name))
        if locked.status not in (TicketStatus.SOLVED, TicketStatus.CLOSED):  # e.g. a rule closed it as spam
            auto_respond(
                organization=organization,
                ticket=ticket,
                message=message,
                created=how == "created",
                author_external_id=author_id,
            )
        crisis_check(organization=organization, ticket=ticket, message=message)

    def ticket_changed(self, *, organization, ticket, actor, old_status, old_assignee_id, changed, rules) -> None:
        # The SLA follows the ticket: pending pauses the clocks, solving stops them, a new priority re-applies the
        # policy of that priority.
        if "status" in changed:
            sla_status_changed(
                organization=organization, ticket=ticket, old=old_status, new=ticket.status, at=timezone.now()
            )
        if "priority" in changed:
            sla_start(organization=organization, ticket=ticket)
        # Routing follows the ticket: a member who moves it to a team without an assignee hands it to that team's
        # strategy; an agent who finishes a ticket or hands it on has room again, so their teams' queues drain.
        if actor is not None and "team" in changed and ticket.team_id and ticket.assignee_id is None:
            ticket_route(organization=organization, ticket=ticket, team=ticket.team, actor=actor)
        working = (TicketStatus.NEW, TicketStatus.OPEN)
        freed = (
            old_assignee_id is not None
            and old_status in working
            and (ticket.assignee_id != old_assignee_id or ticket.status not in working)
        )
        if freed:
            agent_queues_drain_later(organization=organization, user=User(pk=old_assignee_id))
        if changed and rules:
            run_rules(organization=organization, trigger=RuleTrigger.TICKET_UPDATED, ticket=ticket, changed=changed)

    def agent_replied(self, *, organization, ticket, at) -> None:
        sla_agent_reply(organization=organization, ticket=ticket, at=at)

    def ticket_merged(self, *, organization, source, target) -> None:
        sla_clear(organization=organization, ticket=source)  # the conversation continues (and is measured) in target

    def ticket_split(self, *, organization, ticket, new) -> None:
        sla_start(organization=organization, ticket=new)
