"""The Channels settings pages as an admin uses them: the list with each connection's health, pause / resume /
disconnect (audit-logged), the mailbox form (credentials encrypted, the inbound token shown once), dead letters
replayed from the page, and the Facebook OAuth flow end to end against the simulator's dialog and Graph API."""

import re
from html import unescape
from urllib.parse import urlsplit

import pytest
import requests
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditAction, AuditEntry
from channels_integrations.models import ChannelConnection, ConnectionStatus, InboundEvent, InboundEventStatus
from tickets.models import Message


def page(tenant, n: int, *, platform: str = "facebook") -> ChannelConnection:
    with tenant.scope():
        connection = ChannelConnection(
            organization=tenant.organization,
            platform=platform,
            display_name=f"ページ {n}",
            external_account_id=f"90000000000{n:04d}",
        )
        connection.set_credentials({"access_token": f"EAAG-secret-{n}"})
        connection.save()
        return connection


def audit_actions(tenant) -> list[str]:
    with tenant.scope():
        return list(AuditEntry.objects.order_by("id").values_list("action", flat=True))


# --- the list and its health ------------------------------------------------------------------------------------


def test_the_list_shows_health_and_never_a_credential(tenant_a, login):
    healthy = page(tenant_a, 1)
    broken = page(tenant_a, 2)
    with tenant_a.scope():
        ChannelConnection.objects.filter(pk=broken.pk).update(
            status=ConnectionStatus.NEEDS_REAUTH, last_error="Error validating access token"
        )
        InboundEvent.objects.create(
            organization=tenant_a.organization,
            connection=healthy,
            event_key="dead-1",
            payload=b"{}",
            status=InboundEventStatus.DEAD,
            attempts=6,
        )
    body = login(tenant_a.users["owner"]).get(f"/{tenant_a.slug}/settings/channels/").content.decode()
    assert "ページ 1" in body and "ページ 2" in body
    assert "Error validating access token" in body
    assert "EAAG-secret" not in body


def test_the_list_costs_the_same_queries_for_2_or_12_connections(tenant_a, login):
    client = login(tenant_a.users["owner"])
    url = f"/{tenant_a.slug}/settings/channels/"
    for n in range(2):
        page(tenant_a, n)
    client.get(url)

    def count() -> int:
        with CaptureQueriesContext(db) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    few = count()
    for n in range(2, 12):
        page(tenant_a, n)
    assert count() == few


@pytest.mark.parametrize("role", ["agent", "manager"])
def test_only_admins_manage_channels(tenant_a, login, role):
    connection = page(tenant_a, 1)
    client = login(tenant_a.users[role])
    assert client.get(f"/{tenant_a.slug}/settings/channels/").status_code == 403
    assert client.get(f"/{tenant_a.slug}/settings/channels/{connection.pk}/").status_code == 403
    answer = client.post(f"/{tenant_a.slug}/settings/channels/{connection.pk}/status/", {"status": "paused"})
    assert answer.status_code == 403
    with tenant_a.scope():
        assert ChannelConnection.objects.get().status == ConnectionStatus.ACTIVE


def test_another_organizations_connection_is_not_found(tenant_a, tenant_b, login):
    theirs = page(tenant_b, 1)
    client = login(tenant_a.users["owner"])
    assert client.get(f"/{tenant_a.slug}/settings/channels/{theirs.pk}/").status_code == 404
    assert client.post(f"/{tenant_a.slug}/settings/channels/{theirs.pk}/status/", {"status": "paused"}).status_code == (
        404
    )
    with tenant_b.scope():
        assert ChannelConnection.objects.get().status == ConnectionStatus.ACTIVE


# --- pause, resume, disconnect --------------------------------------------------------------------------------------


