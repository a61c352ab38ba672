"""Starting a conversation from the inbox: the agent writes to a customer first (a follow-up by mail after a phone
call) through a channel they are granted whose platform lets a business write first; the service
(tickets.services.start) opens the ticket and queues the message, and the agent lands on the new ticket, where the
message's delivery state shows like a reply's."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_http_methods

from accounts.permissions import require_capability
from accounts.roles import Capability
from channels_integrations.models import ChannelConnection
from channels_integrations.permissions import connections_visible_to
from core.errors import DomainError
from core.views import form_error
from tickets.services import start


class NewConversationForm(forms.Form):
    channel = forms.IntegerField(
        label=gettext_lazy("Send from"),
        widget=forms.Select,
        error_messages={"required": gettext_lazy("Choose the channel to write from.")},
        help_text=gettext_lazy("The customer's answer comes back to this channel, into the same ticket."),
    )
    email = forms.EmailField(
        label=pgettext_lazy("the recipient of a message", "To"),
        max_length=254,
        error_messages={
            "required": gettext_lazy("Enter the customer's email address."),
            "invalid": gettext_lazy("Enter the customer's email address, like name@example.com."),
        },
        widget=forms.EmailInput(attrs={"autocomplete": "off", "placeholder": "name@example.com"}),
    )
    name = forms.CharField(
        label=gettext_lazy("Customer name"),
        max_length=200,
        required=False,
        help_text=gettext_lazy("Optional. Names a customer who is new to the helpdesk; a known one keeps their name."),
    )
    subject = forms.CharField(
        label=gettext_lazy("Subject"),
        max_length=start.SUBJECT_MAX,
        error_messages={"required": gettext_lazy("Write a subject: it is the first thing the customer reads.")},
    )
    text = forms.CharField(
        label=gettext_lazy("Message"),
        widget=forms.Textarea(attrs={"rows": 10}),
        error_messages={"required": gettext_lazy("Write the message.")},
    )

    def __init__(self, *args, connections: list[ChannelConnection], **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(c.pk, f"{c.get_platform_display()}: {c.display_name}") for c in connections]
        if len(choices) != 1:
            choices.insert(0, ("", _("Choose a channel")))
        self.fields["channel"].widget.choices = choices


def _startable(visible: list[ChannelConnection]) -> list[ChannelConnection]:
    return [c for c in visible if start.can_start_on(c)]


def _initial_channel(request, startable: list[ChannelConnection]) -> int | None:
    """The channel offered first: the one the inbox was filtered on (`?channel=`), else the only one."""
    wanted = request.GET.get("channel", "")
    ids = [c.pk for c in startable]
    if wanted.isdigit() and int(wanted) in ids:
        return int(wanted)
    return ids[0] if len(ids) == 1 else None


@require_http_methods(["GET", "POST"])
@require_capability(Capability.TICKETS_WORK)
def new_conversation(request, org_slug):
    """The form; on success the new ticket opens in the inbox. A channel of another organization (or none) is a
    404; one of this organization the member is not granted is a 403 (the form never offers it)."""
    visible = {c.pk: c for c in connections_visible_to(request.membership)}
    startable = _startable(list(visible.values()))
    status = 200
    if request.method == "POST":
        raw = request.POST.get("channel", "").strip()
        if raw.isdigit() and int(raw) not in visible:
            if ChannelConnection.objects.filter(pk=int(raw)).exists():
                raise PermissionDenied
            raise Http404
        form = NewConversationForm(request.POST, connections=startable)
        if form.is_valid():
            data = form.cleaned_data
            try:
                ticket = start.conversation_start(
                    organization=request.organization,
                    actor=request.user,
                    connection=visible[data["channel"]],
                    email=data["email"],
                    name=data["name"],
                    subject=data["subject"],
                    text=data["text"],
                )
            except DomainError as exc:
                form_error(form, exc)
            else:
                messages.success(
                    request,
                    _("Conversation started: your message to %(email)s is on its way.") % {"email": data["email"]},
                )
                return redirect("org:inbox_ticket", org_slug=org_slug, ticket_id=ticket.pk)
        status = 400
    else:
        form = NewConversationForm(connections=startable, initial={"channel": _initial_channel(request, startable)})
        form.fields["email" if form.initial["channel"] else "channel"].widget.attrs["autofocus"] = True
    context = {
        "form": form,
        "startable": startable,
        "unstartable": [c for c in visible.values() if c not in startable],
    }
    return render(request, "inbox/new_conversation.html", context, status=status)
