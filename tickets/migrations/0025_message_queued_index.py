"""The replies waiting for their send, by age: the sweep of replies whose send was lost reads them without looking at
any other message. Built concurrently (no write lock on a large table)."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("tickets", "0024_inbox_filter_indexes")]

    operations = [
        AddIndexConcurrently(
            model_name="message",
            index=models.Index(
                fields=["created_at"], condition=models.Q(("delivery_state", "queued")), name="tickets_msg_queued"
            ),
        ),
    ]
