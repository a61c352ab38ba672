"""Actions on a reply held for approval, from its bubble in the conversation: approve and send, approve and leave
the sending to the author, edit (approver, or the author resubmitting), return with a comment (差戻し), and the
author's send of an approved reply. The message must be on a ticket the member sees (404 otherwise); the services
decide who may do what. Each answers with the conversation (htmx) or a redirect to it."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from approvals.services import replies as reply_services
from core.errors import DomainError
from tickets import selectors as ticket_selectors
from tickets.models import Message


def _message(request, message_id: int) -> Message:
    tickets = ticket_selectors.visible_tickets(request.membership)
    return get_object_or_404(
        Message.objects.select_related("ticket", "connection", "author_user").filter(ticket__in=tickets),
        pk=message_id,
    )


def _version(request) -> int | None:
    try:
        return int(request.POST.get("version", ""))
    except ValueError:
        return None


def _done(request, message: Message, note: str):
    if request.headers.get("HX-Request"):
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    messages.success(request, note)
    return redirect("org:inbox_ticket", org_slug=request.organization.slug, ticket_id=message.ticket_id)


def _refused(request, message: Message, exc: DomainError):
    if request.headers.get("HX-Request"):
        return HttpResponse(exc.message, status=exc.status, content_type="text/plain; charset=utf-8")
    messages.error(request, exc.message)
    return redirect("org:inbox_ticket", org_slug=request.organization.slug, ticket_id=message.ticket_id)


@require_POST
def reply_approve(request, org_slug, message_id):
    """`send=1` (default) approves and sends; `send=0` approves and leaves the sending to the author. A changed
    `text` is an edit first (kept on the ticket's history), then the approval of the edited version."""
    message = _message(request, message_id)
    version = _version(request)
    try:
        text = request.POST.get("text")
        if text is not None and text.replace("\r\n", "\n").strip() != message.text:
            version = reply_services.reply_edit(
                organization=request.organization, actor=request.user, message=message, text=text
            ).version
        reply_services.reply_approve(
            organization=request.organization,
            actor=request.user,
            message=message,
            send=request.POST.get("send", "1") != "0",
            comment=request.POST.get("comment", ""),
            seen_version=version,
        )
    except DomainError as exc:
        return _refused(request, message, exc)
    return _done(request, message, _("Reply approved."))


@require_POST
def reply_return(request, org_slug, message_id):
    message = _message(request, message_id)
    try:
        reply_services.reply_return(
            organization=request.organization,
            actor=request.user,
            message=message,
            comment=request.POST.get("comment", ""),
            seen_version=_version(request),
        )
    except DomainError as exc:
        return _refused(request, message, exc)
    return _done(request, message, _("Reply returned to its author."))


@require_POST
def reply_edit(request, org_slug, message_id):
    """The author changes a returned (or still held) reply and submits it again; an approver may edit a held one."""
    message = _message(request, message_id)
    try:
        reply_services.reply_edit(
            organization=request.organization, actor=request.user, message=message, text=request.POST.get("text", "")
        )
    except DomainError as exc:
        return _refused(request, message, exc)
    return _done(request, message, _("Reply changed and submitted for approval again."))


@require_POST
def reply_send(request, org_slug, message_id):
    message = _message(request, message_id)
    try:
        reply_services.reply_send_approved(organization=request.organization, actor=request.user, message=message)
    except DomainError as exc:
        return _refused(request, message, exc)
    return _done(request, message, _("Reply sent."))
