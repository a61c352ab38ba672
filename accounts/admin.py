"""Operator admin (superusers only). Tenant models are listed across organizations here by design; the
middleware runs /admin/ with scopes disabled. Audit entries are read-only.

Because it spans every organization, the admin asks more than the app: staff status and a session verified by a
second factor (django-otp's OTPAdminSite; a staff user without a confirmed authenticator cannot use it). It has no
sign-in form of its own: signing in, with its throttling, two-factor step and audit, happens on the app's page.

Every addition, change and deletion made here is also an audit entry (besides Django's own LogEntry): in the object's
organization when it belongs to one (a user's: each organization they are a member of), else with no organization.
Every model registered on this site gets that, whatever ModelAdmin it is registered with."""

from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django_otp.admin import OTPAdminSite

from accounts.audit import audit_record
from accounts.auth import logout_recorded, user_has_two_factor
from accounts.models import ApiToken, AuditAction, AuditEntry, Invitation, Membership, Organization, Role, Team, User


class _ChangeMessage(list):
    """Django's change message (stored in LogEntry as it is) carrying the changed form fields' names for the audit."""

    fields: list[str]


def _organizations(obj) -> list[Organization | None]:
    if isinstance(obj, Organization):
        return [obj]
    if isinstance(obj, User):
        return list(Organization.objects.filter(memberships__user=obj).order_by("pk")) or [None]
    organization_id = getattr(obj, "organization_id", None)
    if organization_id:
        return [Organization.objects.get(pk=organization_id)]
    return [None]


class AuditedAdminMixin:
    """Writes an audit entry wherever the admin writes a LogEntry: add, change (also the list's inline edits and a
    user's password), delete (also the bulk delete action). Changes name the fields, never their values."""

    def construct_change_message(self, request, form, formsets, add=False):
        message = _ChangeMessage(super().construct_change_message(request, form, formsets, add))
        names = ["password" if "password" in name else name for name in form.changed_data]
        message.fields = list(dict.fromkeys(names))  # inlines (none registered today) stay in the LogEntry only
        return message

    def _audit(self, request, obj, action: str, changes: dict) -> None:
        for organization in _organizations(obj):
            # An organization's own deletion cannot be recorded in that organization: the entry would outlive it.
            if action == AuditAction.ADMIN_DELETED and isinstance(obj, Organization):
                organization = None
            audit_record(
                organization=organization, actor=request.user, action=action, obj=obj, changes=changes, request=request
            )

    def log_addition(self, request, obj, message):
        entry = super().log_addition(request, obj, message)
        self._audit(request, obj, AuditAction.ADMIN_ADDED, {"fields": getattr(message, "fields", [])})
        return entry

    def log_change(self, request, obj, message):
        entry = super().log_change(request, obj, message)
        self._audit(request, obj, AuditAction.ADMIN_CHANGED, {"fields": getattr(message, "fields", [])})
        return entry

    def log_deletions(self, request, queryset):
        objects = list(queryset)
        entries = super().log_deletions(request, objects)
        for obj in objects:
            self._audit(request, obj, AuditAction.ADMIN_DELETED, {})
        return entries


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

    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, AuditedAdminMixin):
            admin_class = type(admin_class.__name__, (AuditedAdminMixin, admin_class), {})
        super().register(model_or_iterable, admin_class, **options)


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
