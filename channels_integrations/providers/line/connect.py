"""Connecting a LINE Official Account with its Messaging API channel's ID, secret and (optionally) a long-lived
channel access token, all checked against LINE before anything is saved: the ID and secret by issuing a stateless
token (`POST /oauth2/v3/token`), the token by reading the bot's info (`GET /v2/bot/info`)."""

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from channels_integrations.connect import ConnectForm
from channels_integrations.connector import AccountChoice, AuthFailed, ConnectorError, TransientError
from channels_integrations.providers.line import client
from channels_integrations.providers.line.connector import bot_info, webhook_url

CHANNEL_ID = re.compile(r"\d{6,20}")
CHANNEL_SECRET = re.compile(r"[0-9a-fA-F]{32}")


class LineChannelForm(ConnectForm):
    title = _("Connect a LINE Official Account")
    intro = _(
        "In the LINE Developers console, open the Messaging API channel of your LINE Official Account. Copy the "
        "channel ID and channel secret (Basic settings) and, if you issued one, the long-lived channel access token "
        "(Messaging API). Without a long-lived token, short-lived tokens are issued from the ID and secret as needed."
    )
    done_intro = _(
        "In the LINE Developers console (Messaging API), set this webhook URL, turn on “Use webhook” and “Webhook "
        "redelivery”, and turn off auto-reply messages in the LINE Official Account Manager."
    )

    channel_id = forms.CharField(label=_("Channel ID"), max_length=20)
    channel_secret = forms.CharField(
        label=_("Channel secret"), max_length=64, widget=forms.PasswordInput(render_value=False)
    )
    access_token = forms.CharField(
        label=_("Channel access token (long-lived)"),
        max_length=500,
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Optional. Leave it empty to use short-lived (stateless) tokens issued from the channel secret."),
    )

    def clean_channel_id(self) -> str:
        value = self.cleaned_data["channel_id"].strip()
        if not CHANNEL_ID.fullmatch(value):
            raise forms.ValidationError(_("A channel ID is a number, as shown under Basic settings."))
        return value

    def clean_channel_secret(self) -> str:
        value = self.cleaned_data["channel_secret"].strip()
        if not CHANNEL_SECRET.fullmatch(value):
            raise forms.ValidationError(_("A channel secret is 32 letters and digits (0-9, a-f)."))
        return value

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        token = (data.get("access_token") or "").strip()
        data["access_token"] = token
        try:
            # The ID and the secret (which signs every webhook) are right only if LINE issues a token for them.
            issued, _expires = client.issue_stateless_token(data["channel_id"], data["channel_secret"])
        except AuthFailed as exc:
            raise forms.ValidationError(_("LINE does not accept this channel ID and secret.")) from exc
        except TransientError as exc:
            raise forms.ValidationError(_("LINE could not be reached; try again in a moment.")) from exc
        except ConnectorError as exc:
            raise forms.ValidationError(_("LINE refused the check of this channel ID and secret.")) from exc
        try:
            self.bot = bot_info(token or issued)
        except AuthFailed as exc:
            self.add_error("access_token", _("LINE does not accept this channel access token."))
            raise forms.ValidationError(_("Check the channel access token.")) from exc
        except TransientError as exc:
            raise forms.ValidationError(_("LINE could not be reached; try again in a moment.")) from exc
        except ConnectorError as exc:
            raise forms.ValidationError(_("LINE refused to describe this account.")) from exc
        return data

    def account_choice(self) -> AccountChoice:
        bot, data = self.bot, self.cleaned_data
        basic_id = str(bot.get("basicId") or "")
        return AccountChoice(
            platform="line",
            external_account_id=str(bot["userId"]),
            display_name=str(bot.get("displayName") or basic_id or bot["userId"]),
            credentials={
                "channel_id": data["channel_id"],
                "channel_secret": data["channel_secret"],
                "access_token": data["access_token"],
            },
            config={"basic_id": basic_id, "picture_url": str(bot.get("pictureUrl") or "")},
        )

    def shown_once(self, connection) -> list[tuple[str, str]]:
        return [(str(_("Webhook URL")), webhook_url(connection))]
