"""PostgreSQL helpers the services use: per-transaction settings, and the ingest's bulk insert."""

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models import Model, Value
from django.db.models.expressions import DatabaseDefault


def commit_without_flush() -> None:
    """Inside a transaction: let its COMMIT return before the WAL reaches the disk. Only for writes that can be redone
    after a database crash (a stored raw event is processed again; a lost realtime row costs a browser a reload)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")


_sequences: dict[str, str] = {}

# Fields whose database value is the Python value itself when it has this type (or is None): copy_insert skips
# Django's per-value preparation for them (7% of the ingest worker's time). Anything else is prepared as usual.
_PLAIN: dict[type, tuple[type, ...]] = {
    models.CharField: (str,),
    models.TextField: (str,),
    models.BooleanField: (bool,),
    models.IntegerField: (int,),
    models.BigIntegerField: (int,),
    models.SmallIntegerField: (int,),
    models.PositiveIntegerField: (int,),
    models.PositiveSmallIntegerField: (int,),
    models.PositiveBigIntegerField: (int,),
    models.FloatField: (float, int),
    models.ForeignKey: (int,),
}


def _plain_types(field) -> tuple[type, ...]:
    """The value types `field` stores unchanged (exact classes: a subclass may prepare its values differently)."""
    if type(field) is models.ForeignKey and type(field.target_field) not in (models.AutoField, models.BigAutoField):
        return ()
    return _PLAIN.get(type(field), ())


def copy_insert(objs: list[Model]) -> list[Model]:
    """Insert new instances of one model with COPY, like `bulk_create` (defaults and `auto_now_add` applied, primary
    keys set on the objects): the ingest writes every row of a batch this way. A 50-row multi-row INSERT cost the
    worker about 150 µs a row to compose and quote client-side, and PostgreSQL as much to parse; COPY sends the values
    as data (formatted in psycopg's C code), after one `nextval` round trip for the ids. A unique violation raises
    IntegrityError and inserts nothing, as `bulk_create` would. Values must be plain values, not SQL expressions."""
    if not objs:
        return objs
    meta = type(objs[0])._meta
    fields = [(field, _plain_types(field)) for field in meta.concrete_fields if not field.generated]
    # The connection itself, not the `django.db.connection` proxy: each attribute read through the proxy is a
    # context-local lookup, and preparing values reads the connection for every value of every row.
    db = connections[DEFAULT_DB_ALIAS]
    quote = db.ops.quote_name
    with db.cursor() as cursor, db.wrap_database_errors:
        sequence = _sequences.get(meta.db_table)
        if sequence is None:
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [meta.db_table, meta.pk.column])
            sequence = _sequences[meta.db_table] = cursor.fetchone()[0]
        cursor.execute("SELECT nextval(%s) FROM generate_series(1, %s)", [sequence, len(objs)])
        for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
            obj.pk = pk
        columns = ", ".join(quote(field.column) for field, _plain in fields)
        with cursor.cursor.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for obj in objs:
                row = []
                for field, plain in fields:
                    value = field.pre_save(obj, True)
                    if value is None or type(value) in plain:
                        row.append(value)
                        continue
                    if isinstance(value, DatabaseDefault):  # COPY has no DEFAULT: a constant db_default is sent
                        default = field.db_default
                        value = default.value if isinstance(default, Value) else default
                        setattr(obj, field.attname, value)  # and kept, as bulk_create's RETURNING would
                    value = field.get_db_prep_save(value, db)
                    if hasattr(value, "resolve_expression"):
                        raise TypeError(f"copy_insert takes values, not expressions ({meta.label}.{field.name})")
                    row.append(value)
                copy.write_row(row)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = db.alias
    return objs
