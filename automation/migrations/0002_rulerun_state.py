"""Issue 22: a time-based rule run keeps the ticket state it acted on, so that the minute's pass leaves out the states
already acted on by comparing columns (engine._acted_on) instead of hashing every candidate's state in SQL.

The runs of the active tickets' current states are backfilled: their `dedupe_key` equals the key of the ticket's
columns now (engine.state_key; the SQL below is engine.state_key_expression written out). Runs of earlier states
keep an empty state: they leave nothing out, and their unique key still stops a rule from acting twice."""

from django.db import migrations, models


def _iso(column: str) -> str:
    """Python's isoformat() of a UTC timestamp ('' for NULL), as engine._IsoFormat."""
    return (
        f"COALESCE(to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS')"
        f" || CASE WHEN to_char({column}, 'US') = '000000' THEN '' ELSE '.' || to_char({column}, 'US') END"
        " || '+00:00', '')"
    )


STATE_KEY = (
    "'t:' || left(encode(sha256(convert_to("
    f"t.status || '|' || {_iso('t.status_changed_at')} || '|' || {_iso('t.last_message_at')}"
    " || '|' || COALESCE(t.assignee_id::text, '') || '|' || COALESCE(t.team_id::text, ''),"
    " 'UTF8')), 'hex'), 32)"
)

BACKFILL = f"""
UPDATE tickets_rulerun r
   SET state_status = t.status, state_status_changed_at = t.status_changed_at,
       state_last_message_at = t.last_message_at, state_assignee_id = t.assignee_id, state_team_id = t.team_id
  FROM tickets_ticket t
 WHERE r.ticket_id = t.id AND r.trigger = 'scheduled' AND r.state_status = '' AND r.dedupe_key LIKE 't:%'
   AND t.status IN ('new', 'open', 'pending', 'on_hold') AND t.merged_into_id IS NULL
   AND r.dedupe_key = {STATE_KEY}
"""


class Migration(migrations.Migration):
    dependencies = [
        ("automation", "0001_move_from_tickets"),
    ]

    operations = [
        migrations.AddField(
            model_name="rulerun",
            name="state_status",
            field=models.CharField(blank=True, db_default="", max_length=20),
        ),
        migrations.AddField(
            model_name="rulerun",
            name="state_status_changed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="rulerun",
            name="state_last_message_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="rulerun",
            name="state_assignee_id",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="rulerun",
            name="state_team_id",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
    ]
