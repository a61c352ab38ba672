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


def _throttle_keys(email: str, ip: str | None) -> list[tuple[str, int]]:
    """(counter key, limit) for this address from this IP, and for this IP across addresses."""
    return [
        (f"login:fail:{digest(email.lower())}:{ip}", settings.LOGIN_FAILURE_LIMIT),
        (f"login:fail-ip:{ip}", settings.LOGIN_IP_FAILURE_LIMIT),
    ]


def login_lock_remaining(*, email: str, ip: str | None) -> int:
    """Seconds until this address may try again from this IP (0 when not locked)."""
    now = time.time()
    locks = cache.get_many([f"{key}:lock" for key, _limit in _throttle_keys(email, ip)])
    return max((int(until - now) + 1 for until in locks.values() if until > now), default=0)


def _record_failure(email: str, ip: str | None) -> None:
    window = settings.LOGIN_LOCKOUT_SECONDS
    for key, limit in _throttle_keys(email, ip):
        cache.add(key, 0, timeout=window)  # the counting window starts at the first failure
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)
            count = 1
        if count >= limit:
            cache.set(f"{key}:lock", time.time() + window, timeout=window)
            cache.delete(key)


def _clear_failures(email: str, ip: str | None) -> None:
    cache.delete(_throttle_keys(email, ip)[0][0])


@dataclass
class LoginResult:
    user: User
    needs_second_factor: bool


def login_attempt(*, request, email: str, password: str) -> LoginResult:
    """Check credentials. Raises LoginLocked or InvalidCredentials; audits failures and lockouts."""
    email = (email or "").strip().lower()
    ip = client_ip(request)
    remaining = login_lock_remaining(email=email, ip=ip)
    if remaining:
        logger.warning("sign-in refused (locked) email=%s ip=%s", email, ip)
        raise LoginLocked(remaining)
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


@transaction.atomic
def two_factor_confirm(*, request, user: User, code: str) -> list[str]:
    """Confirm the pending authenticator with a code from the app. Returns fresh one-time backup codes."""
    device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
    if device is None:
        raise DomainError(_("Start the setup again."), field="code")
    if not device.verify_token((code or "").replace(" ", "")):
        raise DomainError(_("The code is not valid. Check your device's clock and try again."), field="code")
    TOTPDevice.objects.filter(user=user, confirmed=True).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    StaticDevice.objects.filter(user=user).delete()
    backup = StaticDevice.objects.create(user=user, name="Backup codes", confirmed=True)
    codes = [StaticToken.random_token() for _ in range(10)]
    StaticToken.objects.bulk_create([StaticToken(device=backup, token=c) for c in codes])
    _audit_for_user(user, AuditAction.TWO_FACTOR_ENABLED, request)
    return codes


def two_factor_verify(*, request, user: User, code: str):
    """Check a TOTP or backup code at sign-in; returns the matching device or raises."""
    device = match_token(user, (code or "").replace(" ", ""))
    if device is None:
        with transaction.atomic():
            _audit_for_user(user, AuditAction.TWO_FACTOR_FAILED, request)
        raise DomainError(_("The code is not valid."), field="code")
    return device


@transaction.atomic
def two_factor_disable(*, request, user: User, password: str) -> None:
    if not user.check_password(password):
        raise DomainError(_("The password is incorrect."), field="password")
    required = organizations_requiring_two_factor(user)
    if required:
        names = ", ".join(org.name for org in required)
        raise DomainError(_("Two-factor authentication is required by: %(names)s.") % {"names": names})
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    _audit_for_user(user, AuditAction.TWO_FACTOR_DISABLED, request)
