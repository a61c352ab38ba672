from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChannelsIntegrationsConfig(AppConfig):
    """The gateway to the platforms: connections, credentials, connectors, raw-event intake, claiming, retries and
    dead letters, webhooks and polling, and the exactly-once call to a platform."""

    name = "channels_integrations"
    verbose_name = _("Channel integrations")

    def ready(self) -> None:
        from accounts.hooks import on_member_removed  # models are importable only once apps are ready
        from channels_integrations.permissions import connection_grants_revoke

        on_member_removed(connection_grants_revoke)
