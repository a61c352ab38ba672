"""The outbound guard against real loopback servers; only DNS is faked (socket.getaddrinfo), so the lookups an
attacker controls can answer differently each time."""

import datetime
import ipaddress
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core import outbound_http
from core.outbound_http import (
    OutboundConnectionError,
    OutboundRefused,
    OutboundTimeout,
    OutboundUnresolved,
    address_is_global,
    check_host,
    guarded_request,
)

_real_getaddrinfo = socket.getaddrinfo


class FakeDNS:
    """Answers for made-up names, in turn (the last one repeats); every other name goes to the real resolver."""

    def __init__(self, monkeypatch, **answers):
        self.answers = {name.replace("_", "."): list(seq) for name, seq in answers.items()}
        self.lookups: list[str] = []
        monkeypatch.setattr(socket, "getaddrinfo", self)

    def __call__(self, host, port, family=0, type=0, proto=0, flags=0):
        host = host.decode() if isinstance(host, bytes) else host
        if host not in self.answers:
            return _real_getaddrinfo(host, port, family, type, proto, flags)
        self.lookups.append(host)
        seq = self.answers[host]
        answer = seq.pop(0) if len(seq) > 1 else seq[0]
        if isinstance(answer, Exception):
            raise answer
        infos = []
        for address in answer if isinstance(answer, list) else [answer]:
            if ":" in address:
                infos.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port or 0, 0, 0)))
            else:
                infos.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 0)))
        return infos


class Server:
    """A loopback HTTP server that records what reaches it; `answer(handler)` writes the response."""

    def __init__(self, host="127.0.0.1", port=0, answer=None, tls_context=None):
        self.hits: list[dict] = []
        self.sni: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self._handle()

            def do_POST(self):
                self._handle()

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                outer.hits.append(
                    {"path": self.path, "host": self.headers.get("Host"), "body": self.rfile.read(length)}
                )
                if answer is not None:
                    answer(self)
                    return
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        if tls_context is not None:
            tls_context.sni_callback = lambda sock, name, ctx: self.sni.append(name)
            self.server.socket = tls_context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def servers():
    started = []

    def start(**kwargs):
        server = Server(**kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# --- which addresses are public ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.5",
        "169.254.169.254",
        "0.1.2.3",
        "100.64.0.1",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fec0::1",
        "ff02::1",
        "::127.0.0.1",
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::808:808",  # NAT64 of a public address: the gateway is ours, refused outright
        "64:ff9b:1::a00:1",  # local-use NAT64
        "2002:7f00:1::1",  # 6to4 carrying 127.0.0.1
        "2002:a00:1::1",  # 6to4 carrying 10.0.0.1
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "::ffff:a9fe:a9fe",  # IPv4-mapped metadata address
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    ],
)
def test_addresses_that_lead_into_a_private_network_are_not_global(address):
    assert not address_is_global(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "2002:808:808::1"])
def test_public_addresses_are_global(address):
    assert address_is_global(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["64:ff9b::7f00:1", "2002:7f00:1::1", "::ffff:127.0.0.1", "2001:0:4136:e378:8000:63bf:3fff:fdd2"]
)
def test_a_name_resolving_to_an_ipv6_form_of_a_private_address_is_refused(monkeypatch, address):
    FakeDNS(monkeypatch, sneaky_test=[address])
    with pytest.raises(OutboundRefused):
        check_host("sneaky.test", 80, allow_private=False)
    with pytest.raises(OutboundRefused):
        guarded_request("GET", "http://sneaky.test/", allow_private=False)


def test_any_private_address_among_the_answers_refuses_the_call(monkeypatch):
    FakeDNS(monkeypatch, mixed_test=[["8.8.8.8", "127.0.0.1"]])
    with pytest.raises(OutboundRefused):
        check_host("mixed.test", 443, allow_private=False)


def test_urls_that_are_not_plain_http_are_refused():
    for url in [
        "ftp://example.com/x",
        "https://user:pw@example.com/x",
        "http:///x",
        "file:///etc/passwd",
        5,
        "x" * 3000,
    ]:
        with pytest.raises(OutboundRefused):
            guarded_request("GET", url, allow_private=True)


# --- the attacks, against real servers --------------------------------------------------------------------------


def test_dns_rebinding_reaches_only_the_address_that_was_checked(monkeypatch, servers):
    """The name answers an address the check accepts, then the internal one: the call goes to the first."""
    internal = servers(host="127.0.0.1")
    try:
        checked = servers(host="127.0.0.2", port=internal.port)
    except OSError:
        pytest.skip("127.0.0.2 is not a loopback address here")
    # In this test 127.0.0.2 plays a public address (the real ones are not reachable from tests)
    monkeypatch.setattr(outbound_http, "address_is_global", lambda address: str(address) == "127.0.0.2")
    dns = FakeDNS(monkeypatch, rebind_test=["127.0.0.2", "127.0.0.1"])
    response = guarded_request("POST", f"http://rebind.test:{internal.port}/hook", allow_private=False, data=b"{}")
    assert response.status_code == 200 and response.address == "127.0.0.2"
    assert internal.hits == []
    assert [hit["host"] for hit in checked.hits] == [f"rebind.test:{internal.port}"]
    assert dns.lookups == ["rebind.test"]  # resolved once


