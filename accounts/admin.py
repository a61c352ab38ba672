"""Operator admin (superusers only). Tenant models are listed across organizations here by design; the
middleware runs /admin/ with scopes disabled. Audit entries are read-only.

Because it spans every organization, the admin asks more than the app: staff status and a session verified by a
second factor (django-otp's OTPAdminSite; a staff user without a confirmed authenticator cannot use it). It has no
sign-in form of its own: signing in, with its throttling, two-factor step and audit, happens on the app's page."""

from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django_otp.admin import OTPAdminSite

from accounts.auth import logout_recorded, user_has_two_factor
from accounts.models import ApiToken, AuditEntry, Invitation, Membership, Organization, Role, Team, User


class OperatorAdminSite(OTPAdminSite):
    site_header = _("Tsunagu operator admin")
    site_title = _("Tsunagu operator admin")

    def login(self, request, extra_context=None):
        next_url = request.GET.get(REDIRECT_FIELD_NAME, "")
        if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, require_https=request.is_secure()):
            next_url = ""
        next_url = next_url or reverse("admin:index", current_app=self.name)
        query = urlencode({"next": next_url})
        user = request.user
        if self.has_permission(request):
            return redirect(next_url)
        if not user.is_authenticated:
            return redirect(f"{reverse('accounts:login')}?{query}")
        if user.is_active and user.is_staff and user_has_two_factor(user):
            return redirect(f"{reverse('accounts:two_factor_verify')}?{query}")
        context = {"is_staff": user.is_active and user.is_staff}
        return render(request, "accounts/admin_refused.html", context, status=403)

    def logout(self, request, extra_context=None):
        if request.method == "POST" and request.user.is_authenticated:
            logout_recorded(request=request, user=request.user)
        return super().logout(request, extra_context)

    def password_change(self, request, extra_context=None):
        return redirect("accounts:password_change")  # audited there


# Mounted at /admin/ by config/urls.py. Models registered on Django's default `admin.site` do not appear.
site = OperatorAdminSite(name="admin")


@admin.register(User, site=site)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "is_active", "is_staff", "date_joined"]
    search_fields = ["email", "name"]
    fieldsets = [
        (None, {"fields": ["email", "password", "name", "language", "timezone"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]
    list_filter = ["is_active", "is_staff"]
    filter_horizontal: list = []


@admin.register(Organization, site=site)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "timezone", "default_language", "require_two_factor", "created_at"]
    search_fields = ["name", "slug"]


@admin.register(Membership, site=site)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role"]
    list_select_related = ["user", "organization", "role"]
    list_filter = ["organization"]


site.register(Role)
site.register(Team)
site.register(Invitation)


@admin.register(ApiToken, site=site)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "user", "organization", "created_at", "revoked_at"]
    readonly_fields = ["prefix", "key_hash"]


@admin.register(AuditEntry, site=site)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "organization", "actor_email", "action", "object_repr", "ip_address"]
    list_filter = ["action"]
    search_fields = ["actor_email", "object_repr"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
