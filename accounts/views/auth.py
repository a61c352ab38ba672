"""Sign-in, two-factor, sign-out, password reset, profile, invitations and creating an organization."""

import time

import segno
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as django_login
from django.contrib.auth import logout as django_logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_scopes import scope

from accounts import auth, services
from accounts.audit import audit_record
from accounts.forms import CodeForm, LoginForm, OrganizationCreateForm, PasswordConfirmForm, ProfileForm, SignupForm
from accounts.models import AuditAction, User
from accounts.tenancy import organizations_for_user
from core.errors import DomainError


class TwoFactorReplaceForm(CodeForm):
    """Setting up a new authenticator while one is confirmed: a current code from the old one as well."""

    current_code = forms.CharField(
        label=_lazy("Code from your current authenticator, or a backup code"),
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    field_order = ["current_code", "code"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["code"].label = _lazy("Code from the new authenticator")
        self.fields["code"].widget.attrs.pop("autofocus", None)
        self.fields["current_code"].widget.attrs["autofocus"] = True


class TwoFactorDisableForm(PasswordConfirmForm):
    code = forms.CharField(
        label=_lazy("Code from your authenticator, or a backup code"),
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


PENDING_USER = "tsunagu_2fa_user"
PENDING_SINCE = "tsunagu_2fa_since"
PENDING_MAX_AGE = 300


def _safe_next(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return default


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters("password")
def login_view(request):
    next_url = _safe_next(request, reverse("home"))
    if request.method == "GET" and request.user.is_authenticated:
        return redirect(next_url)
    form = LoginForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            result = auth.login_attempt(
                request=request, email=form.cleaned_data["email"], password=form.cleaned_data["password"]
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
            status = exc.status if exc.status == 429 else 400
        else:
            if result.needs_second_factor:
                request.session[PENDING_USER] = result.user.pk
                request.session[PENDING_SINCE] = time.time()
                return redirect(f"{reverse('accounts:two_factor_verify')}?next={next_url}")
            django_login(request, result.user, backend="django.contrib.auth.backends.ModelBackend")
            auth.login_succeeded(request=request, user=result.user)
            return redirect(next_url)
    elif request.method == "POST":
        status = 400
    context = {"form": form, "next": next_url, "signup_open": settings.SIGNUP_OPEN}
    return render(request, "accounts/login.html", context, status=status)


def _pending_user(request) -> User | None:
    user_id = request.session.get(PENDING_USER)
    since = request.session.get(PENDING_SINCE, 0)
    if not user_id or time.time() - since > PENDING_MAX_AGE:
        return None
    return User.objects.filter(pk=user_id, is_active=True).first()


@require_http_methods(["GET", "POST"])
def two_factor_verify(request):
    """Second step of sign-in, or re-verification when an organization starts requiring two-factor."""
    user = request.user if request.user.is_authenticated else _pending_user(request)
    if user is None:
        messages.info(request, _("Your sign-in expired. Please sign in again."))
        return redirect("accounts:login")
    next_url = _safe_next(request, reverse("home"))
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            device = auth.two_factor_verify(request=request, user=user, code=form.cleaned_data["code"])
        except DomainError as exc:
            form.add_error("code", exc.message)
            status = 400
        else:
            if not request.user.is_authenticated:
                django_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                auth.login_succeeded(request=request, user=user)
            otp_login(request, device)
            request.session.pop(PENDING_USER, None)
            return redirect(next_url)
    elif request.method == "POST":
        status = 400
    return render(request, "accounts/two_factor_verify.html", {"form": form, "next": next_url}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_setup(request):
    """Set up an authenticator, or replace the confirmed one (which takes a current code from it)."""
    device = auth.two_factor_pending_device(request.user)
    replacing = auth.user_has_two_factor(request.user)
    form = (TwoFactorReplaceForm if replacing else CodeForm)(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            codes = auth.two_factor_confirm(
                request=request,
                user=request.user,
                code=form.cleaned_data["code"],
                current_code=form.cleaned_data.get("current_code", ""),
            )
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            status = 400
        else:
            confirmed = request.user.totpdevice_set.filter(confirmed=True).first()
            otp_login(request, confirmed)
            return render(
                request,
                "accounts/two_factor_backup_codes.html",
                {"codes": codes, "next": _safe_next(request, reverse("accounts:profile"))},
            )
    elif request.method == "POST":
        status = 400
    qr = segno.make(device.config_url, error="m")
    context = {
        "form": form,
        "replacing": replacing,
        "qr_svg": qr.svg_data_uri(scale=5),
        "secret": _base32_secret(device),
        "next": _safe_next(request, ""),
        "required_by": auth.organizations_requiring_two_factor(request.user),
    }
    return render(request, "accounts/two_factor_setup.html", context, status=status)


def _base32_secret(device) -> str:
    import base64

    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@login_required
@require_POST
@sensitive_post_parameters("password", "code")
def two_factor_disable(request):
    form = TwoFactorDisableForm(request.POST)
    if form.is_valid():
        try:
            auth.two_factor_disable(
                request=request,
                user=request.user,
                password=form.cleaned_data["password"],
                code=form.cleaned_data["code"],
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Two-factor authentication is off."))
    else:
        messages.error(request, _("Enter your current password and a code from your authenticator."))
    return redirect("accounts:profile")


@require_POST
def logout_view(request):
    if request.user.is_authenticated:
        auth.logout_recorded(request=request, user=request.user)
    django_logout(request)
    return redirect(settings.LOGOUT_REDIRECT_URL)


@login_required
@require_http_methods(["GET", "POST"])
def profile(request):
    form = ProfileForm(request.POST or None, instance=request.user)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            form.save()
            messages.success(request, _("Your profile was saved."))
            return redirect("accounts:profile")
        status = 400
    context = {
        "form": form,
        "has_two_factor": auth.user_has_two_factor(request.user),
        "organizations": organizations_for_user(request.user),
        "disable_form": TwoFactorDisableForm(),
    }
    return render(request, "accounts/profile.html", context, status=status)


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:profile")

    def form_valid(self, form):
        response = super().form_valid(form)
        auth._audit_for_user(self.request.user, AuditAction.PASSWORD_CHANGED, self.request)
        messages.success(self.request, _("Your password was changed."))
        return response


class PasswordResetView(auth_views.PasswordResetView):
    """Django's view (the same answer for any address) plus an audit entry for every request."""

    template_name = "accounts/password_reset.html"
    email_template_name = "accounts/email/password_reset_body.txt"
    subject_template_name = "accounts/email/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")

    def form_valid(self, form):
        response = super().form_valid(form)
        auth.password_reset_requested(request=self.request, email=form.cleaned_data["email"])
        return response


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")

    def form_valid(self, form):
        response = super().form_valid(form)
        auth._audit_for_user(form.user, AuditAction.PASSWORD_RESET, self.request)
        # Whoever failed to guess the old password, the owner's sign-in with the new one works at once.
        auth.login_failures_clear_account(request=self.request, email=form.user.email)
        return response


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters("password1", "password2")
def invitation_accept(request, token: str):
    invitation = services.invitation_by_token(token)
    if invitation is None:
        return render(request, "accounts/invitation_invalid.html", status=404)
    organization = invitation.organization
    context = {"invitation": invitation, "organization": organization}
    if request.user.is_authenticated:
        if request.user.email.lower() != invitation.email.lower():
            return render(request, "accounts/invitation_other_user.html", context, status=403)
        if request.method == "POST":
            try:
                services.invitation_accept(invitation=invitation, user=request.user, request=request)
            except DomainError as exc:
                messages.error(request, exc.message)
                return redirect("home")
            return redirect("org:home", org_slug=organization.slug)
        return render(request, "accounts/invitation_accept.html", context)
    if User.objects.filter(email__iexact=invitation.email).exists():
        context["login_url"] = f"{reverse('accounts:login')}?next={request.path}"
        return render(request, "accounts/invitation_login.html", context)
    form = SignupForm(request.POST or None, email=invitation.email)
    context["form"] = form
    if request.method == "POST":
        if form.is_valid():
            user = User.objects.create_user(
                invitation.email,
                form.cleaned_data["password1"],
                name=form.cleaned_data["name"],
                language=organization.default_language,
            )
            try:
                services.invitation_accept(invitation=invitation, user=user, request=request)
            except DomainError as exc:
                messages.error(request, exc.message)
                return redirect("accounts:login")
            django_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            auth.login_succeeded(request=request, user=user)
            return redirect("org:home", org_slug=organization.slug)
        return render(request, "accounts/invitation_signup.html", context, status=400)
    return render(request, "accounts/invitation_signup.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def organization_create(request):
    language = request.user.language or get_language() or "ja"
    initial = {"timezone": "Asia/Tokyo" if language == "ja" else "UTC", "default_language": language}
    form = OrganizationCreateForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                organization = services.organization_create(
                    name=form.cleaned_data["name"],
                    slug=form.cleaned_data["slug"],
                    owner=request.user,
                    timezone_name=form.cleaned_data["timezone"],
                    default_language=form.cleaned_data["default_language"],
                    starter_content=True,
                )
            except DomainError as exc:
                form.add_error(exc.field, exc.message)
            else:
                with scope(organization=organization):
                    audit_record(
                        organization=organization,
                        actor=request.user,
                        action=AuditAction.ORG_UPDATED,
                        obj=organization,
                        changes={"created": True},
                        request=request,
                    )
                return redirect("org:home", org_slug=organization.slug)
        status = 400
    return render(request, "accounts/organization_create.html", {"form": form}, status=status)


@require_http_methods(["GET"])
def home(request):
    """Where "/" goes: the organization worked in last, else the first one, else the sign-in page."""
    if not request.user.is_authenticated:
        return HttpResponseRedirect(reverse("accounts:login"))
    organizations = list(organizations_for_user(request.user))
    if not organizations:
        return render(request, "accounts/no_organization.html")
    target = next((o for o in organizations if o.pk == request.user.last_organization_id), organizations[0])
    return redirect("org:home", org_slug=target.slug)
