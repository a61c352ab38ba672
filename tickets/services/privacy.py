"""Privacy requests (GDPR, Japan's APPI) and retention.

- **Export**: everything known about a contact (the contact, its identities, the contacts merged into it, every
  ticket with its messages, notes, history, calls, CSAT answers, custom attributes, plus what higher layers hold) as
  JSON, with the attachment files, in one zip built by a task; the requester downloads it once, before it expires.
- **Erase**: the contact's personal data removed or anonymized everywhere it is copied: contact and merged contacts,
  identities (deleted), tickets (subject, thread key, search vector), messages (text, HTML, email headers, template
  parameters, search vectors), attachments (files deleted from storage), calls, survey comments, ticket history,
  notifications' parameters, real-time events, raw inbound events (blanked, kept for their keys), merges and
  duplicate suggestions, outgoing webhook deliveries, exports, and the higher layers' copies (tickets.privacy_hooks).
  Ticket rows stay, so reports keep their counts. Irreversible; confirmed by typing; audit-logged without the erased
  values.
- **Retention**: closed tickets older than the organization's policy anonymized (as above, for the ticket alone) or
  deleted, nightly and batch-wise; `retention_tickets` is the one selector the dry-run count and the run share.

Lock order: the contact rows (merged ones included, by id) before their tickets — the order ingestion uses."""

import io
import json
import logging
import re
import tempfile
import zipfile
from datetime import datetime, timedelta
from urllib.parse import quote

from django.contrib.contenttypes.models import ContentType
from django.core.files import File
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import CharField, Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import audit_record
from accounts.models import AuditAction, Membership, Organization
from channels_integrations.models import ChannelConnection, InboundEvent, InboundEventStatus
from core.errors import DomainError, NotAllowed
from core.models import Attempt, Notification, RealtimeEvent
from core.realtime import ticket_group
from tickets import tasks_privacy  # a module: it imports this one
from tickets.events import publish_ticket
from tickets.models import (
    DONE_STATUSES,
    Attachment,
    CallRecord,
    Contact,
    ContactAttributeDefinition,
    ContactDuplicateSuggestion,
    ContactErasure,
    ContactExport,
    ContactIdentity,
    ContactMerge,
    ErasureReason,
    ExportStatus,
    Message,
    RetentionAction,
    RetentionPolicy,
    Survey,
    SurveyAnswer,
    Ticket,
    TicketAnonymization,
    TicketEvent,
    WebhookEventDelivery,
)
from tickets.privacy_hooks import Erasure, containing, redact_free_text, redact_rows, run_erasers, run_exporters
from tickets.selectors import visible_contacts

logger = logging.getLogger(__name__)

EXPORT_TTL = timedelta(hours=24)  # how long a ready export waits for its one download
RETENTION_BATCH = 200  # tickets per transaction in the retention run
PUBLISHED_TICKETS = 50  # open inboxes are told about this many of the erased contact's tickets, newest first
UNSENT_STATES = ("queued", "held", "returned", "approved")  # replies that a task or an approver would still send
MIN_VALUE_LENGTH = 3  # shorter strings (a one-letter handle) would redact unrelated text in shared tables


# --- the contact and everything hanging off it ---------------------------------------------------------------------


def contact_family_ids(contact: Contact) -> list[int]:
    """The contact and every contact merged into it (at any depth): one person's rows."""
    ids, frontier = [contact.pk], [contact.pk]
    while frontier:
        frontier = list(Contact.objects.filter(merged_into__in=frontier).values_list("pk", flat=True))
        frontier = [pk for pk in frontier if pk not in ids]
        ids.extend(frontier)
    return ids


def _ticket_ids(contact_ids: list[int]) -> list[int]:
    return list(Ticket.objects.filter(contact_id__in=contact_ids).order_by("pk").values_list("pk", flat=True))


