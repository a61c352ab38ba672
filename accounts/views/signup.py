"""Self-service sign-up: ask for an address, confirm it by the emailed link, then create the account (the next step
is creating the organization, accounts.views.auth.organization_create)."""

from django.conf import settings
from django.contrib.auth import login as django_login
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from accounts import auth, signup
from accounts.audit import client_ip
from accounts.forms import SignupForm, SignupStartForm
from core.errors import DomainError


def _open():
    if not settings.SIGNUP_OPEN:
        raise Http404("sign-up is closed")


@require_http_methods(["GET", "POST"])
def signup_start(request):
    _open()
    if request.user.is_authenticated:
        return redirect("accounts:organization_create")
    form = SignupStartForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                signup.request_signup(
                    email=form.cleaned_data["email"],
                    ip=client_ip(request),
                    language=get_language() or settings.LANGUAGE_CODE,
                    bot=bool(form.cleaned_data["website"]),
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = exc.status
            else:
                return render(request, "accounts/signup_sent.html", {"email": form.cleaned_data["email"]})
        else:
            status = 400
    return render(request, "accounts/signup.html", {"form": form}, status=status)


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters("password1", "password2")
def signup_confirm(request, token: str):
    _open()
    try:
        details = signup.signup_details(token)
    except DomainError as exc:
        return render(request, "accounts/signup_invalid.html", {"message": exc.message}, status=exc.status)
    form = SignupForm(request.POST or None, email=details["email"])
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                user = signup.complete_signup(
                    token=token, name=form.cleaned_data["name"], password=form.cleaned_data["password1"]
                )
            except DomainError as exc:
                return render(request, "accounts/signup_invalid.html", {"message": exc.message}, status=exc.status)
            django_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            auth.login_succeeded(request=request, user=user)
            return redirect("accounts:organization_create")
        status = 400
    return render(request, "accounts/signup_confirm.html", {"form": form, "email": details["email"]}, status=status)
