"""TRUNCATE bypasses row-level triggers: a statement-level trigger refuses it too, whoever asks. (A superuser can
still switch triggers off; the production role that owns the table is not the role the application runs as, see the
README.)"""

from django.db import migrations

SQL = """
CREATE TRIGGER accounts_auditentry_no_truncate
    BEFORE TRUNCATE ON accounts_auditentry
    FOR EACH STATEMENT EXECUTE FUNCTION accounts_auditentry_append_only();
"""

REVERSE_SQL = "DROP TRIGGER IF EXISTS accounts_auditentry_no_truncate ON accounts_auditentry;"


class Migration(migrations.Migration):
    dependencies = [("accounts", "0008_auditentry_more_actions")]

    operations = [migrations.RunSQL(SQL, REVERSE_SQL)]
