"""Replies through the workspace and the API: platform rules checked before queueing, delivery states pushed live,
nothing sent twice."""

from datetime import timedelta

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from channels_integrations.inbound import DeliveryUpdate
from channels_integrations.outbound import CLAIM_TIMEOUT
from channels_integrations.providers.email.tests.test_connector import MAILBOX, mailbox
from channels_integrations.providers.meta.tests.test_connector import page_connection
from channels_integrations.simulator.core import Response
from core.errors import DomainError
from tickets.models import DeliveryState, Message
from tickets.services import replies
from tickets.services.delivery import STRANDED_AFTER, message_delivery_update, message_send, receipts_held_apply
from tickets.services.ingest import message_ingest
from tickets.tasks import send_stranded_replies
from tickets.tests.factories import connection, inbound


def email_ticket(tenant, simulator):
    part = simulator.parts["email"]
    part.add_mailbox(MAILBOX, MAILBOX, "mail-password")
    conn = mailbox(tenant, imap_port=part.imap_port, smtp_port=part.smtp_port)
    with tenant.scope():
        message, _ = message_ingest(
            organization=tenant.organization,
            connection=conn,
            inbound=inbound(
                "返品できますか",
                kind="email",
                mid="<q1@example.jp>",
                thread="<q1@example.jp>",
                author="hanako@example.jp",
                author_email="hanako@example.jp",
                subject="返品",
            ),
        )
    return conn, message.ticket


def test_workspace_reply_is_queued_sent_and_pushed(tenant_a, login, simulator, django_capture_on_commit_callbacks):
    _conn, ticket = email_ticket(tenant_a, simulator)
    client = login(tenant_a.users["owner"])
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(f"/{tenant_a.slug}/inbox/tickets/{ticket.pk}/reply/", {"text": "はい、可能です。"})
    assert answer.status_code == 200
    assert "はい、可能です。" in answer.content.decode()
    with tenant_a.scope():
        reply = Message.objects.get(ticket=ticket, direction="outbound")
        assert reply.delivery_state == DeliveryState.SENT
        assert reply.platform_message_id.startswith("<")
        ticket.refresh_from_db()
        assert ticket.first_response_at is not None
    assert len(simulator.parts["email"].sent()) == 1


def test_a_reply_breaking_a_rule_is_refused_with_the_reason(tenant_a, login, simulator):
    _conn, ticket = email_ticket(tenant_a, simulator)
    client = login(tenant_a.users["agent"])
    with tenant_a.scope():
        from accounts import services as account_services

        account_services.connection_access_set(
            organization=tenant_a.organization,
            actor=tenant_a.users["owner"],
            connection=ticket.connection,
            users=[tenant_a.users["agent"]],
        )
    answer = client.post(f"/{tenant_a.slug}/inbox/tickets/{ticket.pk}/reply/", {"text": "   "})
    assert answer.status_code == 400
    assert answer.content.decode()  # a sentence for the agent
    with tenant_a.scope():
        assert not Message.objects.filter(ticket=ticket, direction="outbound").exists()


def test_channels_without_a_connector_or_paused_refuse_replies(tenant_a):
    line = connection(tenant_a, "linkedin")  # no connector yet
    with tenant_a.scope():
        message, _ = message_ingest(organization=tenant_a.organization, connection=line, inbound=inbound("hi"))
        with pytest.raises(DomainError):
            replies.message_reply(
                organization=tenant_a.organization, actor=tenant_a.users["agent"], ticket=message.ticket, text="hello"
            )


def test_api_reply_and_a_second_send_attempt_sends_nothing_more(
    tenant_a, api_client_for, simulator, django_capture_on_commit_callbacks
):
    _conn, ticket = email_ticket(tenant_a, simulator)
    api = api_client_for(tenant_a, "owner")
    with django_capture_on_commit_callbacks(execute=True):
        answer = api.post(
            f"/api/v1/orgs/{tenant_a.slug}/tickets/{ticket.pk}/replies/", {"text": "Thanks!"}, format="json"
        )
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["direction"] == "outbound" and body["delivery_state"] in ("queued", "sent")
    with tenant_a.scope():
        # A redelivered task finds the reply sent and does nothing
        assert message_send(organization=tenant_a.organization, message_id=body["id"]).state == DeliveryState.SENT
    assert len(simulator.parts["email"].sent()) == 1