def test_pause_resume_and_disconnect_are_audited_and_disconnect_forgets_the_credentials(tenant_a, login):
    connection = page(tenant_a, 1)
    client = login(tenant_a.users["admin"])
    url = f"/{tenant_a.slug}/settings/channels/{connection.pk}/status/"
    for status in ("paused", "active", "disconnected"):
        assert client.post(url, {"status": status, "confirmed": "yes"}).status_code == 302
        connection.refresh_from_db()
        assert connection.status == status
    assert connection.credentials_encrypted == ""
    assert audit_actions(tenant_a)[-3:] == [
        AuditAction.CHANNEL_PAUSED,
        AuditAction.CHANNEL_RESUMED,
        AuditAction.CHANNEL_DISCONNECTED,
    ]
    # A disconnected channel is not resumed behind the admin's back: it is connected again instead
    client.post(url, {"status": "active"})
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.DISCONNECTED


def test_an_unknown_status_changes_nothing(tenant_a, login):
    connection = page(tenant_a, 1)
    client = login(tenant_a.users["owner"])
    client.post(f"/{tenant_a.slug}/settings/channels/{connection.pk}/status/", {"status": "deleted"})
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ACTIVE


# --- dead letters ---------------------------------------------------------------------------------------------------


def test_a_dead_letter_is_shown_and_replayed_into_a_ticket(
    tenant_a, login, settings, django_capture_on_commit_callbacks
):
    settings.META_APP_SECRET = "s"
    connection = page(tenant_a, 1)
    body = (
        b'{"object":"page","entry":[{"id":"%s","time":1,"messaging":[{"sender":{"id":"77"},"recipient":{"id":"%s"},'
        b'"timestamp":1700000000000,"message":{"mid":"m_replayed","text":"\\u8fd4\\u54c1"}}]}]}'
        % (connection.external_account_id.encode(), connection.external_account_id.encode())
    )
    with tenant_a.scope():
        event = InboundEvent.objects.create(
            organization=tenant_a.organization,
            connection=connection,
            event_key="m_replayed",
            payload=body,
            status=InboundEventStatus.DEAD,
            attempts=6,
            last_error="OperationalError: the database restarted",
        )
    client = login(tenant_a.users["owner"])
    detail = client.get(f"/{tenant_a.slug}/settings/channels/{connection.pk}/").content.decode()
    assert "the database restarted" in detail
    assert "m_replayed" in unescape(detail)
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(f"/{tenant_a.slug}/settings/channels/{connection.pk}/events/{event.pk}/replay/")
    assert answer.status_code == 302
    event.refresh_from_db()
    assert event.status == InboundEventStatus.PROCESSED
    with tenant_a.scope():
        assert Message.objects.get(platform_message_id="m_replayed").text == "返品"
    assert AuditAction.EVENT_REPLAYED in audit_actions(tenant_a)


# --- the mailbox form -----------------------------------------------------------------------------------------------

MAILBOX_FORM = {
    "address": "support@shop.example.jp",
    "from_name": "ショップ サポート",
    "username": "support@shop.example.jp",
    "password": "imap-password-1",
    "imap_host": "127.0.0.1",
    "imap_security": "none",
    "imap_folder": "INBOX",
    "smtp_host": "127.0.0.1",
    "smtp_security": "none",
}


@pytest.fixture
def mail_server(simulator):
    """The simulator's IMAP and SMTP servers with the support mailbox; returns the form as an admin fills it."""
    part = simulator.parts["email"]
    part.add_mailbox(MAILBOX_FORM["address"], MAILBOX_FORM["username"], MAILBOX_FORM["password"])
    return {**MAILBOX_FORM, "imap_port": str(part.imap_port), "smtp_port": str(part.smtp_port)}


