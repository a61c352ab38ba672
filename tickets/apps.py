from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = _("Tickets")

    def ready(self) -> None:
        from tickets import automation_notifications, notifications  # models are importable only once apps are ready

        notifications.register()
        automation_notifications.register()
