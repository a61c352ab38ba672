"""Social listening's part in erasing a contact (tickets.privacy_hooks): public posts the poller collected from the
contact's own accounts (matched by handle on the same platform) are deleted."""

from django.db.models import Q

from accounts.models import Organization
from analytics.listening.models import Mention
from tickets.privacy_hooks import Erasure
from tickets.privacy_hooks import register as register_part


def erase(*, organization: Organization, erasure: Erasure) -> None:
    match = Q()
    for platform, _external_id, handle in erasure.identities:
        if handle:
            match |= Q(platform=platform, author_handle__iexact=handle.lstrip("@"))
            match |= Q(platform=platform, author_handle__iexact=f"@{handle.lstrip('@')}")
    if match:
        Mention.objects.filter(match).delete()


def register() -> None:
    register_part("listening", eraser=erase)
