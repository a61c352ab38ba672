"""PostgreSQL settings the services apply to their own transactions."""

from django.db import connection


def commit_without_flush() -> None:
    """Inside a transaction: let its COMMIT return before the WAL reaches the disk. Only for writes that can be redone
    after a database crash (a stored raw event is processed again; a lost realtime row costs a browser a reload)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
