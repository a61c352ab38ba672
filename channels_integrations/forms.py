"""Forms of the Channels settings pages."""

from django import forms
from django.utils.translation import gettext_lazy as _


class RenameForm(forms.Form):
    display_name = forms.CharField(label=_("Name"), max_length=120)


class AccessForm(forms.Form):
    users = forms.ModelMultipleChoiceField(label=_("Members"), queryset=None, required=False)
    teams = forms.ModelMultipleChoiceField(label=_("Teams"), queryset=None, required=False)

    def __init__(self, *args, users, teams, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["users"].queryset = users
        self.fields["teams"].queryset = teams
