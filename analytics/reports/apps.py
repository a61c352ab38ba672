from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """Scheduled reports and exports of the analytics dashboards (a part of analytics with its own tables)."""

    name = "analytics.reports"
    label = "analytics_reports"
    default_auto_field = "django.db.models.BigAutoField"
