"""Merging two contacts of one customer, and undoing it.

`contact_merge` moves the merged contact's identities, tickets and the authorship of its messages to the survivor;
the survivor's own values win and its gaps are filled from the merged one (addresses, numbers and tags are joined,
notes appended, missing custom attributes copied). The merged contact stays, marked `merged_into`, and a
ContactMerge row records who merged what and exactly what moved and changed, so `contact_merge_undo` can restore the
previous state within the organization's undo period (ContactSettings.merge_undo_days) — keeping later edits of the
survivor's fields that the merge did not set.

Lock order (as the ingest): both contacts (id order), then their tickets."""

import datetime as dt
import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import audit_record
from accounts.models import AuditAction, Organization
from core.errors import DomainError
from tickets.events import publish_ticket
from tickets.models import (
    Contact,
    ContactDuplicateSuggestion,
    ContactIdentity,
    ContactMerge,
    Message,
    SuggestionStatus,
    Ticket,
)
from tickets.search import document_expression
from tickets.services import contact_webhooks, contacts  # modules: contacts imports the task that imports this one

logger = logging.getLogger("tsunagu.tickets")

# Fields the survivor keeps when set and takes from the merged contact when empty.
FILLED = ("name", "reading", "avatar_url", "email", "company", "language", "timezone")
JOINED = ("emails", "phones", "tags")  # lists: the survivor's first, then the merged contact's others
PUBLISHED_TICKETS = 200  # real-time updates sent for the moved tickets (the newest); the rest refresh on reload


class MergeRefused(DomainError):
    code = "merge_refused"


def _lock(first: Contact, second: Contact) -> tuple[Contact, Contact]:
    rows = {c.pk: c for c in Contact.objects.select_for_update().filter(pk__in=[first.pk, second.pk]).order_by("pk")}
    if len(rows) != 2:
        raise MergeRefused(_("One of the contacts no longer exists."))
    return rows[first.pk], rows[second.pk]


def _json(value):
    return value.isoformat() if isinstance(value, dt.datetime) else value


def _unjson(name: str, value):
    if name == "last_seen_at" and value:
        return dt.datetime.fromisoformat(value)
    return value


def _merged_values(survivor: Contact, merged: Contact) -> dict:
    """The survivor's fields that change: gaps filled, lists joined, notes appended, attributes completed."""
    values = {}
    for name in FILLED:
        if not getattr(survivor, name) and getattr(merged, name):
            values[name] = getattr(merged, name)
    for name in JOINED:
        joined = list(dict.fromkeys([*getattr(survivor, name), *getattr(merged, name)]))
        if joined != list(getattr(survivor, name)):
            values[name] = joined
    if merged.vip and not survivor.vip:
        values["vip"] = True
    if merged.notes.strip() and merged.notes.strip() not in survivor.notes:
        values["notes"] = "\n\n".join(filter(None, [survivor.notes.strip(), merged.notes.strip()]))
    attributes = {**merged.attributes, **survivor.attributes}
    if attributes != survivor.attributes:
        values["attributes"] = attributes
    if merged.last_seen_at and (survivor.last_seen_at is None or merged.last_seen_at > survivor.last_seen_at):
        values["last_seen_at"] = merged.last_seen_at
    if "emails" in values and not survivor.email:
        values["email"] = values["emails"][0]
    return values


@transaction.atomic
def contact_merge(
    *,
    organization: Organization,
    actor,
    survivor: Contact,
    merged: Contact,
    automatic: bool = False,
    reason: str = "",
    request=None,
) -> ContactMerge:
    """Make `merged` part of `survivor` (see the module). Audit-logged; after commit the moved tickets are updated
    live, the contact.merged webhook goes out and the survivor is matched again."""
    if survivor.pk == merged.pk:
        raise MergeRefused(_("A contact cannot be merged with itself."), field="merged")
    survivor, merged = _lock(survivor, merged)
    if survivor.merged_into_id or merged.merged_into_id:
        raise MergeRefused(_("One of these contacts was already merged into another."), field="merged")
    now = timezone.now()
    identity_ids = list(ContactIdentity.objects.filter(contact=merged).values_list("pk", flat=True))
    ticket_ids = list(Ticket.objects.filter(contact=merged).order_by("pk").values_list("pk", flat=True))
    message_ids = list(Message.objects.filter(author_contact=merged).values_list("pk", flat=True))
    values = _merged_values(survivor, merged)
    before = {name: _json(getattr(survivor, name)) for name in values}
    suggestions = list(
        ContactDuplicateSuggestion.objects.select_for_update()
        .filter(contact_id=min(survivor.pk, merged.pk), other_id=max(survivor.pk, merged.pk))
        .values_list("pk", "status")
    )
    # Identities first: from here on the ingest finds the survivor (and waits on its lock until we commit).
    ContactIdentity.objects.filter(pk__in=identity_ids).update(contact=survivor)
    Ticket.objects.filter(pk__in=ticket_ids).update(contact=survivor, updated_at=now)
    Message.objects.filter(pk__in=message_ids).update(author_contact=survivor)
    for name, value in values.items():
        setattr(survivor, name, value)
    survivor.save(update_fields=[*values, "updated_at"])
    Contact.objects.filter(pk=survivor.pk).update(
        search_vector=document_expression(contacts.contact_document(survivor))
    )
    Contact.objects.filter(pk=merged.pk).update(merged_into=survivor, updated_at=now)
    merged.merged_into = survivor
    ContactDuplicateSuggestion.objects.filter(pk__in=[pk for pk, _status in suggestions]).update(
        status=SuggestionStatus.MERGED, decided_at=now, decided_by=actor if getattr(actor, "pk", None) else None
    )
    settings = contacts.contact_settings(organization)
    record = ContactMerge.objects.create(
        organization=organization,
        survivor=survivor,
        merged=merged,
        actor=actor if getattr(actor, "pk", None) else None,
        automatic=automatic,
        reason=reason[:200],
        moved={
            "identities": identity_ids,
            "tickets": ticket_ids,
            "messages": message_ids,
            "survivor_before": before,
            "survivor_after": {name: _json(value) for name, value in values.items()},
            "suggestions": suggestions,
        },
        undo_until=now + timedelta(days=settings.merge_undo_days),
    )
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.CONTACT_MERGED,
        obj=survivor,
        changes={
            "merged": merged.pk,
            "identities": len(identity_ids),
            "tickets": len(ticket_ids),
            "messages": len(message_ids),
            "automatic": automatic,
            "reason": reason,
        },
        request=request,
    )
    _tickets_changed(organization, ticket_ids)
    contact_webhooks.contact_event(
        organization=organization,
        event="contact.merged",
        contact=survivor,
        extra={"merged": {"id": merged.pk, "name": merged.name}, "merge_id": record.pk},
    )
    contacts._match_after_commit(organization, [survivor.pk])
    logger.info("contact %s merged into %s (merge %s, %s tickets)", merged.pk, survivor.pk, record.pk, len(ticket_ids))
    return record