def _message_ids(contact_ids: list[int], ticket_ids: list[int]) -> list[int]:
    """The messages of the tickets, and the contact's own messages in other tickets (a group conversation)."""
    return list(
        Message.objects.filter(Q(ticket_id__in=ticket_ids) | Q(author_contact_id__in=contact_ids))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _identifying_values(contacts: list[Contact], identities: list[ContactIdentity]) -> tuple[str, ...]:
    values: set[str] = set()
    for contact in contacts:
        values.update([contact.name, contact.reading, contact.email, contact.company, contact.avatar_url])
        values.update(contact.emails or [])
        values.update(contact.phones or [])
        # A phone number as people write it too (090-1234-5678) is not worth guessing: the normal form is what the
        # platforms send and what we store; the test scans for the values as stored.
        values.update(str(v) for v in (contact.attributes or {}).values() if isinstance(v, str))
    for identity in identities:
        values.update([identity.external_id, identity.handle, identity.profile_url])
    return tuple(sorted(v.strip() for v in values if v and len(v.strip()) >= MIN_VALUE_LENGTH))


def privacy_contacts(membership: Membership) -> QuerySet[Contact]:
    """Contacts whose privacy requests the member may handle: those they may see (tickets.selectors.visible_contacts,
    the one rule for contacts; a merged-away contact is handled through its survivor)."""
    return visible_contacts(membership).defer("search_vector")


# --- export ---------------------------------------------------------------------------------------------------------


def _row(obj, *, exclude: tuple[str, ...] = ()) -> dict:
    """A model row as JSON-ready data: its concrete fields (foreign keys as ids), files by name."""
    data = {}
    for field in obj._meta.concrete_fields:
        if field.name in exclude or field.name == "search_vector" or field.name == "organization":
            continue
        value = getattr(obj, field.attname)
        if hasattr(value, "name") and field.get_internal_type() == "FileField":
            value = value.name or ""
        data[field.attname] = value
    return data


def contact_export_data(*, organization: Organization, contact: Contact) -> tuple[dict, list[Attachment]]:
    """Everything about the contact, as one JSON document, and the attachments whose files go with it."""
    contact_ids = contact_family_ids(contact)
    contacts = list(Contact.objects.filter(pk__in=contact_ids).order_by("pk"))
    definitions = {d.key: d.label for d in ContactAttributeDefinition.objects.all()}
    ticket_ids = _ticket_ids(contact_ids)
    message_ids = _message_ids(contact_ids, ticket_ids)
    messages = list(
        Message.objects.filter(pk__in=message_ids).select_related("author_user").order_by("created_at", "pk")
    )
    attachments = list(Attachment.objects.filter(message_id__in=message_ids).order_by("pk"))
    calls = {call.message_id: call for call in CallRecord.objects.filter(message_id__in=message_ids)}
    by_message: dict[int, list[dict]] = {}
    for attachment in attachments:
        entry = _row(attachment, exclude=("file",))
        entry["file_in_zip"] = (
            f"attachments/{attachment.pk}-{_safe_name(attachment.filename)}" if attachment.file else ""
        )
        by_message.setdefault(attachment.message_id, []).append(entry)
    by_ticket: dict[int, list[dict]] = {}
    for message in messages:
        entry = _row(message, exclude=("html",) if not message.html else ())
        entry["author_user"] = message.author_user.email if message.author_user_id else None
        entry["attachments"] = by_message.get(message.pk, [])
        if message.pk in calls:
            entry["call"] = _row(calls[message.pk])
        by_ticket.setdefault(message.ticket_id, []).append(entry)
    tickets = []
    for ticket in Ticket.objects.filter(pk__in=ticket_ids).select_related("connection").prefetch_related("tags"):
        entry = _row(ticket)
        entry["channel"] = {"platform": ticket.connection.platform, "name": ticket.connection.display_name}
        entry["tags"] = sorted(tag.name for tag in ticket.tags.all())
        entry["messages"] = by_ticket.pop(ticket.pk, [])
        entry["history"] = [_row(event) for event in TicketEvent.objects.filter(ticket_id=ticket.pk)]
        tickets.append(entry)
    # The contact's messages in other people's tickets (a group conversation) follow, without those tickets.
    elsewhere = [message for rows in by_ticket.values() for message in rows]
    primary = next(c for c in contacts if c.pk == contact.pk)
    document = {
        "format": "tsunagu.contact-export/1",
        "exported_at": timezone.now(),
        "organization": organization.name,
        "contact": _row(primary),
        "custom_attributes": [
            {"key": key, "label": definitions.get(key, key), "value": value}
            for key, value in (primary.attributes or {}).items()
        ],
        "merged_contacts": [_row(c) for c in contacts if c.pk != contact.pk],
        "identities": [_row(i) for i in ContactIdentity.objects.filter(contact_id__in=contact_ids).order_by("pk")],
        "tickets": tickets,
        "messages_in_other_conversations": elsewhere,
        "surveys": [_row(s) for s in Survey.objects.filter(ticket_id__in=ticket_ids).order_by("pk")],
        "csat_answers": [_row(a) for a in SurveyAnswer.objects.filter(ticket_id__in=ticket_ids).order_by("pk")],
        "merges": [
            _row(m) for m in ContactMerge.objects.filter(Q(survivor_id__in=contact_ids) | Q(merged_id__in=contact_ids))
        ],
    }
    document.update(run_exporters(organization=organization, contact_ids=contact_ids, ticket_ids=ticket_ids))
    return document, attachments


def _safe_name(filename: str) -> str:
    name = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in (filename or "file"))
    return name[-100:] or "file"


