"""Forms of the Channels settings pages."""

from django import forms
from django.utils.translation import gettext_lazy as _

SECURITY = [("ssl", _("SSL/TLS")), ("starttls", "STARTTLS"), ("none", _("None (local servers only)"))]


class MailboxForm(forms.Form):
    address = forms.EmailField(label=_("Support address"))
    from_name = forms.CharField(label=_("Sender name"), max_length=120, required=False)
    username = forms.CharField(label=_("User name"), max_length=254, help_text=_("Usually the address itself."))
    password = forms.CharField(
        label=_("Password"),
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text=_("Leave empty to keep the stored password."),
    )
    imap_host = forms.CharField(label=_("IMAP server"), max_length=253)
    imap_port = forms.IntegerField(label=_("IMAP port"), min_value=1, max_value=65535, initial=993)
    imap_security = forms.ChoiceField(label=_("IMAP security"), choices=SECURITY, initial="ssl")
    imap_folder = forms.CharField(label=_("Folder"), max_length=200, initial="INBOX")
    smtp_host = forms.CharField(label=_("SMTP server"), max_length=253)
    smtp_port = forms.IntegerField(label=_("SMTP port"), min_value=1, max_value=65535, initial=587)
    smtp_security = forms.ChoiceField(label=_("SMTP security"), choices=SECURITY, initial="starttls")


class RenameForm(forms.Form):
    display_name = forms.CharField(label=_("Name"), max_length=120)


class AccessForm(forms.Form):
    users = forms.ModelMultipleChoiceField(label=_("Members"), queryset=None, required=False)
    teams = forms.ModelMultipleChoiceField(label=_("Teams"), queryset=None, required=False)

    def __init__(self, *args, users, teams, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["users"].queryset = users
        self.fields["teams"].queryset = teams
