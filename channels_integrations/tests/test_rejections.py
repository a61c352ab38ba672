"""Forged webhook requests are counted and shown on the channel, but cannot flood the audit log (issue 15, finding 9):
at most one audit entry per connection and reason per window."""

import pytest
from django_scopes import scopes_disabled

from accounts.models import AuditAction, AuditEntry
from channels_integrations.models import ChannelConnection, InboundEvent
from channels_integrations.providers.email.tests.test_connector import japanese_mail, mailbox, post_mime

pytestmark = pytest.mark.django_db


def _audited(**filters) -> int:
    with scopes_disabled():
        return AuditEntry.objects.filter(action=AuditAction.WEBHOOK_REJECTED, **filters).count()


def test_a_flood_of_forged_requests_is_counted_but_audited_once(client, tenant_a, login):
    connection = mailbox(tenant_a)
    raw = japanese_mail("件名", "本文", msgid="<forged@example.jp>")
    for _ in range(40):
        assert post_mime(client, connection, raw, token="forged").status_code == 403
    assert _audited(organization=tenant_a.organization) == 1
    with scopes_disabled():
        assert InboundEvent.objects.count() == 0
    page = login(tenant_a.users["owner"]).get(f"/{tenant_a.slug}/settings/channels/{connection.pk}/").content.decode()
    count = page[page.index('id="rejected-requests"') :][:80]
    assert ">40" in count


def test_each_reason_and_each_connection_is_audited_once_per_window(client, tenant_a, settings):
    first = mailbox(tenant_a)
    with tenant_a.scope():
        ChannelConnection.objects.filter(pk=first.pk).update(external_account_id="other@shop.example.jp")
    second = mailbox(tenant_a)
    raw = japanese_mail("件名", "本文", msgid="<forged@example.jp>")
    for connection in (first, second, first, second):
        post_mime(client, connection, raw, token="forged")  # 403: wrong token
        client.post(f"/webhooks/email/{connection.uuid}/", data=raw, content_type="message/rfc822")  # 401: none
    assert _audited(organization=tenant_a.organization) == 4  # 2 connections x 2 reasons


def test_app_level_rejections_without_a_connection_are_limited_too(client, tenant_a):
    for _ in range(10):
        response = client.post(
            "/webhooks/meta/", data=b'{"object": "page", "entry": []}', content_type="application/json"
        )
        assert response.status_code == 401
    assert _audited(organization=None) == 1
