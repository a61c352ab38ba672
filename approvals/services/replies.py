"""Reply approval (送信前承認): agents' replies held before they reach the customer, through the same workflow engine
as posts. `ApprovalReplyGate` is registered with tickets (tickets/reply_gate.py): it holds a reply when a reply
workflow's conditions match (the author's role, team or newness; the channel; a public reply; the customer's VIP flag
or tags; keywords) or when the agent asked for approval. The approver approves and sends, approves and leaves the
sending to the author, edits (before/after kept on the ticket's history), or returns it with a comment (差戻し).
Every step is a TicketEvent and an audit entry; the approval's duration is on the REPLY_APPROVED event
(`new["seconds"]`), which analytics reads."""

import contextvars

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import audit_record
from accounts.models import Organization, User
from approvals.models import ApprovalRequest, ApprovalStatus, ReplyHold, ReplyHoldReason, Workflow, WorkflowKind
from approvals.services.engine import (
    SubjectFacts,
    approval_decide,
    approval_submit,
    author_facts,
    can_decide,
    eligible_approver_ids,
    register_subject,
    request_pending_for,
    workflow_select,
)
from core.errors import DomainError, NotAllowed
from tickets.models import DeliveryState, Message, TicketEventKind
from tickets.reply_gate import NO_HOLD, HeldInfo, HoldDecision, ReplyGate
from tickets.services.held_replies import held_lock, held_reply_edit, held_reply_queue, held_reply_set_state
from tickets.services.history import ticket_event_add

# The final approver's choice, read by the subject's on_approved: send now (default) or leave it to the author.
_send_when_approved: contextvars.ContextVar[bool] = contextvars.ContextVar("send_when_approved", default=True)


def _name(user: User | None) -> str:
    return (user.name or user.email) if user is not None else ""


def reply_facts(*, organization: Organization, actor: User | None, ticket, text: str, public: bool) -> SubjectFacts:
    contact = ticket.contact
    return SubjectFacts(
        kind=WorkflowKind.REPLY,
        text=text,
        platforms=(ticket.connection.platform,),
        connection_ids=(ticket.connection_id,),
        public=public,
        contact_vip=bool(getattr(contact, "vip", False)),
        contact_tags=tuple(getattr(contact, "tags", None) or ()),
        **author_facts(organization, actor),
    )


def _fallback_workflow(organization: Organization) -> Workflow | None:
    """The workflow an agent's own request for approval goes through when no policy matched: the default reply
    workflow, else the first active one."""
    workflows = Workflow.objects.filter(organization=organization, kind=WorkflowKind.REPLY, active=True)
    return workflows.filter(is_default=True).first() or workflows.first()


class ApprovalReplyGate(ReplyGate):
    def review(self, *, organization, actor, ticket, text: str, public: bool, asked: bool) -> HoldDecision:
        if (
            not asked
            and not Workflow.objects.filter(organization=organization, kind=WorkflowKind.REPLY, active=True).exists()
        ):
            return NO_HOLD  # one query for organizations without reply approval
        facts = reply_facts(organization=organization, actor=actor, ticket=ticket, text=text, public=public)
        workflow = workflow_select(organization=organization, facts=facts)
        if workflow is None and asked:
            workflow = _fallback_workflow(organization)
            if workflow is None:
                raise DomainError(
                    _("No approval workflow for replies is set up; ask an administrator to create one."),
                    code="no_reply_workflow",
                )
        if workflow is None:
            return NO_HOLD
        reason = ReplyHoldReason.ASKED if asked else ReplyHoldReason.POLICY
        return HoldDecision(hold=True, reason=reason, workflow_id=workflow.pk, workflow_name=workflow.name)

    def held(self, *, organization, actor, message, decision: HoldDecision) -> None:
        hold = ReplyHold.objects.create(
            organization=organization, message=message, reason=decision.reason, version=1, original_text=message.text
        )
        workflow = Workflow.objects.get(pk=decision.workflow_id)
        request = _submit(organization, actor, message, hold, workflow)
        ticket_event_add(
            message.ticket,
            actor,
            TicketEventKind.REPLY_HELD,
            None,
            {
                "message_id": message.pk,
                "request_id": request.pk,
                "workflow": workflow.name,
                "reason": decision.reason,
                "author": _name(actor),
            },
        )

    def held_info(self, *, organization, user, message) -> HeldInfo | None:
        return reply_held_info(organization=organization, user=user, message=message)


