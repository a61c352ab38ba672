"""Twilio-style voice callbacks (PROTOCOLS.md §8.2), parsed. Every callback is an
`application/x-www-form-urlencoded` POST; which one it is shows in its parameters (they share one URL):

- the incoming call (the number's voice URL): `CallSid`, `CallStatus` (ringing), no `CallbackSource`;
- a call status callback: `CallbackSource=call-progress-events`, `CallStatus`, `CallDuration` when completed;
- a recording status callback: `RecordingSid`, `RecordingUrl`, `RecordingStatus`, `RecordingSource`;
- a transcription callback: `TranscriptionSid`, `TranscriptionText`, `TranscriptionStatus`.

Each callback is one stored event (`event_key`: CallSid with the status, recording or transcription id), so a
redelivered callback is stored once; each callback that says something about the call's outcome becomes an
`InboundMessage` with the same `platform_message_id` (`call:<CallSid>`): the first stores the call, later ones
update it (tickets.services.calls). Parsing is pure: no Django."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl

from channels_integrations.connector import MalformedPayload
from channels_integrations.inbound import CallDetails, InboundAttachment, InboundItem, InboundMessage
from core import phone

# CallStatus values that end a call without anyone answering (Twilio's "no-answer", "busy", "canceled", "failed").
ENDED_UNANSWERED = {"no-answer": "missed", "canceled": "missed", "busy": "busy", "failed": "failed"}
# The voicemail greeting's <Record> makes Twilio report RecordingSource "RecordVerb"; a recorded conversation has
# another source (DialVerb, StartCallRecordingAPI, OutboundAPI...).
VOICEMAIL_SOURCE = "RecordVerb"


def form(body: bytes) -> dict[str, str]:
    """The callback's parameters (a repeated name keeps its last value); MalformedPayload when it is no form."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedPayload("the callback is not a urlencoded form") from exc
    params = dict(pairs)
    if not params.get("CallSid"):
        raise MalformedPayload("the callback has no CallSid")
    return params


def callback_kind(params: dict[str, str]) -> str:
    """ "transcription", "dial" (the `<Dial action>` request once the forwarded call ended: `DialCallStatus`),
    "recording", "status" or "incoming" (the voice URL's request). "incoming" and "dial" are answered with TwiML."""
    if params.get("TranscriptionSid"):
        return "transcription"
    if params.get("DialCallStatus"):
        return "dial"
    if params.get("RecordingSid") and params.get("RecordingStatus"):
        return "recording"
    if params.get("CallbackSource") == "call-progress-events" or params.get("CallDuration"):
        return "status"
    return "incoming"


def event_key(params: dict[str, str]) -> str:
    """Unique per callback and stable across redeliveries: CallSid + CallStatus (+ RecordingSid + its status, or
    TranscriptionSid). The incoming-call request is keyed apart from the "ringing" status callback."""
    sid = params["CallSid"]
    kind = callback_kind(params)
    if kind == "transcription":
        return f"{sid}:transcription:{params['TranscriptionSid']}"
    if kind == "recording":
        return f"{sid}:recording:{params['RecordingSid']}:{params.get('RecordingStatus', '')}"
    if kind == "incoming":
        return f"{sid}:incoming"
    if kind == "dial":
        return f"{sid}:dial:{params['DialCallStatus']}"
    return f"{sid}:{params.get('CallStatus', '')}"


def _timestamp(value: str) -> datetime | None:
    """Status callbacks' `Timestamp` is an RFC 2822 date (`Tue, 04 Dec 2026 10:00:00 +0000`)."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _int(value: str) -> int:
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0


def _recording_url(url: str) -> str:
    """Twilio's RecordingUrl names the recording without a format; with `.mp3` a browser plays it."""
    if url and not url.rsplit("/", 1)[-1].count("."):
        return url + ".mp3"
    return url


def parse(body: bytes) -> list[InboundItem]:
    params = form(body)
    kind = callback_kind(params)
    if kind == "incoming":
        return []  # the call is still ringing: what became of it comes with the status callbacks
    direction = "outbound" if params.get("Direction", "inbound").startswith("outbound") else "inbound"
    from_number = phone.e164(params.get("From") or params.get("Caller") or "")
    to_number = phone.e164(params.get("To") or params.get("Called") or "")
    customer = to_number if direction == "outbound" else from_number
    status = params.get("CallStatus", "")
    timestamp = _timestamp(params.get("Timestamp", ""))
    details = {
        "call_id": params["CallSid"],
        "direction": direction,
        "from_number": from_number,
        "to_number": to_number,
        "started_at": None,
    }
    attachments: tuple[InboundAttachment, ...] = ()
    if kind == "dial":
        if params["DialCallStatus"] != "completed":
            return []  # nobody picked up: the caller is sent to the voicemail, whose callbacks tell the rest
        talk = _int(params.get("DialCallDuration", ""))
        call = CallDetails(**details, outcome="answered" if talk else "missed", duration_seconds=talk)
    elif kind == "status":
        if status in ENDED_UNANSWERED:
            outcome = ENDED_UNANSWERED[status]
        elif status == "completed":
            outcome = "answered" if _int(params.get("CallDuration", "")) > 0 else "missed"
        else:
            return []  # initiated, ringing, in-progress: the call is not over yet
        duration = _int(params.get("CallDuration", ""))
        call = CallDetails(**details, outcome=outcome, duration_seconds=duration)
    elif kind == "recording":
        if params.get("RecordingStatus") != "completed":
            return []  # in-progress or absent: no file to listen to
        url = _recording_url(params.get("RecordingUrl", ""))
        voicemail = params.get("RecordingSource") == VOICEMAIL_SOURCE
        if voicemail:
            call = CallDetails(**details, outcome="voicemail", voicemail_url=url)
        else:
            call = CallDetails(**details, outcome="answered", recording_url=url)
        if url:
            # The audio itself, kept with the call (the connector fetches it with the account's credentials).
            # Short enough for the bubble; the sid's tail keeps two recordings of one call apart.
            name = f"{'voicemail' if voicemail else 'recording'}-{params['RecordingSid'][-6:]}.mp3"
            attachments = (
                InboundAttachment(filename=name, content_type="audio/mpeg", url=url, media_id=params["RecordingSid"]),
            )
    else:  # transcription: only of a voicemail (<Record transcribe="true">)
        if params.get("TranscriptionStatus", "completed") != "completed":
            return []
        url = _recording_url(params.get("RecordingUrl", ""))
        call = CallDetails(
            **details, outcome="voicemail", voicemail_url=url, transcription=params.get("TranscriptionText", "")
        )
    name = phone.display(customer) if customer else ""
    return [
        InboundMessage(
            platform_message_id=f"call:{params['CallSid']}",
            thread_key=f"tel:{customer}" if customer else "",
            kind="call",
            author_id=customer,
            # A new caller's contact is named by the number (or the caller-ID name the provider looked up).
            author_name=(params.get("CallerName", "") if direction == "inbound" else "") or name,
            author_handle=name,
            text=call.transcription,
            timestamp=timestamp,
            direction=direction,
            call=call,
            attachments=attachments,
        )
    ]
