from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """Scheduled reports and exports of the analytics dashboards (a part of analytics with its own tables)."""

    name = "analytics.reports"
    label = "analytics_reports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Register the tasks in every process (Celery's autodiscovery is lazy): the dispatch queues the sending
        # task by name, from web processes and tests too.
        from analytics.reports import checks, tasks  # noqa: F401