def test_a_send_interrupted_mid_way_is_resent_only_where_the_platform_deduplicates(tenant_a, simulator):
    _conn, ticket = email_ticket(tenant_a, simulator)
    with tenant_a.scope():
        reply = Message.objects.create(
            organization=tenant_a.organization,
            ticket=ticket,
            connection=ticket.connection,
            direction="outbound",
            kind="email",
            text="再送テスト",
            delivery_state=DeliveryState.SENDING,
            send_claimed_at=timezone.now() - timedelta(minutes=10),
            local_ref="0b7e8f4e-1c7d-4a55-9d0e-5f3f7b0c1a11",
        )
        # Email is idempotent (same Message-ID on a resend), so the stale claim is sent again
        assert message_send(organization=tenant_a.organization, message_id=reply.pk).state == DeliveryState.SENT
        reply.refresh_from_db()
        assert reply.platform_message_id.startswith("<0b7e8f4e-1c7d-4a55-9d0e-5f3f7b0c1a11@")


def test_a_send_claimed_by_another_worker_is_looked_at_again_after_the_claim_could_expire(tenant_a, simulator):
    """A second task for a reply being sent does not call the platform, and comes back when the claim would have
    expired: if the claiming worker died, nothing else would pick the reply up."""
    _conn, ticket = email_ticket(tenant_a, simulator)
    with tenant_a.scope():
        reply = Message.objects.create(
            organization=tenant_a.organization,
            ticket=ticket,
            connection=ticket.connection,
            direction="outbound",
            kind="email",
            text="送信中",
            delivery_state=DeliveryState.SENDING,
            send_claimed_at=timezone.now() - timedelta(minutes=1),
            local_ref="5c1d2f0e-7a55-4b9e-8d0c-2b1f9e3a4c77",
        )
        outcome = message_send(organization=tenant_a.organization, message_id=reply.pk)
    assert outcome.state == "busy" and outcome.retry_in > CLAIM_TIMEOUT.total_seconds()
    assert simulator.parts["email"].sent() == []


def test_conversation_shows_the_reply_box_with_the_channel_limits(tenant_a, login, simulator):
    _conn, ticket = email_ticket(tenant_a, simulator)
    page = login(tenant_a.users["owner"]).get(f"/{tenant_a.slug}/inbox/tickets/{ticket.pk}/conversation/")
    html = page.content.decode()
    assert 'id="reply-form"' in html and 'name="files"' in html


def test_reply_query_count_does_not_grow_with_the_conversation(tenant_a, login, simulator):
    _conn, ticket = email_ticket(tenant_a, simulator)
    client = login(tenant_a.users["owner"])
    url = f"/{tenant_a.slug}/inbox/tickets/{ticket.pk}/reply/"

    def count() -> int:
        with CaptureQueriesContext(db) as queries:
            assert client.post(url, {"text": "確認します"}).status_code == 200
        return len(queries)

    count()  # the first reply also records the first response time
    small = count()
    with tenant_a.scope():
        for i in range(15):
            message_ingest(
                organization=tenant_a.organization,
                connection=ticket.connection,
                inbound=inbound(
                    f"追記 {i}",
                    kind="email",
                    mid=f"<more{i}@example.jp>",
                    thread="<q1@example.jp>",
                    author="hanako@example.jp",
                ),
            )
    assert count() == small


def test_a_receipt_that_overtakes_the_record_of_its_send_is_applied_when_the_send_is_recorded(
    tenant_a, simulator, django_capture_on_commit_callbacks
):
    """WhatsApp posts a status webhook as soon as it answers the send call: another worker can ingest it before the
    sending worker has stored the message's platform id. That receipt must not be lost (the reply would show "sent"
    for ever); it is applied once the send is recorded."""
    conn, ticket = email_ticket(tenant_a, simulator)
    local_ref = "7d2c9a1e-3b4f-4e5a-8c6d-1f2e3a4b5c6d"
    platform_id = f"<{local_ref}@{MAILBOX.rpartition('@')[2]}>"  # the Message-ID the send will give it
    with tenant_a.scope():
        reply = Message.objects.create(
            organization=tenant_a.organization,
            ticket=ticket,
            connection=conn,
            direction="outbound",
            kind="email",
            text="先に届いた受信確認",
            delivery_state=DeliveryState.QUEUED,
            local_ref=local_ref,
        )
        early = DeliveryUpdate(platform_message_id=platform_id, state=DeliveryState.DELIVERED)
        assert not message_delivery_update(organization=tenant_a.organization, connection=conn, update=early)
        never_ours = DeliveryUpdate(platform_message_id="<someone-else@shop.example.jp>", state=DeliveryState.READ)
        assert not message_delivery_update(organization=tenant_a.organization, connection=conn, update=never_ours)
        with django_capture_on_commit_callbacks(execute=True):
            assert message_send(organization=tenant_a.organization, message_id=reply.pk).state == DeliveryState.SENT
        reply.refresh_from_db()
        assert (reply.platform_message_id, reply.delivery_state) == (platform_id, DeliveryState.DELIVERED)
        # applied once: a second send task finds nothing held
        assert (
            receipts_held_apply(organization=tenant_a.organization, connection=conn, platform_message_id=platform_id)
            == 0
        )


