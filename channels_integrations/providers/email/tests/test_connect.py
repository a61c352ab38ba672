"""The mailbox form against a tenant choosing where Tsunagu connects (issue 15, finding 3): the stored password is
sent only to the servers it was stored for, a server's own text never reaches the page (a port scan would read
banners through it), and outside development the servers must be on the public internet."""

import re
import socket
import threading

import pytest

from channels_integrations.models import ChannelConnection
from channels_integrations.providers.email import clients
from core.outbound_http import OutboundRefused

ADDRESS = "support@shop.example.jp"
STORED_PASSWORD = "stored-secret-password-42"
SSH_BANNER = b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n"


class Recorder:
    """A TCP server on a loopback address that greets with `banner`, answers a line-based client enough for an
    IMAP login to be attempted (CAPABILITY, then NO to everything) and records every byte it receives."""

    def __init__(self, banner: bytes, host: str = "127.0.0.2"):
        self.banner = banner
        self.received = bytearray()
        self.connections = 0
        self.server = socket.create_server((host, 0))
        self.host, self.port = host, self.server.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _peer = self.server.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(5)
                try:
                    conn.sendall(self.banner)
                    buffer = b""
                    while chunk := conn.recv(4096):
                        self.received += chunk
                        buffer += chunk
                        while b"\n" in buffer:
                            line, buffer = buffer.split(b"\n", 1)
                            tag, _sp, command = line.strip().partition(b" ")
                            if command.upper().startswith(b"CAPABILITY"):
                                conn.sendall(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + tag + b" OK done\r\n")
                            elif tag:
                                conn.sendall(tag + b" NO go away\r\n")
                except OSError:
                    pass

    def close(self):
        self.server.close()


@pytest.fixture
def recorder():
    made = []

    def make(banner: bytes = b"* OK IMAP4rev1 ready\r\n") -> Recorder:
        made.append(Recorder(banner))
        return made[-1]

    yield make
    for server in made:
        server.close()


def form(**changes) -> dict:
    return {
        "address": ADDRESS,
        "from_name": "",
        "username": ADDRESS,
        "password": "",
        "imap_host": "127.0.0.1",
        "imap_port": "1",
        "imap_security": "none",
        "imap_folder": "INBOX",
        "smtp_host": "127.0.0.1",
        "smtp_port": "1",
        "smtp_security": "none",
        **changes,
    }


def stored_mailbox(tenant, **config) -> ChannelConnection:
    values = {k: v for k, v in form(**config).items() if k not in ("password",)}
    with tenant.scope():
        connection = ChannelConnection(
            organization=tenant.organization, platform="email", display_name=ADDRESS, external_account_id=ADDRESS
        )
        connection.config = values
        connection.set_credentials({"password": STORED_PASSWORD, "inbound_token": "t" * 32})
        connection.save()
    return connection


@pytest.mark.parametrize("moved", ["imap_host", "imap_port"])
def test_a_blank_password_with_another_server_is_an_error_and_the_stored_password_goes_nowhere(
    tenant_a, login, recorder, moved
):
    server = recorder()
    # The stored mailbox pointed at the same port on another host, or at another port on the same host.
    stored = {"imap_host": "127.0.0.1", "imap_port": str(server.port)} if moved == "imap_host" else {}
    stored_mailbox(tenant_a, **stored, **({"imap_host": server.host} if moved == "imap_port" else {}))
    client = login(tenant_a.users["owner"])
    answer = client.post(
        f"/{tenant_a.slug}/settings/channels/email/", form(imap_host=server.host, imap_port=str(server.port))
    )
    assert STORED_PASSWORD.encode() not in bytes(server.received)
    assert server.connections == 0
    assert answer.status_code == 400
    assert answer.context["form"].errors["password"]
    with tenant_a.scope():
        connection = ChannelConnection.objects.get()
    assert connection.config["imap_host"] == stored.get("imap_host", server.host)


def test_a_blank_password_with_another_smtp_port_is_an_error(tenant_a, login):
    stored_mailbox(tenant_a)
    client = login(tenant_a.users["owner"])
    answer = client.post(f"/{tenant_a.slug}/settings/channels/email/", form(smtp_port="2525"))
    assert answer.status_code == 400
    assert answer.context["form"].errors["password"]


def test_a_server_answering_with_another_protocols_banner_gets_a_category_not_its_text(
    tenant_a, login, recorder, simulator
):
    part = simulator.parts["email"]
    part.add_mailbox(ADDRESS, ADDRESS, "imap-password-1")
    ssh = recorder(SSH_BANNER)
    client = login(tenant_a.users["owner"])
    for servers in (
        {"imap_host": ssh.host, "imap_port": str(ssh.port)},
        {"imap_port": str(part.imap_port), "smtp_host": ssh.host, "smtp_port": str(ssh.port)},
    ):
        answer = client.post(f"/{tenant_a.slug}/settings/channels/email/", form(password="imap-password-1", **servers))
        assert answer.status_code == 400
        # Without the random CSRF token, which may spell "SSH" by chance.
        page = re.sub(r'"X-CSRFToken": "\w+"|name="csrfmiddlewaretoken" value="\w+"', "", answer.content.decode())
        errors = " ".join(answer.context["form"].non_field_errors())
        for word in ("SSH-2.0", "OpenSSH", "Ubuntu"):
            assert word not in errors and word not in page
        assert ssh.host in errors  # a category naming the server the admin typed
    assert ssh.connections == 2


def test_a_mailbox_on_a_private_address_is_refused_outside_development(tenant_a, login, recorder, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    server = recorder()
    client = login(tenant_a.users["owner"])
    answer = client.post(
        f"/{tenant_a.slug}/settings/channels/email/",
        form(password="a-password", imap_host=server.host, imap_port=str(server.port)),
    )
    assert server.connections == 0
    assert answer.status_code == 400
    assert server.host in " ".join(answer.context["form"].non_field_errors())
    with tenant_a.scope():
        assert not ChannelConnection.objects.exists()


def test_the_mail_clients_connect_only_to_the_checked_address(recorder, settings):
    server = recorder(b"220 mail.example ESMTP\r\n")
    settings.OUTBOUND_ALLOW_PRIVATE = False
    for make in (
        lambda: clients.SMTP(server.host, server.port, timeout=5),
        lambda: clients.IMAP4(server.host, server.port, timeout=5),
    ):
        with pytest.raises(OutboundRefused):
            make()
    assert server.connections == 0
    settings.OUTBOUND_ALLOW_PRIVATE = True
    smtp = clients.SMTP(server.host, server.port, timeout=5)
    smtp.close()
    assert server.connections == 1
