from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    """The bottom layer every app builds on: the event bus, notifications, presence, errors, credential encryption,
    database helpers, the API base and the task base. It imports no other project app."""

    name = "core"
    verbose_name = _("Core")
