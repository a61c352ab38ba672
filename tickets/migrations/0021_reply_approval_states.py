# Reply approval (issue 20): delivery states of a held reply and the ticket history's approval events (choices only).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('tickets', '0020_privacy'),
    ]

    operations = [
        migrations.AlterField(
            model_name='message',
            name='delivery_state',
            field=models.CharField(blank=True, choices=[('queued', 'Queued'), ('sending', 'Sending'), ('sent', 'Sent'), ('delivered', 'Delivered'), ('read', 'Read'), ('failed', 'Failed'), ('held', 'Awaiting approval'), ('returned', 'Returned for changes'), ('approved', 'Approved, not sent yet')], max_length=12),
        ),
        migrations.AlterField(
            model_name='ticketevent',
            name='kind',
            field=models.CharField(choices=[('created', 'Created'), ('status', 'Status changed'), ('priority', 'Priority changed'), ('assignment', 'Assigned'), ('team', 'Team changed'), ('tags', 'Tags changed'), ('snooze', 'Snoozed'), ('merge', 'Merged'), ('split', 'Split'), ('reopened', 'Reopened by the customer'), ('reply_held', 'Reply held for approval'), ('reply_edited', 'Reply edited in approval'), ('reply_approved', 'Reply approved'), ('reply_returned', 'Reply returned for changes')], max_length=16),
        ),
    ]
