from django import forms
from django.contrib.auth import password_validation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.models import AuditAction, Organization, Role, Team, User, timezone_choices


class LoginForm(forms.Form):
    email = forms.EmailField(
        label=_("Email address"), widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )
    password = forms.CharField(
        label=_("Password"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code"),
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


class PasswordConfirmForm(forms.Form):
    password = forms.CharField(label=_("Current password"), strip=False, widget=forms.PasswordInput)


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["name", "language", "timezone"]

    def __init__(self, *args, organization_timezone: str = "Asia/Tokyo", **kwargs):
        super().__init__(*args, **kwargs)
        blank = self.fields["timezone"].choices[0]
        self.fields["timezone"].choices = [blank, *timezone_choices(self.instance.timezone or organization_timezone)]


class SignupStartForm(forms.Form):
    """The first step of sign-up: the address the confirmation link goes to. `website` is a honeypot: hidden from
    people (and from assistive technology), filled by form-filling bots."""

    email = forms.EmailField(
        label=_("Work email address"), max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    website = forms.CharField(
        label=_("Leave this field empty"),
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )


class SignupForm(forms.Form):
    """Create an account for an address known to be the person's (an invitation, a confirmed sign-up)."""

    name = forms.CharField(label=_("Your name"), max_length=150)
    password1 = forms.CharField(
        label=_("Password"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label=_("Password (again)"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def __init__(self, *args, email: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password1") and cleaned.get("password1") != cleaned.get("password2"):
            self.add_error("password2", _("The two passwords do not match."))
        elif cleaned.get("password1"):
            try:
                password_validation.validate_password(
                    cleaned["password1"], User(email=self.email, name=cleaned.get("name", ""))
                )
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned


class OrganizationCreateForm(forms.ModelForm):
    class Meta:
        model = Organization
        fields = ["name", "slug", "timezone", "default_language"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = timezone_choices(self.initial.get("timezone") or "Asia/Tokyo")


class OrganizationSettingsForm(forms.ModelForm):
    class Meta:
        model = Organization
        fields = [
            "name",
            "timezone",
            "default_language",
            "require_two_factor",
            "ticket_reopen_days",
            "api_token_max_days",
            "japanese_era_dates",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = timezone_choices(self.instance.timezone)


class RoleChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, role):
        return role.label


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("Email address"))
    role = RoleChoiceField(label=_("Role"), queryset=Role.objects.none(), empty_label=None)
    teams = forms.ModelMultipleChoiceField(
        label=_("Teams"), queryset=Team.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].queryset = Role.objects.filter(organization=organization)
        self.fields["teams"].queryset = Team.objects.filter(organization=organization)
        self.fields["role"].initial = Role.objects.filter(organization=organization, key="agent").first()


class MemberRoleForm(forms.Form):
    role = RoleChoiceField(label=_("Role"), queryset=Role.objects.none(), empty_label=None)

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].queryset = Role.objects.filter(organization=organization)


class MemberChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, user):
        return f"{user.name} <{user.email}>" if user.name else user.email


class TeamForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=80)
    description = forms.CharField(label=_("Description"), max_length=255, required=False)
    members = MemberChoiceField(
        label=_("Members"), queryset=User.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["members"].queryset = User.objects.filter(memberships__organization=organization).order_by(
            "name", "email"
        )


class ApiTokenForm(forms.Form):
    LIFETIMES = (30, 90, 180, 365)

    name = forms.CharField(label=_("Token name"), max_length=80, help_text=_('For example: "CRM sync".'))
    expires_in_days = forms.TypedChoiceField(
        label=_("Expires"), coerce=int, empty_value=None, required=False, help_text=_("The token stops working then.")
    )

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        limit = organization.api_token_max_days
        days = [d for d in self.LIFETIMES if not limit or d <= limit]
        if limit and limit not in days:
            days.append(limit)
        choices = [(str(d), ngettext("In %(days)s day", "In %(days)s days", d) % {"days": d}) for d in days]
        if not limit:
            choices.append(("", _("Never")))
        else:
            self.fields["expires_in_days"].required = True
            self.fields["expires_in_days"].help_text = ngettext(
                "This organization's tokens stop working after at most %(days)s day.",
                "This organization's tokens stop working after at most %(days)s days.",
                limit,
            ) % {"days": limit}
        self.fields["expires_in_days"].choices = choices
        self.fields["expires_in_days"].initial = str(min(90, limit or 90))


class AuditFilterForm(forms.Form):
    """Filters of the audit log page and its export. `members` are this organization's users (the only actors one
    can pick); dates are days in the viewer's time zone, both ends included."""

    SYSTEM = "system"

    actor = forms.ChoiceField(label=_("Who"), required=False)
    action = forms.ChoiceField(
        label=_("Action"), choices=[("", _("All actions"))] + list(AuditAction.choices), required=False
    )
    since = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, members=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["actor"].choices = [
            ("", _("Anyone")),
            (self.SYSTEM, _("System (automatic actions)")),
            *((str(user.pk), f"{user.name} <{user.email}>" if user.name else user.email) for user in members),
        ]

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", _("The end date is before the start date."))
        return cleaned
