"""`notify_many`: the notifications, live events and emails of one `notify` per notice, with the members'
preferences read once and the notifications stored in one INSERT."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from core import tasks
from core.models import Notification, RealtimeEvent
from core.notifications import Notice, notify, notify_many
from tickets.models import Contact, Ticket
from tickets.tests.factories import connection

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticket(tenant_a):
    with tenant_a.scope():
        contact = Contact.objects.create(organization=tenant_a.organization, name="山田 花子")
        return Ticket.objects.create(
            organization=tenant_a.organization,
            number=7,
            connection=connection(tenant_a),
            contact=contact,
            external_thread_key="notify-many",
        )


def _notices(tenant, ticket, outsider) -> list[Notice]:
    """The agent (breaches in the app and by email, the members' default), the admin (who turned breaches off in
    the app), and someone of no organization here."""
    agent, admin = tenant.users["agent"], tenant.users["admin"]
    return [
        Notice(user_id=agent.pk, kind="sla_breach", target=ticket, params={"number": ticket.number, "metric": "x"}),
        Notice(user_id=admin.pk, kind="sla_breach", target=ticket, params={"number": ticket.number, "metric": "y"}),
        Notice(user_id=outsider.pk, kind="sla_breach", target=ticket, params={"number": 1}),
        Notice(user_id=agent.pk, kind="sla_warning", target=ticket, params={"number": ticket.number, "metric": "z"}),
    ]


def _outcome(tenant, mailoutbox):
    with tenant.scope():
        notes = list(Notification.objects.order_by("pk").values_list("user_id", "kind", "target_id", "params"))
        live = [
            (group, type, {key: value for key, value in payload.items() if key != "notification_id"})
            for group, type, payload in RealtimeEvent.objects.order_by("pk").values_list("group", "type", "payload")
        ]
    return notes, live, sorted((mail.to[0], mail.subject) for mail in mailoutbox)


def test_notify_many_does_what_one_notify_per_notice_does(
    tenant_a, tenant_b, ticket, django_capture_on_commit_callbacks, mailoutbox, monkeypatch
):
    membership = tenant_a.memberships["admin"]
    membership.notify_in_app = [kind for kind in membership.notify_in_app if kind != "sla_breach"]
    membership.save(update_fields=["notify_in_app"])
    notices = _notices(tenant_a, ticket, tenant_b.users["agent"])
    # One notify per notice
    with tenant_a.scope(), django_capture_on_commit_callbacks(execute=True):
        one_by_one = [
            notify(organization=tenant_a.organization, user_id=n.user_id, kind=n.kind, target=n.target, params=n.params)
            for n in notices
        ]
    expected = _outcome(tenant_a, mailoutbox)
    with tenant_a.scope():
        Notification.objects.all().delete()
        RealtimeEvent.objects.all().delete()
    mailoutbox.clear()
    # The same in one call
    batches = []
    send = tasks.send_notification_emails.delay
    monkeypatch.setattr(tasks.send_notification_emails, "delay", lambda **kw: batches.append(kw) or send(**kw))
    with tenant_a.scope(), django_capture_on_commit_callbacks(execute=True):
        with CaptureQueriesContext(db_connection) as queries:
            together = notify_many(organization=tenant_a.organization, notices=notices)
    assert _outcome(tenant_a, mailoutbox) == expected
    assert [n is None for n in together] == [n is None for n in one_by_one] == [False, True, True, False]
    # with the preferences read once and the notifications stored in one INSERT
    sql = [q["sql"] for q in queries.captured_queries]
    assert len([q for q in sql if "accounts_membership" in q]) == 1
    assert len([q for q in sql if q.startswith('INSERT INTO "inbox_notification"')]) == 1
    # and the emails (the agent's and the admin's breaches) sent by one task
    assert [len(batch["emails"]) for batch in batches] == [2]


def test_an_email_of_a_batch_that_cannot_be_sent_is_retried_alone(tenant_a, ticket, monkeypatch, mailoutbox):
    # Given a batch of two emails, the first of which the mail server refuses for now
    refused = []
    real = tasks._email_notification

    def flaky(organization, **email):
        if not refused:
            refused.append(email)
            raise ConnectionRefusedError("mail server away")
        return real(organization, **email)

    monkeypatch.setattr(tasks, "_email_notification", flaky)
    alone = []
    monkeypatch.setattr(tasks.send_notification_email, "delay", lambda **kw: alone.append(kw))
    agent = tenant_a.users["agent"]
    target_type_id = ContentType.objects.get_for_model(Ticket).pk
    email = {
        "user_id": agent.pk,
        "kind": "sla_breach",
        "target_type_id": target_type_id,
        "target_id": ticket.pk,
        "params": {"number": 7},
    }
    # When the batch's task runs
    sent = tasks.send_notification_emails(organization_id=tenant_a.organization.pk, emails=[email, dict(email)])
    # Then the second went, and the first is handed to the single task, which retries it
    assert sent == 1 and len(mailoutbox) == 1
    assert alone == [{"organization_id": tenant_a.organization.pk, **email}]


def test_notify_many_refuses_an_unknown_kind(tenant_a, ticket):
    with tenant_a.scope(), pytest.raises(ValueError):
        notify_many(
            organization=tenant_a.organization,
            notices=[Notice(user_id=tenant_a.users["agent"].pk, kind="nonsense", target=ticket, params={})],
        )
