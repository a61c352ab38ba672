"""Self-service sign-up: an email address is confirmed by a signed link before any account exists.

Nothing is stored until the link is opened, so an unconfirmed address cannot be squatted and the form cannot be used
to learn who has an account (a known address gets a "you already have an account" mail, the page says the same
either way). Bots are kept out without third-party services: a honeypot field and rate limits per IP and per
address.
"""

import logging

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.tasks import send_signup_email
from accounts.tokens import digest
from core.counters import count_in_window
from core.errors import DomainError

logger = logging.getLogger("tsunagu.signup")

SALT = "accounts.signup"


class SignupThrottled(DomainError):
    code = "throttled"
    status = 429

    def __init__(self):
        super().__init__(_("Too many sign-up requests. Please try again in an hour."))


class SignupLinkInvalid(DomainError):
    code = "invalid_link"
    status = 404


def _over_limit(key: str, limit: int) -> bool:
    """Count one request against `key` inside the window; True when the limit is already used up."""
    return count_in_window(key, settings.SIGNUP_WINDOW_SECONDS) > limit


def request_signup(*, email: str, ip: str | None, language: str, bot: bool) -> None:
    """Send the confirmation link (or, for a known address, a sign-in reminder) after commit.

    Raises SignupThrottled past the limits. A bot (the honeypot was filled) is logged and silently ignored: it sees
    the same page as a person, so it learns nothing to adapt to."""
    email = User.objects.normalize_email(email).strip().lower()
    if _over_limit(f"signup:ip:{ip}", settings.SIGNUP_IP_LIMIT) or _over_limit(
        f"signup:email:{digest(email)}", settings.SIGNUP_EMAIL_LIMIT
    ):
        logger.warning("sign-up throttled email=%s ip=%s", email, ip)
        raise SignupThrottled()
    if bot:
        logger.warning("sign-up honeypot filled; ignored email=%s ip=%s", email, ip)
        return
    token = signing.dumps({"email": email, "language": language}, salt=SALT)
    transaction.on_commit(lambda: send_signup_email.delay(email=email, token=token, language=language))
    logger.info("sign-up link requested email=%s ip=%s", email, ip)


def signup_details(token: str) -> dict:
    """The address (and language) a confirmation link was sent for. Raises SignupLinkInvalid when the link is
    forged, expired or already used (an account now exists for the address)."""
    try:
        data = signing.loads(token, salt=SALT, max_age=settings.SIGNUP_LINK_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise SignupLinkInvalid(_("This confirmation link has expired. Please sign up again.")) from exc
    except signing.BadSignature as exc:
        raise SignupLinkInvalid(_("This confirmation link is not valid.")) from exc
    if User.objects.filter(email__iexact=data["email"]).exists():
        raise SignupLinkInvalid(_("This address is already confirmed. Please sign in."))
    return data


@transaction.atomic
def complete_signup(*, token: str, name: str, password: str) -> User:
    """Create the confirmed account. The first organization is created next, by the new user, as its Owner."""
    data = signup_details(token)
    user = User.objects.create_user(data["email"], password, name=name, language=data.get("language", ""))
    logger.info("sign-up completed user=%s", user.pk)
    return user
