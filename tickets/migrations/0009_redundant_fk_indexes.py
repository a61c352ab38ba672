"""Single-column indexes of foreign keys that lead a composite index or unique constraint: they only cost writes.
Only the index is dropped (Django's AlterField would also drop and re-validate the foreign key, a full scan under
an exclusive lock on a large table)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_routing"),
        ("channels_integrations", "0003_redundant_fk_indexes"),
        ("tickets", "0008_team_queue_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="contactidentity",
                    name="organization",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="accounts.organization",
                    ),
                ),
                migrations.AlterField(
                    model_name="message",
                    name="ticket",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="messages",
                        to="tickets.ticket",
                    ),
                ),
                migrations.AlterField(
                    model_name="ticket",
                    name="connection",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="tickets",
                        to="channels_integrations.channelconnection",
                    ),
                ),
                migrations.AlterField(
                    model_name="ticket",
                    name="contact",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="tickets",
                        to="tickets.contact",
                    ),
                ),
                migrations.AlterField(
                    model_name="ticket",
                    name="organization",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="accounts.organization",
                    ),
                ),
                migrations.AlterField(
                    model_name="ticketevent",
                    name="ticket",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to="tickets.ticket",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "tickets_contactidentity_organization_id_fb322054"',
                    reverse_sql='CREATE INDEX IF NOT EXISTS "tickets_contactidentity_organization_id_fb322054" ON "tickets_contactidentity" ("organization_id")',
                ),
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "tickets_message_ticket_id_a1134910"',
                    reverse_sql='CREATE INDEX IF NOT EXISTS "tickets_message_ticket_id_a1134910" ON "tickets_message" ("ticket_id")',
                ),
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "tickets_ticket_connection_id_2b49bc0a"',
                    reverse_sql='CREATE INDEX IF NOT EXISTS "tickets_ticket_connection_id_2b49bc0a" ON "tickets_ticket" ("connection_id")',
                ),
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "tickets_ticket_contact_id_a9a8a57d"',
                    reverse_sql='CREATE INDEX IF NOT EXISTS "tickets_ticket_contact_id_a9a8a57d" ON "tickets_ticket" ("contact_id")',
                ),
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "tickets_ticket_organization_id_7128da48"',
                    reverse_sql='CREATE INDEX IF NOT EXISTS "tickets_ticket_organization_id_7128da48" ON "tickets_ticket" ("organization_id")',
                ),
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "tickets_ticketevent_ticket_id_b572d14b"',
                    reverse_sql='CREATE INDEX IF NOT EXISTS "tickets_ticketevent_ticket_id_b572d14b" ON "tickets_ticketevent" ("ticket_id")',
                ),
            ],
        ),
    ]
