"""Starting a conversation: the contact found or made, the ticket opened and assigned, the first message sent over
SMTP (the email simulator) as a new mail, not a reply, and the customer's answer threading back into the ticket;
refusals as field errors; a delivery failure kept on the message like a failed reply's."""

import email
from email.policy import default as default_policy

import pytest

from accounts import services as account_services
from channels_integrations import services as channel_services
from channels_integrations.models import ConnectionStatus
from channels_integrations.providers.email.tests.test_connector import MAILBOX, mailbox
from channels_integrations.registry import connector_for
from core.errors import DomainError, NotAllowed
from tickets.models import (
    Contact,
    ContactIdentity,
    DeliveryState,
    Direction,
    Message,
    Ticket,
    TicketEvent,
    TicketEventKind,
    TicketStatus,
)
from tickets.services.ingest import message_ingest
from tickets.services.start import conversation_start
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db


def _grant(tenant, conn, role: str = "agent"):
    with tenant.scope():
        account_services.connection_access_set(
            organization=tenant.organization, actor=tenant.users["owner"], connection=conn, users=[tenant.users[role]]
        )
    return conn


def _mailbox(tenant, simulator, *, granted: bool = True):
    part = simulator.parts["email"]
    part.add_mailbox(MAILBOX, MAILBOX, "mail-password")
    conn = mailbox(tenant, imap_port=part.imap_port, smtp_port=part.smtp_port)
    return _grant(tenant, conn) if granted else conn


def _start(tenant, conn, **overrides):
    values = {
        "email": "taro@example.jp",
        "name": "山田 太郎",
        "subject": "お電話の件",
        "text": "先ほどはお電話ありがとうございました。見積書をお送りします。",
    }
    values.update(overrides)
    return conversation_start(organization=tenant.organization, actor=tenant.users["agent"], connection=conn, **values)


def _sent_mail(simulator):
    sent = simulator.parts["email"].sent()[-1]
    return sent, email.message_from_bytes(sent["data"], policy=default_policy)


def test_a_started_conversation_is_sent_as_a_new_mail_and_the_answer_threads_back(
    tenant_a, simulator, django_capture_on_commit_callbacks
):
    conn = _mailbox(tenant_a, simulator)
    agent = tenant_a.users["agent"]
    with tenant_a.scope():
        # When the agent starts a conversation with a customer the helpdesk has never heard from
        with django_capture_on_commit_callbacks(execute=True):
            ticket = _start(tenant_a, conn)
        # Then a contact, an open ticket assigned to the agent and a sent message exist
        ticket.refresh_from_db()
        assert ticket.status == TicketStatus.OPEN and ticket.assignee == agent
        assert ticket.subject == "お電話の件" and ticket.connection == conn
        assert ticket.last_customer_message_at is None  # nobody has written to us yet
        contact = ticket.contact
        assert (contact.name, contact.email) == ("山田 太郎", "taro@example.jp")
        assert ContactIdentity.objects.filter(contact=contact, platform="email", external_id="taro@example.jp").exists()
        [message] = Message.objects.filter(ticket=ticket)
        assert message.direction == Direction.OUTBOUND and message.author_user == agent
        assert message.delivery_state == DeliveryState.SENT
        assert TicketEvent.objects.filter(ticket=ticket, kind=TicketEventKind.CREATED, actor=agent).exists()
    # The customer receives a new mail (no "Re:", nothing it answers) whose Message-ID the ticket keeps
    sent, mail = _sent_mail(simulator)
    assert sent["rcpt"] == ["taro@example.jp"]
    assert mail["Subject"] == "お電話の件"
    assert mail["In-Reply-To"] is None and mail["References"] is None
    assert mail["Message-ID"] == message.platform_message_id
    assert "見積書をお送りします" in mail.get_body(("plain",)).get_content()

    # When the customer answers from their mail client (In-Reply-To / References name our mail)
    simulator.parts["email"].customer_email(
        to=MAILBOX,
        from_addr="taro@example.jp",
        from_name="山田 太郎",
        subject="Re: お電話の件",
        text="ありがとうございます。確認します。",
        in_reply_to=mail["Message-ID"],
        deliver="imap",
    )
    with tenant_a.scope(), django_capture_on_commit_callbacks(execute=True):
        assert channel_services.connection_poll(organization=tenant_a.organization, connection_id=conn.pk) == 1
    with tenant_a.scope():
        # Then it lands in the same ticket, from the same contact, and no other ticket is opened
        assert Ticket.objects.count() == 1
        answer = Message.objects.get(direction=Direction.INBOUND)
        assert answer.ticket_id == ticket.pk and answer.author_contact_id == contact.pk
        assert answer.text.startswith("ありがとうございます")
        ticket.refresh_from_db()
        assert ticket.status == TicketStatus.OPEN and ticket.last_customer_message_at is not None


