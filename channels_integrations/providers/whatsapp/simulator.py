"""WhatsApp's part of the platform simulator: the Cloud API endpoints Tsunagu calls — the phone number, the account's
phone numbers and message templates, subscribed_apps, media upload and download, the Send API — with WhatsApp's
answers and error shapes (the 24-hour rule: 131047; template errors 132000/132001; forced errors), and customers who
write, edit and delete, delivered as webhooks to `/webhooks/meta/` signed with the Meta app secret, like Meta.

It shares Meta's Graph base URL (META_GRAPH_URL) with the Meta part, where `/{id}/messages` and `/{id}` are both a
page's and a phone number's: this part is asked first (`route_priority`) and leaves ids it does not own to Meta."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import random
import re
import secrets
import threading
import time

from channels_integrations.simulator.core import Request, Response, SimulatorPart

V = r"/v\d+\.\d+"
WABA_ID = "300000000000001"
PHONE_NUMBER_ID = "200000000000001"
DISPLAY_NUMBER = "+81 3-4567-8901"
VERIFIED_NAME = "Tsunagu Demo Store"
SYSTEM_TOKEN = "EAAWsimulatorSystemUserTokenForTheDemoNumber0001"
WINDOW_SECONDS = 24 * 3600
TEMPLATES = [
    {
        "name": "order_update",
        "language": "ja",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "{{1}}様、ご注文 {{2}} について担当者からご連絡があります。"}],
    },
    {
        "name": "order_update",
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Hello {{1}}, we have an update on your order {{2}}."}],
    },
    {
        "name": "follow_up",
        "language": "ja",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [
            {"type": "BODY", "text": "お問い合わせの件でご連絡しました。ご都合のよいときにご返信ください。"},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "返信する"}]},
        ],
    },
    {
        "name": "spring_sale",
        "language": "ja",
        "status": "PENDING",
        "category": "MARKETING",
        "components": [{"type": "BODY", "text": "春のセール開催中！"}],
    },
    {
        "name": "receipt_image",
        "language": "ja",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "領収書をお送りします。"}],
    },
]
NAMES = {"ja": ["中村 美咲", "松本 翔", "井上 彩"], "en": ["Noah Patel", "Mia Rossi"]}


def wa_error(code: int, title: str, details: str = "", *, status: int = 400, subcode: int | None = None) -> Response:
    """The Graph error envelope as the Cloud API fills it (PROTOCOLS.md §1.8, §5.4)."""
    error: dict = {
        "message": f"({'#' + str(code)}) {title}",
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": secrets.token_urlsafe(8),
    }
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    if subcode is not None:
        error["error_subcode"] = subcode
    return Response(status, {"error": error})


def _wamid() -> str:
    return "wamid.HBgM" + base64.b64encode(secrets.token_bytes(24)).decode().rstrip("=")


class WhatsAppSimulator(SimulatorPart):
    name = "whatsapp"
    environment = ("META_APP_SECRET",)
    route_priority = 10  # before Meta's part: `/{id}/messages` of a phone number id is ours

    def __init__(self, sim):
        super().__init__(sim)
        self.async_receipts = True
        self.reset()

    def reset(self) -> None:
        self.accounts = {WABA_ID: {"id": WABA_ID, "name": VERIFIED_NAME}}
        self.phones = {
            PHONE_NUMBER_ID: {
                "id": PHONE_NUMBER_ID,
                "waba_id": WABA_ID,
                "display_phone_number": DISPLAY_NUMBER,
                "verified_name": VERIFIED_NAME,
                "quality_rating": "GREEN",
                "messaging_limit_tier": "TIER_1K",
            }
        }
        self.tokens = {SYSTEM_TOKEN}
        self.templates = [dict(t) for t in TEMPLATES]
        self.last_customer: dict[tuple[str, str], float] = {}  # (phone number id, wa_id) -> last customer message
        self.names: dict[str, str] = {}
        self.media: dict[str, tuple[bytes, str, str]] = {}  # media id -> (bytes, type, filename)
        self.sent: list[dict] = []
        self.uploads: list[dict] = []
        self.subscriptions: set[str] = set()
        self.failures: list[Response] = []
        self.failed_statuses: list[dict] = []  # errors for the next sends' async "failed" status
        self.pending: list = []

    # --- tests and the operator ---------------------------------------------------------------------------------
    def fail_next(self, code: int, title: str, details: str = "", *, status: int = 400) -> None:
        """The next API call answers this error (190 expired token, 130429 throughput, 131047 window...)."""
        with self.sim.lock:
            self.failures.append(wa_error(code, title, details, status=status))

    def fail_next_status(self, code: int, title: str, details: str = "") -> None:
        """The next message sent is accepted, then reported `failed` with this error by webhook."""
        with self.sim.lock:
            self.failed_statuses.append(
                {"code": code, "title": title, "message": title, "error_data": {"details": details}}
            )

    def age_window(self, wa_id: str, *, hours: float = 25, phone_id: str = PHONE_NUMBER_ID) -> None:
        """Make the customer's last message `hours` old (the 24-hour window closes at 24)."""
        with self.sim.lock:
            self.last_customer[(phone_id, wa_id)] = time.time() - hours * 3600

    def _envelope(self, phone_id: str, field: str, value: dict) -> dict:
        phone = self.phones[phone_id]
        return {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": phone["waba_id"],
                    "changes": [
                        {
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": phone["display_phone_number"]
                                    .replace(" ", "")
                                    .replace("-", "")
                                    .lstrip("+"),
                                    "phone_number_id": phone_id,
                                },
                                **value,
                            },
                            "field": field,
                        }
                    ],
                }
            ],
        }

    def _deliver(self, envelope: dict, *, duplicates: int = 1, signature: str | None = None) -> int:
        body = json.dumps(envelope).encode()  # ensure_ascii: \\u escapes, as Meta signs them
        secret = self.sim.config.get("meta_app_secret", "")
        headers = {"Content-Type": "application/json"}
        if signature is None:
            headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        elif signature:
            headers["X-Hub-Signature-256"] = signature
        status = 0
        for _ in range(duplicates):
            status = self.sim.deliver("/webhooks/meta/", body, headers, attempts=3 if signature is None else 1)
        return status

    def customer_message(
        self,
        wa_id: str,
        text: str = "",
        *,
        name: str = "",
        phone_id: str = PHONE_NUMBER_ID,
        media: tuple[bytes, str, str] | None = None,
        button: str = "",
        location: tuple[float, float, str] | None = None,
        reply_to: str = "",
        duplicates: int = 1,
        signature: str | None = None,
    ) -> str:
        """A customer writes: text, a media file (bytes, type, filename), a press on an interactive button (its
        title), or a location (lat, lng, name). Returns the message's wamid."""
        wamid = _wamid()
        message: dict = {"from": wa_id, "id": wamid, "timestamp": str(int(time.time()))}
        if media is not None:
            media_id = str(random.randint(10**15, 10**16 - 1))
            content, content_type, filename = media
            with self.sim.lock:
                self.media[media_id] = (content, content_type, filename)
            kind = (
                content_type.split("/")[0] if content_type.split("/")[0] in ("image", "video", "audio") else "document"
            )
            body = {
                "mime_type": content_type,
                "sha256": base64.b64encode(hashlib.sha256(content).digest()).decode(),
                "id": media_id,
            }
            if text:
                body["caption"] = text
            if kind == "document":
                body["filename"] = filename
            message |= {"type": kind, kind: body}
        elif button:
            message |= {
                "type": "interactive",
                "interactive": {"type": "button_reply", "button_reply": {"id": "btn-" + button[:20], "title": button}},
            }
            message["context"] = {"from": self.phones[phone_id]["display_phone_number"], "id": reply_to or _wamid()}
        elif location is not None:
            message |= {
                "type": "location",
                "location": {"latitude": location[0], "longitude": location[1], "name": location[2]},
            }
        else:
            message |= {"type": "text", "text": {"body": text}}
        if reply_to and "context" not in message:
            message["context"] = {"from": wa_id, "id": reply_to}
        with self.sim.lock:
            self.last_customer[(phone_id, wa_id)] = time.time()
            self.names[wa_id] = name or self.names.get(wa_id, "")
        contacts = [{"profile": {"name": self.names[wa_id] or wa_id}, "wa_id": wa_id}]
        self._deliver(
            self._envelope(phone_id, "messages", {"contacts": contacts, "messages": [message]}),
            duplicates=duplicates,
            signature=signature,
        )
        return wamid

    def customer_edit(self, wa_id: str, original_id: str, text: str, *, phone_id: str = PHONE_NUMBER_ID) -> str:
        wamid = _wamid()
        message = {
            "from": wa_id,
            "id": wamid,
            "timestamp": str(int(time.time())),
            "type": "edit",
            "edit": {"original_message_id": original_id, "message": {"type": "text", "text": {"body": text}}},
        }
        contacts = [{"profile": {"name": self.names.get(wa_id) or wa_id}, "wa_id": wa_id}]
        self._deliver(self._envelope(phone_id, "messages", {"contacts": contacts, "messages": [message]}))
        return wamid

    def customer_delete(self, wa_id: str, original_id: str, *, phone_id: str = PHONE_NUMBER_ID) -> str:
        wamid = _wamid()
        message = {
            "from": wa_id,
            "id": wamid,
            "timestamp": str(int(time.time())),
            "type": "revoke",
            "revoke": {"original_message_id": original_id},
        }
        contacts = [{"profile": {"name": self.names.get(wa_id) or wa_id}, "wa_id": wa_id}]
        self._deliver(self._envelope(phone_id, "messages", {"contacts": contacts, "messages": [message]}))
        return wamid

    def _statuses(self, phone_id: str, wamid: str, wa_id: str, *, failed: dict | None) -> None:
        """Like WhatsApp after accepting a message: sent, delivered, read, each its own webhook (or sent, then
        failed with the error)."""
        states = ["sent", "failed"] if failed else ["sent", "delivered", "read"]
        for state in states:
            status: dict = {"id": wamid, "status": state, "timestamp": str(int(time.time())), "recipient_id": wa_id}
            if state == "failed":
                status["errors"] = [failed]
            else:
                status["conversation"] = {"id": secrets.token_hex(16), "origin": {"type": "service"}}
                status["pricing"] = {"billable": True, "pricing_model": "PMP", "category": "service"}
            envelope = self._envelope(phone_id, "messages", {"statuses": [status]})
            self._later(lambda envelope=envelope: self._deliver(envelope))

    def _later(self, deliver) -> None:
        """Statuses follow the send's answer. Tests delivering through Django's test client (one thread, one
        transaction) set `async_receipts = False` and call `flush_receipts()`."""
        if self.async_receipts:
            threading.Timer(0.05, deliver).start()
        else:
            with self.sim.lock:
                self.pending.append(deliver)

    def flush_receipts(self) -> int:
        with self.sim.lock:
            pending, self.pending = self.pending, []
        for deliver in pending:
            deliver()
        return len(pending)

    def trickle(self, text: str, lang: str) -> None:
        if random.random() < 0.5:  # the Meta part writes too; WhatsApp takes a share of the demo's trickle
            return
        name = random.choice(NAMES[lang])
        wa_id = ("8190" if lang == "ja" else "1415") + str(int(hashlib.sha256(name.encode()).hexdigest(), 16))[:7]
        self.customer_message(wa_id, text, name=name)

    def state(self) -> dict:
        with self.sim.lock:
            return {
                "sent": list(self.sent),
                "uploads": [{k: v for k, v in u.items() if k != "content"} for u in self.uploads],
                "subscriptions": sorted(self.subscriptions),
                "phones": list(self.phones.values()),
            }

    def operator_html(self) -> str:
        customers = "".join(
            f'<option value="{html.escape(w)}">{html.escape(self.names.get(w) or w)} (+{html.escape(w)})</option>'
            for (_p, w) in sorted(self.last_customer)
        )
        customer = (
            '<label>Customer <input name="wa_id" value="819012345678"></label>'
            '<label>Name <input name="name" value="中村 美咲"></label>'
        )
        return (
            f"<p>Number {html.escape(DISPLAY_NUMBER)} (phone number id {PHONE_NUMBER_ID}, account {WABA_ID}). "
            f"Token for the connect form: <code>{SYSTEM_TOKEN}</code></p>"
            '<form method="post" action="/_sim/whatsapp/messages">'
            + customer
            + '<label>What <select name="kind"><option value="text">Text</option>'
            '<option value="image">An image</option>'
            '<option value="button">Press the button of an interactive message</option>'
            '<option value="location">Share a location</option></select></label>'
            '<label>Text (caption, button title or place) <textarea name="text">'
            "注文した商品の配送状況を教えてください。"
            "</textarea></label><button>Send as customer</button></form>"
            '<form method="post" action="/_sim/whatsapp/edit">'
            + customer
            + '<label>Message id (wamid) <input name="message_id"></label>'
            '<label>New text <input name="text" value="（訂正）注文番号は 1234 です。"></label>'
            '<button name="action" value="edit">Edit</button> '
            '<button name="action" value="delete">Delete</button></form>'
            '<form method="post" action="/_sim/whatsapp/window"><label>Customer <select name="wa_id">'
            + customers
            + "</select></label><button>Close the 24-hour window (last message 25 h ago)</button></form>"
            '<form method="post" action="/_sim/whatsapp/fail"><label>Next send fails with <select name="code">'
            '<option value="131047">131047 re-engagement (window closed)</option>'
            '<option value="190">190 expired token</option><option value="130429">130429 throughput</option>'
            '<option value="131026">131026 undeliverable</option>'
            '<option value="status-131026">131026 as a failed status webhook</option></select></label>'
            "<button>Arm</button></form>"
        )

    # --- routes ---------------------------------------------------------------------------------------------------
    def routes(self):
        return [
            ("POST", r"/_sim/whatsapp/messages", self._op_message),
            ("POST", r"/_sim/whatsapp/edit", self._op_edit),
            ("POST", r"/_sim/whatsapp/window", self._op_window),
            ("POST", r"/_sim/whatsapp/fail", self._op_fail),
            ("GET", r"/_sim/whatsapp/media/(?P<media>\d+)", self._download),
            ("GET", V + r"/(?P<id>\d+)", self._node),
            ("DELETE", V + r"/(?P<id>\d+)", self._delete_media),
            ("GET", V + r"/(?P<waba>\d+)/phone_numbers", self._phone_numbers),
            ("GET", V + r"/(?P<waba>\d+)/message_templates", self._templates),
            ("POST", V + r"/(?P<waba>\d+)/subscribed_apps", self._subscribe),
            ("POST", V + r"/(?P<phone>\d+)/messages", self._send),
            ("POST", V + r"/(?P<phone>\d+)/media", self._upload),
        ]

    def _params(self, r: Request) -> dict:
        data = r.json() if "json" in r.headers.get("content-type", "") else r.form()
        return {k: v[0] for k, v in r.query.items()} | data

    def _op_message(self, r: Request, m) -> Response:
        p = self._params(r)
        wa_id, name, text, kind = p.get("wa_id") or "819012345678", p.get("name", ""), p.get("text", ""), p.get("kind")
        if kind == "image":
            media = (_PNG, "image/png", "photo.png")
            return Response(body={"id": self.customer_message(wa_id, text, name=name, media=media)})
        if kind == "button":
            return Response(body={"id": self.customer_message(wa_id, name=name, button=text or "はい")})
        if kind == "location":
            return Response(
                body={"id": self.customer_message(wa_id, name=name, location=(35.6812, 139.7671, text or "東京駅"))}
            )
        return Response(
            body={"id": self.customer_message(wa_id, text, name=name, duplicates=int(p.get("duplicates") or 1))}
        )

    def _op_edit(self, r: Request, m) -> Response:
        p = self._params(r)
        wa_id, original = p.get("wa_id", ""), p.get("message_id", "")
        if p.get("action") == "delete":
            return Response(body={"id": self.customer_delete(wa_id, original)})
        return Response(body={"id": self.customer_edit(wa_id, original, p.get("text", ""))})

    def _op_window(self, r: Request, m) -> Response:
        self.age_window(self._params(r).get("wa_id", ""))
        return Response(body={"ok": True})

    def _op_fail(self, r: Request, m) -> Response:
        code = self._params(r).get("code", "")
        if code == "status-131026":
            self.fail_next_status(131026, "Message undeliverable", "Message Undeliverable.")
        elif code == "190":
            self.failures.append(
                wa_error(190, "Error validating access token: Session has expired", status=401, subcode=463)
            )
        elif code == "130429":
            self.fail_next(130429, "Rate limit hit", "Cloud API message throughput has been reached.")
        elif code == "131026":
            self.fail_next(131026, "Message undeliverable", "Message Undeliverable.")
        else:
            self.fail_next(
                131047,
                "Re-engagement message",
                "Message failed to send because more than 24 hours have passed since the customer last replied to "
                "this number.",
            )
        return Response(body={"ok": True})

    def _gate(self, r: Request) -> Response | None:
        with self.sim.lock:
            if self.failures:
                return self.failures.pop(0)
        if r.bearer() not in self.tokens:
            return wa_error(
                190, "Error validating access token: The session has been invalidated", status=401, subcode=460
            )
        return None

    def _node(self, r: Request, m) -> Response | None:
        node = m["id"]
        if node not in self.phones and node not in self.media:
            return None  # a page or a person: Meta's part answers
        refused = self._gate(r)
        if refused:
            return refused
        if node in self.phones:
            phone = self.phones[node]
            wanted = set(r.arg("fields", "display_phone_number,verified_name").split(","))
            return Response(body={"id": node} | {k: v for k, v in phone.items() if k in wanted})
        content, content_type, _filename = self.media[node]
        return Response(
            body={
                "messaging_product": "whatsapp",
                "url": f"{self.sim.base_url}/_sim/whatsapp/media/{node}",
                "mime_type": content_type,
                "sha256": hashlib.sha256(content).hexdigest(),
                "file_size": len(content),
                "id": node,
            }
        )

    def _delete_media(self, r: Request, m) -> Response | None:
        if m["id"] not in self.media:
            return None
        with self.sim.lock:
            self.media.pop(m["id"], None)
        return Response(body={"success": True})

    def _download(self, r: Request, m) -> Response:
        if r.bearer() not in self.tokens:
            return Response(401, b"", content_type="text/plain")
        if m["media"] not in self.media:
            return Response(404, b"", content_type="text/plain")
        content, content_type, _filename = self.media[m["media"]]
        return Response(body=content, content_type=content_type)

    def _phone_numbers(self, r: Request, m) -> Response | None:
        if m["waba"] not in self.accounts:
            return None
        refused = self._gate(r)
        if refused:
            return refused
        numbers = [
            {k: v for k, v in p.items() if k != "waba_id"} for p in self.phones.values() if p["waba_id"] == m["waba"]
        ]
        return Response(body={"data": numbers})

    def _templates(self, r: Request, m) -> Response | None:
        if m["waba"] not in self.accounts:
            return None
        refused = self._gate(r)
        if refused:
            return refused
        limit = int(r.arg("limit", "25") or 25)
        start = int(base64.b64decode(r.arg("after") or "MA==").decode() or 0)
        page = self.templates[start : start + limit]
        body: dict = {"data": [t | {"id": str(1000 + start + i)} for i, t in enumerate(page)]}
        cursors = {"before": base64.b64encode(str(start).encode()).decode()}
        if start + limit < len(self.templates):
            cursors["after"] = base64.b64encode(str(start + limit).encode()).decode()
            body["paging"] = {"cursors": cursors, "next": f"{self.sim.base_url}{r.path}?after={cursors['after']}"}
        else:
            body["paging"] = {"cursors": cursors}
        return Response(body=body)

    def _subscribe(self, r: Request, m) -> Response | None:
        if m["waba"] not in self.accounts:
            return None
        refused = self._gate(r)
        if refused:
            return refused
        with self.sim.lock:
            self.subscriptions.add(m["waba"])
        return Response(body={"success": True})

    def _upload(self, r: Request, m) -> Response | None:
        if m["phone"] not in self.phones:
            return None
        refused = self._gate(r)
        if refused:
            return refused
        form, files = r.form(), r.files()
        if form.get("messaging_product") != "whatsapp" or "file" not in files:
            return wa_error(100, "Invalid parameter", "messaging_product and file are required")
        filename, content_type, content = files["file"]
        media_id = str(random.randint(10**15, 10**16 - 1))
        with self.sim.lock:
            self.media[media_id] = (content, form.get("type") or content_type, filename)
            self.uploads.append({"id": media_id, "filename": filename, "type": form.get("type"), "size": len(content)})
        return Response(body={"id": media_id})

    def _send(self, r: Request, m) -> Response | None:
        phone_id = m["phone"]
        if phone_id not in self.phones:
            return None  # a page's Send API call: Meta's part answers
        refused = self._gate(r)
        if refused:
            return refused
        p = r.json()
        to, kind = str(p.get("to", "")), p.get("type", "text")
        if p.get("messaging_product") != "whatsapp" or not to:
            return wa_error(100, "Invalid parameter", "messaging_product and to are required")
        body = p.get(kind)
        if not isinstance(body, dict):
            return wa_error(100, "Invalid parameter", f"the {kind} object is required")
        last = self.last_customer.get((phone_id, to))
        if kind == "template":
            refused = self._check_template(body)
            if refused:
                return refused
        elif last is None or time.time() - last > WINDOW_SECONDS:
            return wa_error(
                131047,
                "Re-engagement message",
                "Message failed to send because more than 24 hours have passed since the customer last replied to "
                "this number.",
            )
        if kind == "text" and len(body.get("body", "")) > 4096:
            return wa_error(100, "Invalid parameter", "Param text['body'] must be at most 4096 characters long.")
        if kind in ("image", "video", "audio", "document", "sticker") and body.get("id") not in self.media:
            return wa_error(131053, "Media upload error", "The media id is unknown.")
        wamid = _wamid()
        with self.sim.lock:
            self.sent.append({"phone_number_id": phone_id, "to": to, "type": kind, kind: body, "id": wamid})
            failed = self.failed_statuses.pop(0) if self.failed_statuses else None
        self._statuses(phone_id, wamid, to, failed=failed)
        answer: dict = {"id": wamid}
        if kind == "template":
            answer["message_status"] = "accepted"
        return Response(
            body={"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}], "messages": [answer]}
        )

    def _check_template(self, body: dict) -> Response | None:
        name, language = body.get("name"), (body.get("language") or {}).get("code")
        template = next(
            (
                t
                for t in self.templates
                if t["name"] == name and t["language"] == language and t["status"] == "APPROVED"
            ),
            None,
        )
        if template is None:
            return wa_error(
                132001,
                "Template name does not exist in the translation",
                f"template name ({name}) does not exist in {language}",
            )
        text = next((c.get("text", "") for c in template["components"] if c["type"] == "BODY"), "")
        expected = len(set(re.findall(r"\{\{\s*(\w+)\s*\}\}", text)))
        given = sum(
            len(c.get("parameters") or []) for c in body.get("components") or [] if str(c.get("type")).lower() == "body"
        )
        if given != expected:
            return wa_error(
                132000,
                "Number of parameters does not match the expected number of params",
                f"body: number of localizable_params ({given}) does not match the expected number of params "
                f"({expected})",
            )
        return None


# A 1×1 PNG: the operator's "image" from a customer.
_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
