"""The inbound endpoint's per-process memories: the connection a URL names (briefly, forgotten on any change saved)
and the inbound token read from the encrypted credentials (by their ciphertext, so a new token counts at once).
A remembered mail costs one statement (its insert); the memories are bounded."""

import pytest
from django.test import RequestFactory

from channels_integrations import webhooks
from channels_integrations.models import ChannelConnection
from channels_integrations.providers.email import connector as email_connector
from channels_integrations.providers.email.tests.test_connector import TOKEN, mailbox
from channels_integrations.providers.email.tests.test_intake import mail

pytestmark = pytest.mark.django_db


def post(connection, raw: bytes, token: str = TOKEN):
    request = RequestFactory().post(
        f"/webhooks/email/{connection.uuid}/",
        data=raw,
        content_type="message/rfc822",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    return webhooks.per_connection(request, "email", connection.uuid)


@pytest.fixture
def memory(settings):
    settings.WEBHOOK_ACCOUNT_MEMORY_SECONDS = 60
    webhooks._by_uuid.clear()
    yield
    webhooks._by_uuid.clear()


def test_a_remembered_mailbox_costs_a_mail_one_statement(tenant_a, memory, django_assert_num_queries):
    connection = mailbox(tenant_a)
    assert post(connection, mail("<1@example.jp>", "一通目")).status_code == 200
    with django_assert_num_queries(1):  # the raw event's insert: no lookup of the connection, no decryption
        assert post(connection, mail("<2@example.jp>", "二通目")).status_code == 200


def test_a_new_token_counts_at_once_and_the_old_one_no_longer(tenant_a, memory):
    connection = mailbox(tenant_a)
    assert post(connection, mail("<1@example.jp>", "一通目")).status_code == 200
    with tenant_a.scope():
        connection.set_credentials({"inbound_token": "a-new-token-0123456789"})
        connection.save(update_fields=["credentials_encrypted"])
    assert post(connection, mail("<2@example.jp>", "二通目")).status_code == 403
    assert post(connection, mail("<3@example.jp>", "三通目"), token="a-new-token-0123456789").status_code == 200


def test_a_disconnected_mailbox_is_forgotten_at_once(tenant_a, memory):
    connection = mailbox(tenant_a)
    assert post(connection, mail("<1@example.jp>", "一通目")).status_code == 200
    with tenant_a.scope():
        connection.status = "disconnected"
        connection.save(update_fields=["status"])
    assert post(connection, mail("<2@example.jp>", "二通目")).status_code == 404


def test_the_memories_keep_at_most_their_ceiling(tenant_a, memory, monkeypatch):
    monkeypatch.setattr(webhooks, "MEMORY_MAX_ENTRIES", 3)
    monkeypatch.setattr(email_connector, "TOKENS_MAX_ENTRIES", 3)
    email_connector._tokens.clear()
    sizes = []
    for n in range(7):
        with tenant_a.scope():
            connection = ChannelConnection(
                organization=tenant_a.organization,
                platform="email",
                display_name=f"box{n}",
                external_account_id=f"box{n}@shop.example.jp",
                config={"address": f"box{n}@shop.example.jp"},
            )
            connection.set_credentials({"inbound_token": TOKEN})
            connection.save()
        assert post(connection, mail(f"<{n}@example.jp>", "本文")).status_code == 200
        sizes.append((len(webhooks._by_uuid), len(email_connector._tokens)))
    assert max(s[0] for s in sizes) <= 3 and max(s[1] for s in sizes) <= 3
