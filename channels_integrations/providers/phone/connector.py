"""Phone calls through a Twilio-style provider. One URL per connection, `/webhooks/phone/<connection uuid>/`, takes
the number's incoming-call request (answered with TwiML: a greeting in the organization's language and a voicemail
`<Record>` with transcription, or a `<Dial>` to the team's phone when the connection's config names one) and the
status, recording and transcription callbacks. Every request is checked with `X-Twilio-Signature` over the URL the
provider was given — rebuilt from `SITE_URL`, never from the Host header a proxy rewrites — and the POST parameters.

There is no text reply on a phone conversation: the agent calls the customer back and logs the call (tickets.services
.calls.call_log)."""

import dataclasses
import hashlib
import hmac
import logging
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape, quoteattr

from django.conf import settings
from django.http import HttpResponse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels_integrations.connector import (
    AuthFailed,
    Connector,
    ConnectorError,
    MalformedPayload,
    OutboundMessage,
    ReplyContext,
    ReplyLimits,
    SendRejected,
    SendResult,
    WebhookDelivery,
    WebhookRejected,
)
from channels_integrations.providers.phone import client, schemas
from channels_integrations.providers.phone.signature import valid
from core import phone

logger = logging.getLogger("tsunagu.phone")

SIGNATURE_HEADER = "X-Twilio-Signature"
VOICEMAIL_MAX_SECONDS = 120
DIAL_TIMEOUT_SECONDS = 20
SAY_LANGUAGES = {"ja": "ja-JP", "en": "en-US"}
GREETING = gettext_lazy(
    "Thank you for calling. We cannot take your call right now. Please leave a message after the tone, "
    "and we will call you back."
)


def webhook_url(connection) -> str:
    """The one URL to give the provider for this number (voice URL and every callback)."""
    return f"{settings.SITE_URL}/webhooks/phone/{connection.uuid}/"


def public_site() -> bool:
    """Whether the provider can reach us: an HTTPS SITE_URL that is not this machine."""
    parts = urlsplit(settings.SITE_URL)
    return parts.scheme == "https" and parts.hostname not in ("localhost", "127.0.0.1", "::1")


class PhoneConnector(Connector):
    platform = "phone"
    label = gettext_lazy("Phone")
    receives_webhooks = True
    connect_form = "channels_integrations.providers.phone.connect.TwilioConnectForm"
    connect_label = gettext_lazy("Connect a phone number")
    idempotent_send = False  # nothing is ever sent: send() refuses
    downloads_media = True  # recordings: fetched with the account's credentials (media may require HTTP auth)
    max_media_bytes = 20 * 1024 * 1024  # a voicemail of 2 minutes is about 1 MB as MP3
    can_initiate = False

    # --- webhooks -------------------------------------------------------------------------------------------------
    def handshake(self, request, connection):
        # Twilio may be told to use GET for the voice URL; we sign and read POST forms only (and say so).
        raise WebhookRejected("Configure the number's webhooks with HTTP POST", status=405, code="use_post")

    def verify_webhook(self, request, connection):
        given = request.headers.get(SIGNATURE_HEADER)
        if not given:
            raise WebhookRejected("Request did not include X-Twilio-Signature", status=401, code="signature_missing")
        token = connection.credentials.get("auth_token", "") if connection else ""
        # The URL exactly as registered with the provider: our public base URL, the path and the query string.
        url = settings.SITE_URL + request.get_full_path()
        query = dict(parse_qsl(urlsplit(url).query))
        if "bodySHA256" in query:
            # JSON-bodied webhooks sign the URL alone; the body is bound by its hash in the query (§8.1).
            body_ok = hmac.compare_digest(hashlib.sha256(request.body).hexdigest(), query["bodySHA256"].lower())
            ok = body_ok and valid(url, [], token, given)
        else:
            params = [(name, value) for name in request.POST for value in request.POST.getlist(name)]
            ok = valid(url, params, token, given)
        if not ok:
            raise WebhookRejected("Request had a wrong X-Twilio-Signature", status=403, code="signature_invalid")

    def split_webhook(self, body):
        params = schemas.form(body)
        return [WebhookDelivery(account_id="", event_key=schemas.event_key(params), payload=body)]

    def parse_event(self, payload, *, account_id):
        return schemas.parse(payload)

    def webhook_reply(self, request, connection) -> HttpResponse | None:
        """The incoming-call request (the number's voice URL) and the forwarded call's end (`<Dial action>`) are
        answered with TwiML; callbacks get the receipt."""
        try:
            params = schemas.form(request.body)
        except MalformedPayload:
            return None
        kind = schemas.callback_kind(params)
        if kind == "incoming":
            document = twiml(connection)
        elif kind == "dial":
            # Answered: the conversation is over, hang up. Otherwise the caller may leave a voicemail.
            answered = params["DialCallStatus"] == "completed"
            document = HANG_UP if answered else twiml(connection, voicemail=True)
        else:
            return None
        return HttpResponse(document, content_type="text/xml; charset=utf-8")

    def download_media(self, connection, attachment):
        """The recording's MP3, from Twilio's API host only (the account's SID and token go nowhere else)."""
        api = urlsplit(settings.TWILIO_API_URL)
        where = urlsplit(attachment.url)
        if (where.scheme, where.netloc) != (api.scheme, api.netloc):
            raise ConnectorError(f"recording outside {api.netloc} not fetched", code="foreign_host")
        sid, token = self._credentials(connection)
        content, content_type = client.download(attachment.url, sid, token, max_bytes=self.max_media_bytes)
        return dataclasses.replace(
            attachment, content=content, content_type=content_type or attachment.content_type, size=len(content)
        )

    # --- replies --------------------------------------------------------------------------------------------------
    def reply_limits(self, connection, context: ReplyContext) -> ReplyLimits:
        return ReplyLimits(
            max_length=None,
            can_reply_publicly=False,
            can_reply_privately=False,
            notes=(_("A phone conversation has no written replies: call the customer back and log the call."),),
        )

    def check_reply(self, connection, context, text, files):
        return [_("A phone conversation has no written replies: call the customer back and log the call.")]

    def send(self, connection, outbound: OutboundMessage) -> SendResult:
        raise SendRejected(_("A phone conversation has no written replies: call the customer back and log the call."))

    # --- connecting -----------------------------------------------------------------------------------------------
    def on_connect(self, connection) -> None:
        """Point the number's voice URL and status callback at us when the provider can reach us; otherwise the
        channel's page shows the URL to paste in the provider's console."""
        number_sid = connection.config.get("number_sid", "")
        if not public_site() or not number_sid:
            return
        url = webhook_url(connection)
        sid, token = self._credentials(connection)
        client.call(
            "POST",
            sid,
            token,
            f"/IncomingPhoneNumbers/{number_sid}",
            data={"VoiceUrl": url, "VoiceMethod": "POST", "StatusCallback": url, "StatusCallbackMethod": "POST"},
        )

    def refresh_credentials(self, connection):
        """An Auth Token does not expire, but it can be rotated: checking the account turns a revoked token into
        AuthFailed (the connection needs re-authorization and the admins are told) instead of silence."""
        sid, token = self._credentials(connection)
        account = client.call("GET", sid, token)
        if account.get("status") not in (None, "active"):
            raise AuthFailed(_("The phone provider's account is %(status)s.") % {"status": account.get("status")})
        return None

    def account_facts(self, connection) -> list[tuple[str, str]]:
        number = connection.config.get("number", connection.external_account_id)
        return [
            (_("Phone number"), phone.display(number)),
            (_("Voice URL (a call comes in) and status callback"), webhook_url(connection)),
        ]

    def _credentials(self, connection) -> tuple[str, str]:
        sid = connection.credentials.get("account_sid", "")
        token = connection.credentials.get("auth_token", "")
        if not sid or not token:
            raise AuthFailed(_("No Account SID and Auth Token are stored for this channel."))
        return sid, token


