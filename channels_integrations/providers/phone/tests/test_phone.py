"""The phone channel: Twilio's signature (the documented worked example and computed ones), the callbacks parsed
from real-shaped bodies, and calls placed on the simulator's number through the real webhook and ingest — a call's
callbacks become one message whose CallRecord the later ones complete, a missed call asks for a call back, the caller
is matched by number whatever its format — and connecting with the Account SID and Auth Token against the simulator."""

from pathlib import Path
from urllib.parse import parse_qsl, urlencode
from xml.sax.saxutils import escape

import pytest
from django.utils import translation
from django.utils.translation import gettext

from channels_integrations.connector import AuthFailed, MalformedPayload, RateLimited
from channels_integrations.models import ChannelConnection, ConnectionStatus, InboundEvent
from channels_integrations.providers.phone import schemas
from channels_integrations.providers.phone.connect import TwilioConnectForm
from channels_integrations.providers.phone.connector import GREETING, PhoneConnector
from channels_integrations.providers.phone.signature import signature, valid
from channels_integrations.providers.phone.simulator import ACCOUNT_SID, AUTH_TOKEN, NUMBER, NUMBER_SID
from tickets.services.calls import call_back_tag_name, call_summary

FIXTURES = Path(__file__).parent / "fixtures"
SITE = "http://testserver"


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.form").read_bytes()


# --- signature -----------------------------------------------------------------------------------------------------


