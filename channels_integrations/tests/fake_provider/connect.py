from django import forms

from channels_integrations.connect import ConnectForm
from channels_integrations.connector import AccountChoice


class FakeChatForm(ConnectForm):
    title = "Connect FakeChat"
    intro = "A bot account and its webhook signing secret."
    done_intro = "Point FakeChat's webhooks at this URL."

    bot_id = forms.CharField(label="Bot id", max_length=40)
    secret = forms.CharField(label="Signing secret", max_length=80, widget=forms.PasswordInput)

    def account_choice(self) -> AccountChoice:
        data = self.cleaned_data
        return AccountChoice(
            platform="fakechat",
            external_account_id=data["bot_id"],
            display_name=f"FakeChat {data['bot_id']}",
            credentials={"secret": data["secret"]},
        )

    def shown_once(self, connection) -> list[tuple[str, str]]:
        return [("Webhook URL", f"/webhooks/fakechat/{connection.uuid}/")]
