from django.apps import AppConfig


class ListeningConfig(AppConfig):
    """Social listening: monitors, the mentions they collect, share of voice and spike alerts (a part of analytics
    with its own tables)."""

    name = "analytics.listening"
    label = "analytics_listening"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from analytics.listening import notifications, privacy

        notifications.register()
        privacy.register()