def test_a_mailbox_is_connected_with_encrypted_credentials_and_the_token_is_shown_once(tenant_a, login, mail_server):
    client = login(tenant_a.users["owner"])
    answer = client.post(f"/{tenant_a.slug}/settings/channels/email/", mail_server)
    assert answer.status_code == 200
    with tenant_a.scope():
        connection = ChannelConnection.objects.get(platform="email")
    token = connection.credentials["inbound_token"]
    assert connection.credentials["password"] == "imap-password-1"
    assert "imap-password-1" not in connection.credentials_encrypted
    assert token not in connection.credentials_encrypted
    shown = answer.content.decode()
    assert token in shown and f"/webhooks/email/{connection.uuid}/" in shown
    assert "imap-password-1" not in shown
    # Never again: not on the detail page, not in the edit form
    detail = client.get(f"/{tenant_a.slug}/settings/channels/{connection.pk}/").content.decode()
    form = client.get(f"/{tenant_a.slug}/settings/channels/email/").content.decode()
    for later in (detail, form):
        assert token not in later and "imap-password-1" not in later
    assert AuditAction.CHANNEL_CONNECTED in audit_actions(tenant_a)


def test_saving_the_mailbox_again_without_a_password_keeps_the_stored_one(tenant_a, login, mail_server):
    client = login(tenant_a.users["owner"])
    client.post(f"/{tenant_a.slug}/settings/channels/email/", mail_server)
    again = {**mail_server, "password": "", "from_name": "サポート窓口"}
    assert client.post(f"/{tenant_a.slug}/settings/channels/email/", again).status_code == 200
    with tenant_a.scope():
        connection = ChannelConnection.objects.get(platform="email")
    assert connection.credentials["password"] == "imap-password-1"
    assert connection.config["from_name"] == "サポート窓口"


def test_a_mailbox_the_server_refuses_is_not_connected_and_the_admin_sees_why(tenant_a, login, mail_server):
    client = login(tenant_a.users["owner"])
    answer = client.post(f"/{tenant_a.slug}/settings/channels/email/", {**mail_server, "password": "wrong"})
    assert answer.status_code == 400
    errors = " ".join(answer.context["form"].non_field_errors())
    assert "LOGIN" in errors or "login" in errors.lower() or "ログイン" in errors
    with tenant_a.scope():
        assert not ChannelConnection.objects.exists()
        assert not AuditEntry.objects.filter(action=AuditAction.CHANNEL_CONNECTED).exists()


@pytest.mark.parametrize(
    ("change", "says"),
    [({"imap_port": "9"}, "127.0.0.1"), ({"imap_host": "mail.no-such-host.invalid"}, "mail.no-such-host.invalid")],
)
def test_an_unreachable_mail_server_is_a_clear_form_error(tenant_a, login, mail_server, change, says):
    client = login(tenant_a.users["owner"])
    answer = client.post(f"/{tenant_a.slug}/settings/channels/email/", {**mail_server, **change})
    assert answer.status_code == 400
    errors = " ".join(answer.context["form"].non_field_errors())
    assert says in errors and "Errno" not in errors  # words an admin can act on, not the socket's
    with tenant_a.scope():
        assert not ChannelConnection.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"), [("address", "not-an-address"), ("imap_port", "70000"), ("smtp_security", "telnet")]
)
def test_a_wrong_mailbox_form_says_what_is_wrong_and_stores_nothing(tenant_a, login, field, value):
    client = login(tenant_a.users["owner"])
    form = {**MAILBOX_FORM, "imap_port": "993", "smtp_port": "587"}
    answer = client.post(f"/{tenant_a.slug}/settings/channels/email/", {**form, field: value})
    assert answer.status_code == 400
    assert answer.context["form"].errors[field]
    with tenant_a.scope():
        assert not ChannelConnection.objects.exists()


def test_a_new_mailbox_needs_a_password(tenant_a, login):
    client = login(tenant_a.users["owner"])
    form = {**MAILBOX_FORM, "imap_port": "993", "smtp_port": "587", "password": ""}
    answer = client.post(f"/{tenant_a.slug}/settings/channels/email/", form)
    assert answer.status_code == 400
    assert answer.context["form"].errors["password"]


# --- OAuth ----------------------------------------------------------------------------------------------------------


