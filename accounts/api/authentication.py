"""`Authorization: Token <key>` authentication for the REST API. A key is valid for one organization only;
TenantMiddleware rejects it on any other organization's routes."""

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
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
            if token is None:
                failure = exceptions.AuthenticationFailed(_("Invalid or revoked API token."))
                request._tsunagu_api_token = failure
                raise failure
            now = timezone.now()
            if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
                with scopes_disabled():
                    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    request._tsunagu_api_token = token
    return token


class ApiTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        token = authenticate_api_key(request._request)
        if token is None:
            return None
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
