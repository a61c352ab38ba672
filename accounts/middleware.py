"""Tenant resolution (membership check + django-scopes activation) and per-user language and time zone."""

import zoneinfo
from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import resolve_url
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_scopes import scope, scopes_disabled
from rest_framework.exceptions import AuthenticationFailed

from accounts.api.authentication import TWO_FACTOR_MISSING, authenticate_api_key, two_factor_missing
from accounts.models import Membership, Organization, User


def json_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "fields": {}}}, status=status)


class TenantMiddleware:
    """For `/<org-slug>/...` and `/api/v1/orgs/<org-slug>/...`: authenticate, require membership (a missing
    organization and a non-member get the same 404), enforce the organization's two-factor policy, then run the
    view inside the organization's scope. Sets `request.organization` and `request.membership` (None elsewhere)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.organization = None
        request.membership = None
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return self.get_response(request)
        if match.app_name == "admin":
            # The operator admin (staff only, checked by the admin site) spans organizations on purpose.
            with scopes_disabled():
                return self.get_response(request)
        slug = match.kwargs.get("org_slug")
        if slug is None:
            return self.get_response(request)
        is_api = request.path_info.startswith("/api/")

        token = None
        user = request.user
        if is_api:
            try:
                token = authenticate_api_key(request)
            except AuthenticationFailed as exc:
                return json_error(401, "authentication_failed", str(exc.detail))
            if token is not None:
                user = token.user
        if not user.is_authenticated:
            if is_api:
                return json_error(401, "not_authenticated", _("Authentication credentials were not provided."))
            query = urlencode({"next": request.get_full_path()})
            return HttpResponseRedirect(f"{resolve_url(settings.LOGIN_URL)}?{query}")

        organization = Organization.objects.filter(slug=slug).first()
        membership = None
        if organization is not None and (token is None or token.organization_id == organization.pk):
            with scope(organization=organization):
                membership = Membership.objects.select_related("role").filter(user=user).first()
        if membership is None:
            # Never reveal whether the organization exists.
            if is_api:
                return json_error(404, "not_found", _("Not found."))
            raise Http404

        request.organization = organization
        request.membership = membership
        if token is None and organization.require_two_factor and not request.user.is_verified():
            return self._two_factor_required(request, is_api)
        if token is not None and two_factor_missing(token):
            return json_error(403, "two_factor_required", str(TWO_FACTOR_MISSING))
        if not is_api and user.last_organization_id != organization.pk:
            User.objects.filter(pk=user.pk).update(last_organization=organization)
            user.last_organization = organization
        with scope(organization=organization):
            return self.get_response(request)

    def _two_factor_required(self, request, is_api):
        if is_api:
            return json_error(403, "two_factor_required", _("This organization requires two-factor authentication."))
        has_device = TOTPDevice.objects.filter(user=request.user, confirmed=True).exists()
        target = "accounts:two_factor_verify" if has_device else "accounts:two_factor_setup"
        return HttpResponseRedirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")


class LanguageAndTimezoneMiddleware:
    """Language: the user's choice, else the organization's default, else the browser's. Time zone likewise."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        token = getattr(request, "_tsunagu_api_token", None)
        if not user.is_authenticated and token is not None and not isinstance(token, Exception):
            user = token.user
        organization = request.organization
        if organization is None and user.is_authenticated and user.last_organization_id:
            organization = user.last_organization
        language = (
            (user.language if user.is_authenticated else "")
            or (organization.default_language if organization else "")
            or translation.get_language_from_request(request)
        )
        tz_name = (user.timezone if user.is_authenticated else "") or (
            organization.timezone if organization else settings.TIME_ZONE
        )
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
        timezone.activate(zoneinfo.ZoneInfo(tz_name))
        request.timezone_name = tz_name
        response = self.get_response(request)
        patch_vary_headers(response, ("Accept-Language", "Cookie"))
        response.headers.setdefault("Content-Language", request.LANGUAGE_CODE)
        return response
