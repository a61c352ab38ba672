"""Adding an API channel: only a name (there is no account to authorize). Each one is its own channel, so agents can
be granted one integration's tickets and not another's."""

import uuid

from django import forms
from django.utils.translation import gettext_lazy as _

from channels_integrations.connect import ConnectForm
from channels_integrations.connector import AccountChoice


class ApiConnectForm(ConnectForm):
    title = _("Add an API channel")
    intro = _(
        "Your own systems (a web form, an app, another tool) create tickets in this channel with the REST API, "
        "using an API token. Agents' replies are kept on the ticket for your system to read back through the API; "
        "nothing is sent to the customer from here."
    )
    done_intro = _("Create tickets in this channel by giving its id as “connection” in the API request:")

    name = forms.CharField(label=_("Name"), max_length=120, help_text=_("For example “Contact form” or “Mobile app”."))

    def account_choice(self) -> AccountChoice:
        name = self.cleaned_data["name"].strip()
        # No platform account: a fresh id makes each API channel its own connection.
        return AccountChoice(platform="api", external_account_id=uuid.uuid4().hex, display_name=name, credentials={})

    def shown_once(self, connection) -> list[tuple[str, str]]:
        return [(_("Channel id"), str(connection.pk))]
