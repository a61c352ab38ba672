"""The approval queue (what waits for me, what I submitted) and one request's page, where an approver decides; the
notification's link opens it. A request the member may not see is a 404 like a missing one."""

from django.contrib import messages
from django.contrib.contenttypes.models import ContentType
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from approvals import selectors
from approvals.models import ApprovalRequest, ApprovalStatus, ReplyHold
from approvals.services import engine
from approvals.services import replies as reply_services
from core.errors import DomainError
from tickets.models import Message

QUEUE_SIZE = 100


@require_GET
def approval_queue(request, org_slug):
    waiting = list(selectors.requests_waiting_for(request.membership)[:QUEUE_SIZE])
    submitted = list(selectors.requests_submitted_by(request.membership)[:QUEUE_SIZE])
    return render(request, "approvals/queue.html", {"waiting": waiting, "submitted": submitted})


def _request(request, request_id: int) -> ApprovalRequest:
    approval = get_object_or_404(
        ApprovalRequest.objects.select_related("workflow", "current_step", "submitted_by", "subject_type"),
        pk=request_id,
    )
    if not selectors.request_visible(request.membership, approval):
        raise Http404
    return approval


def _is_reply(approval: ApprovalRequest) -> bool:
    return approval.subject_type_id == ContentType.objects.get_for_model(Message).pk


def _page(request, approval: ApprovalRequest, *, error: str = "", status: int = 200):
    handlers = engine.subject_handlers(approval.subject_type.model_class())
    subject = engine._subject_of(approval)
    reply = subject if _is_reply(approval) else None
    hold = ReplyHold.objects.filter(message_id=reply.pk).first() if reply is not None else None
    steps = list(approval.workflow.steps.order_by("position", "id"))
    decisions = list(approval.decisions.select_related("approver", "step"))
    context = {
        "approval": approval,
        "subject": subject,
        "subject_path": handlers.path(subject) if handlers and handlers.path and subject is not None else "",
        "steps": steps,
        "decisions": decisions,
        "can_decide": engine.can_decide(approval, request.user),
        "reply": reply,
        "hold": hold,
        "error": error,
    }
    return render(request, "approvals/queue_request.html", context, status=status)


@require_http_methods(["GET", "POST"])
def approval_request(request, org_slug, request_id):
    """GET: the request, its subject, steps and decisions. POST `decision=approve|reject` with `comment` and the
    `version` the approver was shown; for a reply, `send=0` leaves the sending to the author and `text` (changed)
    edits it before approving."""
    approval = _request(request, request_id)
    if request.method == "GET":
        return _page(request, approval)
    decision = request.POST.get("decision")
    if decision not in ("approve", "reject"):
        return _page(request, approval, error=_("Choose to approve or to return it."), status=400)
    try:
        version = int(request.POST.get("version", ""))
    except ValueError:
        version = None
    comment = request.POST.get("comment", "")
    try:
        if _is_reply(approval) and approval.status == ApprovalStatus.PENDING:
            message = engine._subject_of(approval)
            if decision == "reject":
                reply_services.reply_return(
                    organization=request.organization,
                    actor=request.user,
                    message=message,
                    comment=comment,
                    seen_version=version,
                )
            else:
                text = request.POST.get("text")
                if text is not None and text.replace("\r\n", "\n").strip() != message.text:
                    hold = reply_services.reply_edit(
                        organization=request.organization, actor=request.user, message=message, text=text
                    )
                    version = hold.version
                approval = reply_services.reply_approve(
                    organization=request.organization,
                    actor=request.user,
                    message=message,
                    send=request.POST.get("send", "1") != "0",
                    comment=comment,
                    seen_version=version,
                )
        else:
            approval = engine.approval_decide(
                organization=request.organization,
                actor=request.user,
                request=approval,
                approve=decision == "approve",
                comment=comment,
                seen_version=version,
            )
    except DomainError as exc:
        return _page(request, _request(request, request_id), error=exc.message, status=exc.status)
    messages.success(request, _("Approved.") if decision == "approve" else _("Returned to the author."))
    return redirect("org:approval_queue", org_slug=org_slug)
