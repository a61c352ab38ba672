"""Single-column indexes of foreign keys that lead a composite index or unique constraint: they only cost writes.
Only the index is dropped (Django's AlterField would also drop and re-validate the foreign key, a full scan under
an exclusive lock on a large table)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_routing"),
        ("inbox", "0003_automation_notifications"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="realtimeevent",
                    name="organization",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="accounts.organization",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "inbox_realtimeevent_organization_id_1094dd49"',
                    reverse_sql='CREATE INDEX IF NOT EXISTS "inbox_realtimeevent_organization_id_1094dd49" ON "inbox_realtimeevent" ("organization_id")',
                ),
            ],
        ),
    ]