def test_a_reply_whose_send_task_was_lost_is_sent_once_by_the_sweep(
    tenant_a, login, simulator, monkeypatch, django_capture_on_commit_callbacks
):
    """Redis was away when the reply's send task was to be queued after its commit: the agent's reply is stored
    all the same (no error page), and the beat's sweep sends it once it has waited STRANDED_AFTER; the send's claim
    keeps it to one mail however often the sweep runs. A young reply, or one waiting for its retry, is left alone."""
    _conn, ticket = email_ticket(tenant_a, simulator)

    def broker_away(*args, **kwargs):
        raise ConnectionError("Redis is away")

    monkeypatch.setattr(replies.send_message, "apply_async", broker_away)
    client = login(tenant_a.users["owner"])
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(f"/{tenant_a.slug}/inbox/tickets/{ticket.pk}/reply/", {"text": "お待たせしました。"})
    assert answer.status_code == 200
    monkeypatch.undo()
    with tenant_a.scope():
        reply = Message.objects.get(ticket=ticket, direction="outbound")
        retrying = Message.objects.create(
            organization=tenant_a.organization,
            ticket=ticket,
            connection=ticket.connection,
            direction="outbound",
            kind="email",
            text="再試行待ち",
            delivery_state=DeliveryState.QUEUED,
            send_attempts=1,
        )
    assert reply.delivery_state == DeliveryState.QUEUED
    assert send_stranded_replies() == 0  # not yet: its task may simply be on its way
    old = timezone.now() - STRANDED_AFTER - timedelta(seconds=1)
    with tenant_a.scope():
        Message.objects.filter(pk__in=[reply.pk, retrying.pk]).update(created_at=old)
    assert send_stranded_replies() == 1  # the send task (eager in tests) sent it
    assert send_stranded_replies() == 0
    reply.refresh_from_db()
    assert reply.delivery_state == DeliveryState.SENT
    assert len(simulator.parts["email"].sent()) == 1


def test_a_reply_whose_retry_task_was_lost_is_sent_by_the_sweep_once_the_retry_was_due(tenant_a, simulator):
    """The first send met a transient Graph error: the reply is queued again with its retry due in 30 s. The sweep
    leaves it alone until STRANDED_AFTER past that moment (its retry task may be on its way); then it sends it, once."""
    conn = page_connection(tenant_a, simulator, "facebook")
    meta = simulator.parts["meta"]
    meta.register_customer(conn.external_account_id, "PSID-1")
    with tenant_a.scope():
        message, _ = message_ingest(
            organization=tenant_a.organization,
            connection=conn,
            inbound=inbound("在庫はありますか", author="PSID-1", thread="dm:PSID-1"),
        )
        reply = Message.objects.create(
            organization=tenant_a.organization,
            ticket=message.ticket,
            connection=conn,
            direction="outbound",
            kind="direct",
            text="ございます。",
            delivery_state=DeliveryState.QUEUED,
        )
    error = {"message": "Please retry your request later.", "type": "OAuthException", "code": 1200}
    meta.failures.append(Response(400, {"error": {**error, "is_transient": True, "fbtrace_id": "AbC"}}))
    before = timezone.now()
    with tenant_a.scope():  # as the send task runs
        outcome = message_send(organization=tenant_a.organization, message_id=reply.pk)
    assert outcome.state == DeliveryState.QUEUED and outcome.retry_in == 30
    reply.refresh_from_db()
    assert reply.send_attempts == 1 and reply.send_retry_at >= before + timedelta(seconds=30)
    old = timezone.now() - timedelta(hours=1)
    with tenant_a.scope():
        Message.objects.filter(pk=reply.pk).update(created_at=old)
    assert send_stranded_replies() == 0  # its retry is not even due
    with tenant_a.scope():
        Message.objects.filter(pk=reply.pk).update(send_retry_at=timezone.now() - STRANDED_AFTER / 2)
    assert send_stranded_replies() == 0  # due, but its task may be on its way
    with tenant_a.scope():
        Message.objects.filter(pk=reply.pk).update(send_retry_at=timezone.now() - STRANDED_AFTER - timedelta(seconds=1))
    assert send_stranded_replies() == 1  # the send task (eager in tests) sent it
    assert send_stranded_replies() == 0
    reply.refresh_from_db()
    assert reply.delivery_state == DeliveryState.SENT and reply.send_attempts == 2