def contact_export_visible(*, actor, contact: Contact) -> QuerySet[ContactExport]:
    """The actor's own exports of this contact, newest first (nobody else's: they are the requester's to take)."""
    return ContactExport.objects.filter(contact=contact, requested_by=actor).order_by("-created_at", "-id")


@transaction.atomic
def contact_export_request(*, organization: Organization, actor, contact: Contact, request=None) -> ContactExport:
    """Ask for an export of the contact's data; a task builds it (tickets.privacy_export_build). An export of the
    same contact still being prepared for the same person is returned instead of a second one."""
    if ContactErasure.objects.filter(contact=contact).exists():
        raise DomainError(_("This contact's data was erased; there is nothing to export."), code="erased")
    pending = contact_export_visible(actor=actor, contact=contact).filter(status=ExportStatus.PENDING).first()
    if pending is not None:
        return pending
    export = ContactExport.objects.create(organization=organization, contact=contact, requested_by=actor)
    # The entry is about the export ("export of contact 12"), not the contact: the audit log is append-only and must
    # not keep a name that an erasure later removes everywhere else.
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.CONTACT_EXPORTED,
        obj=export,
        changes={"contact": contact.pk},
        request=request,
    )
    transaction.on_commit(
        lambda: tasks_privacy.privacy_export_build.delay(organization_id=organization.pk, export_id=export.pk)
    )
    return export


def contact_export_build(*, organization: Organization, export_id: int) -> ContactExport | None:
    """Build the zip (idempotent: an export no longer pending is left alone). The files are read outside the
    transaction; the row is updated under its lock."""
    export = ContactExport.objects.filter(pk=export_id).select_related("contact").first()
    if export is None or export.status != ExportStatus.PENDING:
        return export
    try:
        document, attachments = contact_export_data(organization=organization, contact=export.contact)
        spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("contact.json", json.dumps(document, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2))
            for attachment in attachments:
                if not attachment.file:
                    continue
                try:
                    with attachment.file.storage.open(attachment.file.name, "rb") as handle:
                        with archive.open(f"attachments/{attachment.pk}-{_safe_name(attachment.filename)}", "w") as out:
                            for chunk in iter(lambda: handle.read(1024 * 1024), b""):
                                out.write(chunk)
                except FileNotFoundError:
                    logger.warning("export %s: attachment %s is missing from storage", export.pk, attachment.pk)
        spool.seek(0, io.SEEK_END)
        size = spool.tell()
        spool.seek(0)
    except Exception as exc:  # recorded on the export for the requester; the task's log has the traceback
        logger.exception("export %s failed", export_id)
        ContactExport.objects.filter(pk=export_id, status=ExportStatus.PENDING).update(
            status=ExportStatus.FAILED, error=str(exc)[:500]
        )
        return ContactExport.objects.get(pk=export_id)
    with transaction.atomic():
        export = ContactExport.objects.select_for_update().get(pk=export_id)
        if export.status != ExportStatus.PENDING:  # built twice at once: the first one won
            return export
        export.file.save("export.zip", File(spool), save=False)
        export.size = size
        export.status = ExportStatus.READY
        export.ready_at = timezone.now()
        export.expires_at = export.ready_at + EXPORT_TTL
        export.save(update_fields=["file", "size", "status", "ready_at", "expires_at"])
    return export


