from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("analytics_listening", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="listeningsource",
            name="failures",
            field=models.PositiveIntegerField(db_default=0, default=0),
        ),
    ]
