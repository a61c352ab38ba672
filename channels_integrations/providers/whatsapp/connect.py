"""Connecting a WhatsApp business phone number with its WhatsApp Business account id, its phone number id and a
system user's access token, all checked against the Graph API before anything is saved.

A form rather than Facebook Login: a system user's token (Business settings → System users) does not expire and is
what Meta recommends for a business's own integration, while the Login flow would need WhatsApp's Embedded Signup
(an approved Tech Provider and its configuration) and hands out user tokens that expire."""

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from channels_integrations.connect import ConnectForm
from channels_integrations.connector import AccountChoice, AuthFailed, ConnectorError, TransientError
from channels_integrations.providers.whatsapp import client

ID = re.compile(r"\d{5,25}")


class WhatsAppConnectForm(ConnectForm):
    title = _("Connect a WhatsApp number")
    intro = _(
        "In Meta's App Dashboard, add the WhatsApp product to your app; WhatsApp → API Setup shows the WhatsApp "
        "Business account id and the phone number id. Create a system user in Business settings, give it the app and "
        "the WhatsApp account, and generate a token with whatsapp_business_messaging and "
        "whatsapp_business_management. Saving a number that is already connected updates its token."
    )

    waba_id = forms.CharField(label=_("WhatsApp Business account id"), max_length=30)
    phone_number_id = forms.CharField(label=_("Phone number id"), max_length=30)
    access_token = forms.CharField(
        label=_("System user access token"),
        max_length=1000,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("It starts with EAA… and does not expire."),
    )

    def _id(self, name: str) -> str:
        value = self.cleaned_data[name].strip()
        if not ID.fullmatch(value):
            raise forms.ValidationError(_("An id is a number of digits, as WhatsApp → API Setup shows it."))
        return value

    def clean_waba_id(self) -> str:
        return self._id("waba_id")

    def clean_phone_number_id(self) -> str:
        return self._id("phone_number_id")

    def clean(self):
        data = super().clean()
        waba_id, phone_id, token = data.get("waba_id"), data.get("phone_number_id"), data.get("access_token", "")
        if not (waba_id and phone_id and token.strip()):
            return data
        token = data["access_token"] = token.strip()
        try:
            # The number itself (its display name), then that it belongs to the account: the account's templates
            # and webhook subscription are read through the account id.
            self.phone = client.call(
                "GET",
                client.graph_url(phone_id),
                token=token,
                params={"fields": "display_phone_number,verified_name,quality_rating"},
            )
            numbers = client.call("GET", client.graph_url(f"{waba_id}/phone_numbers"), token=token)
        except AuthFailed as exc:
            raise forms.ValidationError(_("WhatsApp does not accept this access token.")) from exc
        except TransientError as exc:
            raise forms.ValidationError(_("WhatsApp could not be reached; try again in a moment.")) from exc
        except ConnectorError as exc:
            raise forms.ValidationError(
                _("WhatsApp refused the check: %(error)s") % {"error": exc.message or exc.code}
            ) from exc
        if phone_id not in {str(n.get("id")) for n in numbers.get("data", []) if isinstance(n, dict)}:
            self.add_error("phone_number_id", _("This phone number does not belong to that WhatsApp Business account."))
        return data

    def account_choice(self) -> AccountChoice:
        phone = self.phone
        number = str(phone.get("display_phone_number", ""))
        name = str(phone.get("verified_name", ""))
        return AccountChoice(
            platform="whatsapp",
            external_account_id=self.cleaned_data["phone_number_id"],
            display_name=f"{name} ({number})"
            if name and number
            else name or number or self.cleaned_data["phone_number_id"],
            credentials={"access_token": self.cleaned_data["access_token"]},
            config={"waba_id": self.cleaned_data["waba_id"], "display_phone_number": number},
        )