@transaction.atomic
def contact_export_take(*, organization: Organization, actor, export: ContactExport, request=None) -> ContactExport:
    """The requester takes the one download: the export becomes `downloaded` (its file is served by the caller in
    this request, then deleted by the sweep). Anyone else, a second download or an expired export: a domain error."""
    export = ContactExport.objects.select_for_update().get(pk=export.pk)
    if export.requested_by_id != getattr(actor, "pk", None):
        raise NotAllowed(_("Only the person who asked for this export may download it."))
    if export.status == ExportStatus.DOWNLOADED:
        raise DomainError(_("This export was already downloaded. Ask for a new one."), code="downloaded")
    if export.status != ExportStatus.READY or not export.file:
        raise DomainError(_("This export is not ready."), code="not_ready")
    if export.expires_at is not None and export.expires_at <= timezone.now():
        raise DomainError(_("This export has expired. Ask for a new one."), code="expired")
    export.status = ExportStatus.DOWNLOADED
    export.downloaded_at = timezone.now()
    export.save(update_fields=["status", "downloaded_at"])
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.CONTACT_EXPORTED,
        obj=export,
        changes={"contact": export.contact_id, "downloaded": True},
        request=request,
    )
    return export


def contact_exports_sweep(*, organization: Organization, now: datetime | None = None) -> int:
    """Delete the files of downloaded exports (after a grace minute, so the download can finish) and of expired
    ones; mark expired ones. Returns how many files were removed."""
    now = now or timezone.now()
    removed = 0
    done = ContactExport.objects.filter(
        Q(status=ExportStatus.DOWNLOADED, downloaded_at__lt=now - timedelta(minutes=1))
        | Q(status=ExportStatus.READY, expires_at__lte=now)
        | Q(status=ExportStatus.FAILED)
    ).exclude(file="")
    for export in done:
        _delete_file(export.file)
        ContactExport.objects.filter(pk=export.pk).update(
            file="", status=ExportStatus.EXPIRED if export.status == ExportStatus.READY else export.status
        )
        removed += 1
    return removed


def _delete_file(fieldfile) -> None:
    if fieldfile and fieldfile.name:
        try:
            fieldfile.storage.delete(fieldfile.name)
        except FileNotFoundError:
            pass


# --- erase ----------------------------------------------------------------------------------------------------------


def erase_confirmation_word(contact: Contact) -> str:
    """What the person erasing must type: the contact's number, which they can read on the page (a name may be
    empty or hard to type)."""
    return str(contact.pk)


