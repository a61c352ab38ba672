from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = _("Tickets")

    def ready(self) -> None:
        # Imported here: models are importable only once apps are ready.
        from accounts.hooks import on_organization_started
        from channels_integrations.handlers import register_ingest_handler
        from channels_integrations.providers.api.connector import register_customer_resolver
        from tickets import notifications
        from tickets.services.api_intake import customers_resolve
        from tickets.services.ingest import items_apply
        from tickets.starter import starter_canned_create

        notifications.register()
        register_ingest_handler(items_apply)
        register_customer_resolver(customers_resolve)
        on_organization_started(starter_canned_create)
