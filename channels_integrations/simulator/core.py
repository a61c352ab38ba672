"""The simulator's HTTP core: a threaded stdlib server routing requests to platform parts.

Each platform's part (`channels_integrations/providers/<platform>/simulator.py`) is a `SimulatorPart`: its routes
mimic the platform's documented endpoints (OAuth, send, rate limits, error shapes), and its operator routes under
`/_sim/<part>/...` make a "customer" act (send a DM, comment, email), which the part delivers to Tsunagu the way the
platform would: a signed webhook POST to `webhook_base`, or an item waiting for the poller.

The simulator never imports Django: it is the far end, as independent of the product as the real platforms are."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import requests

from channels_integrations import registry

logger = logging.getLogger("tsunagu.simulator")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def arg(self, name: str, default: str = "") -> str:
        """A query or form parameter (Graph API accepts both)."""
        if name in self.query:
            return self.query[name][0]
        return self.form().get(name, default)

    def form(self) -> dict[str, str]:
        """Form fields, urlencoded or multipart/form-data (the Send API's attachment upload); file parts are in
        `files()`."""
        content_type = self.headers.get("content-type", "")
        if "application/x-www-form-urlencoded" in content_type:
            return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8", "replace")).items()}
        if "multipart/form-data" in content_type:
            return {name: value for name, (filename, _t, value) in self._multipart().items() if filename is None}
        return {}

    def files(self) -> dict[str, tuple[str, str, bytes]]:
        """multipart/form-data file parts: name -> (filename, content type, bytes)."""
        return {
            name: (filename, ctype, value)
            for name, (filename, ctype, value) in self._multipart(raw=True).items()
            if filename is not None
        }

    def _multipart(self, *, raw: bool = False) -> dict:
        from email.parser import BytesParser
        from email.policy import HTTP

        head = f"Content-Type: {self.headers.get('content-type', '')}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + self.body)
        fields: dict = {}
        for part in message.iter_parts() if message.is_multipart() else ():
            name = part.get_param("name", header="content-disposition")
            if not name:
                continue
            data = part.get_payload(decode=True) or b""
            filename = part.get_filename()
            value = data if raw or filename is not None else data.decode("utf-8", "replace")
            fields[name] = (filename, part.get_content_type(), value)
        return fields

    def json(self) -> dict:
        try:
            data = json.loads(self.body or b"{}")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def bearer(self) -> str:
        auth = self.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return self.arg("access_token")


@dataclass
class Response:
    status: int = 200
    body: bytes | str | dict | list = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = ""

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, dict | list):
            return json.dumps(self.body, ensure_ascii=False).encode(), self.content_type or "application/json"
        if isinstance(self.body, str):
            return self.body.encode(), self.content_type or "text/html; charset=utf-8"
        return self.body, self.content_type or "application/octet-stream"


Handler = Callable[[Request, re.Match], Response | None]  # None: not mine, ask the next route
Route = tuple[str, str, Handler]  # (method, path regex, handler)


class SimulatorPart:
    """One platform's part. Subclasses set `name` and implement `routes()`; `start`/`stop` for extra servers (IMAP,
    SMTP); `operator_html()` for the operator page; `trickle(text, lang)` for the demo's steady trickle. Settings
    reach a part through `sim.config` (lower-cased names); `environment` names the variables `python -m
    channels_integrations.simulator` copies there."""

    name: str = ""
    environment: tuple[str, ...] = ()
    # Parts sharing a platform's base URL (WhatsApp on Meta's Graph API, where `/{id}/messages` is both a page's
    # and a phone number's): a part with a higher priority is asked first, and its handler returns None to leave a
    # request whose id it does not own to the next matching route.
    route_priority: int = 0

    def __init__(self, sim: Simulator):
        self.sim = sim

    def routes(self) -> list[Route]:
        return []

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def operator_html(self) -> str:
        return ""

    def trickle(self, text: str, lang: str) -> None:
        pass

    def state(self) -> dict:
        """What the part recorded (messages Tsunagu sent, subscriptions...) for tests and the operator page."""
        return {}

    def reset(self) -> None:
        pass


class Simulator:
    """Owns the HTTP server and the parts. `webhook_base` is Tsunagu's base URL; `deliver` posts a webhook there
    (tests replace `transport` to post through Django's test client instead of the network)."""

    def __init__(
        self, *, webhook_base: str = "http://127.0.0.1:8000", host: str = "127.0.0.1", port: int = 0, **config
    ):
        self.webhook_base = webhook_base.rstrip("/")
        self.host = host
        self.port = port
        self.config = config
        self.transport: Callable[[str, bytes, dict[str, str]], int] = self._post
        self.deliveries: list[dict] = []  # every webhook attempt: url, status
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.parts: dict[str, SimulatorPart] = {}
        for part_class in part_classes():
            part = part_class(self)
            self.parts[part.name] = part
        self._routes: list[tuple[str, re.Pattern, Handler]] = []
        for part in sorted(self.parts.values(), key=lambda p: -p.route_priority):
            for method, pattern, handler in part.routes():
                self._routes.append((method, re.compile(pattern + r"\Z"), handler))
        self._routes.append(("GET", re.compile(r"/_sim/?\Z"), self._operator_page))
        self._routes.append(("GET", re.compile(r"/_sim/state\Z"), self._state))
        self._routes.append(("POST", re.compile(r"/_sim/reset\Z"), self._reset))

    # -- lifecycle ---------------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Simulator:
        self._server = ThreadingHTTPServer((self.host, self.port), _handler_for(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="simulator-http", daemon=True)
        self._thread.start()
        for part in self.parts.values():
            part.start()
        logger.info("simulator listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        for part in self.parts.values():
            part.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- delivering to Tsunagu ---------------------------------------------------------------------------------
    def deliver(self, path: str, body: bytes, headers: dict[str, str], *, attempts: int = 3) -> int:
        """POST a webhook like the platform: retried when the answer is not 200 (platforms redeliver)."""
        url = self.webhook_base + path
        status = 0
        for _attempt in range(attempts):
            try:
                status = self.transport(url, body, headers)
            except requests.RequestException as exc:
                logger.warning("webhook to %s failed: %s", url, exc)
                status = 0
            with self.lock:
                self.deliveries.append({"url": url, "status": status})
            if status == 200:
                break
        return status

    @staticmethod
    def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
        return requests.post(url, data=body, headers=headers, timeout=20).status_code

    # -- operator routes ---------------------------------------------------------------------------------------
    def _operator_page(self, request: Request, match: re.Match) -> Response:
        sections = "".join(f"<section><h2>{p.name}</h2>{p.operator_html()}</section>" for p in self.parts.values())
        return Response(
            body=(
                "<!doctype html><html lang=en><meta charset=utf-8><title>Platform simulator</title>"
                "<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto}section{border:1px solid #ccc;"
                "padding:1rem;margin:1rem 0}label{display:block;margin:.3rem 0}</style>"
                f"<h1>Platform simulator</h1><p>Webhooks go to {self.webhook_base}</p>{sections}</html>"
            )
        )

    def _state(self, request: Request, match: re.Match) -> Response:
        with self.lock:
            return Response(
                body={name: part.state() for name, part in self.parts.items()} | {"deliveries": self.deliveries[-200:]}
            )

    def _reset(self, request: Request, match: re.Match) -> Response:
        with self.lock:
            self.deliveries.clear()
            for part in self.parts.values():
                part.reset()
        return Response(body={"ok": True})

    def dispatch(self, request: Request) -> Response:
        for method, pattern, handler in self._routes:
            if method == request.method:
                match = pattern.match(request.path)
                if match:
                    try:
                        response = handler(request, match)
                    except Exception:  # the simulator must answer, like a platform's 500
                        logger.exception("simulator handler failed")
                        return Response(500, {"error": {"message": "An unexpected error has occurred.", "code": 2}})
                    if response is not None:
                        return response
        return Response(404, {"error": {"message": f"Unknown path components: {request.path}", "code": 2500}})


def _handler_for(sim: Simulator) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in separate writes: with Nagle on, a keep-alive client's delayed ACK held every
        # answer back 40 ms.
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            response = sim.dispatch(request)
            payload, content_type = response.encoded()
            self.send_response(response.status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = do_PUT = _serve

        def log_message(self, format: str, *args) -> None:
            logger.debug("simulator: " + format, *args)

    return _Handler


def part_classes() -> list[type[SimulatorPart]]:
    """Every registered provider's simulator part (channels_integrations.registry: the core knows no platform)."""
    return registry.simulator_parts()