def test_a_known_customer_is_found_by_address_whatever_its_case(
    tenant_a, simulator, django_capture_on_commit_callbacks
):
    conn = _mailbox(tenant_a, simulator)
    with tenant_a.scope():
        earlier, _ = message_ingest(
            organization=tenant_a.organization,
            connection=conn,
            inbound=inbound(
                "見積もりをお願いします",
                kind="email",
                mid="<q@example.jp>",
                thread="<q@example.jp>",
                author="hanako@example.jp",
                author_email="hanako@example.jp",
                name="佐藤 花子",
            ),
        )
        with django_capture_on_commit_callbacks(execute=True):
            ticket = _start(tenant_a, conn, email="Hanako@Example.JP", name="別の名前")
        # The known contact, keeping their name; a second ticket of theirs (the first one is another conversation)
        assert ticket.contact_id == earlier.author_contact_id
        assert Contact.objects.count() == 1 and Contact.objects.get().name == "佐藤 花子"
        assert Ticket.objects.count() == 2
    sent, _mail = _sent_mail(simulator)
    assert sent["rcpt"] == ["hanako@example.jp"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"email": ""}, "email"),
        ({"subject": "   "}, "subject"),
        ({"subject": "件" * 301}, "subject"),
        ({"text": " \n "}, "text"),
    ],
)
def test_bad_input_is_refused_on_its_field_and_nothing_is_stored(tenant_a, simulator, overrides, field):
    conn = _mailbox(tenant_a, simulator)
    with tenant_a.scope():
        with pytest.raises(DomainError) as refused:
            _start(tenant_a, conn, **overrides)
        assert refused.value.field == field and refused.value.message
        assert not Ticket.objects.exists() and not Contact.objects.exists()


def test_channels_that_cannot_write_first_or_are_stopped_are_refused(tenant_a, simulator):
    facebook = _grant(tenant_a, connection(tenant_a, "facebook"))
    paused = _mailbox(tenant_a, simulator)
    with tenant_a.scope():
        with pytest.raises(DomainError) as refused:
            _start(tenant_a, facebook)
        assert refused.value.field == "channel" and refused.value.code == "cannot_initiate"
        paused.status = ConnectionStatus.PAUSED
        paused.save(update_fields=["status"])
        with pytest.raises(DomainError) as refused:
            _start(tenant_a, paused)
        assert refused.value.field == "channel" and refused.value.code == "channel_unavailable"
        assert not Ticket.objects.exists()


def test_an_agent_not_granted_the_channel_cannot_write_from_it(tenant_a, simulator):
    conn = _mailbox(tenant_a, simulator, granted=False)
    with tenant_a.scope():
        with pytest.raises(NotAllowed) as refused:
            _start(tenant_a, conn)
        assert refused.value.field == "channel"
        assert not Ticket.objects.exists()
    assert simulator.parts["email"].sent() == []


def test_only_email_can_start_a_conversation():
    # Meta's Send API answers a customer within the 24 hours (7 with HUMAN_AGENT) after their own message, by an id
    # that exists only once they have written: a business cannot write first (../shared/platforms/PROTOCOLS.md §1.7).
    assert connector_for("email").can_initiate
    assert not connector_for("facebook").can_initiate and not connector_for("instagram").can_initiate


def test_a_refused_address_fails_the_message_on_the_ticket_like_a_failed_reply(
    tenant_a, simulator, django_capture_on_commit_callbacks
):
    conn = _mailbox(tenant_a, simulator)
    simulator.parts["email"].fail_rcpt = "550 5.1.1 User unknown"
    with tenant_a.scope():
        with django_capture_on_commit_callbacks(execute=True):
            ticket = _start(tenant_a, conn, email="nobody@example.jp")
        message = Message.objects.get(ticket=ticket)
        assert message.delivery_state == DeliveryState.FAILED
        assert "User unknown" in message.delivery_error
        assert Ticket.objects.filter(pk=ticket.pk).exists()  # the ticket stays, to retry or correct
