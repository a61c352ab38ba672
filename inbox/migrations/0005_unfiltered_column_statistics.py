"""ANALYZE skips the real-time events' payload: no query filters, joins or sorts on payload, so their statistics only
cost the autovacuum worker CPU every time the table grows by a tenth (detoasting and comparing every sampled value)."""

from django.db import migrations

COLUMNS = [("inbox_realtimeevent", "payload")]


def _sql(target: str) -> list[str]:
    return [f'ALTER TABLE {table} ALTER COLUMN "{column}" SET STATISTICS {target}' for table, column in COLUMNS]


class Migration(migrations.Migration):
    dependencies = [("inbox", "0004_redundant_fk_indexes")]

    operations = [migrations.RunSQL(sql=_sql("0"), reverse_sql=_sql("-1"))]
