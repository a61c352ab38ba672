"""The second half of 0002, in its own transaction: PostgreSQL refuses to alter a table whose rows the same
transaction updated while a deferred foreign key check is pending."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0002_notification_target"),
    ]

    operations = [
        migrations.RemoveField(model_name="notification", name="ticket"),
        migrations.AlterField(
            model_name="notification",
            name="target_type",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="+", to="contenttypes.contenttype"
            ),
        ),
        migrations.AlterField(
            model_name="notification",
            name="target_id",
            field=models.PositiveBigIntegerField(),
        ),
        migrations.AlterField(
            model_name="notification",
            name="kind",
            field=models.CharField(max_length=40),
        ),
    ]