def _scrub_tickets(
    *, organization: Organization, ticket_ids: list[int], message_ids: list[int], erasure: Erasure, reason: str
) -> dict:
    """Remove the personal data of these tickets and messages (rows stay); returns counts for the audit entry."""
    files = [a.file.name for a in Attachment.objects.filter(message_id__in=message_ids) if a.file]
    storage = Attachment._meta.get_field("file").storage
    attachments = Attachment.objects.filter(message_id__in=message_ids).delete()[0]
    transaction.on_commit(lambda: [_delete_stored(storage, name) for name in files])
    CallRecord.objects.filter(message_id__in=message_ids).update(
        call_id="", from_number="", to_number="", recording_url="", voicemail_url="", transcription=""
    )
    # A reply not sent yet would go out empty: it is given up (held and approved ones too).
    Message.objects.filter(pk__in=message_ids, delivery_state__in=UNSENT_STATES).update(delivery_state="failed")
    messages = Message.objects.filter(pk__in=message_ids).update(
        text="",
        html="",
        sender_authentication=None,
        template=None,
        delivery_error="",
        search_vector=None,
    )
    message_type = ContentType.objects.get_for_model(Message)
    Attempt.objects.filter(subject_type=message_type, subject_id__in=message_ids).update(error="", response="")
    # The thread key is the customer's platform id or address on most platforms; a new message of theirs then opens
    # a new ticket (and contact), as it should after an erasure.
    Ticket.objects.filter(pk__in=ticket_ids).update(
        subject="",
        search_vector=None,
        external_thread_key=Concat(Value("erased:"), Cast("id", CharField())),
    )
    SurveyAnswer.objects.filter(ticket_id__in=ticket_ids).update(comment="")
    redact_rows(
        TicketEvent.objects.filter(ticket_id__in=ticket_ids).exclude(old=None, new=None), redact_free_text, "old", "new"
    )
    ticket_type = ContentType.objects.get_for_model(Ticket)
    notifications = Notification.objects.filter(
        Q(target_type=ticket_type, target_id__in=ticket_ids) | Q(target_type=message_type, target_id__in=message_ids)
    )
    # Who did what stays readable ("a new message in #12"); the customer's name and words go.
    redact_rows(
        notifications,
        lambda params: erasure.redact({k: v for k, v in params.items() if k not in ("contact", "text", "excerpt")}),
        "params",
    )
    groups = [ticket_group(organization.pk, ticket_id) for ticket_id in ticket_ids]
    events = RealtimeEvent.objects.filter(group__in=groups)
    if ticket_ids:
        events = events | RealtimeEvent.objects.filter(payload__ticket_id__in=ticket_ids)
    events.delete()
    TicketAnonymization.objects.bulk_create(
        [TicketAnonymization(organization=organization, ticket_id=pk, reason=reason) for pk in ticket_ids],
        ignore_conflicts=True,
    )
    run_erasers(organization=organization, erasure=erasure)
    return {"tickets": len(ticket_ids), "messages": messages, "attachments": attachments}


def _delete_stored(storage, name: str) -> None:
    try:
        storage.delete(name)
    except FileNotFoundError:
        pass


_PHONE = re.compile(r"\+[1-9][0-9]{6,14}")  # a number as stored (E.164)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


def _written_forms(value: str) -> set[str]:
    """The ways a raw event spells `value`: as is and JSON-escaped (\\u5c71…); an address also URL-encoded (…%40…);
    a number by its digits alone, which also finds it written +8190…, %2B8190… (a phone platform's form-encoded
    callback) and as a WhatsApp id."""
    if _PHONE.fullmatch(value):
        return {value[1:]}
    forms = {value, json.dumps(value)[1:-1]}
    if _EMAIL.fullmatch(value):
        forms.add(quote(value, safe=""))
    return forms


