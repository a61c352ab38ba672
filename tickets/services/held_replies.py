"""Replies held for approval (送信前承認): the message side of their life. The approvals app decides (through
tickets/reply_gate.py and its own services); these functions move the held message between its states, each on the
locked message row, so a reply is queued for sending exactly once however many approvers click at once.

held → (approved and sent) queued → the normal send path
held → approved (the author sends it) → queued
held → returned (差戻し) → held again when the author edits and resubmits"""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organization, User
from channels_integrations.registry import connector_for
from core.errors import Conflict, DomainError
from tickets.events import publish_message_updated, publish_ticket
from tickets.models import DeliveryState, Direction, Message, TicketStatus
from tickets.search import document_expression, index_document
from tickets.services.delivery import message_delivery_set
from tickets.services.ingest import ticket_message_update
from tickets.services.replies import _agent_replied, reply_context
from tickets.tasks import send_message

WAITING = (DeliveryState.HELD, DeliveryState.RETURNED, DeliveryState.APPROVED)


def held_lock(message: Message) -> Message:
    """The held reply's row, locked (the lock every transition takes first)."""
    locked = (
        Message.objects.select_for_update(of=("self",))
        .select_related("ticket", "connection", "author_user")
        .filter(pk=message.pk, direction=Direction.OUTBOUND)
        .first()
    )
    if locked is None:
        raise DomainError(_("This message is not a reply waiting for approval."), code="not_a_reply")
    return locked


def _require(message: Message, *states: str) -> None:
    if message.delivery_state not in states:
        raise Conflict(
            _("This reply is %(state)s; it cannot be changed that way now.")
            % {"state": message.get_delivery_state_display().lower()},
            code="reply_state",
        )


@transaction.atomic
def held_reply_queue(*, organization: Organization, message: Message) -> Message:
    """Queue an approved reply through the normal send path: from now it is the agent's answer (status, SLA)."""
    message = held_lock(message)
    _require(message, DeliveryState.HELD, DeliveryState.APPROVED)
    ticket = message.ticket
    now = timezone.now()
    message_delivery_set(organization=organization, message=message, state=DeliveryState.QUEUED)
    fields = {"last_message_at": now}
    if ticket.status == TicketStatus.NEW:
        fields["status"] = TicketStatus.OPEN
        fields["status_changed_at"] = now
    ticket_message_update(ticket, fields, "", now)
    _agent_replied(organization, ticket, now)
    publish_ticket(organization, ticket)
    # robust: the reply is stored whatever happens to its task (Redis away): the sweep of stranded replies sends it.
    transaction.on_commit(
        lambda: send_message.apply_async(
            kwargs={"organization_id": organization.pk, "message_id": message.pk}, queue="outbound"
        ),
        robust=True,
    )
    return message


@transaction.atomic
def held_reply_set_state(*, organization: Organization, message: Message, state: str) -> Message:
    """Held ↔ returned ↔ approved-not-sent (never queued or sent here)."""
    message = held_lock(message)
    _require(message, *WAITING)
    return message_delivery_set(organization=organization, message=message, state=state)


@transaction.atomic
def held_reply_edit(*, organization: Organization, actor: User | None, message: Message, text: str) -> tuple[str, str]:
    """Change a waiting reply's text (its approver edits it, or its author before resubmitting), checked against
    the platform's rules like any reply. Returns (before, after)."""
    message = held_lock(message)
    _require(message, *WAITING)
    text = (text or "").replace("\r\n", "\n").strip()
    if not text:
        raise DomainError(_("The reply cannot be empty."), field="text")
    context, _answered = reply_context(message.ticket, public=message.is_public)
    files = [(a.filename, a.content_type, a.size) for a in message.attachments.all()]
    problems = connector_for(message.connection.platform).check_reply(message.connection, context, text, files)
    if problems:
        raise DomainError(" ".join(problems), field="text", code="platform_rule")
    before = message.text
    document = index_document(text)
    message.text = text
    message.search_vector = document_expression(document)
    message.save(update_fields=["text", "search_vector"])
    ticket_message_update(message.ticket, {}, document, timezone.now())  # the new words find the ticket too
    publish_message_updated(organization, message)
    return before, text
