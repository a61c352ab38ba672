"""ANALYZE skips the messages' text and HTML (search reads their vector): no query filters, joins or sorts on text and
html, so their statistics only cost the autovacuum worker CPU every time the table grows by a tenth (detoasting and
comparing every sampled value)."""

from django.db import migrations

COLUMNS = [("tickets_message", "text"), ("tickets_message", "html")]


def _sql(target: str) -> list[str]:
    return [f'ALTER TABLE {table} ALTER COLUMN "{column}" SET STATISTICS {target}' for table, column in COLUMNS]


class Migration(migrations.Migration):
    dependencies = [("tickets", "0010_optional_fk_partial_indexes")]

    operations = [migrations.RunSQL(sql=_sql("0"), reverse_sql=_sql("-1"))]
