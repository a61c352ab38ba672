"""Connecting a mailbox: its IMAP and SMTP servers, checked when the connection is saved (EmailConnector.on_connect),
and an inbound-parse endpoint whose bearer token is shown once."""

import re
import secrets

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from channels_integrations.connect import ConnectForm
from channels_integrations.connector import AccountChoice
from channels_integrations.models import ChannelConnection
from channels_integrations.providers.email.authentication import AUTHSERV_ID

SECURITY = [("ssl", _("SSL/TLS")), ("starttls", "STARTTLS"), ("none", _("None (local servers only)"))]
CONFIG_FIELDS = (
    "address",
    "from_name",
    "username",
    "imap_host",
    "imap_port",
    "imap_security",
    "imap_folder",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "outgoing_charset",
    "trusted_authserv_ids",
)
MAX_TRUSTED_HOSTS = 10
_AUTHSERV_ID = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")


class MailboxForm(ConnectForm):
    title = _("Connect a mailbox")
    intro = _(
        "Tsunagu checks the mailbox over IMAP every minute and sends replies over SMTP, so they thread in the "
        "customer's mail client. Saving an address that is already connected updates its settings."
    )
    done_intro = _(
        "If your mail provider can forward incoming mail as raw MIME (inbound parse), point it at this endpoint with "
        "this bearer token. Copy the token now: it will not be shown again."
    )

    address = forms.EmailField(label=_("Support address"))
    from_name = forms.CharField(label=_("Sender name"), max_length=120, required=False)
    username = forms.CharField(label=_("User name"), max_length=254, help_text=_("Usually the address itself."))
    password = forms.CharField(
        label=_("Password"),
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text=_("Leave empty to keep the stored password (only while the servers stay the same)."),
    )
    imap_host = forms.CharField(label=_("IMAP server"), max_length=253)
    imap_port = forms.IntegerField(label=_("IMAP port"), min_value=1, max_value=65535, initial=993)
    imap_security = forms.ChoiceField(label=_("IMAP security"), choices=SECURITY, initial="ssl")
    imap_folder = forms.CharField(label=_("Folder"), max_length=200, initial="INBOX")
    smtp_host = forms.CharField(label=_("SMTP server"), max_length=253)
    smtp_port = forms.IntegerField(label=_("SMTP port"), min_value=1, max_value=65535, initial=587)
    smtp_security = forms.ChoiceField(label=_("SMTP security"), choices=SECURITY, initial="starttls")
    outgoing_charset = forms.TypedChoiceField(  # read by EmailConnector.build (japanese.use_iso2022jp)
        label=_("Character set for outgoing mail"),
        choices=[("utf-8", _("UTF-8 (recommended)")), ("iso-2022-jp", _("ISO-2022-JP (for older mail clients)"))],
        initial="utf-8",
        required=False,
        empty_value="utf-8",
        help_text=_("A reply with a character ISO-2022-JP cannot carry (an emoji, a rare kanji) is sent in UTF-8."),
    )
    trusted_authserv_ids = forms.CharField(
        label=_("Trusted Authentication-Results hosts"),
        required=False,
        max_length=1000,
        help_text=_(
            "The receiving mail servers whose sender checks (SPF, DKIM) Tsunagu may believe, by the name they write "
            "in the Authentication-Results header: mx.google.com for Gmail, your own mail server's name otherwise. "
            "Separate several with commas. Leave empty to trust none: the SPF result is then unknown."
        ),
    )

    def clean_trusted_authserv_ids(self) -> list[str]:
        names = [n.strip().rstrip(".").lower() for n in re.split(r"[\s,]+", self.cleaned_data["trusted_authserv_ids"])]
        names = list(dict.fromkeys(n for n in names if n))
        bad = next((n for n in names if not _AUTHSERV_ID.fullmatch(n) or n == AUTHSERV_ID), None)
        if bad is not None:
            raise forms.ValidationError(_("“%(name)s” is not a mail server name.") % {"name": bad[:60]})
        if len(names) > MAX_TRUSTED_HOSTS:
            raise forms.ValidationError(_("Name at most %(n)d servers.") % {"n": MAX_TRUSTED_HOSTS})
        return names

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        existing = ChannelConnection.objects.filter(platform="email", external_account_id=data["address"]).first()
        stored = existing.credentials if existing and existing.credentials_encrypted else {}
        if not data.get("password"):
            if not stored.get("password"):
                self.add_error("password", _("Enter the mailbox password."))
            elif _servers(data) != _servers(existing.config):
                # The stored password goes only where it went before: never to a server someone just typed in.
                self.add_error("password", _("Enter the password again: the server settings changed."))
            else:
                data["password"] = stored["password"]
        return data

    def account_choice(self) -> AccountChoice:
        data = self.cleaned_data
        self.token = secrets.token_urlsafe(32)
        return AccountChoice(
            platform="email",
            external_account_id=data["address"],
            display_name=data["from_name"] or data["address"],
            credentials={"password": data["password"], "inbound_token": self.token},
            config={name: data[name] for name in CONFIG_FIELDS},
        )

    def shown_once(self, connection) -> list[tuple[str, str]]:
        return [
            (_("Inbound endpoint"), f"{settings.SITE_URL}/webhooks/email/{connection.uuid}/"),
            (_("Bearer token"), self.token),
        ]


def _servers(values: dict) -> tuple:
    """Where the password is sent, and how: a change of any of these needs the password again."""
    return tuple(
        str(values.get(f"{kind}_{part}", "")).strip().rstrip(".").lower()
        for kind in ("imap", "smtp")
        for part in ("host", "port", "security")
    )