def _like_pattern(text: str) -> str:
    """`%text%` for LIKE, lower-cased, its wildcards and escape character taken literally."""
    return "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _inbound_events_blank(organization: Organization, values: tuple[str, ...]) -> list[int]:
    """Blank the organization's raw inbound events (webhooks, polled mail, the REST API's asynchronous requests)
    that hold one of the values in any of their written forms: payload and last error emptied, an event key that
    names the person replaced, the event marked processed (a blank one must not be processed, and one not processed
    yet would bring the erased data back). The rows stay, so that a platform's redelivery of the same event meets
    its key and is not stored and processed again. Their attempts' errors and responses are emptied. Returns the ids.

    One statement, one pass over the organization's events (kept INBOUND_EVENT_RETENTION_DAYS) for all the values
    at once, each payload searched as bytes (no decoding: raw mail may be Shift_JIS or binary). Nothing narrower
    exists: no index can look inside raw payloads, and no message or ticket records the event it came from (event
    keys are the platforms' event ids or content hashes). Addresses are matched regardless of case only in mail
    (the email channels' events), where a header may write them in capitals; platforms' JSON and the API's requests
    carry them as stored, and matching every payload regardless of case costs ten times as much."""
    forms = sorted({form for value in values for form in _written_forms(value) if form})
    if not forms:
        return []
    addresses = sorted({_like_pattern(v) for v in values if _EMAIL.fullmatch(v) and v.isascii()})
    mailboxes = list(ChannelConnection.objects.filter(platform="email").values_list("pk", flat=True))
    table = InboundEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} e SET
                payload = ''::bytea,
                last_error = '',
                event_key = CASE WHEN lower(e.event_key) LIKE ANY (%(plain)s) THEN 'erased:' || e.id
                                 ELSE e.event_key END,
                status = %(processed)s,
                processed_at = coalesce(e.processed_at, now())
            WHERE e.organization_id = %(org)s
              AND (EXISTS (SELECT 1 FROM unnest(%(forms)s::bytea[]) AS p(v) WHERE position(p.v IN e.payload) > 0)
                   OR lower(e.event_key) LIKE ANY (%(plain)s) OR lower(e.last_error) LIKE ANY (%(plain)s)
                   OR (e.connection_id = ANY (%(mailboxes)s)
                       AND lower(encode(e.payload, 'escape')) LIKE ANY (%(addresses)s)))
            RETURNING e.id
            """,  # noqa: S608 (our table's name)
            {
                "org": organization.pk,
                "forms": [form.encode() for form in forms],
                "plain": [_like_pattern(form) for form in forms],
                "mailboxes": mailboxes,
                "addresses": addresses,
                "processed": InboundEventStatus.PROCESSED,
            },
        )
        ids = sorted(row[0] for row in cursor.fetchall())
    if ids:
        Attempt.objects.filter(subject_type=ContentType.objects.get_for_model(InboundEvent), subject_id__in=ids).update(
            error="", response=""
        )
    return ids


@transaction.atomic
def contact_erase(*, organization: Organization, actor, contact: Contact, confirmation: str, request=None) -> dict:
    """Erase the contact's personal data everywhere (see the module's docstring). `confirmation` must be
    `erase_confirmation_word(contact)`. Returns counts of what was erased (also in the audit entry)."""
    if (confirmation or "").strip() != erase_confirmation_word(contact):
        raise DomainError(
            _("Type %(word)s to confirm. Erasing cannot be undone.") % {"word": erase_confirmation_word(contact)},
            code="confirmation",
            field="confirmation",
        )
    if contact.merged_into_id is not None:
        raise DomainError(_("This contact was merged into another one: erase that one."), code="merged")
    contact_ids = contact_family_ids(contact)
    contacts = list(Contact.objects.select_for_update().filter(pk__in=contact_ids).order_by("pk"))
    if ContactErasure.objects.filter(contact_id=contact.pk).exists():
        raise DomainError(_("This contact's data was already erased."), code="erased")
    identities = list(ContactIdentity.objects.filter(contact_id__in=contact_ids))
    values = _identifying_values(contacts, identities)
    ticket_ids = _ticket_ids(contact_ids)
    list(Ticket.objects.select_for_update().filter(pk__in=ticket_ids).order_by("pk").values_list("pk", flat=True))
    message_ids = _message_ids(contact_ids, ticket_ids)
    erasure = Erasure(
        contact_ids=tuple(contact_ids),
        ticket_ids=tuple(ticket_ids),
        message_ids=tuple(message_ids),
        identities=tuple((i.platform, i.external_id, i.handle) for i in identities),
        values=values,
    )
    counts = _scrub_tickets(
        organization=organization,
        ticket_ids=ticket_ids,
        message_ids=message_ids,
        erasure=erasure,
        reason=ErasureReason.ERASE,
    )
    # Copies outside the tickets: raw events as received (blanked), merges (they hold the fields before), suggestions,
    # outgoing webhook deliveries, real-time events that named the customer, exports.
    inbound = _inbound_events_blank(organization, values)
    ContactMerge.objects.filter(Q(survivor_id__in=contact_ids) | Q(merged_id__in=contact_ids)).delete()
    ContactDuplicateSuggestion.objects.filter(Q(contact_id__in=contact_ids) | Q(other_id__in=contact_ids)).delete()
    deliveries = containing(
        WebhookEventDelivery.objects.all(), "payload", values
    ) | WebhookEventDelivery.objects.filter(payload__contact__id__in=contact_ids)
    WebhookEventDelivery.objects.filter(pk__in=list(deliveries.values_list("pk", flat=True))).delete()
    containing(RealtimeEvent.objects.all(), "payload", values).delete()
    redact_rows(containing(Notification.objects.all(), "params", values), erasure.redact, "params")
    exports = list(ContactExport.objects.filter(contact_id__in=contact_ids))
    names = [export.file.name for export in exports if export.file]
    export_storage = ContactExport._meta.get_field("file").storage
    ContactExport.objects.filter(pk__in=[e.pk for e in exports]).delete()
    transaction.on_commit(lambda: [_delete_stored(export_storage, name) for name in names])
    ContactIdentity.objects.filter(contact_id__in=contact_ids).delete()
    Contact.objects.filter(pk__in=contact_ids).update(
        name="",
        reading="",
        avatar_url="",
        email="",
        emails=[],
        phones=[],
        company="",
        language="",
        timezone="",
        notes="",
        vip=False,
        tags=[],
        attributes={},
        consent_marketing=False,
        consent_survey=False,
        consent_updated_at=None,
        last_seen_at=None,
        search_vector=None,
        updated_at=timezone.now(),
    )
    ContactErasure.objects.create(organization=organization, contact=contact, erased_by=actor if actor else None)
    counts.update(
        contacts=len(contact_ids), identities=len(identities), inbound_events=len(inbound), exports=len(exports)
    )
    contact.refresh_from_db()
    # Inboxes showing these tickets refresh them (the payload carries ids and states only).
    for ticket in Ticket.objects.filter(pk__in=ticket_ids).order_by("-pk")[:PUBLISHED_TICKETS]:
        publish_ticket(organization, ticket)
    # The entry names the contact by number only (its name is what was erased) and counts what went.
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.CONTACT_ERASED,
        obj=contact,
        changes=counts,
        request=request,
    )
    return counts


# --- retention ------------------------------------------------------------------------------------------------------


def retention_policy(organization: Organization) -> RetentionPolicy:
    """The organization's policy (an unsaved default, disabled, when it has none)."""
    return RetentionPolicy.objects.filter(organization=organization).first() or RetentionPolicy(
        organization=organization
    )


