"""The agent workspace: a three-pane inbox (views with counts, the ticket list, the conversation) rendered on the
server; htmx swaps the panes, inbox.js keeps them live from the WebSocket. TenantMiddleware has checked membership
and activated the scope; every ticket lookup goes through `visible_tickets`, so a ticket of a channel the member
may not see is a 404 like a missing one."""

from django.contrib import messages
from django.core.exceptions import BadRequest, PermissionDenied
from django.db import transaction
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.models import Team, User
from accounts.roles import Capability
from assets import services as asset_services
from automation.rules.selectors import rule_runs_for
from channels_integrations.connector import TemplateChoice
from channels_integrations.permissions import connections_visible_to, members_who_see_connection
from core import notification_kinds
from core.errors import DomainError
from core.notifications import notifications_mark_read
from inbox import selectors as inbox_selectors
from tickets import selectors
from tickets.models import Message, Priority, Sentiment, Ticket, TicketStatus
from tickets.saved_views import saved_views_for
from tickets.services import changes, notes, replies
from tickets.services import merge as merging

PAGE_SIZE = 50
MAX_ROWS = 500  # what a live refresh re-renders at most (rows already loaded by scrolling)


def _ticket(request, ticket_id: int) -> Ticket:
    return get_object_or_404(
        selectors.visible_tickets(request.membership).select_related(
            "contact", "assignee", "connection", "team", "sla_policy"
        ),
        pk=ticket_id,
    )


def _require_work(request) -> None:
    if not request.membership.has(Capability.TICKETS_WORK):
        raise PermissionDenied


def _list_context(request) -> dict:
    """A page of the list: from the top, or after `cursor` (the list loads more rows as it is scrolled). `size` asks
    for as many rows as the browser shows already, when a live update refreshes them. No COUNT(*): on a big inbox it
    costs more than the page itself; one extra row tells whether more follow."""
    filters = selectors.TicketFilter.from_query(request.GET)
    try:
        size = min(MAX_ROWS, max(PAGE_SIZE, int(request.GET.get("size") or PAGE_SIZE)))
        rows, next_cursor = selectors.ticket_page(
            request.membership, filters, after=request.GET.get("cursor", ""), size=size
        )
    except ValueError as exc:
        raise BadRequest(_("This list link is not valid any more; reload the inbox.")) from exc
    query = request.GET.copy()
    for name in ("cursor", "size", "rows"):
        query.pop(name, None)
    return {
        "filters": filters,
        "tickets": inbox_selectors.list_rows(rows, org_slug=request.organization.slug),
        "next_cursor": next_cursor,
        "query": query.urlencode(),
    }


def _side_context(request, *, as_of: int) -> dict:
    connections = list(connections_visible_to(request.membership))
    teams = list(Team.objects.all())
    # The counts' channels and teams are the ones shown: not read a second time when the counts are computed.
    counts = inbox_selectors.cached_view_counts(
        request.membership,
        as_of=as_of,
        connection_ids=[c.pk for c in connections],
        team_ids=[t.pk for t in teams],
    )
    return {
        "counts": counts,
        "connections": connections,
        "teams": teams,
        "saved_views": list(saved_views_for(request.membership)),
        "unread_notifications": inbox_selectors.unread_count(request.membership),
        "notification_formats": _notification_formats(),
    }


def _notification_formats() -> dict[str, str]:
    """Each kind's sentence in the member's language, for the toasts the browser formats from live events."""
    formats = {}
    for kind in notification_kinds.kinds():
        formats[kind.key] = str(kind.text)
        if kind.automated_text is not None:
            formats[f"{kind.key}.automated"] = str(kind.automated_text)
        if kind.rule_text is not None:
            formats[f"{kind.key}.rule"] = str(kind.rule_text)
    return formats


def _assignable(ticket: Ticket) -> list[User]:
    """Members the ticket may be assigned to: those who may see its channel (tickets.services.changes checks it)."""
    memberships = list(account_selectors.membership_list())
    allowed = members_who_see_connection(ticket.connection_id, memberships)
    return [m.user for m in memberships if m.user_id in allowed or m.user_id == ticket.assignee_id]


def _properties_context(request, ticket: Ticket) -> dict:
    return {
        "ticket": ticket,
        "statuses": TicketStatus.choices,
        "priorities": Priority.choices,
        "members": _assignable(ticket),
        "teams": list(Team.objects.all()),
        "can_work": request.membership.has(Capability.TICKETS_WORK),
        "events": list(ticket.events.select_related("actor").order_by("-created_at")[:30]),
    }


