"""RealtimeEvent and Notification moved to the `core` app (core/migrations/0001): their tables, rows and names stay;
only Django's idea of which app holds them changes."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0005_unfiltered_column_statistics"),
        ("core", "0001_move_realtime_and_notifications"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="Notification"),
                migrations.DeleteModel(name="RealtimeEvent"),
            ],
            database_operations=[],
        ),
    ]
