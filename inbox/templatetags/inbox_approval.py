"""The marker on a reply waiting for approval (inbox/_held_reply.html): whom it waits for and what the viewer may
do. Asked of the reply gate (tickets/reply_gate.py), which the approvals app implements: the inbox never imports
approvals. Only bubbles in a waiting state ask, so a conversation without them costs nothing more."""

import difflib

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

from tickets.reply_gate import reply_gate

register = template.Library()


@register.simple_tag(takes_context=True)
def held_reply(context, message):
    request = context.get("request")
    if request is None or getattr(request, "membership", None) is None:
        return None
    return reply_gate().held_info(organization=request.organization, user=request.user, message=message)


@register.simple_tag
def reply_diff(before, after):
    """The edit of a held reply, character by character (Japanese has no spaces to split words on): removed text in
    <del>, added text in <ins>, the rest as is; every piece escaped."""
    before, after = str(before or ""), str(after or "")
    pieces = []
    for op, a1, a2, b1, b2 in difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes():
        if op == "equal":
            pieces.append(escape(before[a1:a2]))
        if op in ("delete", "replace"):
            pieces.append(format_html("<del>{}</del>", before[a1:a2]))
        if op in ("insert", "replace"):
            pieces.append(format_html("<ins>{}</ins>", after[b1:b2]))
    return mark_safe("".join(str(p) for p in pieces))  # noqa: S308 (each piece escaped above)