def _conversation_context(request, ticket: Ticket) -> dict:
    # Not "messages": that name is Django's flash messages, which base.html shows as banners.
    conversation_messages = list(selectors.conversation(ticket).prefetch_related("mentions"))  # marked in notes
    limits = replies.reply_limits(ticket)
    return {
        **_properties_context(request, ticket),
        "conversation_messages": conversation_messages,
        "last_message_id": conversation_messages[-1].pk if conversation_messages else 0,
        "reply_limits": limits,
        **_templates_context(ticket, limits),
        "history": list(selectors.contact_history(request.membership, ticket)),
        "rule_runs": rule_runs_for(ticket),
    }


def _templates_context(ticket: Ticket, limits) -> dict:
    """The approved message templates the reply box offers (WhatsApp: the only replies it delivers after 24 hours)."""
    if limits is None:
        return {}
    templates, error = replies.reply_templates(ticket)
    choices = [
        {"template": t, "value": f"{t.name}|{t.language}", "numbers": range(1, t.parameters + 1)} for t in templates
    ]
    return {"reply_templates": choices, "reply_templates_error": error}


def _template_choice(request) -> TemplateChoice | None:
    """The template picked in the reply box: `template` is "name|language", `template_param` its values in order."""
    name, _sep, language = request.POST.get("template", "").partition("|")
    if not name:
        return None
    return TemplateChoice(name=name, language=language, parameters=tuple(request.POST.getlist("template_param")))


@require_GET
def inbox(request, org_slug, ticket_id=None):
    """The whole workspace; with a ticket id the conversation pane opens on it (deep link)."""
    event_cursor = inbox_selectors.latest_event_id()
    context = {
        **_list_context(request),
        **_side_context(request, as_of=event_cursor),
        "statuses": TicketStatus.choices,
        "priorities": Priority.choices,
        "sentiments": Sentiment.choices,
        "event_cursor": event_cursor,
    }
    if ticket_id is not None:
        context["open_ticket"] = _ticket(request, ticket_id)
        context.update(_conversation_context(request, context["open_ticket"]))
    return render(request, "inbox/inbox.html", context)


@require_GET
def ticket_list(request, org_slug):
    """The list pane for htmx; with `rows=1`, only the next rows (appended as the list is scrolled)."""
    template = "inbox/_rows.html" if request.GET.get("rows") else "inbox/_list.html"
    return render(request, template, _list_context(request))


@require_GET
def views_pane(request, org_slug):
    """The left pane with live counts (refreshed by inbox.js after events, at most every few seconds)."""
    filters = selectors.TicketFilter.from_query(request.GET)
    side = _side_context(request, as_of=inbox_selectors.latest_event_id())
    return render(request, "inbox/_counts.html", {"filters": filters, **side})


@require_GET
def conversation(request, org_slug, ticket_id):
    ticket = _ticket(request, ticket_id)
    return render(request, "inbox/_conversation.html", _conversation_context(request, ticket))


@require_GET
def messages_after(request, org_slug, ticket_id):
    """Message bubbles newer than `after` (live append when the WebSocket says a message arrived)."""
    ticket = _ticket(request, ticket_id)
    try:
        after = int(request.GET.get("after") or 0)
    except ValueError:
        after = 0
    newer = list(selectors.conversation(ticket).filter(pk__gt=after).prefetch_related("mentions"))
    return render(
        request,
        "inbox/_messages.html",
        {
            "conversation_messages": newer,
            "ticket": ticket,
            "can_work": request.membership.has(Capability.TICKETS_WORK),
        },
    )


@require_POST
def ticket_update(request, org_slug, ticket_id):
    _require_work(request)
    ticket = _ticket(request, ticket_id)
    data = request.POST
    kwargs = {}
    if "status" in data:
        kwargs["status"] = data["status"]
    if "priority" in data:
        kwargs["priority"] = data["priority"]
    if "assignee" in data:
        value = data["assignee"]
        kwargs["assignee"] = None if value in {"", "none"} else _member(request, value)
    if "team" in data:
        kwargs["team"] = (
            None if data["team"] in {"", "none"} else get_object_or_404(Team.objects.all(), pk=_pk(data["team"]))
        )
    if "tags" in data:
        kwargs["tags"] = [t for t in data["tags"].replace("、", ",").split(",")]
    try:
        ticket = changes.ticket_update(organization=request.organization, actor=request.user, ticket=ticket, **kwargs)
    except DomainError as exc:
        return JsonResponse({"error": {"code": exc.code, "message": exc.message, "fields": {}}}, status=400)
    ticket = _ticket(request, ticket.pk)
    return render(request, "inbox/_properties.html", _properties_context(request, ticket))


