"""Agent replies to customers: checked against the platform's rules, stored as `queued`, sent after commit by the
outbound task (channels_integrations.outbound), and their delivery state kept up to date live."""

import logging
import re
import uuid

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organization, User
from channels_integrations.connector import ConnectorError, ReplyContext, ReplyLimits, ReplyTemplate, TemplateChoice
from channels_integrations.models import ConnectionStatus
from channels_integrations.registry import connector_for, has_connector
from core.errors import DomainError
from tickets.automation_hooks import automation
from tickets.events import publish_message, publish_ticket
from tickets.models import Attachment, DeliveryState, Direction, Message, MessageKind, Ticket, TicketStatus
from tickets.reply_gate import reply_gate
from tickets.search import document_expression, index_document
from tickets.services.ingest import ticket_message_update
from tickets.tasks import send_message

logger = logging.getLogger("tsunagu.tickets")

MAX_FILES = 10


def _answered(ticket: Ticket) -> Message | None:
    """The customer message a reply answers: the latest one on the ticket's own connection."""
    return (
        Message.objects.filter(ticket=ticket, direction=Direction.INBOUND, connection_id=ticket.connection_id)
        .exclude(platform_message_id="")
        .order_by("-pk")
        .first()
    )


def reply_context(ticket: Ticket, *, public: bool) -> tuple[ReplyContext, Message | None]:
    answered = _answered(ticket)
    kind = answered.kind if answered else MessageKind.DIRECT
    already_private = bool(
        answered
        and kind == MessageKind.COMMENT
        and Message.objects.filter(
            ticket=ticket,
            direction=Direction.OUTBOUND,
            is_public=False,
            reply_to_platform_id=answered.platform_message_id,
        )
        # A failed reply, or one held or returned in approval, has not reached the customer.
        .exclude(delivery_state__in=[DeliveryState.FAILED, DeliveryState.HELD, DeliveryState.RETURNED])
        .exists()
    )
    context = ReplyContext(
        kind=kind,
        is_public=public,
        last_customer_message_at=ticket.last_customer_message_at,
        now=timezone.now(),
        already_replied_privately=already_private,
    )
    return context, answered


def reply_limits(ticket: Ticket, *, public: bool = False) -> ReplyLimits | None:
    """What the reply box shows before sending; None when the channel cannot send (no connector yet)."""
    if not has_connector(ticket.connection.platform):
        return None
    context, _answered_message = reply_context(ticket, public=public)
    return connector_for(ticket.connection.platform).reply_limits(ticket.connection, context)


def reply_templates(ticket: Ticket) -> tuple[list[ReplyTemplate], str]:
    """The approved templates the reply box offers (WhatsApp), and why there are none when the platform could not
    list them ("" otherwise)."""
    if not has_connector(ticket.connection.platform):
        return [], ""
    try:
        return connector_for(ticket.connection.platform).reply_templates(ticket.connection), ""
    except ConnectorError as exc:
        logger.warning("templates of connection %s not listed: %s", ticket.connection_id, exc.message or exc)
        return [], _("The message templates could not be loaded: %(error)s") % {"error": exc.message or exc.code}


def _template_checked(connector, connection, template: TemplateChoice) -> tuple[dict, str]:
    """The chosen template as stored on the message, and its text with the parameters filled in. The template must be
    one the platform lists as approved now, with a value for each placeholder."""
    try:
        approved = connector.reply_templates(connection)
    except ConnectorError as exc:
        raise DomainError(
            _("The message templates could not be loaded: %(error)s") % {"error": exc.message or exc.code},
            field="template",
            code="templates_unavailable",
        ) from exc
    if not approved:
        raise DomainError(
            _("This channel has no approved message template to send; one must be approved on the platform first."),
            field="template",
            code="no_template",
        )
    found = next((t for t in approved if (t.name, t.language) == (template.name, template.language)), None)
    if found is None:
        raise DomainError(
            _("The template %(name)s (%(language)s) is not among the approved templates of this channel.")
            % {"name": template.name, "language": template.language},
            field="template",
            code="unknown_template",
        )
    values = [v.strip() for v in template.parameters]
    if len(values) != found.parameters or not all(values):
        raise DomainError(
            _("The template %(name)s needs %(n)d values; fill in every one.")
            % {"name": found.name, "n": found.parameters},
            field="template",
            code="template_parameters",
        )
    text = re.sub(
        r"\{\{\s*(\d+)\s*\}\}",
        lambda m: values[int(m[1]) - 1] if 0 < int(m[1]) <= len(values) else m[0],
        found.body,
    )
    return {"name": found.name, "language": found.language, "parameters": values}, text


