"""The Telegram part of the platform simulator: the Bot API methods Tsunagu calls (`/bot<token>/<method>`: getMe,
setWebhook, deleteWebhook, getUpdates with the offset rule, getFile, getChat, sendMessage, and the multipart
uploads sendPhoto / sendDocument) and file downloads (`/file/bot<token>/<path>`), with Telegram's envelopes and
errors (PROTOCOLS.md §4). A "customer" writes with `customer_message()` (or the operator routes): the update is
pushed to the bot's webhook with its secret token, or waits for getUpdates. Like Telegram, getUpdates answers 409
while a webhook is set. The operator can also throttle a method (429 with `parameters.retry_after`) and make a
customer block the bot (403). Never imports Django."""

from __future__ import annotations

import html
import json
import time

from channels_integrations.simulator.core import Request, Response, SimulatorPart

BOT_ID = 7000000001
BOT_TOKEN = f"{BOT_ID}:AAsimulatorSimulatorSimulator_-0001"
DEMO_CHAT = 1111111
# A 1×1 JPEG: what the operator page sends as the customer's photo when no file is chosen.
SAMPLE_JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c1912130f141d1a1f1e1d1a"
    "1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffc0000b080001000101011100ffc4001f000001050101010101"
    "0100000000000000000102030405060708090a0bffc400b5100002010303020403050504040000017d010203000411051221314106135161"
    "07227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a434445464748494a535455565758"
    "595a636465666768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5"
    "c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda0008010100003f00fbfcffd9"
)


def _error(code: int, description: str, **parameters) -> Response:
    body = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return Response(code, body)


