"""The "New conversation" page: who may use it, which channels it offers, what a bad submission answers, and the
landing on the new ticket; its query budget does not grow with the channels."""

import re

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from accounts import services as account_services
from channels_integrations.providers.email.tests.test_connector import MAILBOX, mailbox
from tickets.models import DeliveryState, Message, Ticket
from tickets.tests.factories import connection

pytestmark = pytest.mark.django_db


def _grant(tenant, conn, user):
    with tenant.scope():
        account_services.connection_access_set(
            organization=tenant.organization, actor=tenant.users["owner"], connection=conn, users=[user]
        )


def _mailbox(tenant, simulator):
    part = simulator.parts["email"]
    part.add_mailbox(MAILBOX, MAILBOX, "mail-password")
    return mailbox(tenant, imap_port=part.imap_port, smtp_port=part.smtp_port)


def _url(tenant) -> str:
    return f"/{tenant.slug}/inbox/new/"


def _form(conn, **overrides) -> dict:
    return {
        "channel": conn.pk,
        "email": "taro@example.jp",
        "name": "山田 太郎",
        "subject": "お電話の件",
        "text": "先ほどはお電話ありがとうございました。",
        **overrides,
    }


def test_the_form_offers_only_granted_channels_that_can_write_first(tenant_a, login, simulator):
    granted = _mailbox(tenant_a, simulator)
    other_mailbox = connection(tenant_a, "email", name="sales@shop.example.jp")  # not granted to the agent
    facebook = connection(tenant_a, "facebook", name="デモストア")
    agent = tenant_a.users["agent"]
    _grant(tenant_a, granted, agent)
    _grant(tenant_a, facebook, agent)
    page = login(agent).get(_url(tenant_a))
    assert page.status_code == 200
    html = page.content.decode()
    assert f'<option value="{granted.pk}" selected>' in html  # the only choice is chosen
    assert f'value="{other_mailbox.pk}"' not in html and f'value="{facebook.pk}"' not in html
    assert "new-conversation-form" in html


def test_members_who_do_not_work_tickets_get_403(tenant_a, login):
    assert login(tenant_a.users["analyst"]).get(_url(tenant_a)).status_code == 403


def test_without_a_channel_that_can_write_first_the_page_says_why(tenant_a, login):
    facebook = connection(tenant_a, "facebook")
    _grant(tenant_a, facebook, tenant_a.users["agent"])
    html = login(tenant_a.users["agent"]).get(_url(tenant_a)).content.decode()
    assert 'id="no-startable-channel"' in html and "new-conversation-form" not in html
    assert f"/{tenant_a.slug}/settings/channels/" not in html  # agents cannot connect channels: they are told to ask


def test_sending_opens_the_new_ticket_with_the_message_sent(
    tenant_a, login, simulator, django_capture_on_commit_callbacks
):
    conn = _mailbox(tenant_a, simulator)
    agent = tenant_a.users["agent"]
    _grant(tenant_a, conn, agent)
    client = login(agent)
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(_url(tenant_a), _form(conn))
    with tenant_a.scope():
        ticket = Ticket.objects.get()
        assert ticket.assignee == agent
        assert Message.objects.get(ticket=ticket).delivery_state == DeliveryState.SENT
    assert answer.status_code == 302 and answer["Location"] == f"/{tenant_a.slug}/inbox/tickets/{ticket.pk}/"
    html = client.get(answer["Location"]).content.decode()
    assert "先ほどはお電話ありがとうございました。" in html
    assert "delivery-sent" in html and "taro@example.jp" in html  # the bubble's state; the banner names the address
    assert len(simulator.parts["email"].sent()) == 1


