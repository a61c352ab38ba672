"""Single-column indexes of foreign keys that lead a composite index or unique constraint: they only cost writes.
Only the index is dropped (Django's AlterField would also drop and re-validate the foreign key, a full scan under
an exclusive lock on a large table)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("channels_integrations", "0002_connector_framework"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="inboundevent",
                    name="connection",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="inbound_events",
                        to="channels_integrations.channelconnection",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "channels_integrations_inboundevent_connection_id_32401efe"',
                    reverse_sql='CREATE INDEX IF NOT EXISTS "channels_integrations_inboundevent_connection_id_32401efe" ON "channels_integrations_inboundevent" ("connection_id")',
                ),
            ],
        ),
    ]