@transaction.atomic
def retention_policy_update(
    *, organization: Organization, actor, enabled: bool, days: int, action: str, request=None
) -> RetentionPolicy:
    """Set the retention policy (audit-logged with what changed)."""
    if not isinstance(days, int) or days < 1 or days > 36500:
        raise DomainError(_("Enter a number of days between 1 and 36500."), field="days")
    if action not in RetentionAction.values:
        raise DomainError(_("Choose what happens to old tickets."), field="action")
    policy = RetentionPolicy.objects.select_for_update().filter(organization=organization).first()
    policy = policy or RetentionPolicy(organization=organization)
    changes = {
        name: [getattr(policy, name) if policy.pk else None, value]
        for name, value in (("enabled", bool(enabled)), ("days", days), ("action", action))
        if not policy.pk or getattr(policy, name) != value
    }
    policy.enabled, policy.days, policy.action = bool(enabled), days, action
    policy.save()
    if changes:
        audit_record(
            organization=organization,
            actor=actor,
            action=AuditAction.RETENTION_CHANGED,
            obj=policy,
            changes=changes,
            request=request,
        )
    return policy


def retention_tickets(*, policy: RetentionPolicy, now: datetime | None = None) -> QuerySet[Ticket]:
    """The one selector of the tickets the policy applies to now: solved or closed (merged ones included) for more
    than `days` days — since they were last set so, or, with no record of that, since their last activity — and
    not anonymized yet. Oldest first by id (the batches' order). The dry run counts it; the run works through it."""
    cutoff = (now or timezone.now()) - timedelta(days=policy.days)
    tickets = Ticket.objects.filter(status__in=list(DONE_STATUSES)).filter(
        Q(status_changed_at__lt=cutoff)
        | Q(status_changed_at__isnull=True, last_message_at__lt=cutoff)
        | Q(status_changed_at__isnull=True, last_message_at__isnull=True, created_at__lt=cutoff)
    )
    if policy.action == RetentionAction.ANONYMIZE:
        tickets = tickets.filter(~Exists(TicketAnonymization.objects.filter(ticket_id=OuterRef("pk"))))
    return tickets.order_by("pk")