def test_the_documented_worked_example():
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert signature(url, params.items(), "12345") == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert valid(url, params.items(), "12345", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not valid(url, params.items(), "12346", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")  # another token
    assert not valid(url.replace("foo=1", "foo=2"), params.items(), "12345", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not valid(url, [*params.items(), ("Digits2", "")], "12345", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not valid(url, params.items(), "", "")


# --- parsing -------------------------------------------------------------------------------------------------------


def test_the_callbacks_are_told_apart_and_keyed_per_status_recording_and_transcription():
    keys = {name: schemas.event_key(schemas.form(fixture(name))) for name in FIXTURES_NAMES}
    assert len(set(keys.values())) == len(keys)  # the incoming request and the ringing status differ too
    sid = "CA5a1c7e0000000000000000000000abcd"
    assert keys["status_completed"] == f"{sid}:completed"
    assert keys["recording_completed"] == f"{sid}:recording:RE5a1c7e0000000000000000000000abcd:completed"
    assert keys["transcription_completed"] == f"{sid}:transcription:TR5a1c7e0000000000000000000000abcd"
    assert [schemas.callback_kind(schemas.form(fixture(n))) for n in FIXTURES_NAMES] == [
        "incoming",
        "status",
        "status",
        "status",
        "recording",
        "transcription",
    ]


FIXTURES_NAMES = [
    "incoming_call",
    "status_ringing",
    "status_completed",
    "status_no_answer",
    "recording_completed",
    "transcription_completed",
]


def test_a_completed_call_a_missed_one_a_voicemail_and_its_transcription():
    assert schemas.parse(fixture("incoming_call")) == [] and schemas.parse(fixture("status_ringing")) == []
    [answered] = schemas.parse(fixture("status_completed"))
    assert answered.kind == "call" and answered.platform_message_id == "call:CA5a1c7e0000000000000000000000abcd"
    assert answered.author_id == "+81312345678" and answered.thread_key == "tel:+81312345678"
    assert answered.author_name == "03-1234-5678"  # a new caller's contact is named by the number
    call = answered.call
    assert (call.direction, call.outcome, call.duration_seconds) == ("inbound", "answered", 95)
    assert (call.from_number, call.to_number) == ("+81312345678", "+815012345678")
    assert answered.timestamp.isoformat() == "2026-12-04T01:01:40+00:00"
    [missed] = schemas.parse(fixture("status_no_answer"))
    assert missed.call.outcome == "missed" and missed.author_id == "+819012345678"
    [recording] = schemas.parse(fixture("recording_completed"))
    assert recording.call.outcome == "voicemail" and recording.author_id == ""  # the callback names no caller
    assert recording.call.voicemail_url.endswith("/Recordings/RE5a1c7e0000000000000000000000abcd.mp3")
    [audio] = recording.attachments
    assert audio.media_id == "RE5a1c7e0000000000000000000000abcd" and audio.url == recording.call.voicemail_url
    assert audio.filename == "voicemail-00abcd.mp3" and audio.content_type == "audio/mpeg"
    [transcription] = schemas.parse(fixture("transcription_completed"))
    assert transcription.call.transcription == "Hello, this is Sato. Please call me back about my order."
    assert transcription.author_id == "+81312345678"


@pytest.mark.parametrize(
    ("status", "duration", "outcome"),
    [
        ("no-answer", "0", "missed"),
        ("canceled", "0", "missed"),
        ("busy", "0", "busy"),
        ("failed", "0", "failed"),
        ("completed", "0", "missed"),
        ("completed", "31", "answered"),
    ],
)
def test_final_statuses_map_to_outcomes(status, duration, outcome):
    params = dict(parse_qsl(fixture("status_completed").decode()))
    params.update(CallStatus=status, CallDuration=duration)
    [item] = schemas.parse(urlencode(params).encode())
    assert item.call.outcome == outcome


def test_an_outbound_call_belongs_to_the_number_called():
    params = dict(parse_qsl(fixture("status_completed").decode()))
    params.update(Direction="outbound-api", From="+815012345678", To="0312345678")  # as typed: still E.164
    [item] = schemas.parse(urlencode(params).encode())
    assert item.direction == "outbound" and item.author_id == "+81312345678" and item.call.direction == "outbound"


def test_malformed_bodies_are_refused():
    for body in (b"", b"CallStatus=completed", b"\xff\xfe", b'{"CallSid": "CA1"}'):
        with pytest.raises(MalformedPayload):
            schemas.form(body)


# --- the webhook, the simulator and the ingest ---------------------------------------------------------------------


@pytest.fixture
def phone(simulator, settings):
    settings.TWILIO_API_URL = simulator.base_url
    settings.SITE_URL = SITE
    return simulator.parts["phone"]


def connect(tenant, phone, *, language: str = "ja") -> ChannelConnection:
    from channels_integrations.services import connection_connect

    tenant.organization.default_language = language
    tenant.organization.save(update_fields=["default_language"])
    form = TwilioConnectForm(
        {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "number": "050-1234-5678"},
        organization=tenant.organization,
    )
    assert form.is_valid(), form.errors
    with tenant.scope():
        connection = connection_connect(
            organization=tenant.organization, actor=tenant.users["owner"], choice=form.account_choice()
        )
    url = f"{SITE}/webhooks/phone/{connection.uuid}/"
    phone.number.update(voice_url=url, status_callback=url)  # pasted in the console (SITE_URL is not public)
    return connection


def test_connect_checks_the_credentials_and_the_number(tenant_a, phone):
    connection = connect(tenant_a, phone)
    assert connection.external_account_id == NUMBER and connection.display_name == "050-1234-5678"
    assert connection.credentials == {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}  # stored encrypted
    assert connection.config["number_sid"] == NUMBER_SID
    with tenant_a.scope():
        stored = ChannelConnection.objects.filter(pk=connection.pk).values_list("credentials_encrypted", flat=True)
        assert AUTH_TOKEN not in str(stored.get())
    wrong = TwilioConnectForm(
        {"account_sid": ACCOUNT_SID, "auth_token": "f" * 32, "number": "050-1234-5678"},
        organization=tenant_a.organization,
    )
    assert not wrong.is_valid()
    assert "Twilio does not accept this Account SID and Auth Token." in wrong.errors["__all__"]
    other_number = TwilioConnectForm(
        {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "number": "03-9999-0000"},
        organization=tenant_a.organization,
    )
    assert not other_number.is_valid() and "number" in other_number.errors
    malformed = TwilioConnectForm(
        {"account_sid": "AC123", "auth_token": "secret", "number": "not a number"}, organization=tenant_a.organization
    )
    assert not malformed.is_valid() and set(malformed.errors) == {"account_sid", "auth_token", "number"}


def test_on_a_public_site_connect_points_the_number_at_the_webhook(tenant_a, phone, settings):
    from channels_integrations.services import connection_connect

    form = TwilioConnectForm(
        {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "number": "+81 50 1234 5678"},
        organization=tenant_a.organization,
    )
    assert form.is_valid(), form.errors
    settings.SITE_URL = "https://tsunagu.example"
    with tenant_a.scope():
        connection = connection_connect(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], choice=form.account_choice()
        )
    url = f"https://tsunagu.example/webhooks/phone/{connection.uuid}/"
    assert phone.number["voice_url"] == url and phone.number["status_callback"] == url


def test_a_rotated_token_is_never_silent_and_429_is_rate_limited(tenant_a, phone):
    connection = connect(tenant_a, phone)
    phone.throttle = 1
    with pytest.raises(RateLimited) as limited:
        PhoneConnector().refresh_credentials(connection)
    assert limited.value.retry_after == 30
    assert PhoneConnector().refresh_credentials(connection) is None  # the account is fine
    phone.auth_token = "f" * 32  # rotated in the console
    with pytest.raises(AuthFailed):
        PhoneConnector().refresh_credentials(connection)
    from channels_integrations.services import connection_refresh_credentials

    with tenant_a.scope():
        connection_refresh_credentials(organization=tenant_a.organization, connection_id=connection.pk)
        connection.refresh_from_db()
    assert connection.status == ConnectionStatus.NEEDS_REAUTH


def test_signature_valid_invalid_and_missing_on_the_endpoint(tenant_a, phone, client, settings):
    connection = connect(tenant_a, phone)
    # Behind a proxy: Twilio calls the public URL, the request reaches us as http://testserver.
    settings.SITE_URL = "https://tsunagu.example"
    path = f"/webhooks/phone/{connection.uuid}/"
    body = fixture("status_completed")
    params = parse_qsl(body.decode())
    good = signature("https://tsunagu.example" + path, params, AUTH_TOKEN)

    def post(**headers):
        return client.post(path, data=body, content_type="application/x-www-form-urlencoded", headers=headers)

    assert post().status_code == 401
    assert client.get(path).status_code == 405  # the number must be set to POST: GET requests are not read
    assert post(**{"X-Twilio-Signature": "AAAA" + good[4:]}).status_code == 403
    # Signed for the URL the proxy forwarded to, not the one registered with Twilio: refused.
    proxied = signature(SITE + path, params, AUTH_TOKEN)
    assert post(**{"X-Twilio-Signature": proxied}).status_code == 403
    with tenant_a.scope():
        assert InboundEvent.objects.count() == 0
    assert post(**{"X-Twilio-Signature": good}).status_code == 200
    assert post(**{"X-Twilio-Signature": good}).status_code == 200  # redelivered
    with tenant_a.scope():
        assert InboundEvent.objects.count() == 1


def test_the_incoming_call_is_answered_with_twiml_in_the_organizations_language(tenant_a, phone, client):
    connection = connect(tenant_a, phone)
    path = f"/webhooks/phone/{connection.uuid}/"
    body = fixture("incoming_call")
    good = signature(SITE + path, parse_qsl(body.decode()), AUTH_TOKEN)
    response = client.post(
        path, data=body, content_type="application/x-www-form-urlencoded", headers={"X-Twilio-Signature": good}
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/xml")
    twiml = response.content.decode()
    assert twiml.startswith('<?xml version="1.0" encoding="UTF-8"?><Response><Say language="ja-JP">')
    with translation.override("ja"):
        assert escape(str(GREETING)) in twiml  # the greeting as the organization reads it
    assert f'transcribeCallback="{SITE}{path}"' in twiml and 'recordingStatusCallback="' in twiml


def test_an_answered_call_is_one_message_completed_by_its_later_callbacks(
    tenant_a, phone, django_capture_on_commit_callbacks
):
    from tickets.models import CallRecord, Message, Ticket

    connect(tenant_a, phone, language="en")
    with django_capture_on_commit_callbacks(execute=True):
        placed = phone.place_call(
            caller="+81312345678", outcome="voicemail", duration=40, transcription="Please call me back."
        )
    assert placed["callbacks"] == [200] * 6  # incoming, ringing, in-progress, completed, recording, transcription
    with tenant_a.scope():
        assert InboundEvent.objects.count() == 6
        message = Message.objects.get()
        record = CallRecord.objects.get()
        ticket = Ticket.objects.get()
        tags = list(ticket.tags.values_list("name", flat=True))
    assert record.message_id == message.pk and record.call_id == placed["sid"]
    assert (record.outcome, record.duration_seconds, record.from_number) == ("voicemail", 40, "+81312345678")
    assert record.voicemail_url.endswith(".mp3") and record.transcription == "Please call me back."
    assert message.text == "Voicemail from 03-1234-5678\n\nPlease call me back."
    assert ticket.subject == "Call back: Voicemail from 03-1234-5678" and tags == ["call back"]
    # The voicemail's audio is kept with the call, fetched with the account's credentials.
    with tenant_a.scope():
        [audio] = list(message.attachments.all())
        assert audio.filename.startswith("voicemail-") and audio.content_type == "audio/mpeg"
        assert audio.file.read().startswith(b"ID3") and audio.size == len(phone.recording_bytes)
    # A redelivered callback changes nothing.
    with django_capture_on_commit_callbacks(execute=True):
        assert phone.redeliver() == 200
    with tenant_a.scope():
        assert InboundEvent.objects.count() == 6 and Message.objects.count() == 1


def test_an_answered_call_needs_no_call_back(tenant_a, phone, django_capture_on_commit_callbacks):
    from tickets.models import CallRecord, Ticket

    connect(tenant_a, phone, language="en")
    with django_capture_on_commit_callbacks(execute=True):
        phone.place_call(caller="+81312345678", outcome="answered", duration=65)
    with tenant_a.scope():
        record = CallRecord.objects.get()
        ticket = Ticket.objects.get()
        assert (record.outcome, record.duration_seconds) == ("answered", 65)
        assert ticket.subject == "Call from 03-1234-5678 (1:05)" and not ticket.tags.exists()


def test_a_missed_call_opens_a_call_back_ticket_for_the_contact_with_that_number(
    tenant_a, phone, django_capture_on_commit_callbacks
):
    from tickets.models import CallRecord, Contact, ContactIdentity, Message, Ticket

    connect(tenant_a, phone)  # Japanese organization
    with django_capture_on_commit_callbacks(execute=True):
        phone.place_call(caller="+819012345678", outcome="missed")
    with tenant_a.scope():
        ticket = Ticket.objects.get()
        with translation.override("ja"):  # in the organization's language
            summary = call_summary(direction="inbound", outcome="missed", number="+819012345678")
            assert ticket.subject == gettext("Call back: %(summary)s") % {"summary": summary}
            assert list(ticket.tags.values_list("name", flat=True)) == [call_back_tag_name()]
        assert "090-1234-5678" in summary
        assert CallRecord.objects.get().outcome == "missed"
        contact = Contact.objects.get()
        assert contact.name == "090-1234-5678"
        assert ContactIdentity.objects.get().external_id == "+819012345678"
        # The same customer calls again from the same phone, written another way by the provider: same contact,
        # same open ticket.
    with django_capture_on_commit_callbacks(execute=True):
        phone.place_call(caller="+81 90-1234-5678", outcome="busy")
    with tenant_a.scope():
        assert Contact.objects.count() == 1 and Ticket.objects.count() == 1 and Message.objects.count() == 2


def test_a_recording_before_the_status_waits_for_it(tenant_a, phone, client, django_capture_on_commit_callbacks):
    from channels_integrations import services
    from tickets.models import CallRecord

    connection = connect(tenant_a, phone, language="en")
    path = f"/webhooks/phone/{connection.uuid}/"

    def post(name):
        body = fixture(name)
        good = signature(SITE + path, parse_qsl(body.decode()), AUTH_TOKEN)
        return client.post(
            path, data=body, content_type="application/x-www-form-urlencoded", headers={"X-Twilio-Signature": good}
        )

    with django_capture_on_commit_callbacks(execute=True):
        assert post("recording_completed").status_code == 200
    with tenant_a.scope():
        early = InboundEvent.objects.get()
        assert early.status != "processed" and "before its status" in early.last_error
        assert not CallRecord.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert post("status_completed").status_code == 200
    with tenant_a.scope(), django_capture_on_commit_callbacks(execute=True):
        # Its retry (eager tests run the retries at once, so it is replayed here by hand).
        assert services.event_process(organization=tenant_a.organization, event_id=early.pk) == "processed"
        record = CallRecord.objects.get()
    assert record.outcome == "voicemail" and record.duration_seconds == 95 and record.voicemail_url


def test_there_is_no_written_reply(tenant_a, phone):
    from django.utils import timezone

    from channels_integrations.connector import ReplyContext

    connection = connect(tenant_a, phone, language="en")
    context = ReplyContext(kind="call", is_public=False, last_customer_message_at=None, now=timezone.now())
    limits = PhoneConnector().reply_limits(connection, context)
    assert not limits.can_reply_privately and "call the customer back and log the call" in limits.notes[0]
    assert PhoneConnector().check_reply(connection, context, "hello", []) == [limits.notes[0]]


def test_account_facts_show_the_url_to_paste(tenant_a, phone):
    connection = connect(tenant_a, phone, language="en")
    facts = dict(PhoneConnector().account_facts(connection))
    assert facts["Phone number"] == "050-1234-5678"
    assert f"/webhooks/phone/{connection.uuid}/" in facts["Voice URL (a call comes in) and status callback"]


def test_the_demo_organization_gets_the_simulators_number_and_calls_reach_it(
    db, phone, simulator, settings, tmp_path, django_capture_on_commit_callbacks
):
    import json

    from django.core.management import call_command
    from django_scopes import scopes_disabled

    from conftest import make_org, make_user
    from tickets.models import CallRecord

    for name in ("TELEGRAM_API_URL", "LINE_API_URL", "LINE_API_DATA_URL", "X_API_URL"):  # as config/devserver.py
        setattr(settings, name, simulator.base_url)
    demo = make_org("demo", make_user("owner@demo.tsunagu.example"))
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"base_url": simulator.base_url}))
    call_command("connect_demo_channels", simulator_state=str(state))
    with scopes_disabled():
        connection = ChannelConnection.objects.get(organization=demo, platform="phone")
    assert connection.external_account_id == NUMBER and connection.status == "active"
    assert phone.number["voice_url"] == f"{SITE}/webhooks/phone/{connection.uuid}/"  # "pasted" by the command
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            simulator.dispatch(
                __import__("channels_integrations.simulator.core", fromlist=["Request"]).Request(
                    "POST", "/_sim/phone/call", {}, {"content-type": "application/json"}, b'{"outcome": "missed"}'
                )
            ).status
            == 200
        )
    with scopes_disabled():
        assert CallRecord.objects.get(organization=demo).outcome == "missed"


