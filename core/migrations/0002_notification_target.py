"""A notification points at any object (a ticket today; a post awaiting approval or an expiring asset tomorrow):
a content type and an id replace the required ticket. Every existing notification keeps its ticket as its target."""

import django.db.models.deletion
from django.db import migrations, models


def tickets_become_targets(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ticket_type, _ = ContentType.objects.get_or_create(app_label="tickets", model="ticket")
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "UPDATE inbox_notification SET target_type_id = %s, target_id = ticket_id", [ticket_type.pk]
        )


def targets_become_tickets(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "UPDATE inbox_notification n SET ticket_id = n.target_id FROM django_content_type ct "
            "WHERE ct.id = n.target_type_id AND ct.app_label = 'tickets' AND ct.model = 'ticket'"
        )
        cursor.execute("DELETE FROM inbox_notification WHERE ticket_id IS NULL")


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("core", "0001_move_realtime_and_notifications"),
    ]

    operations = [
        migrations.AddField(
            model_name="notification",
            name="target_type",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="contenttypes.contenttype"
            ),
        ),
        migrations.AddField(
            model_name="notification",
            name="target_id",
            field=models.PositiveBigIntegerField(null=True),
        ),
        migrations.AlterField(
            model_name="notification",
            name="ticket",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="tickets.ticket"
            ),
        ),
        migrations.RunPython(tickets_become_targets, targets_become_tickets),
    ]