def _dialog_link(location: str, link_id: str) -> str:
    """Follow the redirect to the platform's dialog (the simulator's, over real HTTP) and return the link the user
    clicks, as a path on Tsunagu."""
    dialog = requests.get(location, timeout=10)
    assert dialog.status_code == 200
    href = unescape(re.search(rf'id="{link_id}" href="([^"]+)"', dialog.text).group(1))
    parts = urlsplit(href)
    return f"{parts.path}?{parts.query}"


def test_facebook_pages_are_connected_through_the_oauth_dialog(tenant_a, login, simulator, settings):
    meta = simulator.parts["meta"]
    pages = meta.provision()["pages"]
    client = login(tenant_a.users["owner"])
    started = client.get(f"/{tenant_a.slug}/settings/channels/connect/", {"platform": "facebook"})
    assert started.status_code == 302
    location = started["Location"]
    assert location.startswith(f"{simulator.base_url}/{settings.META_GRAPH_VERSION}/dialog/oauth?")
    assert "client_id=1234567890" in location and "pages_messaging" in location
    callback = _dialog_link(location, "continue")
    assert callback.startswith("/oauth/facebook/callback/?code=")
    chosen = client.get(callback)
    assert chosen["Location"] == f"/{tenant_a.slug}/settings/channels/choose/"
    choose = client.get(chosen["Location"]).content.decode()
    assert pages[0]["name"] in choose
    assert pages[0]["access_token"] not in choose
    key = f"facebook:{pages[0]['id']}"
    assert client.post(chosen["Location"], {"account": [key]}).status_code == 302
    with tenant_a.scope():
        connection = ChannelConnection.objects.get(platform="facebook")
    assert connection.external_account_id == pages[0]["id"]
    assert connection.credentials["access_token"] == pages[0]["access_token"]
    assert connection.status == ConnectionStatus.ACTIVE
    assert pages[0]["id"] in meta.state()["subscriptions"]  # webhooks subscribed for the page
    assert AuditAction.CHANNEL_CONNECTED in audit_actions(tenant_a)
    # The choices are gone from the session once used
    assert client.get(chosen["Location"])["Location"] == f"/{tenant_a.slug}/settings/channels/"


def test_a_declined_dialog_connects_nothing_and_says_why(tenant_a, login, simulator):
    simulator.parts["meta"].provision()
    client = login(tenant_a.users["owner"])
    started = client.get(f"/{tenant_a.slug}/settings/channels/connect/", {"platform": "facebook"})
    back = client.get(_dialog_link(started["Location"], "cancel"), follow=True)
    assert "Permissions error" in back.content.decode()
    with tenant_a.scope():
        assert not ChannelConnection.objects.exists()


def test_a_callback_with_a_forged_state_is_refused(tenant_a, login, simulator):
    simulator.parts["meta"].provision()
    client = login(tenant_a.users["owner"])
    started = client.get(f"/{tenant_a.slug}/settings/channels/connect/", {"platform": "facebook"})
    callback = _dialog_link(started["Location"], "continue")
    forged = re.sub(r"state=[^&]+", "state=forged", callback)
    assert client.get(forged).status_code == 400
    with tenant_a.scope():
        assert not ChannelConnection.objects.exists()


def test_an_agent_cannot_finish_someone_elses_oauth_flow(tenant_a, login, simulator):
    """The state lives in the admin's session: a code replayed in another member's session is refused."""
    simulator.parts["meta"].provision()
    client = login(tenant_a.users["owner"])
    started = client.get(f"/{tenant_a.slug}/settings/channels/connect/", {"platform": "facebook"})
    callback = _dialog_link(started["Location"], "continue")
    agent = login(tenant_a.users["agent"])  # the same client, now signed in as the agent: a new session
    assert agent.get(callback).status_code == 400
    with tenant_a.scope():
        assert not ChannelConnection.objects.exists()