def test_a_json_bodied_webhook_is_signed_over_its_url_with_the_bodys_hash(settings):
    import hashlib
    from types import SimpleNamespace

    from django.test import RequestFactory

    from channels_integrations.connector import WebhookRejected

    settings.SITE_URL = "https://tsunagu.example"
    body = b'{"CallSid": "CA1", "CallStatus": "completed"}'
    path = f"/webhooks/phone/x/?bodySHA256={hashlib.sha256(body).hexdigest()}"
    connection = SimpleNamespace(credentials={"auth_token": AUTH_TOKEN})
    good = signature("https://tsunagu.example" + path, [], AUTH_TOKEN)

    def request(data: bytes, sig: str):
        return RequestFactory().post(path, data=data, content_type="application/json", HTTP_X_TWILIO_SIGNATURE=sig)

    PhoneConnector().verify_webhook(request(body, good), connection)
    with pytest.raises(WebhookRejected):  # the body changed: its hash no longer matches the signed URL
        PhoneConnector().verify_webhook(request(body.replace(b"completed", b"no-answer"), good), connection)


def test_connecting_through_the_page_shows_the_url_to_paste_and_the_channel_page_shows_it_again(tenant_a, phone, login):
    tenant_a.organization.default_language = "en"
    tenant_a.organization.save(update_fields=["default_language"])
    client = login(tenant_a.users["owner"])
    url = f"/{tenant_a.slug}/settings/channels/phone/"
    page = client.get(url)
    assert page.status_code == 200 and 'name="auth_token"' in page.content.decode()
    wrong = client.post(url, {"account_sid": ACCOUNT_SID, "auth_token": "e" * 32, "number": "050-1234-5678"})
    assert wrong.status_code == 400
    assert "Twilio does not accept this Account SID and Auth Token." in wrong.content.decode()
    done = client.post(url, {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "number": "050-1234-5678"})
    assert done.status_code == 200
    with tenant_a.scope():
        connection = ChannelConnection.objects.get(platform="phone")
    hook = f"{SITE}/webhooks/phone/{connection.uuid}/"
    assert hook in done.content.decode() and AUTH_TOKEN not in done.content.decode()
    detail = client.get(f"/{tenant_a.slug}/settings/channels/{connection.pk}/").content.decode()
    assert hook in detail and "050-1234-5678" in detail