@transaction.atomic
def contact_merge_undo(*, organization: Organization, actor, merge: ContactMerge, request=None) -> ContactMerge:
    """Split a merge: the identities, tickets and messages that moved go back to the merged contact, and the
    survivor's fields the merge set get their previous values (unless edited since). Within the undo period only,
    and not while the survivor is itself merged into another contact (undo that first)."""
    merge = ContactMerge.objects.select_for_update().get(pk=merge.pk)
    if merge.undone_at is not None:
        raise MergeRefused(_("This merge was already undone."))
    now = timezone.now()
    if now > merge.undo_until:
        raise MergeRefused(_("This merge can no longer be undone: the undo period has passed."))
    survivor, merged = _lock(merge.survivor, merge.merged)
    if survivor.merged_into_id:
        raise MergeRefused(_("The contact was merged again since: undo that merge first."))
    if merged.merged_into_id != survivor.pk:
        raise MergeRefused(_("This merge was already undone."))
    moved = merge.moved
    ContactIdentity.objects.filter(pk__in=moved["identities"], contact=survivor).update(contact=merged)
    ticket_ids = moved["tickets"]
    Ticket.objects.filter(pk__in=ticket_ids, contact=survivor).update(contact=merged, updated_at=now)
    Message.objects.filter(pk__in=moved["messages"], author_contact=survivor).update(author_contact=merged)
    # New messages since the merge in the tickets that go back were written by the merged contact's accounts.
    Message.objects.filter(ticket_id__in=ticket_ids, author_contact=survivor, created_at__gte=merge.created_at).update(
        author_contact=merged
    )
    restored = []
    for name, value in moved["survivor_before"].items():
        if _json(getattr(survivor, name)) == moved["survivor_after"].get(name):  # not edited since the merge
            setattr(survivor, name, _unjson(name, value))
            restored.append(name)
    survivor.save(update_fields=[*restored, "updated_at"])
    for contact in (survivor, merged):
        Contact.objects.filter(pk=contact.pk).update(
            search_vector=document_expression(contacts.contact_document(contact))
        )
    Contact.objects.filter(pk=merged.pk).update(merged_into=None, updated_at=now)
    merged.merged_into = None
    for pk, status in moved.get("suggestions", []):
        ContactDuplicateSuggestion.objects.filter(pk=pk).update(
            status=status, decided_at=None if status == SuggestionStatus.OPEN else now
        )
    merge.undone_at = now
    merge.undone_by = actor if getattr(actor, "pk", None) else None
    merge.save(update_fields=["undone_at", "undone_by"])
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.CONTACT_MERGE_UNDONE,
        obj=survivor,
        changes={"merge": merge.pk, "restored_contact": merged.pk, "tickets": len(ticket_ids)},
        request=request,
    )
    _tickets_changed(organization, ticket_ids)
    for contact in (survivor, merged):
        contact_webhooks.contact_event(
            organization=organization,
            event="contact.updated",
            contact=contact,
            changed=["merge_undone"],
            extra={"merge_id": merge.pk},
        )
    return merge


def _tickets_changed(organization: Organization, ticket_ids: list[int]) -> None:
    """Inboxes showing the moved tickets refresh them (the customer shown changed)."""
    for ticket in (
        Ticket.objects.select_related("contact", "connection", "assignee", "team")
        .filter(pk__in=ticket_ids)
        .order_by("-pk")[:PUBLISHED_TICKETS]
    ):
        publish_ticket(organization, ticket)