def _pk(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise Http404 from exc


def _member(request, value) -> User:
    if value == "me":
        return request.user
    return get_object_or_404(User.objects.filter(memberships__organization=request.organization), pk=_pk(value))


@require_POST
def note(request, org_slug, ticket_id):
    _require_work(request)
    ticket = _ticket(request, ticket_id)
    stale = _stale_warning(request, ticket)
    if stale:
        return stale
    try:
        mention_ids = [int(value) for value in request.POST.getlist("mentions")]
    except ValueError:
        return HttpResponse(_("Pick the colleagues to mention from the list."), status=400)
    try:
        message = notes.note_add(
            organization=request.organization,
            actor=request.user,
            ticket=ticket,
            text=request.POST.get("text", ""),
            mention_ids=mention_ids,
        )
    except DomainError as exc:
        return HttpResponse(exc.message, status=400)
    return render(request, "inbox/_messages.html", {"conversation_messages": [message], "ticket": ticket})


@require_GET
def mentionable(request, org_slug, ticket_id):
    """Colleagues a note on this ticket may mention, for the composer's @ autocomplete."""
    ticket = _ticket(request, ticket_id)
    users = notes.mentionable_members(ticket, query=request.GET.get("q", "").strip()[:60])
    return JsonResponse(
        {"results": [{"id": u.pk, "name": u.get_full_name() or u.email, "email": u.email} for u in users]}
    )


@require_POST
def reply(request, org_slug, ticket_id):
    """Send a reply through the ticket's channel (queued; the bubble's delivery state updates live)."""
    _require_work(request)
    ticket = _ticket(request, ticket_id)
    stale = _stale_warning(request, ticket)
    if stale:
        return stale
    try:
        # Assets picked from the library: checked usable now, their files copied onto the reply, the use recorded in
        # the same transaction as the reply is stored.
        with transaction.atomic():
            picked = asset_services.asset_versions_for_use(
                organization=request.organization, actor=request.user, version_ids=_asset_version_ids(request)
            )
            message = replies.message_reply(
                organization=request.organization,
                actor=request.user,
                ticket=ticket,
                text=request.POST.get("text", ""),
                public=request.POST.get("public") == "1",
                files=[*request.FILES.getlist("files"), *_asset_files(picked)],
                based_on_message_id=_based_on(request),
                template=_template_choice(request),
                ask_approval=bool(request.POST.get("ask_approval")),  # the "Ask for approval" submit input
            )
            if picked:
                asset_services.asset_usage_record(
                    organization=request.organization, actor=request.user, versions=picked, target=message
                )
    except DomainError as exc:
        return HttpResponse(exc.message, status=400, content_type="text/plain; charset=utf-8")
    return render(request, "inbox/_messages.html", {"conversation_messages": [message], "ticket": ticket})


def _asset_version_ids(request) -> list[int]:
    values = request.POST.getlist("asset_versions")
    if len(values) > replies.MAX_FILES or not all(v.isdigit() for v in values):
        raise DomainError(_("The assets picked for this reply are not valid; pick them again."), field="assets")
    return [int(v) for v in values]


def _asset_files(versions) -> list:
    """A copy of each picked file, so the message keeps its attachment whatever happens to the asset later."""
    copies = []
    for version in versions:
        if version.file:
            copy = asset_services.asset_version_file_copy(version)
            copy.content_type = version.mime_type or "application/octet-stream"
            copies.append(copy)
    return copies


def _based_on(request) -> int | None:
    try:
        return int(request.POST.get("based_on") or 0) or None
    except ValueError:
        return None


def _stale_warning(request, ticket: Ticket) -> HttpResponse | None:
    """Collision guard: the composer sends the last message id it showed (`based_on`). If someone else has written
    since, answer 409 so the browser asks before sending (it resends with `confirm=1`)."""
    try:
        based_on = int(request.POST.get("based_on") or 0)
    except ValueError:
        based_on = 0
    if not based_on or request.POST.get("confirm") == "1":
        return None
    newer = Message.objects.filter(ticket=ticket, pk__gt=based_on).exclude(author_user=request.user).exists()
    if not newer:
        return None
    return HttpResponse(
        _("New messages arrived in this conversation since you started writing. Send anyway?"), status=409
    )


@require_POST
def bulk(request, org_slug):
    """Assign, change status or tag many tickets at once (only tickets the member may see are touched)."""
    _require_work(request)
    ids = [int(i) for i in request.POST.getlist("ticket") if i.isdigit()][:500]
    action = request.POST.get("action")
    if action == "assign":
        value = request.POST.get("assignee", "")
        change = {"assignee": None if value in {"", "none"} else _member(request, value)}
    elif action == "status" and request.POST.get("status") in TicketStatus.values:
        change = {"status": request.POST["status"]}
    elif action == "tag" and request.POST.get("tag", "").strip():
        change = {"tags_add": [request.POST["tag"].strip()]}
    else:
        return JsonResponse({"error": {"code": "invalid", "message": _("Choose an action."), "fields": {}}}, status=400)
    changed = len(
        changes.tickets_bulk_update(
            organization=request.organization, actor=request.user, membership=request.membership, ids=ids, **change
        )
    )
    return JsonResponse({"changed": changed})


@require_GET
def notifications(request, org_slug):
    items = list(inbox_selectors.notifications_for(request.membership)[:30])
    return render(request, "inbox/_notifications.html", {"notifications": items})


@require_POST
def notifications_read(request, org_slug):
    count = notifications_mark_read(organization=request.organization, user=request.user)
    return JsonResponse({"marked": count})


@require_GET
def properties(request, org_slug, ticket_id):
    return render(request, "inbox/_properties.html", _properties_context(request, _ticket(request, ticket_id)))


@require_http_methods(["GET", "POST"])
def notification_settings(request, org_slug):
    """The member's notification preferences in this organization (in-app and email, per kind)."""
    membership = request.membership
    if request.method == "POST":
        account_services.membership_notifications_set(
            organization=request.organization,
            membership=membership,
            in_app=request.POST.getlist("in_app"),
            email=request.POST.getlist("email"),
        )
        messages.success(request, _("Notification settings saved."))
        return redirect("org:notification_settings", org_slug=org_slug)
    rows = [
        (kind.key, kind.label, kind.key in membership.notify_in_app, kind.key in membership.notify_email)
        for kind in notification_kinds.kinds()
    ]
    return render(request, "inbox/notification_settings.html", {"rows": rows})


SNOOZE_CHOICES = ("1h", "4h", "tomorrow", "next_week", "none")


def _snooze_until(choice: str):
    """Snooze presets in the viewer's time zone (activated by the middleware)."""
    from datetime import datetime, time, timedelta

    from django.utils import timezone

    now = timezone.localtime()
    if choice == "1h":
        return now + timedelta(hours=1)
    if choice == "4h":
        return now + timedelta(hours=4)
    if choice == "tomorrow":
        return datetime.combine(now.date() + timedelta(days=1), time(9), tzinfo=now.tzinfo)
    if choice == "next_week":
        monday = now.date() + timedelta(days=7 - now.weekday())
        return datetime.combine(monday, time(9), tzinfo=now.tzinfo)
    return None


@require_POST
def snooze(request, org_slug, ticket_id):
    _require_work(request)
    ticket = _ticket(request, ticket_id)
    choice = request.POST.get("until", "")
    if choice not in SNOOZE_CHOICES:
        return HttpResponse(_("Choose when the ticket should come back."), status=400)
    changes.ticket_snooze(
        organization=request.organization, actor=request.user, ticket=ticket, until=_snooze_until(choice)
    )
    return render(request, "inbox/_properties.html", _properties_context(request, _ticket(request, ticket_id)))


@require_POST
def merge(request, org_slug, ticket_id):
    """Merge this ticket into another of the same customer; answers with the target's conversation."""
    _require_work(request)
    source = _ticket(request, ticket_id)
    target_id = request.POST.get("target", "")
    if not target_id.isdigit():
        return HttpResponse(_("Choose the ticket to merge into."), status=400)
    target = _ticket(request, int(target_id))
    try:
        target = merging.ticket_merge(
            organization=request.organization, actor=request.user, source=source, target=target
        )
    except DomainError as exc:
        return HttpResponse(exc.message, status=400)
    return render(request, "inbox/_conversation.html", _conversation_context(request, _ticket(request, target.pk)))


@require_POST
def split(request, org_slug, ticket_id, message_id):
    """Move one customer message into its own ticket; answers with the new ticket's conversation."""

    _require_work(request)
    ticket = _ticket(request, ticket_id)
    message = get_object_or_404(Message.objects.filter(ticket=ticket), pk=message_id)
    try:
        new = merging.message_split(organization=request.organization, actor=request.user, message=message)
    except DomainError as exc:
        return HttpResponse(exc.message, status=400)
    return render(request, "inbox/_conversation.html", _conversation_context(request, _ticket(request, new.pk)))