@transaction.atomic
def message_reply(
    *,
    organization: Organization,
    actor: User | None,
    ticket: Ticket,
    text: str,
    public: bool = False,
    files: list[UploadedFile] | tuple = (),
    based_on_message_id: int | None = None,
    automated: bool = False,
    template: TemplateChoice | None = None,
    ask_approval: bool = False,
) -> Message:
    """Queue a reply through the ticket's channel. Platform rules (length, window, attachment types, public or
    private) are checked here, so the agent hears about them now and not from a failed delivery later.
    `automated` (actor None): an automatic reply, which is not the agent's response (SLA clocks keep running).
    `template`: a pre-approved template instead of free text (WhatsApp, the only kind of message it delivers
    outside its 24 hours); the stored text is the template's body with the values filled in.
    `ask_approval`: the agent asks for approval instead of sending. The reply gate (tickets/reply_gate.py) may hold
    the reply by policy too: a held reply is stored in the `held` state, not sent, and does not stop the SLA clocks
    until it is approved and queued (tickets/services/held_replies.py)."""
    text = (text or "").replace("\r\n", "\n").strip()
    connection = ticket.connection
    if not has_connector(connection.platform):
        raise DomainError(_("Replies cannot be sent through this channel yet."), code="unsupported")
    if connection.status not in (ConnectionStatus.ACTIVE, ConnectionStatus.ERROR):
        raise DomainError(
            _("The channel %(name)s is %(status)s; replies cannot be sent until it is active again.")
            % {"name": connection.display_name, "status": connection.get_status_display().lower()},
            code="channel_unavailable",
        )
    if len(files) > MAX_FILES:
        raise DomainError(_("Attach at most %(n)d files.") % {"n": MAX_FILES}, field="files")
    context, answered = reply_context(ticket, public=public)
    connector = connector_for(connection.platform)
    stored_template = None
    if template is not None:
        if files:
            raise DomainError(_("A message template is sent without files."), field="files")
        stored_template, text = _template_checked(connector, connection, template)
        problems = []  # an approved template is delivered at any time: the window does not apply
    else:
        problems = connector.check_reply(
            connection, context, text, [(f.name, f.content_type or "application/octet-stream", f.size) for f in files]
        )
    if problems:
        raise DomainError(" ".join(problems), field="text", code="platform_rule")
    kind = answered.kind if answered else MessageKind.DIRECT
    if kind in (MessageKind.NOTE, MessageKind.MENTION, MessageKind.REVIEW):
        kind = MessageKind.COMMENT if public else MessageKind.DIRECT
    hold = (
        reply_gate().review(
            organization=organization, actor=actor, ticket=ticket, text=text, public=public, asked=ask_approval
        )
        if not automated
        else None
    )
    held = hold is not None and hold.hold
    document = index_document(text)
    message = Message.objects.create(
        organization=organization,
        ticket=ticket,
        connection=connection,
        direction=Direction.OUTBOUND,
        kind=kind,
        author_user=actor,
        automated=automated,
        text=text,
        is_public=public,
        reply_to_platform_id=answered.platform_message_id if answered else "",
        parent=answered,
        delivery_state=DeliveryState.HELD if held else DeliveryState.QUEUED,
        local_ref=uuid.uuid4(),
        based_on_message_id=based_on_message_id,
        search_vector=document_expression(document),
        template=stored_template,
    )
    for f in files:
        attachment = Attachment(
            organization=organization,
            message=message,
            filename=f.name[:255],
            content_type=(f.content_type or "application/octet-stream")[:120],
            size=f.size,
        )
        attachment.file.save(f.name[-100:], f, save=False)
        attachment.save()
    now = timezone.now()
    if held:
        # Not an answer yet: the ticket's status and SLA clocks wait for the approved reply to be queued.
        ticket_message_update(ticket, {}, document, now)
        reply_gate().held(organization=organization, actor=actor, message=message, decision=hold)
        publish_ticket(organization, ticket)
        publish_message(organization, ticket, message)
        logger.info("reply %s held for approval on ticket %s", message.pk, ticket.pk)
        return message
    fields = {"last_message_at": now}
    if not automated and ticket.status == TicketStatus.NEW:
        fields["status"] = TicketStatus.OPEN
        fields["status_changed_at"] = now
    ticket_message_update(ticket, fields, document, now)
    if not automated:
        _agent_replied(organization, ticket, now)
    publish_ticket(organization, ticket)
    publish_message(organization, ticket, message)
    # robust: the reply is stored whatever happens to its task (Redis away): the sweep of stranded replies sends it.
    transaction.on_commit(
        lambda: send_message.apply_async(
            kwargs={"organization_id": organization.pk, "message_id": message.pk}, queue="outbound"
        ),
        robust=True,
    )
    logger.info("reply %s queued on ticket %s", message.pk, ticket.pk)
    return message


def _agent_replied(organization: Organization, ticket: Ticket, at) -> None:
    """The agent answered: the SLA's first- or next-response clock stops (on the locked ticket row)."""
    locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
    automation().agent_replied(organization=organization, ticket=locked, at=at)
    ticket.first_response_at = locked.first_response_at


def retry_failed(*, organization: Organization, actor: User, message: Message) -> Message:
    """The agent resends a failed reply as a new message (the failed one stays, so nothing is sent twice silently)."""
    if message.direction != Direction.OUTBOUND or message.delivery_state != DeliveryState.FAILED:
        raise DomainError(_("Only a failed reply can be sent again."))
    return message_reply(
        organization=organization, actor=actor, ticket=message.ticket, text=message.text, public=message.is_public
    )