def test_recordings_are_fetched_only_from_the_providers_api_host(tenant_a, phone):
    from channels_integrations.connector import ConnectorError
    from channels_integrations.inbound import InboundAttachment

    connection = connect(tenant_a, phone, language="en")
    foreign = InboundAttachment(filename="x.mp3", url="https://evil.example/2010-04-01/r.mp3", media_id="RE1")
    with pytest.raises(ConnectorError):
        PhoneConnector().download_media(connection, foreign)
    gone = InboundAttachment(
        filename="x.mp3", url=f"{phone.sim.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Nothing/RE1.mp3", media_id="RE1"
    )
    with pytest.raises(ConnectorError):
        PhoneConnector().download_media(connection, gone)


def test_forwarding_rings_the_teams_phone_then_falls_back_to_the_voicemail(tenant_a, phone, client):
    connection = connect(tenant_a, phone, language="en")
    connection.config["dial"] = "+819099998888"
    with tenant_a.scope():
        connection.save(update_fields=["config"])
    path = f"/webhooks/phone/{connection.uuid}/"

    def post(params: dict) -> str:
        body = urlencode(params).encode()
        signed = signature(SITE + path, parse_qsl(body.decode()), AUTH_TOKEN)
        response = client.post(
            path, data=body, content_type="application/x-www-form-urlencoded", headers={"X-Twilio-Signature": signed}
        )
        assert response.status_code == 200 and response["Content-Type"].startswith("text/xml")
        return response.content.decode()

    incoming = dict(parse_qsl(fixture("incoming_call").decode()))
    rings = post(incoming)
    assert f'<Dial timeout="20" action="{SITE}{path}" method="POST" record="record-from-answer"' in rings
    assert "+819099998888</Dial>" in rings
    nobody = post({**incoming, "CallStatus": "in-progress", "DialCallStatus": "no-answer", "DialCallSid": "CA2"})
    assert "<Record " in nobody and "<Dial" not in nobody  # the voicemail after all
    talked = {**incoming, "CallStatus": "in-progress", "DialCallStatus": "completed", "DialCallDuration": "125"}
    assert post(talked).endswith("<Response><Hangup/></Response>")
    [item] = schemas.parse(urlencode(talked).encode())
    assert (item.call.outcome, item.call.duration_seconds) == ("answered", 125)
    assert schemas.parse(urlencode({**incoming, "DialCallStatus": "busy"}).encode()) == []
    with tenant_a.scope():  # each request stored once, keyed apart
        keys = set(InboundEvent.objects.values_list("event_key", flat=True))
    assert {k.split(":", 1)[1] for k in keys} == {"incoming", "dial:no-answer", "dial:completed"}