def reply_held_info(*, organization: Organization, user: User, message: Message) -> HeldInfo | None:
    """The bubble's marker: whom the reply waits for, what the viewer may do, and a return's comment."""
    if message.delivery_state not in (DeliveryState.HELD, DeliveryState.RETURNED, DeliveryState.APPROVED):
        return None
    hold = ReplyHold.objects.filter(message_id=message.pk).first()
    if hold is None:
        return None
    is_author = user.pk == message.author_user_id
    request = (
        ApprovalRequest.objects.filter(
            organization=organization, subject_type__app_label="tickets", subject_type__model="message"
        )
        .filter(subject_id=message.pk)
        .select_related("workflow", "current_step", "submitted_by", "current_step__escalate_to")
        .order_by("-submitted_at", "-id")
        .first()
    )
    if request is None:
        return None
    waiting_for, step, can = "", "", False
    if request.status == ApprovalStatus.PENDING and request.current_step is not None:
        step = request.current_step.name
        voted = set(request.decisions.filter(step=request.current_step).values_list("approver_id", flat=True))
        names = sorted(
            (u.name or u.email)
            for u in User.objects.filter(pk__in=eligible_approver_ids(request) - voted).only("name", "email")
        )
        waiting_for = ", ".join(names[:5]) + (" …" if len(names) > 5 else "")
        can = can_decide(request, user)
    comment = ""
    if request.status == ApprovalStatus.REJECTED:
        last = request.decisions.filter(decision="reject").order_by("-created_at").first()
        comment = last.comment if last else ""
    return HeldInfo(
        waiting_for=waiting_for or step,
        step=step,
        author=_name(message.author_user),
        can_decide=can,
        is_author=is_author,
        version=hold.version,
        comment=comment,
        request_path=reverse("org:approval_request", args=[organization.slug, request.pk]),
    )


def _submit(organization, actor, message: Message, hold: ReplyHold, workflow: Workflow) -> ApprovalRequest:
    facts = reply_facts(
        organization=organization, actor=actor, ticket=message.ticket, text=message.text, public=message.is_public
    )
    return approval_submit(
        organization=organization,
        actor=actor,
        subject=message,
        subject_version=hold.version,
        facts=facts,
        workflow=workflow,
    )


# --- The subject's handlers (registered in ApprovalsConfig.ready) -------------------------------------------------


def describe_reply(message: Message) -> str:
    return _("Reply on #%(number)s: %(text)s") % {"number": message.ticket.number, "text": message.text[:80]}


def reply_version(message: Message) -> int:
    hold = ReplyHold.objects.filter(message_id=message.pk).values_list("version", flat=True).first()
    return hold or 1


def reply_path(message: Message) -> str:
    return reverse("org:inbox_ticket", args=[message.ticket.organization.slug, message.ticket_id])


def _on_approved(*, organization, request: ApprovalRequest, subject: Message, actor: User) -> None:
    send = _send_when_approved.get()
    hold = ReplyHold.objects.select_for_update().get(message_id=subject.pk)
    now = timezone.now()
    hold.released_at = now
    hold.save(update_fields=["released_at", "updated_at"])
    if send:
        held_reply_queue(organization=organization, message=subject)
    else:
        held_reply_set_state(organization=organization, message=subject, state=DeliveryState.APPROVED)
    ticket_event_add(
        subject.ticket,
        actor,
        TicketEventKind.REPLY_APPROVED,
        None,
        {
            "message_id": subject.pk,
            "request_id": request.pk,
            "by": _name(actor),
            "author": _name(subject.author_user),
            "sent": send,
            # From the first hold to the approval: analytics' reply approval time.
            "seconds": max(0, int((now - hold.created_at).total_seconds())),
        },
    )


def _on_rejected(*, organization, request: ApprovalRequest, subject: Message, actor: User, comment: str) -> None:
    held_reply_set_state(organization=organization, message=subject, state=DeliveryState.RETURNED)
    ticket_event_add(
        subject.ticket,
        actor,
        TicketEventKind.REPLY_RETURNED,
        None,
        {"message_id": subject.pk, "request_id": request.pk, "by": _name(actor), "comment": comment},
    )


def register() -> None:
    register_subject(
        Message,
        on_approved=_on_approved,
        on_rejected=_on_rejected,
        describe=describe_reply,
        path=reply_path,
        version=reply_version,
    )


# --- What people do with a held reply ------------------------------------------------------------------------------


def reply_request(*, organization: Organization, message: Message) -> ApprovalRequest | None:
    """The held reply's pending request."""
    return request_pending_for(organization=organization, subject=message)


