"""The phone part of the platform simulator: a Twilio account with one voice number. It serves the REST calls
Tsunagu makes (the account and its incoming numbers, with HTTP basic auth and Twilio's JSON errors) and places calls:
the number's voice URL is requested like Twilio does, then the status callbacks (ringing, in-progress, and the final
status with CallDuration, SequenceNumber and Timestamp), and for a voicemail the recording and transcription
callbacks — each a form POST signed with X-Twilio-Signature under the account's Auth Token. Never imports Django."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import itertools
import time
from email.utils import formatdate
from urllib.parse import urlencode, urlsplit

from channels_integrations.simulator.core import Request, Response, SimulatorPart

ACCOUNT_SID = "AC" + "5a" * 16
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
NUMBER = "+815012345678"  # the business's number (050-1234-5678)
NUMBER_SID = "PN" + "7e" * 16
API = "/2010-04-01/Accounts"
OUTCOMES = ("answered", "missed", "canceled", "busy", "failed", "hangup", "voicemail")


def _sign(url: str, params: dict[str, str], token: str) -> str:
    """X-Twilio-Signature (PROTOCOLS.md §8.1), written out again here: the far end does not share our code."""
    data = url + "".join(k + v for k, v in sorted(params.items()))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def _error(status: int, code: int, message: str) -> Response:
    return Response(
        status,
        {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status},
    )


class PhoneSimulator(SimulatorPart):
    name = "phone"

    def __init__(self, sim):
        super().__init__(sim)
        self.reset()

    def reset(self) -> None:
        self.auth_token = AUTH_TOKEN
        self.number = {
            "sid": NUMBER_SID,
            "account_sid": ACCOUNT_SID,
            "phone_number": NUMBER,
            "friendly_name": "050-1234-5678",
            "voice_url": "",
            "voice_method": "POST",
            "status_callback": "",
            "status_callback_method": "POST",
            "capabilities": {"voice": True, "sms": False, "mms": False, "fax": False},
        }
        self.throttle = 0  # the next REST calls answered 429 (Twilio's 20429)
        self.calls: list[dict] = []  # every call placed: sid, from, outcome, callbacks (status of each POST)
        self.callbacks: list[tuple[str, dict[str, str], dict[str, str]]] = []  # (url, params, headers) sent
        self._sids = itertools.count(1)

    def state(self) -> dict:
        return {"number": self.number, "calls": self.calls}

    def routes(self):
        return [
            ("GET", API + r"/(?P<sid>AC\w+)\.json", self._account),
            ("GET", API + r"/(?P<sid>AC\w+)/IncomingPhoneNumbers\.json", self._numbers),
            ("POST", API + r"/(?P<sid>AC\w+)/IncomingPhoneNumbers/(?P<pn>PN\w+)\.json", self._number_update),
            ("GET", API + r"/(?P<sid>AC\w+)/Recordings/(?P<re>RE\w+)(?:\.mp3)?", self._recording),
            ("POST", r"/_sim/phone/call", self._operator_call),
            ("POST", r"/_sim/phone/number", self._operator_number),
            ("POST", r"/_sim/phone/redeliver", self._operator_redeliver),
            ("POST", r"/_sim/phone/error", self._operator_error),
        ]

    # --- the REST API -----------------------------------------------------------------------------------------
    def _auth(self, request: Request, sid: str) -> Response | None:
        header = request.headers.get("authorization", "")
        try:
            user, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
        except ValueError:
            user = password = ""
        if not header.startswith("Basic ") or user != ACCOUNT_SID or password != self.auth_token or sid != user:
            return _error(401, 20003, "Authenticate")
        if self.throttle:
            self.throttle -= 1
            return Response(429, _error(429, 20429, "Too Many Requests").body, headers={"Retry-After": "30"})
        return None

    def _account(self, request: Request, match) -> Response:
        denied = self._auth(request, match["sid"])
        if denied:
            return denied
        return Response(
            200,
            {"sid": ACCOUNT_SID, "friendly_name": "Tsunagu demo", "status": "active", "type": "Full"},
        )

    def _numbers(self, request: Request, match) -> Response:
        denied = self._auth(request, match["sid"])
        if denied:
            return denied
        wanted = request.arg("PhoneNumber")
        numbers = [self.number] if not wanted or wanted == self.number["phone_number"] else []
        return Response(200, {"incoming_phone_numbers": numbers, "page": 0, "page_size": 50})

    def _number_update(self, request: Request, match) -> Response:
        denied = self._auth(request, match["sid"])
        if denied:
            return denied
        if match["pn"] != NUMBER_SID:
            return _error(404, 20404, f"The requested resource {request.path} was not found")
        form = request.form()
        for field, key in (
            ("VoiceUrl", "voice_url"),
            ("VoiceMethod", "voice_method"),
            ("StatusCallback", "status_callback"),
            ("StatusCallbackMethod", "status_callback_method"),
        ):
            if field in form:
                self.number[key] = form[field]
        return Response(200, self.number)

    recording_bytes = b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\x00" * 64  # an MP3's header: enough for a player

    def _recording(self, request: Request, match) -> Response:
        return Response(200, self.recording_bytes, content_type="audio/mpeg")

    # --- placing calls ----------------------------------------------------------------------------------------
    def place_call(
        self,
        *,
        caller: str = "+81312345678",
        outcome: str = "answered",
        duration: int = 95,
        transcription: str = "",
        caller_name: str = "",
    ) -> dict:
        """A customer calls the number. `outcome`: answered (a conversation of `duration` seconds), missed (nobody
        answered: no-answer), canceled (the caller hung up while it rang), busy, failed, hangup (completed after
        0 seconds), voicemail (the greeting, a recording and its transcription)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}")
        with self.sim.lock:
            n = next(self._sids)
            call_sid = f"CA{n:032x}"
            voice_url = self.number["voice_url"]
            status_url = self.number["status_callback"] or voice_url
        if not voice_url:
            raise LookupError("the number has no voice URL: connect it in Tsunagu or set it with /_sim/phone/number")
        base = {
            "AccountSid": ACCOUNT_SID,
            "ApiVersion": "2010-04-01",
            "CallSid": call_sid,
            "From": caller,
            "Caller": caller,
            "To": self.number["phone_number"],
            "Called": self.number["phone_number"],
            "Direction": "inbound",
            "FromCountry": "JP" if caller.startswith("+81") else "",
            "ToCountry": "JP",
        }
        if caller_name:
            base["CallerName"] = caller_name
        record = {"sid": call_sid, "from": caller, "outcome": outcome, "callbacks": []}
        record["callbacks"].append(self._post(voice_url, {**base, "CallStatus": "ringing"}))
        sequence = itertools.count(0)

        def status(call_status: str, **extra) -> None:
            params = {
                **base,
                "CallStatus": call_status,
                "CallbackSource": "call-progress-events",
                "SequenceNumber": str(next(sequence)),
                "Timestamp": formatdate(time.time(), usegmt=True),
                **extra,
            }
            record["callbacks"].append(self._post(status_url, params))

        status("ringing")
        final = {"missed": "no-answer", "canceled": "canceled", "busy": "busy", "failed": "failed"}
        if outcome in final:
            status(final[outcome], CallDuration="0")
        else:
            seconds = 0 if outcome == "hangup" else max(1, int(duration))
            if seconds:
                status("in-progress")
            status("completed", CallDuration=str(seconds))
        if outcome == "voicemail":
            recording_sid = f"RE{n:032x}"
            recording_url = f"{self.sim.base_url}{API}/{ACCOUNT_SID}/Recordings/{recording_sid}"
            # Recording status callbacks carry the call's sid but not its numbers (PROTOCOLS.md §8.2).
            recording = {
                "AccountSid": ACCOUNT_SID,
                "CallSid": call_sid,
                "RecordingSid": recording_sid,
                "RecordingUrl": recording_url,
                "RecordingStatus": "completed",
                "RecordingDuration": str(max(1, int(duration) - 8)),
                "RecordingChannels": "1",
                "RecordingSource": "RecordVerb",
                "RecordingStartTime": formatdate(time.time(), usegmt=True),
            }
            record["callbacks"].append(self._post(status_url, recording))
            if transcription:
                transcript = {
                    **base,
                    "CallStatus": "completed",
                    "TranscriptionSid": f"TR{n:032x}",
                    "TranscriptionText": transcription,
                    "TranscriptionStatus": "completed",
                    "TranscriptionUrl": f"{self.sim.base_url}{API}/{ACCOUNT_SID}/Transcriptions/TR{n:032x}",
                    "RecordingSid": recording_sid,
                    "RecordingUrl": recording_url,
                }
                record["callbacks"].append(self._post(status_url, transcript))
        with self.sim.lock:
            self.calls.append(record)
        return record

    def _post(self, url: str, params: dict[str, str]) -> int:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": _sign(url, params, self.auth_token),
            "I-Twilio-Idempotency-Token": hashlib.sha1(urlencode(sorted(params.items())).encode()).hexdigest(),
        }
        with self.sim.lock:
            self.callbacks.append((url, params, headers))
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return self.sim.deliver(path, urlencode(params).encode(), headers)

    def redeliver(self) -> int:
        """Post the last callback again, as Twilio retries one it thinks failed."""
        with self.sim.lock:
            url, params, headers = self.callbacks[-1]
        parts = urlsplit(url)
        return self.sim.deliver(parts.path, urlencode(params).encode(), headers)

    # --- operator ---------------------------------------------------------------------------------------------
    def _operator_call(self, request: Request, match) -> Response:
        data = request.json() or request.form()
        try:
            record = self.place_call(
                caller=data.get("from") or "+81312345678",
                outcome=data.get("outcome") or "answered",
                duration=int(data.get("duration") or 95),
                transcription=data.get("transcription") or "",
                caller_name=data.get("caller_name") or "",
            )
        except (ValueError, LookupError) as exc:
            return Response(409, {"error": str(exc)})
        return Response(200, record)

    def _operator_number(self, request: Request, match) -> Response:
        """Set the number's voice URL and status callback, as an admin pastes them in the provider's console."""
        data = request.json() or request.form()
        with self.sim.lock:
            self.number["voice_url"] = data.get("voice_url", "")
            self.number["status_callback"] = data.get("status_callback") or data.get("voice_url", "")
        return Response(200, self.number)

    def _operator_redeliver(self, request: Request, match) -> Response:
        if not self.callbacks:
            return Response(409, {"error": "no callback sent yet"})
        return Response(200, {"status": self.redeliver()})

    def _operator_error(self, request: Request, match) -> Response:
        """rotate: the Auth Token changes (our stored one gets 401 and signatures no longer match); throttle: the
        next REST calls get 429."""
        data = request.json() or request.form()
        with self.sim.lock:
            if data.get("kind") == "rotate":
                self.auth_token = "f" * 32 if self.auth_token == AUTH_TOKEN else AUTH_TOKEN
            elif data.get("kind") == "throttle":
                self.throttle = int(data.get("count") or 1)
            else:
                return Response(400, {"error": "kind must be rotate or throttle"})
        return Response(200, {"ok": True})

    def operator_html(self) -> str:
        options = "".join(f"<option>{o}</option>" for o in OUTCOMES)
        return (
            f"<p>Number {html.escape(self.number['phone_number'])} (Account {ACCOUNT_SID}, Auth Token {AUTH_TOKEN}); "
            f"voice URL: {html.escape(self.number['voice_url'] or 'not set')}</p>"
            "<form method=post action=/_sim/phone/call>"
            "<label>Caller <input name=from value='+81312345678'></label>"
            f"<label>Outcome <select name=outcome>{options}</select></label>"
            "<label>Duration (seconds) <input name=duration type=number value=95></label>"
            "<label>Voicemail transcription <input name=transcription value='Please call me back about my order.'>"
            "</label><button>Place a call</button></form>"
            "<form method=post action=/_sim/phone/redeliver><button>Redeliver the last callback</button></form>"
            "<form method=post action=/_sim/phone/error><input type=hidden name=kind value=rotate>"
            "<button>Rotate the Auth Token</button></form>"
            "<form method=post action=/_sim/phone/error><input type=hidden name=kind value=throttle>"
            "<button>Rate-limit the next REST call</button></form>"
        )
