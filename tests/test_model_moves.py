"""Moving models between apps loses nothing: a database holding automation's rows (rules and their log, webhook
calls, settings, crisis alerts, calendars and closures, SLA policies and events, auto-responses) and the inbox's
(notifications, real-time events) in the layout before `core` and `automation` existed is migrated forward, and
every row reads back the same — through the tables, which kept their names, and through the models in their new
apps. A notification's required ticket becomes its target."""

from datetime import timedelta

import pytest
from django.apps import apps as current_apps
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from django_scopes import scopes_disabled

# The last migration of each app before the move; `core` and `automation` did not exist.
BEFORE = [
    ("accounts", "0006_routing"),
    ("channels_integrations", "0005_unfiltered_column_statistics"),
    ("tickets", "0011_unfiltered_column_statistics"),
    ("inbox", "0005_unfiltered_column_statistics"),
    ("core", None),
    ("automation", None),
]
MOVED_TABLES = [
    "tickets_rule",
    "tickets_rulerun",
    "tickets_webhookcall",
    "tickets_automationsettings",
    "tickets_crisisalert",
    "tickets_businesscalendar",
    "tickets_businessclosure",
    "tickets_slapolicy",
    "tickets_slaevent",
    "tickets_autoresponse",
    "tickets_autoresponsesent",
    "inbox_realtimeevent",
]
MOVED_MODELS = {
    "automation": [
        "rule",
        "rulerun",
        "webhookcall",
        "automationsettings",
        "crisisalert",
        "businesscalendar",
        "businessclosure",
        "slapolicy",
        "slaevent",
        "autoresponse",
        "autoresponsesent",
    ],
    "core": ["notification", "realtimeevent"],
}


def _columns(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} LIMIT 0")  # our table names, not input
        return [column.name for column in cursor.description]