@transaction.atomic
def reply_approve(
    *,
    organization: Organization,
    actor: User,
    message: Message,
    send: bool = True,
    comment: str = "",
    seen_version: int | None = None,
) -> ApprovalRequest:
    """Approve the held reply's current step. When the request is fully approved the reply is queued through the
    normal send path (`send`), or left approved for its author to send."""
    # No lock on the message here: approval_decide locks the request first, then the handlers lock the message.
    request = reply_request(organization=organization, message=message)
    if request is None:
        raise DomainError(_("This reply is not waiting for approval."), code="not_pending")
    token = _send_when_approved.set(send)
    try:
        return approval_decide(
            organization=organization,
            actor=actor,
            request=request,
            approve=True,
            comment=comment,
            seen_version=seen_version,
        )
    finally:
        _send_when_approved.reset(token)


@transaction.atomic
def reply_return(
    *, organization: Organization, actor: User, message: Message, comment: str, seen_version: int | None = None
) -> ApprovalRequest:
    """Return the held reply to its author with a comment (差戻し); the author can edit and resubmit it."""
    request = reply_request(organization=organization, message=message)
    if request is None:
        raise DomainError(_("This reply is not waiting for approval."), code="not_pending")
    return approval_decide(
        organization=organization,
        actor=actor,
        request=request,
        approve=False,
        comment=comment,
        seen_version=seen_version,
    )


@transaction.atomic
def reply_edit(*, organization: Organization, actor: User, message: Message, text: str) -> ReplyHold:
    """Change a held reply's text: its approver (while it waits for them) or its author (held or returned). The
    before/after is kept on the ticket's history; the new version goes through approval again from the first step
    (an approval binds to the version approved), still as the author's reply."""
    # Lock order as in approval_decide: the pending request, then the message.
    request = reply_request(organization=organization, message=message)
    if request is not None:
        request = ApprovalRequest.objects.select_for_update(of=("self",)).select_related("workflow").get(pk=request.pk)
        if request.status != ApprovalStatus.PENDING:
            request = None
    message = held_lock(message)
    hold = ReplyHold.objects.select_for_update().filter(message_id=message.pk).first()
    if hold is None:
        raise DomainError(_("This reply is not waiting for approval."), code="not_pending")
    is_author = actor.pk == message.author_user_id
    if message.delivery_state == DeliveryState.HELD and request is not None:
        if not is_author and not can_decide(request, actor):
            raise NotAllowed(_("Only its author or an approver of this step can edit this reply."), code="not_allowed")
    elif message.delivery_state == DeliveryState.RETURNED:
        if not is_author:
            raise NotAllowed(_("Only its author can change a returned reply."), code="not_allowed")
    else:
        raise DomainError(_("This reply is not waiting for approval."), code="not_pending")
    before, after = held_reply_edit(organization=organization, actor=actor, message=message, text=text)
    if before == after:
        return hold
    last = (
        request
        or ApprovalRequest.objects.filter(
            organization=organization, subject_type__model="message", subject_id=message.pk
        )
        .order_by("-submitted_at", "-id")
        .first()
    )
    hold.version += 1
    hold.save(update_fields=["version", "updated_at"])
    ticket_event_add(
        message.ticket,
        actor,
        TicketEventKind.REPLY_EDITED,
        {"text": before, "version": hold.version - 1},
        {"text": after, "version": hold.version, "message_id": message.pk, "by": _name(actor)},
    )
    audit_record(
        organization=organization,
        actor=actor,
        action="approval.edited",
        obj=message,
        changes={"before": before[:2000], "after": after[:2000], "version": hold.version},
    )
    if message.delivery_state == DeliveryState.RETURNED:
        held_reply_set_state(organization=organization, message=message, state=DeliveryState.HELD)
    workflow = last.workflow if last is not None else _fallback_workflow(organization)
    if workflow is None:
        raise DomainError(_("No approval workflow for replies is set up; ask an administrator to create one."))
    _submit(organization, message.author_user, message, hold, workflow)
    return hold


@transaction.atomic
def reply_send_approved(*, organization: Organization, actor: User, message: Message) -> Message:
    """The author sends a reply the approver approved and left to them."""
    message = held_lock(message)
    if message.delivery_state != DeliveryState.APPROVED:
        raise DomainError(_("Only an approved reply can be sent this way."), code="reply_state")
    if actor.pk != message.author_user_id:
        raise NotAllowed(_("Only its author sends an approved reply."), code="not_allowed")
    return held_reply_queue(organization=organization, message=message)


def held_replies_of(tickets_messages) -> dict[int, ApprovalRequest]:
    """Pending requests of held messages by message id (one query; the conversation's markers)."""
    ids = [m.pk for m in tickets_messages if m.delivery_state == DeliveryState.HELD]
    if not ids:
        return {}
    return {
        r.subject_id: r
        for r in ApprovalRequest.objects.filter(
            subject_type__app_label="tickets",
            subject_type__model="message",
            subject_id__in=ids,
            status=ApprovalStatus.PENDING,
        ).select_related("workflow", "current_step", "submitted_by")
    }
