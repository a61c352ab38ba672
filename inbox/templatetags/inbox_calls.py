"""Template helpers for phone calls in the conversation (inbox/_call.html) and the "Log a call" form."""

from django import template

from core import phone
from tickets.services.calls import DIRECTION_LABELS, OUTCOME_LABELS, duration_display

register = template.Library()


@register.filter
def call_duration(seconds) -> str:
    return duration_display(seconds or 0)


@register.filter
def call_outcome(call) -> str:
    return str(OUTCOME_LABELS.get(call.outcome, call.outcome))


@register.filter
def call_direction(call) -> str:
    return str(DIRECTION_LABELS.get(call.direction, call.direction))


@register.filter
def phone_display(number: str) -> str:
    """03-1234-5678 for a Japanese number, +1 415-555-0100 for another; as given when it is no number."""
    return phone.display(number or "")


@register.filter
def call_number(call) -> str:
    """The customer's side of the call: who called us, or whom we called."""
    return call.to_number if call.direction == "outbound" else call.from_number


@register.filter
def call_note(message) -> str:
    """The agent's note on a call logged by hand: the message's text after its summary paragraph."""
    return message.text.partition("\n\n")[2]


@register.inclusion_tag("inbox/_call_log.html", takes_context=True)
def call_log_form(context, ticket):
    """The form, open on a phone conversation (where calling back is the only way to answer)."""
    from inbox.calls import call_log_context

    return {
        **call_log_context(ticket),
        "organization": context["organization"],
        "csrf_token": context.get("csrf_token"),
        "force_open": ticket.connection.platform == "phone",
        "request": context.get("request"),
    }
