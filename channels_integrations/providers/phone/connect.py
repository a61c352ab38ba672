"""Connecting a phone number of a Twilio account with its Account SID and Auth Token, checked against the API
before anything is saved (the account, then the number among its incoming numbers)."""

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from channels_integrations.connect import ConnectForm
from channels_integrations.connector import AccountChoice, AuthFailed, ConnectorError, TransientError
from channels_integrations.providers.phone.connector import check_account, public_site, webhook_url
from core import phone

ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
AUTH_TOKEN = re.compile(r"[0-9a-fA-F]{32}")


class TwilioConnectForm(ConnectForm):
    title = _("Connect a phone number")
    intro = _(
        "Calls to a Twilio phone number become conversations here: missed calls and voicemails ask for a call back. "
        "Enter the Account SID and Auth Token shown on your Twilio console and the number customers call."
    )
    done_intro = _(
        "In the Twilio console, open the number and set both “A call comes in” and the status callback to this "
        "URL (HTTP POST):"
    )

    account_sid = forms.CharField(label=_("Account SID"), max_length=34, help_text=_("It starts with AC."))
    auth_token = forms.CharField(label=_("Auth Token"), max_length=64, widget=forms.PasswordInput(render_value=False))
    number = forms.CharField(
        label=_("Phone number"), max_length=40, help_text=_("The number customers call, e.g. 050-1234-5678.")
    )
    dial = forms.CharField(
        label=_("Forward calls to"),
        max_length=40,
        required=False,
        help_text=_("A phone that rings when a customer calls. Leave empty to record a voicemail instead."),
    )

    def clean_account_sid(self) -> str:
        value = self.cleaned_data["account_sid"].strip()
        if not ACCOUNT_SID.fullmatch(value):
            raise forms.ValidationError(_("An Account SID is AC followed by 32 letters and digits."))
        return value

    def clean_auth_token(self) -> str:
        value = self.cleaned_data["auth_token"].strip()
        if not AUTH_TOKEN.fullmatch(value):
            raise forms.ValidationError(_("An Auth Token is 32 letters and digits."))
        return value

    def _number(self, field: str) -> str:
        value = self.cleaned_data[field]
        if value and not phone.is_valid(value):
            raise forms.ValidationError(_("This is not a phone number."))
        return phone.e164(value) if value else ""

    def clean_number(self) -> str:
        return self._number("number")

    def clean_dial(self) -> str:
        return self._number("dial")

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            self.account, self.incoming = check_account(data["account_sid"], data["auth_token"], data["number"])
        except AuthFailed as exc:
            raise forms.ValidationError(_("Twilio does not accept this Account SID and Auth Token.")) from exc
        except TransientError as exc:
            raise forms.ValidationError(_("Twilio could not be reached; try again in a moment.")) from exc
        except ConnectorError as exc:
            if exc.code == "number_unknown":
                self.add_error("number", _("This number is not one of the account's phone numbers."))
                return data
            raise forms.ValidationError(_("Twilio refused the check: %(error)s") % {"error": exc.message}) from exc
        return data

    def account_choice(self) -> AccountChoice:
        number, data = self.cleaned_data["number"], self.cleaned_data
        return AccountChoice(
            platform="phone",
            external_account_id=number,
            display_name=self.incoming.get("friendly_name") or phone.display(number),
            credentials={"account_sid": data["account_sid"], "auth_token": data["auth_token"]},
            config={"number": number, "number_sid": self.incoming.get("sid", ""), "dial": data["dial"]},
        )

    def shown_once(self, connection) -> list[tuple[str, str]]:
        if public_site():
            return []  # set on the number by on_connect
        return [(_("Voice URL and status callback"), webhook_url(connection))]
