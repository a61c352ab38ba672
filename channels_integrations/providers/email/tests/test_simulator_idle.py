"""The simulator's IMAP server speaks IDLE as RFC 2177 says: advertised in CAPABILITY, a continuation, `* n EXISTS`
pushed when mail is delivered meanwhile, DONE answered with the tagged OK, and a client that idles past the
server's inactivity timer logged off (RFC 3501 §5.4). A raw socket stands in for the client, so every byte is seen."""

import socket
import time

import pytest

MAILBOX = "support@shop.example.jp"


class RawClient:
    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")
        self.greeting = self.line()

    def send(self, line: str) -> None:
        self.sock.sendall(line.encode() + b"\r\n")

    def line(self) -> str:
        return self.file.readline().decode().rstrip("\r\n")

    def command(self, tag: str, command: str) -> list[str]:
        """Send a command; every response line up to and including the tagged one."""
        self.send(f"{tag} {command}")
        lines = [self.line()]
        while not lines[-1].startswith(f"{tag} "):
            lines.append(self.line())
        return lines

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def part(simulator):
    part = simulator.parts["email"]
    part.add_mailbox(MAILBOX, MAILBOX, "mail-password")
    part.customer_email(to=MAILBOX, from_addr="taro@example.jp", subject="一通目", text="一通目", deliver="imap")
    return part


@pytest.fixture
def client(part):
    clients = []

    def connect(*, select: bool = True) -> RawClient:
        client = RawClient(part.imap_port)
        clients.append(client)
        assert client.command("a1", f'LOGIN "{MAILBOX}" "mail-password"')[-1].startswith("a1 OK")
        if select:
            assert client.command("a2", "EXAMINE INBOX")[-1].startswith("a2 OK")
        return client

    yield connect
    for client in clients:
        client.close()


def deliver(part, subject: str) -> None:
    part.customer_email(to=MAILBOX, from_addr="hanako@example.jp", subject=subject, text=subject, deliver="imap")


def wait_until(predicate, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.02)


def test_idle_is_advertised_in_the_greeting_and_in_capability(part, client):
    imap = client(select=False)
    assert "IDLE" in imap.greeting.split("]")[0].split()
    lines = imap.command("a3", "CAPABILITY")
    assert lines[0].startswith("* CAPABILITY ") and "IDLE" in lines[0].split()
    assert lines[-1].startswith("a3 OK")


def test_a_delivery_during_idle_is_pushed_as_exists_and_done_ends_with_the_tagged_ok(part, client):
    imap = client()
    imap.send("a3 IDLE")
    assert imap.line().startswith("+ ")  # the continuation: the server is idling
    wait_until(lambda: part.idling(MAILBOX) == 1, "the server idles")
    deliver(part, "二通目")
    assert imap.line() == "* 2 EXISTS"  # pushed, no command asked for it
    deliver(part, "三通目")
    assert imap.line() == "* 3 EXISTS"
    imap.send("DONE")
    assert imap.line() == "a3 OK IDLE completed"
    # The connection takes commands again, and the same tag style keeps working
    assert imap.command("a4", "NOOP") == ["a4 OK NOOP completed"]
    assert part.idling(MAILBOX) == 0


def test_mail_delivered_before_idle_is_reported_as_soon_as_idle_starts(part, client):
    imap = client()
    deliver(part, "二通目")  # between EXAMINE and IDLE: nobody has told this client yet
    imap.send("a3 IDLE")
    assert imap.line().startswith("+ ")
    assert imap.line() == "* 2 EXISTS"
    imap.send("done")  # the ABNF's "DONE" is case-insensitive
    assert imap.line() == "a3 OK IDLE completed"


def test_outside_idle_the_count_is_reported_at_the_next_noop(part, client):
    imap = client()
    deliver(part, "二通目")
    assert imap.command("a3", "NOOP") == ["* 2 EXISTS", "a3 OK NOOP completed"]
    assert imap.command("a4", "NOOP") == ["a4 OK NOOP completed"]  # told once


def test_another_mailbox_s_mail_is_not_pushed(part, client):
    part.add_mailbox("sales@shop.example.jp", "sales@shop.example.jp", "pw")
    imap = client()
    imap.send("a3 IDLE")
    assert imap.line().startswith("+ ")
    wait_until(lambda: part.idling(MAILBOX) == 1, "the server idles")
    part.customer_email(to="sales@shop.example.jp", from_addr="x@example.jp", subject="s", text="s", deliver="imap")
    imap.send("DONE")
    assert imap.line() == "a3 OK IDLE completed"  # no EXISTS came before it


def test_idle_with_arguments_or_anything_but_done_is_refused(part, client):
    imap = client()
    assert imap.command("a3", "IDLE now") == ["a3 BAD IDLE takes no arguments"]
    imap.send("a4 IDLE")
    assert imap.line().startswith("+ ")
    imap.send("a5 NOOP")  # RFC 2177: a client must not send a command while idling
    assert imap.line() == "a4 BAD expected DONE"
    assert imap.command("a6", "NOOP")[-1] == "a6 OK NOOP completed"


def test_idle_needs_a_login(part):
    imap = RawClient(part.imap_port)
    try:
        assert imap.command("a1", "IDLE") == ["a1 NO not authenticated"]
    finally:
        imap.close()


def test_a_client_idling_past_the_inactivity_timer_is_logged_off(part, client):
    part.autologout_seconds = 0.5  # 30 minutes by default (RFC 3501 §5.4)
    imap = client()
    imap.send("a3 IDLE")
    assert imap.line().startswith("+ ")
    assert imap.line().startswith("* BYE ")
    assert imap.file.readline() == b""  # and the connection is closed


def test_a_server_without_idle_neither_advertises_nor_accepts_it(part, client):
    part.idle = False
    imap = client()
    assert "IDLE" not in imap.greeting.split()
    assert "IDLE" not in imap.command("a3", "CAPABILITY")[0].split()
    assert imap.command("a4", "IDLE") == ["a4 BAD unknown command IDLE"]
