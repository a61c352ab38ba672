from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AutomationConfig(AppConfig):
    """Rules, SLA and business calendars, routing, auto-responses, crisis alerts, language and sentiment. Tickets
    call it through one seam (tickets.automation_hooks), which this app implements (automation.hooks)."""

    name = "automation"
    verbose_name = _("Automation")

    def ready(self) -> None:
        # Imported here: models are importable only once apps are ready.
        from automation import notifications, privacy
        from automation.hooks import Automation
        from tickets.automation_hooks import register

        notifications.register()
        privacy.register()
        register(Automation())
