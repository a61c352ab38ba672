"""The tenant model, named by a setting as Django names the user model: `core` sits below `accounts` and must not
import it, yet its task base and notification emails load organizations."""

from django.apps import apps
from django.conf import settings


def organization_model():
    """The model of `settings.TENANT_MODEL` ("accounts.Organization")."""
    return apps.get_model(settings.TENANT_MODEL, require_ready=True)
