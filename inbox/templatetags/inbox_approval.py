"""The marker on a reply waiting for approval (inbox/_held_reply.html): whom it waits for and what the viewer may
do. Asked of the reply gate (tickets/reply_gate.py), which the approvals app implements: the inbox never imports
approvals. Only bubbles in a waiting state ask, so a conversation without them costs nothing more."""

from django import template

from tickets.reply_gate import reply_gate

register = template.Library()


@register.simple_tag(takes_context=True)
def held_reply(context, message):
    request = context.get("request")
    if request is None or getattr(request, "membership", None) is None:
        return None
    return reply_gate().held_info(organization=request.organization, user=request.user, message=message)
