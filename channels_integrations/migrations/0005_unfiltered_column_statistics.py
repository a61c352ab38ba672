"""ANALYZE skips the raw events' payload and last error: no query filters, joins or sorts on payload and last_error, so
their statistics only cost the autovacuum worker CPU every time the table grows by a tenth (detoasting and comparing
every sampled value)."""

from django.db import migrations

COLUMNS = [("channels_integrations_inboundevent", "payload"), ("channels_integrations_inboundevent", "last_error")]


def _sql(target: str) -> list[str]:
    return [f'ALTER TABLE {table} ALTER COLUMN "{column}" SET STATISTICS {target}' for table, column in COLUMNS]


class Migration(migrations.Migration):
    dependencies = [("channels_integrations", "0004_ingest_claim_index")]

    operations = [migrations.RunSQL(sql=_sql("0"), reverse_sql=_sql("-1"))]
