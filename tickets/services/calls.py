"""Phone calls on tickets: the calls a telephony provider reports (their CallRecord is made and then completed by
the later callbacks of the same call) and the calls agents log by hand. A call's message (kind "call") carries a
readable summary ("Missed call from 03-1234-5678") for the inbox list and search; the bubble shows the CallRecord.
A missed call, a voicemail, a busy or failed incoming call asks for a call back: its ticket gets the call-back tag."""

import dataclasses
import logging
import re
import unicodedata
from datetime import timedelta

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext, pgettext_lazy

from accounts.models import Organization, User
from channels_integrations.inbound import CallDetails, InboundAttachment, InboundMessage
from core import phone
from core.errors import DomainError
from tickets.events import publish_message, publish_message_updated, publish_ticket
from tickets.models import (
    Attachment,
    CallDirection,
    CallOutcome,
    CallRecord,
    Direction,
    Message,
    MessageKind,
    Tag,
    Ticket,
)
from tickets.search import append_expression, document_expression, index_document

logger = logging.getLogger("tsunagu.tickets")

# Outcomes that leave the caller waiting for us: their ticket is work to do.
CALL_BACK_OUTCOMES = {CallOutcome.MISSED, CallOutcome.VOICEMAIL, CallOutcome.BUSY, CallOutcome.FAILED}
# Callbacks of one call arrive in any order (PROTOCOLS.md §8.2): the outcome that says most wins, whatever came
# first — a recording of the voicemail greeting outranks the "completed" status, an answer outranks a missed ring.
_RANK = {
    CallOutcome.MISSED: 1,
    CallOutcome.FAILED: 2,
    CallOutcome.BUSY: 3,
    CallOutcome.ANSWERED: 4,
    CallOutcome.VOICEMAIL: 5,
}
MAX_DURATION_SECONDS = 24 * 3600
# What became of a call, as the bubble and the "Log a call" form name it: in their own context, because "Answered"
# and "Failed" alone already mean a replied ticket and a failed send.
OUTCOME_LABELS = {
    CallOutcome.ANSWERED: pgettext_lazy("phone call outcome", "Answered"),
    CallOutcome.MISSED: pgettext_lazy("phone call outcome", "Missed"),
    CallOutcome.VOICEMAIL: pgettext_lazy("phone call outcome", "Voicemail"),
    CallOutcome.BUSY: pgettext_lazy("phone call outcome", "Line busy"),
    CallOutcome.FAILED: pgettext_lazy("phone call outcome", "Did not connect"),
}
DIRECTION_LABELS = {
    CallDirection.INBOUND: pgettext_lazy("phone call direction", "Incoming call"),
    CallDirection.OUTBOUND: pgettext_lazy("phone call direction", "Outgoing call"),
}


def call_back_tag_name() -> str:
    return pgettext("tag of tickets from missed calls", "call back")


