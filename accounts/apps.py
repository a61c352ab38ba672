from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts and organizations")

    def ready(self) -> None:
        from accounts import session_events  # noqa: F401 — connects its signal receivers
        from accounts.selectors import (  # models are importable only once apps are ready
            notification_preferences,
            notification_preferences_many,
        )
        from core.notification_kinds import set_preferences_lookup

        set_preferences_lookup(notification_preferences, notification_preferences_many)
