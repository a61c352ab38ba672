"""The organization's survey settings form."""

from django import forms
from django.utils.translation import gettext_lazy as _

from channels_integrations.models import ChannelConnection
from tickets.models import DEFAULT_INVITATION, SurveySettings


class SurveySettingsForm(forms.ModelForm):
    # Declared with an empty queryset: the organization's channels are set per form (a scoped query needs a scope).
    connections = forms.ModelMultipleChoiceField(
        label=_("Channels"),
        queryset=ChannelConnection.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Leave every channel unticked to survey customers on all channels."),
    )

    class Meta:
        model = SurveySettings
        fields = ["enabled", "connections", "delay_minutes", "cooldown_days", "invitation_ja", "invitation_en"]
        widgets = {
            "invitation_ja": forms.Textarea(attrs={"rows": 3, "placeholder": DEFAULT_INVITATION["ja"], "lang": "ja"}),
            "invitation_en": forms.Textarea(attrs={"rows": 3, "placeholder": DEFAULT_INVITATION["en"], "lang": "en"}),
        }
        help_texts = {
            "invitation_ja": _("Shown above the survey link. Leave empty for the default text shown here."),
            "invitation_en": _("Shown above the survey link. Leave empty for the default text shown here."),
        }

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["connections"].queryset = ChannelConnection.objects.filter(organization=organization).order_by(
            "display_name"
        )
        self.fields["delay_minutes"].widget.attrs.update(min=0, max=10080)
        self.fields["cooldown_days"].widget.attrs.update(min=0, max=365)

    def clean_delay_minutes(self):
        value = self.cleaned_data["delay_minutes"]
        if value > 7 * 24 * 60:
            raise forms.ValidationError(_("Send the survey within 7 days (10080 minutes) of the solve."))
        return value

    def clean_cooldown_days(self):
        value = self.cleaned_data["cooldown_days"]
        if value > 365:
            raise forms.ValidationError(_("Choose at most 365 days."))
        return value
