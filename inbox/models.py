"""Models of the inbox app (the contacts package keeps its own module)."""

from inbox.contacts.models import ContactSegment

__all__ = ["ContactSegment"]
