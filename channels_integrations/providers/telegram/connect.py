"""Connecting a Telegram bot with its token (from @BotFather), checked with getMe before anything is saved."""

import re
import secrets

from django import forms
from django.utils.translation import gettext_lazy as _

from channels_integrations.connect import ConnectForm
from channels_integrations.connector import AccountChoice, AuthFailed, ConnectorError, TransientError
from channels_integrations.providers.telegram.connector import check_token, webhook_mode

TOKEN = re.compile(r"\d{1,20}:[A-Za-z0-9_-]{20,100}")


class BotTokenForm(ConnectForm):
    title = _("Connect a Telegram bot")
    intro = _(
        "Create a bot with @BotFather in Telegram and paste the token it gives you. Customers then write to the bot, "
        "and your team answers them here. Saving a bot that is already connected updates its token."
    )

    token = forms.CharField(
        label=_("Bot token"),
        max_length=200,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("It looks like 123456789:AA… and is shown by @BotFather."),
    )

    def clean_token(self) -> str:
        token = self.cleaned_data["token"].strip()
        if not TOKEN.fullmatch(token):
            raise forms.ValidationError(_("This is not a Telegram bot token."))
        try:
            self.bot = check_token(token)
        except AuthFailed as exc:
            raise forms.ValidationError(_("Telegram does not accept this token.")) from exc
        except TransientError as exc:
            raise forms.ValidationError(_("Telegram could not be reached; try again in a moment.")) from exc
        except ConnectorError as exc:
            raise forms.ValidationError(_("Telegram refused the token check.")) from exc
        return token

    def account_choice(self) -> AccountChoice:
        bot = self.bot
        username = bot.get("username", "")
        return AccountChoice(
            platform="telegram",
            external_account_id=str(bot["id"]),
            display_name=f"@{username}" if username else bot.get("first_name", str(bot["id"])),
            credentials={"bot_token": self.cleaned_data["token"], "webhook_secret": secrets.token_urlsafe(32)},
            config={"mode": "webhook" if webhook_mode() else "polling", "username": username},
        )