HANG_UP = '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>'


def twiml(connection, *, voicemail: bool = False) -> str:
    """What the caller hears. With `config["dial"]` (an E.164 number) the call rings that phone for 20 seconds,
    recorded from the answer, and when nobody picks up Twilio asks the same URL again (`<Dial action>`), which then
    answers with the voicemail; without, the voicemail at once: a greeting in the organization's language and a
    recording (transcribed). Every callback reports to the same URL."""
    url = quoteattr(webhook_url(connection))
    dial = phone.e164(connection.config.get("dial", "")) if connection.config.get("dial") else ""
    if dial and not voicemail:
        return (
            '<?xml version="1.0" encoding="UTF-8"?><Response>'
            f'<Dial timeout="{DIAL_TIMEOUT_SECONDS}" action={url} method="POST" record="record-from-answer" '
            f"recordingStatusCallback={url}>{escape(dial)}</Dial></Response>"
        )
    language = connection.organization.default_language or "ja"
    with translation.override(language):
        greeting = connection.config.get("greeting") or str(GREETING)
    say = SAY_LANGUAGES.get(language, "en-US")
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f"<Say language={quoteattr(say)}>{escape(greeting)}</Say>"
        f'<Record maxLength="{VOICEMAIL_MAX_SECONDS}" playBeep="true" transcribe="true" transcribeCallback={url} '
        f'recordingStatusCallback={url} recordingStatusCallbackEvent="completed"/>'
        "</Response>"
    )


def check_account(account_sid: str, auth_token: str, number: str) -> tuple[dict, dict]:
    """The account behind the SID and token, and the number among its incoming numbers; ConnectorError otherwise."""
    account = client.call("GET", account_sid, auth_token)
    if account.get("status") not in (None, "active"):
        raise SendRejected(f"account {account.get('status')}", code="account_inactive")
    listed = client.call("GET", account_sid, auth_token, "/IncomingPhoneNumbers", params={"PhoneNumber": number})
    numbers = [n for n in listed.get("incoming_phone_numbers") or [] if n.get("phone_number") == number]
    if not numbers:
        raise ConnectorError(f"{number} is not a number of this account", code="number_unknown")
    return account, numbers[0]
