"""Connecting an account with a form (a mailbox's servers, a bot's token…) rather than an OAuth flow. A connector
names its form class in `connect_form`; one pair of views renders every such form (channels_integrations.views)."""

from typing import ClassVar

from django import forms

from channels_integrations.connector import AccountChoice


class ConnectForm(forms.Form):
    """A connector's connect form. `title` and `intro` head the page. Once valid, `account_choice()` is the account
    to connect (a connection of the same account is updated); `shown_once(connection)` lists what the admin must copy
    now and will never see again (an inbound token…), with `done_intro` above it."""

    title: ClassVar[str] = ""
    intro: ClassVar[str] = ""
    done_intro: ClassVar[str] = ""

    def __init__(self, *args, organization, **kwargs):
        self.organization = organization
        super().__init__(*args, **kwargs)

    def account_choice(self) -> AccountChoice:
        raise NotImplementedError

    def shown_once(self, connection) -> list[tuple[str, str]]:
        return []