class TelegramSimulator(SimulatorPart):
    name = "telegram"

    def __init__(self, sim):
        super().__init__(sim)
        self.reset()

    def reset(self) -> None:
        self.webhook: dict = {}  # url, secret_token
        self.updates: list[dict] = []  # not yet confirmed (polling)
        self.next_update_id = 500000
        self.next_message_id = 1
        self.sent: list[dict] = []
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, bytes)
        self.throttle: dict[str, int] = {}  # method -> retry_after for its next call
        self.blocked: set[str] = set()  # chat ids that blocked the bot
        self.people: dict[int, dict] = {}  # user id -> the User object, for getChat
        self.last_message: dict[int, int] = {}  # chat id -> the customer's latest message id (the edit form)
        self.revoked = False  # the owner revoked the token in @BotFather: every call answers 401

    def state(self) -> dict:
        return {
            "webhook": self.webhook,
            "pending": len(self.updates),
            "sent": [{k: v for k, v in s.items() if k != "content"} for s in self.sent],
        }

    def routes(self):
        return [
            ("POST", r"/bot(?P<token>[^/]+)/(?P<method>\w+)", self._method),
            ("GET", r"/bot(?P<token>[^/]+)/(?P<method>\w+)", self._method),
            ("GET", r"/file/bot(?P<token>[^/]+)/(?P<path>.+)", self._file),
            ("POST", r"/_sim/telegram/message", self._operator_message),
            ("POST", r"/_sim/telegram/edit", self._operator_edit),
            ("POST", r"/_sim/telegram/throttle", self._operator_throttle),
            ("POST", r"/_sim/telegram/block", self._operator_block),
            ("POST", r"/_sim/telegram/revoke", self._operator_revoke),
        ]

    # --- the Bot API ------------------------------------------------------------------------------------------
    def _method(self, request: Request, match) -> Response:
        if match["token"] != BOT_TOKEN or self.revoked:
            return _error(401, "Unauthorized")
        params = request.json() or request.form() or {k: v[0] for k, v in request.query.items()}
        method = match["method"]
        with self.sim.lock:
            if method in self.throttle:
                return _error(
                    429,
                    f"Too Many Requests: retry after {self.throttle[method]}",
                    retry_after=self.throttle.pop(method),
                )
            handler = getattr(self, f"_api_{method}", None)
            if handler is None:
                return _error(404, "Not Found")
            if method in ("sendPhoto", "sendDocument"):
                return handler(params, request.files())
            return handler(params)

    def _ok(self, result) -> Response:
        return Response(200, {"ok": True, "result": result})

    def _api_getMe(self, params):  # noqa: N802 (the Bot API's method names)
        return self._ok({"id": BOT_ID, "is_bot": True, "first_name": "Tsunagu demo", "username": "tsunagu_demo_bot"})

    def _api_setWebhook(self, params):  # noqa: N802
        secret = str(params.get("secret_token", ""))
        if not params.get("url", "").startswith("https://"):
            return _error(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        if secret and not all(c.isalnum() or c in "_-" for c in secret) or len(secret) > 256:
            return _error(400, "Bad Request: secret token contains unallowed characters")
        self.webhook = {"url": params["url"], "secret_token": secret}
        return self._ok(True)

    def _api_deleteWebhook(self, params):  # noqa: N802
        self.webhook = {}
        if params.get("drop_pending_updates"):
            self.updates = []
        return self._ok(True)

    def _api_getWebhookInfo(self, params):  # noqa: N802
        return self._ok(
            {
                "url": self.webhook.get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": len(self.updates),
            }
        )

    def _api_getUpdates(self, params):  # noqa: N802
        if self.webhook:
            return _error(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
                "delete the webhook first",
            )
        offset = params.get("offset")
        if offset is not None:
            offset = int(offset)
            if offset < 0:
                self.updates = self.updates[offset:]
            else:  # confirms every update below it
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
        return self._ok(self.updates[: int(params.get("limit") or 100)])

    def _api_getFile(self, params):  # noqa: N802
        file_id = str(params.get("file_id", ""))
        if file_id not in self.files:
            return _error(400, "Bad Request: invalid file_id")
        path, content = self.files[file_id]
        if len(content) > 20 * 1024 * 1024:
            return _error(400, "Bad Request: file is too big")
        return self._ok(
            {"file_id": file_id, "file_unique_id": file_id[-8:], "file_size": len(content), "file_path": path}
        )

    def _api_getChat(self, params):  # noqa: N802
        try:
            person = self.people.get(int(params.get("chat_id", 0)))
        except (TypeError, ValueError):
            person = None
        if person is None:
            return _error(400, "Bad Request: chat not found")
        return self._ok({**{k: v for k, v in person.items() if k != "is_bot"}, "type": "private"})

    def _refused(self, chat_id: str) -> Response | None:
        if chat_id in self.blocked:
            return _error(403, "Forbidden: bot was blocked by the user")
        if not chat_id.lstrip("-").isdigit():
            return _error(400, "Bad Request: chat not found")
        return None

    def _record(self, chat_id: str, params: dict, **message) -> Response:
        message = {
            "message_id": self.next_message_id,
            "date": int(time.time()),
            "chat": {"id": int(chat_id), "type": "private" if not chat_id.startswith("-") else "group"},
            **message,
        }
        self.next_message_id += 1
        reply = params.get("reply_parameters")
        if isinstance(reply, str):  # multipart: structured parameters travel as JSON
            reply = json.loads(reply)
        self.sent.append({**message, "reply_parameters": reply})
        return self._ok({k: v for k, v in message.items() if k != "content"})

    def _api_sendMessage(self, params):  # noqa: N802
        chat_id, text = str(params.get("chat_id", "")), str(params.get("text", ""))
        refused = self._refused(chat_id)
        if refused:
            return refused
        if not 1 <= len(text) <= 4096:
            return _error(400, "Bad Request: message is too long" if text else "Bad Request: message text is empty")
        return self._record(chat_id, params, text=text)

    def _upload(self, params, files, field: str, limit: int) -> Response:
        chat_id, caption = str(params.get("chat_id", "")), str(params.get("caption", "") or "")
        refused = self._refused(chat_id)
        if refused:
            return refused
        if field not in files:
            return _error(400, f"Bad Request: there is no {field} in the request")
        filename, content_type, content = files[field]
        if len(content) > limit:
            return _error(413, "Request Entity Too Large")
        if len(caption) > 1024:
            return _error(400, "Bad Request: message caption is too long")
        file_id = f"AgACAgIAAxk{len(self.files):06d}"
        self.files[file_id] = (f"{field}s/file_{len(self.files)}", content)
        media = {"file_id": file_id, "file_unique_id": file_id[-8:], "file_size": len(content)}
        if field == "photo":
            media = [{**media, "width": 1, "height": 1}]
        else:
            media = {**media, "file_name": filename, "mime_type": content_type}
        extra = {"caption": caption} if caption else {}
        return self._record(chat_id, params, **{field: media}, **extra, content=content)

    def _api_sendPhoto(self, params, files):  # noqa: N802
        return self._upload(params, files, "photo", 10 * 1024 * 1024)

    def _api_sendDocument(self, params, files):  # noqa: N802
        return self._upload(params, files, "document", 50 * 1024 * 1024)

    def _file(self, request: Request, match) -> Response:
        if match["token"] != BOT_TOKEN or self.revoked:
            return _error(401, "Unauthorized")
        for path, content in self.files.values():
            if path == match["path"]:
                return Response(200, content)
        return _error(404, "Not Found")

    # --- customers ------------------------------------------------------------------------------------------
    def _store_file(self, folder: str, suffix: str, content: bytes) -> str:
        file_id = f"BQACAgIAAxk{len(self.files):06d}"
        self.files[file_id] = (f"{folder}/file_{len(self.files)}{suffix}", content)
        return file_id

    def customer_message(
        self,
        *,
        chat_id: int = DEMO_CHAT,
        first_name: str = "Test",
        last_name: str = "",
        username: str = "",
        text: str = "",
        document: tuple[str, str, bytes] | None = None,
        photo: bytes | None = None,
        edit_of: int | None = None,
        group: tuple[int, str] | None = None,
    ) -> dict:
        """A customer writes to the bot (or edits message `edit_of`): pushed or queued like Telegram does. `group`
        (chat id, title): the customer writes in a group the bot is in, rather than privately."""
        with self.sim.lock:
            person = {"id": chat_id, "is_bot": False, "first_name": first_name}
            if last_name:
                person["last_name"] = last_name
            if username:
                person["username"] = username
            self.people[chat_id] = person
            chat = {"id": group[0], "type": "supergroup", "title": group[1]} if group else {**person, "type": "private"}
            chat.pop("is_bot", None)
            message = {"message_id": edit_of or self.next_message_id, "date": int(time.time()), "chat": chat}
            message["from"] = person
            if edit_of is None:
                self.last_message[chat["id"]] = self.next_message_id
                self.next_message_id += 1
            else:
                message["edit_date"] = int(time.time())
            if document:
                name, mime, content = document
                file_id = self._store_file("documents", name[name.rfind(".") :] if "." in name else "", content)
                message["document"] = {
                    "file_id": file_id,
                    "file_unique_id": file_id[-8:],
                    "file_name": name,
                    "mime_type": mime,
                    "file_size": len(content),
                }
            if photo is not None:
                file_id = self._store_file("photos", ".jpg", photo)
                small = self._store_file("photos", ".jpg", photo[:64])
                message["photo"] = [
                    {"file_id": small, "file_unique_id": small[-8:], "file_size": 64, "width": 90, "height": 90},
                    {
                        "file_id": file_id,
                        "file_unique_id": file_id[-8:],
                        "file_size": len(photo),
                        "width": 800,
                        "height": 600,
                    },
                ]
            if document or photo is not None:
                if text:
                    message["caption"] = text
            else:
                message["text"] = text
                if text.startswith("/"):
                    command = text.split(" ", 1)[0]
                    message["entities"] = [{"offset": 0, "length": len(command), "type": "bot_command"}]
            update = {"update_id": self.next_update_id, "edited_message" if edit_of else "message": message}
            self.next_update_id += 1
            webhook = dict(self.webhook)
            if not webhook:
                self.updates.append(update)
        if webhook:
            headers = {"Content-Type": "application/json"}
            if webhook["secret_token"]:
                headers["X-Telegram-Bot-Api-Secret-Token"] = webhook["secret_token"]
            path = webhook["url"].split("://", 1)[1]
            self.sim.deliver(path[path.find("/") :], json.dumps(update).encode(), headers)
        return update

    # --- the operator page ------------------------------------------------------------------------------------
    def _operator_message(self, request: Request, match) -> Response:
        data = request.json() or request.form()
        upload = request.files().get("file")
        kind = data.get("attach") or ""
        document = photo = None
        if upload and upload[2]:
            filename, content_type, content = upload
            if content_type.startswith("image/") and kind != "document":
                photo = content
            else:
                document = (filename or "file.bin", content_type or "application/octet-stream", content)
        elif kind == "photo":
            photo = SAMPLE_JPEG
        elif kind == "document":
            document = ("見積書.pdf", "application/pdf", b"%PDF-1.4\n% simulator sample\n")
        update = self.customer_message(
            chat_id=int(data.get("chat_id") or DEMO_CHAT),
            first_name=data.get("first_name") or "Test",
            username=data.get("username") or "",
            text=data.get("text") or ("" if photo or document else "hi"),
            document=document,
            photo=photo,
        )
        return Response(200, update)

    def _operator_edit(self, request: Request, match) -> Response:
        data = request.json() or request.form()
        try:
            message_id = int(data.get("message_id") or 0)
        except ValueError:
            message_id = 0
        if message_id <= 0:
            return Response(400, {"error": "message_id: the id of a message the customer sent"})
        update = self.customer_message(
            chat_id=int(data.get("chat_id") or DEMO_CHAT),
            first_name=data.get("first_name") or "Test",
            text=data.get("text") or "(edited)",
            edit_of=message_id,
        )
        return Response(200, update)

    def _operator_throttle(self, request: Request, match) -> Response:
        data = request.json() or request.form()
        method = data.get("method") or "sendMessage"
        with self.sim.lock:
            self.throttle[method] = int(data.get("retry_after") or 30)
        return Response(200, {"throttled": method, "retry_after": self.throttle[method]})

    def _operator_block(self, request: Request, match) -> Response:
        data = request.json() or request.form()
        chat_id = str(data.get("chat_id") or DEMO_CHAT)
        with self.sim.lock:
            if data.get("unblock"):
                self.blocked.discard(chat_id)
            else:
                self.blocked.add(chat_id)
        return Response(200, {"blocked": sorted(self.blocked)})

    def _operator_revoke(self, request: Request, match) -> Response:
        data = request.json() or request.form()
        with self.sim.lock:
            self.revoked = not data.get("restore")
        return Response(200, {"revoked": self.revoked})

    def operator_html(self) -> str:
        with self.sim.lock:
            last = self.last_message.get(DEMO_CHAT, 1)
            webhook = html.escape(self.webhook.get("url", "")) or "none (the bot is polled with getUpdates)"
        return (
            f"<p>Bot @tsunagu_demo_bot; webhook: {webhook}</p>"
            '<form method="post" action="/_sim/telegram/message" enctype="multipart/form-data">'
            f'<label>Customer chat id <input name="chat_id" value="{DEMO_CHAT}"></label>'
            '<label>First name <input name="first_name" value="Hana"></label>'
            '<label>Username <input name="username" value="hana_tg"></label>'
            '<label>Text (a caption with a file) <textarea name="text">'
            "注文の配送状況を教えてください。</textarea></label>"
            '<label>Attach <select name="attach"><option value="">nothing</option><option value="photo">a photo'
            '</option><option value="document">a document (PDF)</option></select></label>'
            '<label>or upload a file <input type="file" name="file"></label>'
            "<button>Send as customer</button></form>"
            '<form method="post" action="/_sim/telegram/edit">'
            f'<label>Customer chat id <input name="chat_id" value="{DEMO_CHAT}"></label>'
            f'<label>Message id <input name="message_id" value="{last}"></label>'
            '<label>New text <input name="text" value="（訂正）注文番号は A-1024 です。"></label>'
            "<button>Edit the message</button></form>"
            '<form method="post" action="/_sim/telegram/throttle">'
            '<label>Method <select name="method"><option>sendMessage</option><option>sendPhoto</option>'
            "<option>sendDocument</option><option>getUpdates</option></select></label>"
            '<label>retry_after (seconds) <input name="retry_after" value="30"></label>'
            "<button>Answer its next call with 429</button></form>"
            '<form method="post" action="/_sim/telegram/block">'
            f'<label>Customer chat id <input name="chat_id" value="{DEMO_CHAT}"></label>'
            '<label><input type="checkbox" name="unblock" value="1"> unblock instead</label>'
            "<button>The customer blocks the bot (403)</button></form>"
            '<form method="post" action="/_sim/telegram/revoke">'
            '<label><input type="checkbox" name="restore" value="1"> restore instead</label>'
            "<button>Revoke the bot token in @BotFather (401)</button></form>"
        )

    def trickle(self, text: str, lang: str) -> None:
        self.customer_message(chat_id=2222222, first_name="Demo", text=text)