def retention_dry_run(*, policy: RetentionPolicy, now: datetime | None = None) -> int:
    """How many tickets the run would anonymize or delete now."""
    return retention_tickets(policy=policy, now=now).count()


def retention_apply(
    *,
    organization: Organization,
    actor=None,
    now: datetime | None = None,
    batch_size: int = RETENTION_BATCH,
    force: bool = False,
) -> int:
    """Apply the policy (when enabled, or `force`d by an admin's "run now"): the selected tickets, a batch per
    transaction, each batch re-selected under lock so a ticket reopened meanwhile is skipped. Audit-logged with the
    count. Returns how many tickets were anonymized or deleted."""
    policy = RetentionPolicy.objects.filter(organization=organization).first()
    if policy is None or not (policy.enabled or force):
        return 0
    now = now or timezone.now()
    done, last_id = 0, 0
    while True:
        with transaction.atomic():
            batch = list(
                retention_tickets(policy=policy, now=now)
                .filter(pk__gt=last_id)
                .select_for_update(skip_locked=True)
                .values_list("pk", flat=True)[:batch_size]
            )
            if not batch:
                break
            last_id = batch[-1]
            message_ids = list(Message.objects.filter(ticket_id__in=batch).values_list("pk", flat=True))
            erasure = Erasure(
                contact_ids=(), ticket_ids=tuple(batch), message_ids=tuple(message_ids), identities=(), values=()
            )
            if policy.action == RetentionAction.DELETE:
                _scrub_tickets(  # files, notifications, events and the higher layers' copies go first
                    organization=organization,
                    ticket_ids=batch,
                    message_ids=message_ids,
                    erasure=erasure,
                    reason=ErasureReason.RETENTION,
                )
                Ticket.objects.filter(merged_into_id__in=batch).update(merged_into=None)
                Message.objects.filter(parent_id__in=message_ids).exclude(ticket_id__in=batch).update(parent=None)
                Ticket.objects.filter(pk__in=batch).delete()
            else:
                _scrub_tickets(
                    organization=organization,
                    ticket_ids=batch,
                    message_ids=message_ids,
                    erasure=erasure,
                    reason=ErasureReason.RETENTION,
                )
            done += len(batch)
    with transaction.atomic():
        RetentionPolicy.objects.filter(pk=policy.pk).update(last_run_at=now, last_run_count=done)
        if done:
            audit_record(
                organization=organization,
                actor=actor,
                action=AuditAction.RETENTION_RUN,
                obj=policy,
                changes={"tickets": done, "action": policy.action, "days": policy.days},
            )
    return done