def _rows(table: str, columns: list[str]) -> list[tuple]:
    """The rows as those columns hold them: later migrations may add columns (automation 0002 adds RuleRun's state)."""
    names = ", ".join(connection.ops.quote_name(column) for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {names} FROM {table} ORDER BY id")
        return cursor.fetchall()


def _seed(old) -> dict:
    """One of everything automation and the inbox stored, through the models as they stood before the move."""
    now = timezone.now()
    org = old.get_model("accounts", "Organization").objects.create(name="Move", slug="move-org")
    user = old.get_model("accounts", "User").objects.create(email="agent@move.test", password="!")
    conn = old.get_model("channels_integrations", "ChannelConnection").objects.create(
        organization=org, platform="facebook", display_name="Page", external_account_id="P1"
    )
    contact = old.get_model("tickets", "Contact").objects.create(organization=org, name="山田 花子")
    ticket = old.get_model("tickets", "Ticket").objects.create(
        organization=org, number=1, connection=conn, contact=contact, external_thread_key="dm:1", subject="届かない"
    )
    message = old.get_model("tickets", "Message").objects.create(
        organization=org, ticket=ticket, connection=conn, direction="inbound", kind="direct", text="まだ届きません"
    )
    canned = old.get_model("tickets", "CannedResponse").objects.create(
        organization=org, title="Thanks", shortcut="thanks"
    )
    m = {name: old.get_model("tickets", name) for name in ("Rule", "RuleRun", "WebhookCall", "SlaPolicy")}
    rule = m["Rule"].objects.create(
        organization=org,
        name="VIP",
        trigger="message_received",
        conditions={"all": [{"field": "message.text", "op": "contains", "value": ["至急"]}]},
        actions=[{"type": "set_priority", "priority": "urgent"}],
    )
    m["RuleRun"].objects.create(organization=org, ticket=ticket, rule=rule, rule_name="VIP", trigger="message_received")
    m["WebhookCall"].objects.create(organization=org, rule=rule, ticket=ticket, url="https://hooks.example/x")
    old.get_model("tickets", "AutomationSettings").objects.create(organization=org, crisis_threshold=7)
    old.get_model("tickets", "CrisisAlert").objects.create(
        organization=org, connection=conn, ticket=ticket, window_start=now, negative_count=9
    )
    calendar = old.get_model("tickets", "BusinessCalendar").objects.create(organization=org, name="本社")
    old.get_model("tickets", "BusinessClosure").objects.create(
        organization=org, calendar=calendar, name="年末年始", starts_at=now, ends_at=now + timedelta(days=3)
    )
    policy = m["SlaPolicy"].objects.create(organization=org, name="Urgent", priority="urgent", calendar=calendar)
    old.get_model("tickets", "Ticket").objects.filter(pk=ticket.pk).update(sla_policy=policy)
    old.get_model("tickets", "SlaEvent").objects.create(
        organization=org, ticket=ticket, policy=policy, metric="first_response", kind="warning", due_at=now,
        occurred_at=now,
    )  # fmt: skip
    old.get_model("tickets", "AutoResponse").objects.create(
        organization=org, connection=conn, kind="first_contact", response=canned, calendar=calendar
    )
    old.get_model("tickets", "AutoResponseSent").objects.create(
        organization=org, contact=contact, connection=conn, kind="first_contact", sent_at=now, message=message
    )
    notification = old.get_model("inbox", "Notification").objects.create(
        organization=org, user=user, kind="sla_warning", ticket=ticket, params={"number": 1, "metric": "初回応答"}
    )
    old.get_model("inbox", "RealtimeEvent").objects.create(
        organization=org, group=f"org.{org.pk}.user.{user.pk}", type="notification.created", payload={"n": 1}
    )
    return {"org": org.pk, "ticket": ticket.pk, "notification": notification.pk, "policy": policy.pk}


@pytest.mark.django_db(transaction=True)
def test_automation_and_notifications_move_without_losing_a_row():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        executor.loader.build_graph()
        ids = _seed(executor.loader.project_state([t for t in BEFORE if t[1]]).apps)
        columns = {table: _columns(table) for table in MOVED_TABLES}
        before = {table: _rows(table, columns[table]) for table in MOVED_TABLES}
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, organization_id, user_id, kind, ticket_id, params FROM inbox_notification")
            notification_before = cursor.fetchall()
        assert all(before.values()), "every moved table holds a row"
    finally:
        call_command("migrate", verbosity=0)  # forward to the newest migrations, whatever happened above

    assert {table: _rows(table, columns[table]) for table in MOVED_TABLES} == before
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, organization_id, user_id, kind, target_type_id, target_id, params FROM inbox_notification"
        )
        [(pk, org, user, kind, target_type, target_id, params)] = cursor.fetchall()
    [(old_pk, old_org, old_user, old_kind, old_ticket, old_params)] = notification_before
    assert (pk, org, user, kind, target_id, params) == (old_pk, old_org, old_user, old_kind, old_ticket, old_params)
    assert ContentType.objects.get_for_id(target_type).model_class() is current_apps.get_model("tickets", "Ticket")

    # The models in their new apps read the same rows; content types moved with them.
    with scopes_disabled():
        Notification = current_apps.get_model("core", "Notification")
        assert Notification.objects.get(pk=ids["notification"]).target.pk == ids["ticket"]
        assert current_apps.get_model("tickets", "Ticket").objects.get(pk=ids["ticket"]).sla_policy_id == ids["policy"]
        for app_label, models in MOVED_MODELS.items():
            for model in models:
                assert current_apps.get_model(app_label, model).objects.filter(organization_id=ids["org"]).exists()
    for app_label, models in MOVED_MODELS.items():
        for model in models:
            assert ContentType.objects.filter(app_label=app_label, model=model).exists()
            assert not ContentType.objects.filter(
                app_label={"automation": "tickets", "core": "inbox"}[app_label], model=model
            ).exists()