def test_pinning_holds_when_private_addresses_are_allowed(monkeypatch, servers):
    internal = servers(host="127.0.0.1")
    try:
        checked = servers(host="127.0.0.2", port=internal.port)
    except OSError:
        pytest.skip("127.0.0.2 is not a loopback address here")
    FakeDNS(monkeypatch, rebind_test=["127.0.0.2", "127.0.0.1"])
    guarded_request("GET", f"http://rebind.test:{internal.port}/", allow_private=True)
    assert (len(checked.hits), internal.hits) == (1, [])


def test_a_failed_lookup_is_refused_and_never_retried_by_another_resolver(monkeypatch, servers):
    internal = servers()
    FakeDNS(monkeypatch, flaky_test=[socket.gaierror(socket.EAI_AGAIN, "try again"), "127.0.0.1"])
    with pytest.raises(OutboundUnresolved) as caught:
        guarded_request("GET", f"http://flaky.test:{internal.port}/", allow_private=False)
    assert caught.value.retryable
    assert internal.hits == []


def test_a_redirect_is_returned_not_followed(servers):
    elsewhere = servers()

    def redirect(handler):
        handler.send_response(302)
        handler.send_header("Location", f"http://127.0.0.1:{elsewhere.port}/internal")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    first = servers(answer=redirect)
    response = guarded_request("GET", f"http://127.0.0.1:{first.port}/", allow_private=True)
    assert response.status_code == 302
    assert len(first.hits) == 1 and elsewhere.hits == []


def test_the_body_is_read_only_up_to_the_cap(servers):
    """An endless body: the call returns once the cap is reached instead of reading until the time runs out."""

    def endless(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(1 << 40))
        handler.end_headers()
        try:
            while True:
                handler.wfile.write(b"x" * 65536)
        except OSError:
            pass  # the client stopped reading, as it should

    server = servers(answer=endless)
    url = f"http://127.0.0.1:{server.port}/"
    response = guarded_request("GET", url, allow_private=True, max_bytes=1000, timeout=(2, 2), total=3)
    assert (len(response.content), response.truncated) == (1000, True)
    small = servers()
    response = guarded_request("GET", f"http://127.0.0.1:{small.port}/", allow_private=True, max_bytes=2)
    assert (response.content, response.truncated) == (b"ok", False)


def _trickle_server(servers, *, in_headers: bool):
    def trickle(handler):
        try:
            if in_headers:
                for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 200:
                    handler.wfile.write(bytes([byte]))
                    handler.wfile.flush()
                    time.sleep(0.05)
            handler.send_response(200)
            handler.send_header("Content-Length", "1000")
            handler.end_headers()
            for _ in range(1000):
                handler.wfile.write(b"z")
                handler.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass

    return servers(answer=trickle)


@pytest.mark.parametrize("in_headers", [False, True])
def test_a_server_trickling_bytes_is_cut_off_at_the_total_time(servers, in_headers):
    server = _trickle_server(servers, in_headers=in_headers)
    started = time.monotonic()
    with pytest.raises(OutboundTimeout):
        guarded_request("GET", f"http://127.0.0.1:{server.port}/", allow_private=True, timeout=(1, 1), total=1)
    assert time.monotonic() - started < 5  # each byte arrives well within the read timeout; only the total stops it


def test_the_host_header_names_the_url_host_not_the_address(monkeypatch, servers):
    server = servers()
    FakeDNS(monkeypatch, api_example_test=["127.0.0.1"])
    guarded_request("GET", f"http://api.example.test:{server.port}/a?b=1", allow_private=True, headers={"Host": "x"})
    assert server.hits == [{"path": "/a?b=1", "host": f"api.example.test:{server.port}", "body": b""}]


# --- TLS: the server name and the certificate are the URL host's ------------------------------------------------


def _certificates(tmp_path, name):
    """A CA and a certificate for `name` it signed; returns (CA file, server context)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file = tmp_path / "server.pem"
    cert_file.write_bytes(
        leaf.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file)
    return str(ca_file), context


def test_tls_uses_the_url_host_as_server_name_and_checks_its_certificate(monkeypatch, servers, tmp_path):
    ca_file, context = _certificates(tmp_path, "hooks.example.test")
    server = servers(tls_context=context)
    FakeDNS(monkeypatch, hooks_example_test=["127.0.0.1"], other_example_test=["127.0.0.1"])
    url = f"https://hooks.example.test:{server.port}/in"
    response = guarded_request("POST", url, allow_private=True, data=b"{}", ca_certs=ca_file)
    assert response.status_code == 200
    assert server.sni == ["hooks.example.test"]
    assert server.hits[0]["host"] == f"hooks.example.test:{server.port}"
    # The same server under another name: its certificate does not name it, so nothing is sent
    with pytest.raises(OutboundConnectionError):
        guarded_request("POST", f"https://other.example.test:{server.port}/in", allow_private=True, ca_certs=ca_file)
    assert len(server.hits) == 1


def test_a_closed_port_is_a_connection_error_not_a_timeout():
    with pytest.raises(OutboundConnectionError) as caught:
        guarded_request("GET", "http://127.0.0.1:9/", allow_private=True)
    assert caught.value.retryable