@pytest.mark.parametrize(
    "overrides",
    [{"email": "taro@"}, {"email": ""}, {"subject": ""}, {"text": "  "}, {"channel": ""}, {"channel": "x"}],
)
def test_bad_input_is_an_error_on_its_field(tenant_a, login, simulator, overrides):
    conn = _mailbox(tenant_a, simulator)
    answer = login(tenant_a.users["owner"]).post(_url(tenant_a), _form(conn, **overrides))
    assert answer.status_code == 400
    html = answer.content.decode()
    [field] = overrides
    assert re.search(rf'class="field has-error">\s*<label for="id_{field}"', html)
    assert len(re.findall('class="field-error" role="alert"', html)) == 1
    kept = {"subject": "お電話の件", "text": "先ほどはお電話ありがとうございました。"}
    assert all(value in html for name, value in kept.items() if name != field)  # what was typed is kept
    with tenant_a.scope():
        assert not Ticket.objects.exists()


def test_a_granted_channel_that_cannot_write_first_is_a_form_error(tenant_a, login):
    facebook = connection(tenant_a, "facebook", name="デモストア")
    _grant(tenant_a, facebook, tenant_a.users["agent"])
    answer = login(tenant_a.users["agent"]).post(_url(tenant_a), _form(facebook))
    assert answer.status_code == 400
    assert "デモストア" in answer.content.decode()  # the sentence names the channel and why
    with tenant_a.scope():
        assert not Ticket.objects.exists()


def test_a_channel_the_member_is_not_granted_is_403(tenant_a, login, simulator):
    conn = _mailbox(tenant_a, simulator)  # not granted to the agent
    answer = login(tenant_a.users["agent"]).post(_url(tenant_a), _form(conn))
    assert answer.status_code == 403
    with tenant_a.scope():
        assert not Ticket.objects.exists()
    assert simulator.parts["email"].sent() == []


def test_another_organizations_channel_is_404(tenant_a, tenant_b, login, simulator):
    theirs = _mailbox(tenant_b, simulator)
    answer = login(tenant_a.users["owner"]).post(_url(tenant_a), _form(theirs))
    assert answer.status_code == 404
    with tenant_b.scope():
        assert not Ticket.objects.exists()
    assert simulator.parts["email"].sent() == []


def test_the_inbox_has_the_button_and_the_shortcut_for_members_who_work_tickets(tenant_a, login):
    html = login(tenant_a.users["agent"]).get(f"/{tenant_a.slug}/inbox/").content.decode()
    assert 'id="new-conversation"' in html and f'href="/{tenant_a.slug}/inbox/new/"' in html
    assert "<kbd>c</kbd>" in html
    html = login(tenant_a.users["analyst"]).get(f"/{tenant_a.slug}/inbox/").content.decode()
    assert 'id="new-conversation"' not in html and "<kbd>c</kbd>" not in html


def test_the_button_of_a_channel_view_offers_that_channel_first(tenant_a, login, simulator):
    first = _mailbox(tenant_a, simulator)
    second = connection(tenant_a, "email", name="sales@shop.example.jp")
    client = login(tenant_a.users["owner"])
    html = client.get(f"/{tenant_a.slug}/inbox/", {"connection": second.pk}).content.decode()
    assert f'href="/{tenant_a.slug}/inbox/new/?channel={second.pk}"' in html
    html = client.get(_url(tenant_a), {"channel": second.pk}).content.decode()
    assert f'<option value="{second.pk}" selected>' in html and f'<option value="{first.pk}">' in html


def test_the_page_query_count_does_not_grow_with_channels(tenant_a, login, simulator):
    agent = tenant_a.users["agent"]
    client = login(agent)
    _grant(tenant_a, _mailbox(tenant_a, simulator), agent)
    client.get(_url(tenant_a))  # warm-up: records the member's last organization

    def count() -> int:
        with CaptureQueriesContext(db) as queries:
            assert client.get(_url(tenant_a)).status_code == 200
        return len(queries)

    small = count()
    for n in range(4):
        _grant(tenant_a, connection(tenant_a, "email", name=f"box{n}@shop.example.jp"), agent)
        _grant(tenant_a, connection(tenant_a, "facebook"), agent)
    assert count() == small
