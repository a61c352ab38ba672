"""Roles that manage the organization's reporting get the new analytics.manage capability (owner, admin, manager:
as in accounts.roles.DEFAULT_MATRIX); other roles are left as their admins set them."""

from django.db import migrations

CAPABILITY = "analytics.manage"
ROLES = ["owner", "admin", "manager"]


def grant(apps, schema_editor):
    Role = apps.get_model("accounts", "Role")
    for role in Role.objects.filter(key__in=ROLES):
        if CAPABILITY not in role.capabilities:
            role.capabilities = [*role.capabilities, CAPABILITY]
            role.save(update_fields=["capabilities"])


def revoke(apps, schema_editor):
    Role = apps.get_model("accounts", "Role")
    for role in Role.objects.filter(key__in=ROLES):
        role.capabilities = [c for c in role.capabilities if c != CAPABILITY]
        role.save(update_fields=["capabilities"])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0011_japanese_era_dates")]

    operations = [migrations.RunPython(grant, revoke)]