def duration_display(seconds: int) -> str:
    """1:05, or 1:02:05 past an hour."""
    hours, rest = divmod(int(seconds or 0), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def call_summary(*, direction: str, outcome: str, number: str, duration_seconds: int = 0) -> str:
    """One translated sentence for the call (in the active language): who called whom and what became of it."""
    shown = phone.display(number) if number else _("an unknown number")
    values = {"number": shown, "duration": duration_display(duration_seconds)}
    if direction == CallDirection.OUTBOUND:
        sentences = {
            CallOutcome.ANSWERED: _("Call to %(number)s (%(duration)s)"),
            CallOutcome.MISSED: _("Call to %(number)s, not answered"),
            CallOutcome.VOICEMAIL: _("Voicemail left for %(number)s"),
            CallOutcome.BUSY: _("Call to %(number)s, line busy"),
            CallOutcome.FAILED: _("Call to %(number)s failed"),
        }
    else:
        sentences = {
            CallOutcome.ANSWERED: _("Call from %(number)s (%(duration)s)"),
            CallOutcome.MISSED: _("Missed call from %(number)s"),
            CallOutcome.VOICEMAIL: _("Voicemail from %(number)s"),
            CallOutcome.BUSY: _("Call from %(number)s while the line was busy"),
            CallOutcome.FAILED: _("Call from %(number)s failed"),
        }
    return sentences.get(outcome, sentences[CallOutcome.ANSWERED]) % values


def _message_text(summary: str, transcription: str = "", note: str = "") -> str:
    return "\n\n".join(part for part in (summary, transcription.strip(), note.strip()) if part)


def _customer_number(call) -> str:
    return call.to_number if call.direction == CallDirection.OUTBOUND else call.from_number


def calls_prepare(organization: Organization, inbounds: list[InboundMessage]) -> list[InboundMessage]:
    """An ingest batch with its calls prepared (`call_inbound_prepare`). A callback that names no caller (Twilio's
    recording status callback carries only the CallSid) takes the caller from another callback of the same call in
    the batch; when none has it, the ingest stores it only if the call is known already."""
    callers = {
        i.platform_message_id: i for i in inbounds if i.call is not None and i.author_id and i.platform_message_id
    }
    prepared = []
    for inbound in inbounds:
        if inbound.call is not None:
            known = callers.get(inbound.platform_message_id)
            if not inbound.author_id and known is not None:
                inbound = dataclasses.replace(
                    inbound,
                    author_id=known.author_id,
                    author_name=known.author_name,
                    author_handle=known.author_handle,
                    thread_key=known.thread_key,
                    direction=known.direction,
                    call=dataclasses.replace(
                        inbound.call,
                        direction=known.call.direction,
                        from_number=known.call.from_number,
                        to_number=known.call.to_number,
                    ),
                )
            inbound = call_inbound_prepare(organization, inbound)
        prepared.append(inbound)
    return prepared


def call_inbound_prepare(organization: Organization, inbound: InboundMessage) -> InboundMessage:
    """A provider's call as the ingest stores it: the summary as the message's text (in the organization's
    language) and, for a call to return, a subject that says so — the subject of the ticket it opens."""
    call = inbound.call
    with translation.override(organization.default_language or "ja"):
        summary = call_summary(
            direction=call.direction,
            outcome=call.outcome,
            number=_customer_number(call),
            duration_seconds=call.duration_seconds,
        )
        subject = ""
        if call.direction == CallDirection.INBOUND and call.outcome in CALL_BACK_OUTCOMES:
            subject = _("Call back: %(summary)s") % {"summary": summary}
    return dataclasses.replace(
        inbound, text=_message_text(summary, call.transcription), subject=subject or inbound.subject
    )


def _record_fields(call: CallDetails) -> dict:
    return {
        "call_id": call.call_id[:64],
        "direction": call.direction if call.direction in CallDirection.values else CallDirection.INBOUND,
        "outcome": call.outcome if call.outcome in CallOutcome.values else CallOutcome.ANSWERED,
        "from_number": call.from_number[:32],
        "to_number": call.to_number[:32],
        "duration_seconds": min(max(int(call.duration_seconds or 0), 0), MAX_DURATION_SECONDS),
        "started_at": call.started_at,
        "recording_url": call.recording_url[:1000],
        "voicemail_url": call.voicemail_url[:1000],
        "transcription": call.transcription,
    }


def call_stored(organization: Organization, ticket: Ticket, message: Message, inbound: InboundMessage) -> CallRecord:
    """The CallRecord of a provider's call whose message was just stored (ingest), and the call-back tag."""
    record = CallRecord.objects.create(organization=organization, message=message, **_record_fields(inbound.call))
    if record.direction == CallDirection.INBOUND and record.outcome in CALL_BACK_OUTCOMES:
        _tag_call_back(organization, ticket)
    return record


def call_merge(
    organization: Organization, message: Message, call: CallDetails, *, attachments: tuple[InboundAttachment, ...] = ()
) -> bool:
    """A later callback of a stored call (the final status, the recording, the transcription) completes its record:
    empty values never erase known ones, the outcome that says most wins, the duration is the longest reported. The
    message's summary follows; the ticket it opened is renamed when the call turns out to need a call back; a
    recording's audio joins the message's attachments (once). True when something changed."""
    added = _attachments_add(organization, message, attachments)
    record = CallRecord.objects.select_for_update().filter(message=message).first()
    if record is None:  # a call message stored before the record existed (never expected): make it now
        record = CallRecord(organization=organization, message=message)
        for name, value in _record_fields(call).items():
            setattr(record, name, value)
        record.save()
        return True
    before = {name: getattr(record, name) for name in _record_fields(call)}
    fresh = _record_fields(call)
    for name in ("from_number", "to_number", "started_at", "recording_url", "voicemail_url", "transcription"):
        if fresh[name] and not getattr(record, name):
            setattr(record, name, fresh[name])
    if fresh["transcription"]:
        record.transcription = fresh["transcription"]
    record.duration_seconds = max(record.duration_seconds, fresh["duration_seconds"])
    if _RANK.get(fresh["outcome"], 0) > _RANK.get(record.outcome, 0):
        record.outcome = fresh["outcome"]
    changed = [name for name, old in before.items() if getattr(record, name) != old]
    if not changed:
        if added:
            publish_message_updated(organization, message)
        return added
    record.save(update_fields=changed)
    ticket = message.ticket
    with translation.override(organization.default_language or "ja"):
        summary = call_summary(
            direction=record.direction,
            outcome=record.outcome,
            number=_customer_number(record),
            duration_seconds=record.duration_seconds,
        )
        old_subject = ticket.subject
        needs_call_back = record.direction == CallDirection.INBOUND and record.outcome in CALL_BACK_OUTCOMES
        if needs_call_back and before["outcome"] not in CALL_BACK_OUTCOMES:
            # The ticket this call opened was named after its first report ("Call from …"): now it is work to do.
            if ticket.messages.order_by("pk").values_list("pk", flat=True).first() == message.pk:
                ticket.subject = (_("Call back: %(summary)s") % {"summary": summary})[:300]
    text = _message_text(summary, record.transcription)
    if text != message.text:
        message.text = text
        Message.objects.filter(pk=message.pk).update(text=text, search_vector=document_expression(index_document(text)))
    if ticket.subject != old_subject:
        Ticket.objects.filter(pk=ticket.pk).update(
            subject=ticket.subject, search_vector=append_expression("search_vector", ticket.subject)
        )
    if needs_call_back:
        _tag_call_back(organization, ticket)
    publish_message_updated(organization, message)
    publish_ticket(organization, ticket)
    return True


def _attachments_add(organization: Organization, message: Message, attachments) -> bool:
    """Files a later callback brought (a recording), skipping those the message has already (by name)."""
    if not attachments:
        return False
    from tickets.services.ingest import _storage_name  # the ingest's safe storage names

    have = set(Attachment.objects.filter(message=message).values_list("filename", flat=True))
    added = False
    for a in attachments:
        name = a.filename[:255] or "attachment"
        if name in have:
            continue
        attachment = Attachment(
            organization=organization,
            message=message,
            remote_url=a.url[:2000],
            filename=name,
            content_type=a.content_type[:120],
            size=a.size or len(a.content),
        )
        if a.content:
            attachment.file.save(_storage_name(a.filename), ContentFile(a.content), save=False)
        attachment.save()
        have.add(name)
        added = True
    return added


def _tag_call_back(organization: Organization, ticket: Ticket) -> None:
    with translation.override(organization.default_language or "ja"):
        name = call_back_tag_name()
    tag, _created = Tag.objects.get_or_create(organization=organization, name=name)
    ticket.tags.add(tag)


# --- calls logged by hand ---------------------------------------------------------------------------------------

_DURATION = re.compile(r"(?:(?P<h>\d{1,2}):)?(?P<m>\d{1,3}):(?P<s>[0-5]\d)|(?P<minutes>\d{1,4}(?:[.,]\d{1,2})?)")


def duration_parse(value: str) -> int:
    """Seconds from what an agent types: "mm:ss" (4:05), "h:mm:ss" (1:02:05) or minutes (5, 2.5); full-width digits
    welcome. DomainError otherwise."""
    text = unicodedata.normalize("NFKC", value or "").strip()
    if not text:
        return 0
    match = _DURATION.fullmatch(text)
    if match is None:
        raise DomainError(_("Enter the duration as minutes:seconds (4:05) or in minutes (5)."), field="duration")
    if match["minutes"] is not None:
        seconds = round(float(match["minutes"].replace(",", ".")) * 60)
    else:
        seconds = int(match["h"] or 0) * 3600 + int(match["m"]) * 60 + int(match["s"])
    if seconds > MAX_DURATION_SECONDS:
        raise DomainError(_("A call cannot last more than 24 hours."), field="duration")
    return seconds


def contact_number(ticket: Ticket) -> str:
    """The number the ticket's customer is known by (their phone identity), or ""."""
    from tickets.models import ContactIdentity

    if ticket.contact_id is None:
        return ""
    return (
        ContactIdentity.objects.filter(contact_id=ticket.contact_id, platform="phone")
        .order_by("pk")
        .values_list("external_id", flat=True)
        .first()
        or ""
    )


def _number_remember(organization: Organization, ticket: Ticket, number: str) -> None:
    """The number an agent called or was called from becomes the customer's phone identity when they have none and
    nobody else has that number: their next call to our phone number then lands on the same contact."""
    from tickets.models import ContactIdentity

    if ContactIdentity.objects.filter(contact_id=ticket.contact_id, platform="phone").exists():
        return
    identity = ContactIdentity(
        organization=organization, contact_id=ticket.contact_id, platform="phone", external_id=number
    )
    ContactIdentity.objects.bulk_create([identity], ignore_conflicts=True)  # someone else's number: theirs stays


@transaction.atomic
def call_log(
    *,
    organization: Organization,
    actor: User,
    ticket: Ticket,
    direction: str,
    outcome: str,
    duration: str = "",
    note: str = "",
    number: str = "",
) -> Message:
    """An agent records a call made or taken outside Tsunagu: a private entry in the conversation (kind "call",
    never sent to the customer) with its CallRecord, logged by `actor`. `duration` as typed (mm:ss or minutes),
    `number` as typed (any Japanese format; the contact's number when empty) — it becomes the customer's phone
    identity when they have none, so their next call to us joins them. Bad input raises DomainError with the
    field."""
    if direction not in CallDirection.values:
        raise DomainError(_("Choose whether the call was incoming or outgoing."), field="direction")
    if outcome not in CallOutcome.values:
        raise DomainError(_("Choose what became of the call."), field="outcome")
    seconds = duration_parse(duration)
    if outcome == CallOutcome.ANSWERED and seconds == 0:
        raise DomainError(_("Enter how long the call lasted."), field="duration")
    note = (note or "").strip()
    if len(note) > 5000:
        raise DomainError(_("The note is too long (at most 5,000 characters)."), field="note")
    typed = (number or "").strip()
    if typed and not phone.is_valid(typed):
        raise DomainError(_("This is not a phone number."), field="number")
    customer = phone.e164(typed) if typed else contact_number(ticket)
    if typed and ticket.contact_id is not None:
        _number_remember(organization, ticket, customer)
    summary = call_summary(direction=direction, outcome=outcome, number=customer, duration_seconds=seconds)
    text = _message_text(summary, note=note)
    document = index_document(text)
    message = Message.objects.create(
        organization=organization,
        ticket=ticket,
        connection_id=ticket.connection_id,
        direction=Direction.OUTBOUND,
        kind=MessageKind.CALL,
        author_user=actor,
        text=text,
        search_vector=document_expression(document),
    )
    CallRecord.objects.create(
        organization=organization,
        message=message,
        direction=direction,
        outcome=outcome,
        from_number=customer if direction == CallDirection.INBOUND else "",
        to_number=customer if direction == CallDirection.OUTBOUND else "",
        duration_seconds=seconds,
        started_at=timezone.now() - timedelta(seconds=seconds),
        transcription="",
        logged_by=actor,
    )
    from tickets.services.ingest import ticket_message_update

    ticket_message_update(ticket, {}, document, timezone.now())
    publish_message(organization, ticket, message)
    return message
