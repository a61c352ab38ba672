"""Sign-in with throttling, and two-factor (TOTP) enrolment and verification."""

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import cache
from django.db import transaction
from django.utils.translation import gettext as _
from django_otp import match_token
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_scopes import scope

from accounts.audit import audit_record, client_ip
from accounts.models import AuditAction, Organization, User
from accounts.tokens import digest
from core.counters import count_in_window
from core.errors import DomainError

logger = logging.getLogger("tsunagu.auth")


class LoginLocked(DomainError):
    code = "locked"
    status = 429

    def __init__(self, seconds: int):
        minutes = max(1, (seconds + 59) // 60)
        super().__init__(
            _("Too many failed sign-in attempts. Try again in %(minutes)d minutes.") % {"minutes": minutes}
        )
        self.seconds = seconds


class InvalidCredentials(DomainError):
    code = "invalid_credentials"


def _organizations_of(user: User) -> list[Organization]:
    return list(Organization.objects.filter(memberships__user=user))


def _audit_for_user(user: User, action: str, request, changes=None) -> None:
    """Account events belong to every organization the user is a member of (each admin sees their members)."""
    for organization in _organizations_of(user):
        with scope(organization=organization):
            audit_record(
                organization=organization, actor=user, action=action, obj=user, changes=changes, request=request
            )


# --- throttling -------------------------------------------------------------------------------------------------


def _now() -> float:
    return time.time()


def _throttle_keys(email: str, ip: str | None) -> list[tuple[str, int]]:
    """(counter key, limit) for this address from this IP, and for this IP across addresses."""
    return [
        (f"login:fail:{digest(email.lower())}:{ip}", settings.LOGIN_FAILURE_LIMIT),
        (f"login:fail-ip:{ip}", settings.LOGIN_IP_FAILURE_LIMIT),
    ]


def _account_key(email: str) -> str:
    """Per account, whatever the IP (a client's IP can be many, or forged): the failure count and the time of the
    last failure."""
    return f"login:account:{digest(email.lower())}"


def _account_delay(failures: int) -> int:
    """Seconds a further attempt waits after the last of `failures` failures: none below the limit, then doubling."""
    over = failures - settings.LOGIN_ACCOUNT_FAILURE_LIMIT
    if over < 0:
        return 0
    return min(2 ** min(over, 32), settings.LOGIN_ACCOUNT_MAX_DELAY)


def _account_wait(email: str, now: float) -> int:
    state = cache.get(_account_key(email))
    if not state:
        return 0
    until = state["last"] + _account_delay(state["failures"])
    return int(until - now) + 1 if until > now else 0


def login_lock_remaining(*, email: str, ip: str | None) -> int:
    """Seconds until this address may try again from this IP (0 when not locked)."""
    now = _now()
    locks = cache.get_many([f"{key}:lock" for key, _limit in _throttle_keys(email, ip)])
    address_lock = max((int(until - now) + 1 for until in locks.values() if until > now), default=0)
    return max(address_lock, _account_wait(email, now))


def _record_failure(email: str, ip: str | None) -> None:
    window = settings.LOGIN_LOCKOUT_SECONDS
    for key, limit in _throttle_keys(email, ip):
        if count_in_window(key, window) >= limit:
            cache.set(f"{key}:lock", _now() + window, timeout=window)
            cache.delete(key)
    # Read-modify-write is safe here: attempts on a throttled account are serialized by _claim_account_attempt.
    key = _account_key(email)
    state = cache.get(key) or {"failures": 0}
    cache.set(key, {"failures": state["failures"] + 1, "last": _now()}, timeout=settings.LOGIN_ACCOUNT_WINDOW)


def _claim_account_attempt(email: str) -> str | None:
    """Once an account is throttled, one attempt at a time (SET NX): a burst of parallel guesses at the moment the
    delay ends gets one try, not one each. Returns the claim's key, or None when another attempt holds it."""
    state = cache.get(_account_key(email))
    if not state or _account_delay(state["failures"]) == 0:
        return ""
    claim = f"{_account_key(email)}:attempt"
    return claim if cache.add(claim, 1, timeout=60) else None


def _clear_failures(email: str, ip: str | None) -> None:
    cache.delete_many([_throttle_keys(email, ip)[0][0], _account_key(email)])


def login_failures_clear_account(*, request, email: str) -> None:
    """The owner proved control of the address (a password reset): their own sign-in must work again at once."""
    email = (email or "").strip().lower()
    own_key = _throttle_keys(email, client_ip(request))[0][0]
    cache.delete_many([_account_key(email), own_key, f"{own_key}:lock"])


@dataclass
class LoginResult:
    user: User
    needs_second_factor: bool


def login_attempt(*, request, email: str, password: str) -> LoginResult:
    """Check credentials. Raises LoginLocked or InvalidCredentials; audits failures and lockouts."""
    email = (email or "").strip().lower()
    ip = client_ip(request)
    remaining = login_lock_remaining(email=email, ip=ip)
    claim = _claim_account_attempt(email) if not remaining else ""
    if remaining or claim is None:
        logger.warning("sign-in refused (locked) email=%s ip=%s", email, ip)
        raise LoginLocked(remaining or 1)
    try:
        return _check_credentials(request, email, password, ip)
    finally:
        if claim:
            cache.delete(claim)


def _check_credentials(request, email: str, password: str, ip: str | None) -> LoginResult:
    user = authenticate(request, username=email, password=password)
    if user is None:
        _record_failure(email, ip)
        known = User.objects.filter(email__iexact=email).first()
        with transaction.atomic():
            if known is not None:
                _audit_for_user(known, AuditAction.LOGIN_FAILED, request)
            else:
                audit_record(
                    organization=None,
                    actor=None,
                    actor_email=email[:254],
                    action=AuditAction.LOGIN_FAILED,
                    request=request,
                )
            remaining = login_lock_remaining(email=email, ip=ip)
            if remaining and known is not None:
                _audit_for_user(known, AuditAction.LOGIN_LOCKED, request)
        logger.warning("sign-in failed email=%s ip=%s", email, ip)
        if remaining:
            raise LoginLocked(remaining)
        raise InvalidCredentials(_("The email address or password is incorrect."))
    _clear_failures(email, ip)
    return LoginResult(user=user, needs_second_factor=user_has_two_factor(user))


def login_succeeded(*, request, user: User) -> None:
    with transaction.atomic():
        _audit_for_user(user, AuditAction.LOGIN, request)


def logout_recorded(*, request, user: User) -> None:
    with transaction.atomic():
        _audit_for_user(user, AuditAction.LOGOUT, request)


def password_reset_requested(*, request, email: str) -> None:
    """Audit a password-reset request: for a known address in each of the user's organizations (with none when they
    belong to none), for an unknown one with no organization. The caller answers the same either way."""
    known = User.objects.filter(email__iexact=email).first()
    with transaction.atomic():
        if known is not None and _organizations_of(known):
            _audit_for_user(known, AuditAction.PASSWORD_RESET_REQUESTED, request)
        else:
            audit_record(
                organization=None,
                actor=known,
                actor_email=email[:254],
                action=AuditAction.PASSWORD_RESET_REQUESTED,
                obj=known,
                request=request,
            )


# --- two-factor -------------------------------------------------------------------------------------------------


def user_has_two_factor(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def organizations_requiring_two_factor(user: User) -> list[Organization]:
    return [org for org in _organizations_of(user) if org.require_two_factor]


def two_factor_pending_device(user: User) -> TOTPDevice:
    """The unconfirmed authenticator being set up (a new secret each time setup starts over)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator", confirmed=False)
    return device


def _current_device_check(*, user: User, code: str) -> bool:
    """A code from the confirmed authenticator, or a backup code (used up), for replacing or removing it.
    django-otp throttles each device (the delay doubles per failure); that throttling is stored only if the
    caller's transaction commits, so callers commit before refusing."""
    return match_token(user, (code or "").replace(" ", "")) is not None


def two_factor_confirm(*, request, user: User, code: str, current_code: str = "") -> list[str]:
    """Confirm the pending authenticator with a code from the app. Returns fresh one-time backup codes.

    Replacing a confirmed authenticator also takes a current code from it (or a backup code): a session alone,
    perhaps opened with a stolen password, must not swap the second factor for the thief's."""
    replaced = False
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
        if device is None:
            raise DomainError(_("Start the setup again."), field="code")
        if not device.verify_token((code or "").replace(" ", "")):
            raise DomainError(_("The code is not valid. Check your device's clock and try again."), field="code")
        current_ok = True
        if user_has_two_factor(user):
            # Checked last, so a mistyped new code does not use up a backup code. The block still commits on a
            # wrong current code: the devices' throttling must stick.
            current_ok = _current_device_check(user=user, code=current_code)
            replaced = current_ok
        if current_ok:
            TOTPDevice.objects.filter(user=user, confirmed=True).delete()
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            StaticDevice.objects.filter(user=user).delete()
            backup = StaticDevice.objects.create(user=user, name="Backup codes", confirmed=True)
            codes = [StaticToken.random_token() for _ in range(10)]
            StaticToken.objects.bulk_create([StaticToken(device=backup, token=c) for c in codes])
            action = AuditAction.TWO_FACTOR_REPLACED if replaced else AuditAction.TWO_FACTOR_ENABLED
            _audit_for_user(user, action, request)
            return codes
        _audit_for_user(user, AuditAction.TWO_FACTOR_FAILED, request, changes={"purpose": "replace"})
    raise DomainError(
        _("Enter a current code from your existing authenticator, or a backup code."), field="current_code"
    )


def two_factor_verify(*, request, user: User, code: str):
    """Check a TOTP or backup code at sign-in; returns the matching device or raises."""
    device = match_token(user, (code or "").replace(" ", ""))
    if device is None:
        with transaction.atomic():
            _audit_for_user(user, AuditAction.TWO_FACTOR_FAILED, request)
        raise DomainError(_("The code is not valid."), field="code")
    return device


def two_factor_disable(*, request, user: User, password: str, code: str) -> None:
    """Turn two-factor off: the password and a current code (or a backup code) are both required."""
    if not user.check_password(password):
        raise DomainError(_("The password is incorrect."), field="password")
    required = organizations_requiring_two_factor(user)
    if required:
        names = ", ".join(org.name for org in required)
        raise DomainError(_("Two-factor authentication is required by: %(names)s.") % {"names": names})
    with transaction.atomic():
        if not _current_device_check(user=user, code=code):
            _audit_for_user(user, AuditAction.TWO_FACTOR_FAILED, request, changes={"purpose": "disable"})
        else:
            TOTPDevice.objects.filter(user=user).delete()
            StaticDevice.objects.filter(user=user).delete()
            _audit_for_user(user, AuditAction.TWO_FACTOR_DISABLED, request)
            return
    raise DomainError(_("The code is not valid."), field="code")
