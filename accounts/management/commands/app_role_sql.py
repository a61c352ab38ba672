"""Print the SQL that lets the application run as a role that does not own the tables (production).

The role that runs `migrate` owns every table; the application's role gets the rights it needs on them, and on the
audit log INSERT and SELECT only. A table's owner can switch its triggers off (ALTER TABLE ... DISABLE TRIGGER) and
drop them, so only a role that does not own accounts_auditentry is really held by its append-only triggers.

Run the output once as the migration role after the first `migrate`; the default privileges it sets cover tables
and sequences that later migrations create. Nothing here runs by itself: `make run` and `make test` use one embedded
superuser role."""

from django.core.management.base import BaseCommand
from django.db import connection


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def app_role_statements(*, role: str, owner: str, database: str) -> list[str]:
    role, owner, database = _quoted(role), _quoted(owner), _quoted(database)
    return [
        f"GRANT CONNECT ON DATABASE {database} TO {role}",
        # CREATE: each organization's ticket-number sequence is created when its first ticket is numbered.
        f"GRANT USAGE, CREATE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public"
        f" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public"
        f" GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {role}",
        # The audit log: append and read, nothing else (TRUNCATE was never granted; said here so it stays so).
        f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON accounts_auditentry FROM {role}",
    ]


class Command(BaseCommand):
    help = "Print the GRANTs for an application database role that does not own the tables (run them as the owner)."

    def add_arguments(self, parser):
        parser.add_argument("--role", default="tsunagu_app", help="the role the application connects as")
        parser.add_argument("--owner", default="", help="the role that runs migrate and owns the tables (default: you)")

    def handle(self, *args, role: str, owner: str, **options):
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user, current_database()")
            current_user, database = cursor.fetchone()
        for statement in app_role_statements(role=role, owner=owner or current_user, database=database):
            self.stdout.write(statement + ";")
