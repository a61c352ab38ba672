"""The IDLE client (idle.py) on imaplib: it follows the message count through EXISTS and EXPUNGE, reads responses
with literals, ends IDLE with DONE when woken, and turns a BYE or a refused IDLE into IdleError. A scripted server
plays the responses real servers send that the simulator does not (EXPUNGE, FETCH with a literal, NO)."""

import socket
import socketserver
import threading

import pytest

from channels_integrations.providers.email import idle


class ScriptedServer:
    """An IMAP server whose answer to IDLE is `script` (lines sent after the continuation); DONE gets the OK."""

    def __init__(self, script: list[bytes], *, refuse_idle: bool = False):
        self.commands: list[str] = []
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                self.wfile.write(b"* OK [CAPABILITY IMAP4rev1 IDLE] scripted\r\n")
                idling = ""
                while line := self.rfile.readline():
                    text = line.decode().strip()
                    server.commands.append(text)
                    if idling:
                        self.wfile.write(f"{idling} OK IDLE completed\r\n".encode())
                        idling = ""
                        continue
                    tag, command = text.split(" ")[:2]
                    command = command.upper()
                    if command == "EXAMINE":
                        self.wfile.write(b"* 4 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n")
                    elif command == "CAPABILITY":
                        self.wfile.write(b"* CAPABILITY IMAP4rev1 IDLE\r\n")
                    elif command == "IDLE":
                        if refuse_idle:
                            self.wfile.write(f"{tag} NO not now\r\n".encode())
                            continue
                        self.wfile.write(b"+ idling\r\n" + b"".join(script))
                        idling = tag
                        continue
                    elif command == "LOGOUT":
                        self.wfile.write(f"* BYE bye\r\n{tag} OK LOGOUT completed\r\n".encode())
                        return
                    self.wfile.write(f"{tag} OK {command} completed\r\n".encode())

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def session(self) -> idle.IdleSession:
        imap = idle.IMAP4("127.0.0.1", self.server.server_address[1], timeout=10)
        imap.login("user", "password")
        imap.select("INBOX", readonly=True)
        return idle.IdleSession(imap)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted():
    servers = []

    def start(script: list[bytes], **options) -> ScriptedServer:
        servers.append(ScriptedServer(script, **options))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def test_the_count_follows_exists_and_expunge_and_literals_are_read_whole(scripted):
    server = scripted(
        [
            b"* 2 EXPUNGE\r\n",  # 4 -> 3
            b"* 4 EXISTS\r\n",  # one new mail
            b"* OK Still here\r\n",
            # A literal whose bytes look like a response: read as data, not as a new mail
            b"* 1 FETCH (BODY[TEXT] {12}\r\n* 9 EXISTS\r\n)\r\n",
        ]
    )
    session = server.session()
    assert session.supported and session.exists == 4
    counts = []
    wake, waker = socket.socketpair()
    try:

        def on_new_mail(count):
            counts.append(count)
            waker.send(b"\0")  # then end the IDLE

        assert session.idle(seconds=30, on_new_mail=on_new_mail, wake=wake) is True
    finally:
        wake.close()
        waker.close()
    assert counts == [4] and session.exists == 4
    assert server.commands[-1] == "DONE"
    session.close(logout=True)
    assert server.commands[-1].endswith("LOGOUT")


def test_idle_returns_after_its_time_with_done_and_the_connection_takes_commands_again(scripted):
    server = scripted([])
    session = server.session()
    assert session.idle(seconds=0.2, on_new_mail=lambda count: None) is False
    assert server.commands[-1] == "DONE"
    assert session.imap.noop()[0] == "OK"
    session.close(logout=True)


def test_a_bye_while_idling_is_an_idle_error(scripted):
    session = scripted([b"* BYE Autologout; idle for too long\r\n"]).session()
    with pytest.raises(idle.IdleError, match="Autologout"):
        session.idle(seconds=30, on_new_mail=lambda count: None)
    session.close(logout=False)


def test_a_refused_idle_is_an_idle_error(scripted):
    session = scripted([], refuse_idle=True).session()
    with pytest.raises(idle.IdleError, match="refused IDLE"):
        session.idle(seconds=30, on_new_mail=lambda count: None)
    session.close(logout=False)


def test_a_connection_closed_while_idling_is_an_idle_error(scripted):
    server = scripted([])
    session = server.session()
    session.imap.sock.shutdown(socket.SHUT_RD)  # as if the peer went away: reads see the end of the stream
    with pytest.raises(idle.IdleError):
        session.idle(seconds=30, on_new_mail=lambda count: None)
    session.close(logout=False)
