"""`Authorization: Token <key>` authentication for the REST API. A key is valid for one organization only;
TenantMiddleware rejects it on any other organization's routes. A key stops working when it expires (its own expiry
or the organization's longest lifetime) and, while its organization requires two-factor authentication, as long as
its owner has no confirmed authenticator."""

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_scopes import scopes_disabled
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts.models import ApiToken
from accounts.tokens import api_key_from_header, digest

_UNSET = object()


def authenticate_api_key(request) -> ApiToken | None:
    """Return the active token named by the Authorization header, None when there is no such header.

    Raises AuthenticationFailed for a malformed, unknown or revoked key. The result is cached on the request so the
    middleware and DRF share one lookup.
    """
    cached = getattr(request, "_tsunagu_api_token", _UNSET)
    if cached is not _UNSET:
        if isinstance(cached, exceptions.AuthenticationFailed):
            raise cached
        return cached
    header = request.META.get("HTTP_AUTHORIZATION", "")
    token = None
    if header:
        key = api_key_from_header(header)
        if key is not None:
            # The key names its organization; lookup precedes any scope by necessity.
            with scopes_disabled():
                token = (
                    ApiToken.objects.select_related("user", "organization")
                    .filter(key_hash=digest(key), revoked_at__isnull=True, user__is_active=True)
                    .first()
                )
            now = timezone.now()
            if token is None or token.is_expired(now):
                failure = exceptions.AuthenticationFailed(
                    _("Invalid or revoked API token.") if token is None else _("This API token has expired.")
                )
                request._tsunagu_api_token = failure
                raise failure
            if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
                with scopes_disabled():
                    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    request._tsunagu_api_token = token
    return token


def two_factor_missing(token: ApiToken) -> bool:
    """The token's organization requires two-factor authentication and its owner has no confirmed authenticator: the
    token must not stand in for the second factor the member never set up."""
    if not token.organization.require_two_factor:
        return False
    return not TOTPDevice.objects.filter(user=token.user_id, confirmed=True).exists()


TWO_FACTOR_MISSING = _(
    "This organization requires two-factor authentication: set up an authenticator app for your account, then this "
    "API token works again."
)


def token_creation_refused(request) -> str | None:
    """Why this request may not create an API token, or None. Only a signed-in session can — never a token (a leaked
    key would mint its successors and outlive its own revocation) — verified by its second factor when the member has
    one or the organization requires it. `request` is Django's (a DRF request passes `request._request`)."""
    if getattr(request, "_tsunagu_api_token", None) is not None:
        return _("An API token cannot create tokens: create them signed in, on the API tokens page.")
    user = request.user
    if not user.is_authenticated:
        return _("Sign in to create API tokens.")
    if getattr(user, "is_verified", lambda: False)():
        return None
    organization = getattr(request, "organization", None)
    if (organization is not None and organization.require_two_factor) or TOTPDevice.objects.filter(
        user=user, confirmed=True
    ).exists():
        return _("Sign in with your second factor to create API tokens.")
    return None


class ApiTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        token = authenticate_api_key(request._request)
        if token is None:
            return None
        if two_factor_missing(token):
            raise exceptions.PermissionDenied(TWO_FACTOR_MISSING, code="two_factor_required")
        return token.user, token

    def authenticate_header(self, request):
        return "Token"


class ApiTokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents the token scheme in the OpenAPI schema."""

    target_class = "accounts.api.authentication.ApiTokenAuthentication"
    name = "ApiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`: a personal token created under Settings → API tokens.",
        }
