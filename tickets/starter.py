"""The shared canned responses a new organization starts with, ready to send as they are: an acknowledgement and an
out-of-hours notice (the texts a channel's automatic replies use), and three an agent often needs. Each gets a
variant in every site language, written by translators (locale/), so a Japanese customer reads natural business
Japanese, not a translation of English. No customer name in them: Messenger and LINE customers may have none."""

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from tickets.models import CannedResponse, CannedResponseVariant

# (shortcut, title, body); {{organization.name}} is filled when sent (tickets.canned.render_canned).
STARTER_CANNED = (
    (
        "received",
        _("Acknowledgement"),
        _(
            "Thank you for contacting {{organization.name}}.\n"
            "We have received your message; a member of our team will get back to you as soon as possible.\n"
            "Thank you for your patience."
        ),
    ),
    (
        "after-hours",
        _("Outside business hours"),
        _(
            "Thank you for your message.\n"
            "We are currently outside our business hours; we will reply in order from the next business day.\n"
            "Thank you for your understanding."
        ),
    ),
    (
        "details",
        _("Asking for details"),
        _(
            "Thank you for contacting us.\n"
            "So that we can look into this, could you send us your order number and, if possible, a screenshot of "
            "what you see?"
        ),
    ),
    (
        "checking",
        _("Still checking"),
        _(
            "We are sorry to keep you waiting.\n"
            "We are checking the details now and will contact you again as soon as we have an answer."
        ),
    ),
    (
        "resolved",
        _("Resolved"),
        _(
            "Thank you for your patience.\n"
            "We believe this resolves your inquiry. If anything is still unclear, simply reply to this message.\n"
            "Thank you for choosing {{organization.name}}."
        ),
    ),
)


def starter_canned_create(organization) -> list[CannedResponse]:
    """Called once for an owner's new organization (accounts.hooks.organization_started); titles in its language."""
    created = []
    for shortcut, title, body in STARTER_CANNED:
        with translation.override(organization.default_language):
            response = CannedResponse.objects.create(organization=organization, title=str(title), shortcut=shortcut)
        for language, _name in settings.LANGUAGES:
            with translation.override(language):
                CannedResponseVariant.objects.create(
                    organization=organization, response=response, language=language, body=str(body)
                )
        created.append(response)
    return created
