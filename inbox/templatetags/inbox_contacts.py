"""Template filters of the contacts screens."""

from django import template

from core import phone

register = template.Library()


@register.filter
def phone_display(number: str) -> str:
    """A stored E.164 number as people read it (090-1234-5678 for a Japanese number, +1 415-555-0100 otherwise)."""
    return phone.display(number)
