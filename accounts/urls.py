from django.contrib.auth import views as auth_views
from django.urls import path

from accounts.views import auth, signup

app_name = "accounts"

urlpatterns = [
    path("signup/", signup.signup_start, name="signup"),
    path("signup/confirm/<str:token>/", signup.signup_confirm, name="signup_confirm"),
    path("login/", auth.login_view, name="login"),
    path("login/verify/", auth.two_factor_verify, name="two_factor_verify"),
    path("logout/", auth.logout_view, name="logout"),
    path("profile/", auth.profile, name="profile"),
    path("password/", auth.PasswordChangeView.as_view(), name="password_change"),
    path("two-factor/setup/", auth.two_factor_setup, name="two_factor_setup"),
    path("two-factor/disable/", auth.two_factor_disable, name="two_factor_disable"),
    path("password-reset/", auth.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html"),
        name="password_reset_done",
    ),
    path("password-reset/<uidb64>/<token>/", auth.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path(
        "password-reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(template_name="accounts/password_reset_complete.html"),
        name="password_reset_complete",
    ),
    path("invitations/<str:token>/", auth.invitation_accept, name="invitation_accept"),
    path("organizations/new/", auth.organization_create, name="organization_create"),
]
