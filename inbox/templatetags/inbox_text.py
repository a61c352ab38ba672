"""How a message's text is shown: escaped, line breaks kept, and in a note the colleagues it mentions marked."""

import re

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.filter
def message_html(message) -> SafeString:
    """The message text, escaped, with its line breaks; in a note each `@Name` of a mentioned colleague is marked."""
    html = escape(message.text)
    if message.kind == "note":
        names = sorted({user.get_full_name() or user.email for user in message.mentions.all()}, key=len, reverse=True)
        if names:
            pattern = re.compile("|".join(re.escape("@" + escape(name)) for name in names))
            html = pattern.sub(lambda match: f'<mark class="mention">{match.group(0)}</mark>', html)
    return mark_safe(html.replace("\r\n", "\n").replace("\n", "<br>"))  # every piece above is escaped
