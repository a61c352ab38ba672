"""Writes for tickets: ingesting customer messages (idempotent), updating tickets, notes. Each service runs in one
transaction, records TicketEvents, and publishes real-time events after commit."""

import dataclasses
import logging
import os
import re
import uuid
from collections.abc import Callable
from datetime import timedelta

from django.core.files.base import ContentFile
from django.db import DEFAULT_DB_ALIAS, IntegrityError, ProgrammingError, connections, transaction
from django.db import connection as db_connection
from django.db.models import Max, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Membership, Organization, Team, User
from channels_integrations.models import ChannelConnection
from core import realtime
from core.db import copy_insert
from core.errors import DomainError
from tickets import events
from tickets.batch_reads import batch_reads
from tickets.inbound import AuthorProfile, DeliveryUpdate, InboundDelete, InboundEdit, InboundMessage
from tickets.models import (
    ACTIVE_STATUSES,
    Attachment,
    Contact,
    ContactIdentity,
    DeliveryState,
    Direction,
    Message,
    MessageKind,
    Priority,
    RuleTrigger,
    Tag,
    Ticket,
    TicketEvent,
    TicketEventKind,
    TicketStatus,
)
from tickets.nlp import analyze, rollup
from tickets.notifications import notify_about_ticket
from tickets.search import append_expression, append_sql, document_expression, index_document, vector_expression

logger = logging.getLogger("tsunagu.tickets")


def ticket_groups(ticket: Ticket) -> list[str]:
    """Who hears about a ticket: everyone who may see its connection. Whoever has it open is among them (the
    consumer lets a member view only tickets of connections they see), so the ticket's own group, which carries
    presence and typing, would only deliver every event twice."""
    return [realtime.queue_group(ticket.organization_id, ticket.connection_id)]


def _publish_ticket(organization: Organization, ticket: Ticket, type: str = events.TICKET_UPDATED) -> None:
    realtime.publish(
        organization=organization, type=type, payload=_ticket_payload(ticket), groups=ticket_groups(ticket)
    )


def _publish_message(organization: Organization, ticket: Ticket, message: Message) -> None:
    realtime.publish(
        organization=organization,
        type=events.MESSAGE_CREATED,
        payload={"ticket_id": ticket.pk, "message_id": message.pk, "direction": message.direction},
        groups=ticket_groups(ticket),
    )


def _ticket_payload(ticket: Ticket) -> dict:
    from tickets.sla.clocks import sla_payload

    return {
        "ticket_id": ticket.pk,
        "number": ticket.number,
        "status": ticket.status,
        "priority": ticket.priority,
        "assignee_id": ticket.assignee_id,
        "team_id": ticket.team_id,
        "connection_id": ticket.connection_id,
        **sla_payload(ticket),
    }


# --- contacts ---------------------------------------------------------------------------------------------------


# Asks the platform about customers by their ids: id -> profile, the unknown left out.
ProfilesLookup = Callable[[list[str]], dict[str, AuthorProfile]]


@dataclasses.dataclass(frozen=True)
class Author:
    """Who wrote, as the platform told us (the name may be missing: Messenger sends only an id)."""

    external_id: str
    name: str = ""
    handle: str = ""
    avatar_url: str = ""
    email: str = ""


def contacts_for_authors(
    *,
    organization: Organization,
    platform: str,
    authors: list[Author],
    lookup_profile: ProfilesLookup | None = None,
) -> dict[str, Contact]:
    """The contacts behind platform accounts (external id → contact), the missing ones created: one query to find
    them, one insert each for the new contacts and identities. Race-safe on the identity's unique key: when another
    delivery created an identity first, its contact is used and ours is removed. `lookup_profile(external_ids)` asks
    the platform for the names nobody told us yet (one call for all of them)."""
    wanted: dict[str, Author] = {}
    for author in authors:  # the first mention of an author wins, like a sequence of single calls
        wanted.setdefault(author.external_id, author)
    identities = {
        identity.external_id: identity
        for identity in ContactIdentity.objects.select_related("contact").filter(
            platform=platform, external_id__in=list(wanted)
        )
    }
    if lookup_profile is not None:
        unnamed = [
            external_id
            for external_id, author in wanted.items()
            if not author.name and (external_id not in identities or not identities[external_id].contact.name)
        ]
        for external_id, profile in (lookup_profile(unnamed) if unnamed else {}).items():
            author = wanted[external_id]
            wanted[external_id] = dataclasses.replace(
                author,
                name=profile.name,
                handle=author.handle or profile.handle,
                avatar_url=author.avatar_url or profile.avatar_url,
            )
    found: dict[str, Contact] = {}
    for external_id, identity in identities.items():
        contact, name = identity.contact, wanted[external_id].name
        if name and not contact.name:
            Contact.objects.filter(pk=contact.pk).update(name=name)
            contact.name = name
        found[external_id] = contact
    new = [author for external_id, author in wanted.items() if external_id not in found]
    if new:
        found.update(_contacts_create(organization, platform, new))
    return found


def _one_profile(lookup_profile: Callable[[], AuthorProfile | None] | None) -> ProfilesLookup | None:
    """`message_ingest`'s single-customer lookup as a ProfilesLookup."""
    if lookup_profile is None:
        return None

    def lookup(external_ids: list[str]) -> dict[str, AuthorProfile]:
        profile = lookup_profile()
        return {external_ids[0]: profile} if profile is not None and external_ids else {}

    return lookup


def _contacts_create(organization: Organization, platform: str, authors: list[Author]) -> dict[str, Contact]:
    contacts = copy_insert(
        [
            Contact(
                organization=organization,
                name=author.name or author.handle,
                avatar_url=author.avatar_url[:1000],
                email=author.email,
                search_vector=index_document(author.name, author.handle, author.email),  # PostgreSQL casts the literal
            )
            for author in authors
        ]
    )
    identity_table = ContactIdentity._meta.db_table
    with db_connection.cursor() as cursor:
        # ON CONFLICT: another delivery of the same customer may be creating the identity right now; its row wins
        # (this statement waits for that transaction, then skips the row).
        cursor.execute(
            f"INSERT INTO {identity_table} (organization_id, contact_id, platform, external_id, handle) "
            "SELECT %s, c, %s, e, h FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS t(c, e, h) "
            "ON CONFLICT DO NOTHING RETURNING external_id",
            [
                organization.pk,
                platform,
                [c.pk for c in contacts],
                [a.external_id for a in authors],
                [a.handle for a in authors],
            ],
        )
        inserted = {row[0] for row in cursor.fetchall()}
    created = {a.external_id: c for a, c in zip(authors, contacts, strict=True) if a.external_id in inserted}
    lost = [(a, c) for a, c in zip(authors, contacts, strict=True) if a.external_id not in inserted]
    if lost:
        Contact.objects.filter(pk__in=[c.pk for _a, c in lost]).delete()
        created.update(
            (identity.external_id, identity.contact)
            for identity in ContactIdentity.objects.select_related("contact").filter(
                platform=platform, external_id__in=[a.external_id for a, _c in lost]
            )
        )
    return created


# --- inbound ----------------------------------------------------------------------------------------------------


def _next_numbers(organization: Organization, count: int) -> list[int]:
    """The organization's next ticket numbers (#1, #2, …) from its own PostgreSQL sequence. nextval() holds no lock
    until commit, so new conversations of one organization are not serialized; a rolled-back ticket leaves a gap."""
    name = f"tickets_number_org_{int(organization.pk)}"  # created for existing organizations by migration 0004
    with db_connection.cursor() as cursor:
        try:
            with transaction.atomic():
                cursor.execute("SELECT nextval(%s) FROM generate_series(1, %s)", [name, count])
                return [row[0] for row in cursor.fetchall()]
        except ProgrammingError:  # the organization's first ticket: create its sequence after the highest number
            start = (Ticket.objects.aggregate(top=Max("number"))["top"] or 0) + 1
            cursor.execute(f'CREATE SEQUENCE IF NOT EXISTS "{name}" START {int(start)}')
            cursor.execute("SELECT nextval(%s) FROM generate_series(1, %s)", [name, count])
            return [row[0] for row in cursor.fetchall()]


def _ticket_reopen(organization: Organization, ticket: Ticket) -> bool:
    try:
        with transaction.atomic():
            ticket.status = TicketStatus.OPEN
            ticket.solved_at = None
            ticket.save(update_fields=["status", "solved_at", "updated_at"])
    except IntegrityError:
        return False  # a concurrent delivery opened a new active ticket meanwhile: the caller uses it
    TicketEvent.objects.create(
        organization=organization,
        ticket=ticket,
        kind=TicketEventKind.REOPENED,
        old=TicketStatus.SOLVED,
        new=TicketStatus.OPEN,
    )
    return True


def _ticket_fields(ticket: Ticket, *, outbound: bool, created: bool, sentiment: str, score, language: str, now) -> dict:
    """What a new message sets on its ticket: its times, "pending" back to "open" when the customer answers, the
    sentiment rolled up and the language."""
    if outbound:
        return {"last_message_at": now}
    fields = {"last_message_at": now, "last_customer_message_at": now, "snoozed_until": None}
    if ticket.status == TicketStatus.PENDING:
        fields["status"] = TicketStatus.OPEN  # the customer answered
        fields["status_changed_at"] = now
    if created:
        fields["status_changed_at"] = now
    if sentiment:
        label, rolled = rollup(ticket.sentiment_score, score)
        fields.update(sentiment=label, sentiment_score=rolled)
    if language:
        fields["language"] = language
    return fields


def _new_ticket(organization, connection, inbound: InboundMessage, contact: Contact, analysis, number: int) -> Ticket:
    """A ticket opened by `inbound`, with what that first message sets on it already in the insert (no update)."""
    first_line = inbound.text.strip().splitlines()[0] if inbound.text.strip() else ""
    subject = (inbound.subject or first_line)[:300]
    ticket = Ticket(
        organization=organization,
        number=number,
        connection=connection,
        contact=contact,
        subject=subject,
        external_thread_key=inbound.thread_key,
        # The ticket's vector holds its subject, the customer's name and every message.
        search_vector=index_document(subject, contact.name, inbound.text),
    )
    fields = _ticket_fields(
        ticket,
        outbound=inbound.direction == Direction.OUTBOUND,
        created=True,
        sentiment=analysis.sentiment if analysis else "",
        score=analysis.score if analysis else None,
        language=analysis.language if analysis else "",
        now=timezone.now(),
    )
    for name, value in fields.items():
        setattr(ticket, name, value)
    ticket._opened_by = inbound.platform_message_id
    return ticket


def _active_tickets(connection: ChannelConnection, keys) -> dict[str, Ticket]:
    rows = (
        Ticket.objects.select_for_update()
        .filter(
            connection=connection,
            external_thread_key__in=list(keys),
            status__in=ACTIVE_STATUSES,
            merged_into__isnull=True,
        )
        .order_by("pk")  # every ingest locks tickets in the same order
    )
    return {ticket.external_thread_key: ticket for ticket in rows}


def _tickets_for_threads(
    organization: Organization, connection: ChannelConnection, firsts: dict[str, tuple[InboundMessage, Contact, object]]
) -> dict[str, tuple[Ticket, str]]:
    """For each thread key (with its first new message, contact and the message's analysis): the active ticket of the
    thread; else a solved one reopened within the window; else a new one. Every returned ticket is locked. Values are
    (ticket, what happened: "existing" | "reopened" | "created")."""
    found = {key: (ticket, "existing") for key, ticket in _active_tickets(connection, firsts).items()}
    missing = [key for key in firsts if key not in found]
    if missing:
        window = timedelta(days=organization.ticket_reopen_days)
        solved = (
            Ticket.objects.select_for_update()
            .filter(
                connection=connection,
                external_thread_key__in=missing,
                status=TicketStatus.SOLVED,
                merged_into__isnull=True,
                solved_at__gte=timezone.now() - window,
            )
            .order_by("pk")
        )
        latest: dict[str, Ticket] = {}
        for ticket in solved:  # FOR UPDATE cannot be combined with DISTINCT ON: the newest per thread is picked here
            if (
                ticket.external_thread_key not in latest
                or ticket.solved_at > latest[ticket.external_thread_key].solved_at
            ):
                latest[ticket.external_thread_key] = ticket
        for key, ticket in latest.items():
            if _ticket_reopen(organization, ticket):
                found[key] = (ticket, "reopened")
    missing = [key for key in firsts if key not in found]
    if missing:
        numbers = _next_numbers(organization, len(missing))
        tickets = [
            _new_ticket(organization, connection, *firsts[key], number)
            for key, number in zip(missing, numbers, strict=True)
        ]
        try:
            with transaction.atomic():
                copy_insert(tickets)
        except IntegrityError:
            # A concurrent delivery opened one of these threads first: theirs is used (and locked), ours not made.
            tickets = []
            for key, number in zip(missing, numbers, strict=True):
                ticket = _new_ticket(organization, connection, *firsts[key], number)
                try:
                    with transaction.atomic():
                        ticket.save(force_insert=True)
                    tickets.append(ticket)
                except IntegrityError:
                    found[key] = (_active_tickets(connection, [key])[key], "existing")
        copy_insert([TicketEvent(organization=organization, ticket=t, kind=TicketEventKind.CREATED) for t in tickets])
        found.update((ticket.external_thread_key, (ticket, "created")) for ticket in tickets)
    return found


def message_ingest(
    *,
    organization: Organization,
    connection: ChannelConnection,
    inbound: InboundMessage,
    lookup_profile: Callable[[], AuthorProfile | None] | None = None,
) -> tuple[Message, bool]:
    """Store one customer message in its ticket exactly once. Returns (message, created). Delivering the same
    platform message again — even concurrently — returns the stored one (unique constraint, not a check)."""
    lookup = _one_profile(lookup_profile)
    return messages_ingest(organization=organization, connection=connection, inbounds=[inbound], lookup_profile=lookup)[
        0
    ]


@transaction.atomic
def messages_ingest(
    *,
    organization: Organization,
    connection: ChannelConnection,
    inbounds: list[InboundMessage],
    lookup_profile: ProfilesLookup | None = None,
) -> list[tuple[Message, bool]]:
    """Store messages of one connection in their tickets, each exactly once, in order; one (message, created) per
    inbound. The lookups and inserts are made once for the whole list (contacts, tickets, messages); then each new
    message updates its ticket and sets its automation in motion in turn, exactly as if it had come alone.
    `lookup_profile(author_ids)` asks the platform for the names of customers nobody named yet."""
    with batch_reads():
        return _messages_ingest(organization, connection, list(inbounds), lookup_profile)


def _messages_ingest(organization, connection, inbounds, lookup_profile) -> list[tuple[Message, bool]]:
    results: list[tuple[Message, bool] | None] = [None] * len(inbounds)
    ids = [inbound.platform_message_id for inbound in inbounds if inbound.platform_message_id]
    stored = {
        m.platform_message_id: m for m in Message.objects.filter(connection=connection, platform_message_id__in=ids)
    }
    fresh: list[int] = []
    first_index: dict[str, int] = {}
    threads: dict[str, str] = {}  # platform id -> thread key of this batch's new messages, oldest first
    for i, inbound in enumerate(inbounds):
        platform_id = inbound.platform_message_id
        if platform_id in stored:
            results[i] = (stored[platform_id], False)
            continue
        if platform_id:
            if platform_id in first_index:
                continue  # the same message twice in one batch: the second gets the first's result below
            first_index[platform_id] = i
        if inbound.direction == Direction.OUTBOUND and inbound.local_ref:
            ours = _our_reply(inbound.local_ref)
            if ours is not None:
                # The platform echoes a reply we sent: it may arrive before our send task stored the id.
                _echo_confirms(organization, ours, platform_id)
                results[i] = (ours, False)
                continue
        inbounds[i] = _joined_thread(connection, inbound, threads)
        threads[platform_id] = inbounds[i].thread_key
        fresh.append(i)
    if fresh:
        _store_new(organization, connection, inbounds, fresh, results, lookup_profile)
    for i, inbound in enumerate(inbounds):
        if results[i] is None:
            message = results[first_index[inbound.platform_message_id]][0]
            results[i] = (message, False)
    return results


def _joined_thread(connection: ChannelConnection, inbound: InboundMessage, batch: dict[str, str]) -> InboundMessage:
    """Email: a reply joins the ticket of the message it answers, whatever its own root id says — the newest one
    it names, among this batch's earlier messages first, then the stored ones."""
    if not inbound.thread_hints:
        return inbound
    in_batch = [batch[hint] for hint in batch if hint in inbound.thread_hints[:50]]
    known = (
        in_batch[-1]
        if in_batch
        else Message.objects.filter(connection=connection, platform_message_id__in=inbound.thread_hints[:50])
        .order_by("-pk")
        .values_list("ticket__external_thread_key", flat=True)
        .first()
    )
    if known and known != inbound.thread_key:
        return dataclasses.replace(inbound, thread_key=known)
    return inbound


def _store_new(organization, connection, inbounds, fresh, results, lookup_profile) -> None:
    contacts = contacts_for_authors(
        organization=organization,
        platform=connection.platform,
        authors=[
            Author(
                inbounds[i].author_id,
                inbounds[i].author_name,
                inbounds[i].author_handle,
                inbounds[i].author_avatar_url,
                inbounds[i].author_email,
            )
            for i in fresh
        ],
        lookup_profile=lookup_profile,
    )
    analyses = {i: None if inbounds[i].direction == Direction.OUTBOUND else analyze(inbounds[i].text) for i in fresh}
    firsts: dict[str, tuple[InboundMessage, Contact, object]] = {}
    for i in fresh:
        firsts.setdefault(inbounds[i].thread_key, (inbounds[i], contacts[inbounds[i].author_id], analyses[i]))
    tickets = _tickets_for_threads(organization, connection, firsts)
    reply_ids = [inbounds[i].reply_to_platform_id for i in fresh if inbounds[i].reply_to_platform_id]
    parents = (
        {
            m.platform_message_id: m
            for m in Message.objects.filter(connection=connection, platform_message_id__in=reply_ids)
        }
        if reply_ids
        else {}
    )
    messages = []
    documents = {}  # the words of each text, indexed once for the message and its ticket
    for i in fresh:
        inbound = inbounds[i]
        outbound = inbound.direction == Direction.OUTBOUND
        analysis = analyses[i]
        documents[i] = index_document(inbound.text)
        messages.append(
            Message(
                organization=organization,
                ticket=tickets[inbound.thread_key][0],
                connection=connection,
                direction=Direction.OUTBOUND if outbound else Direction.INBOUND,
                kind=inbound.kind,
                author_contact=None if outbound else contacts[inbound.author_id],
                delivery_state=DeliveryState.SENT if outbound else "",
                language=analysis.language if analysis else "",
                sentiment=analysis.sentiment if analysis else "",
                sentiment_score=analysis.score if analysis else None,
                text=inbound.text,
                html=inbound.html,
                platform_message_id=inbound.platform_message_id,
                platform_timestamp=inbound.timestamp,
                reply_to_platform_id=inbound.reply_to_platform_id,
                parent=parents.get(inbound.reply_to_platform_id),
                is_public=inbound.is_public,
                search_vector=index_document(inbound.subject, inbound.text) if inbound.subject else documents[i],
            )
        )
    try:
        with transaction.atomic():
            copy_insert(messages)
        created = [True] * len(messages)
    except IntegrityError:
        # A concurrent delivery stored one of them first (the unique key, not a check, decides): one by one.
        created = []
        for n, message in enumerate(messages):
            try:
                with transaction.atomic():
                    message.save(force_insert=True)
                created.append(True)
            except IntegrityError:
                logger.info("duplicate delivery of %s on connection %s", message.platform_message_id, connection.pk)
                messages[n] = Message.objects.get(
                    connection=connection, platform_message_id=message.platform_message_id
                )
                created.append(False)
    # A reply to a message earlier in this batch (a comment thread read in one go): its parent exists only now.
    in_batch = {m.platform_message_id: m for m, new in zip(messages, created, strict=True) if new}
    for message in messages:
        parent = in_batch.get(message.reply_to_platform_id) if message.parent_id is None else None
        if parent is not None and parent.pk != message.pk:
            message.parent = parent
            Message.objects.filter(pk=message.pk).update(parent=parent)
    seen: set[int] = set()
    for i, message, new in zip(fresh, messages, created, strict=True):
        results[i] = (message, new)
        if new:
            ticket, how = tickets[inbounds[i].thread_key]
            _message_stored(
                organization,
                ticket,
                message,
                inbounds[i],
                contacts,
                how if ticket.pk not in seen else "existing",
                document=documents[i],
            )
            seen.add(ticket.pk)


def _message_stored(
    organization, ticket: Ticket, message: Message, inbound: InboundMessage, contacts, how: str, document: str
) -> None:
    """What one new message does to its ticket, in order: attachments, the ticket's times, status and sentiment,
    the automation, the real-time events and the assignee's notification."""
    for a in inbound.attachments:
        attachment = Attachment(
            organization=organization,
            message=message,
            remote_url=a.url[:2000],
            filename=a.filename[:255] or "attachment",
            content_type=a.content_type[:120],
            size=a.size or len(a.content),
        )
        if a.content:
            attachment.file.save(_storage_name(a.filename), ContentFile(a.content), save=False)
        attachment.save()
    outbound = message.direction == Direction.OUTBOUND
    previous_status = ticket.status
    if getattr(ticket, "_opened_by", None) != message.platform_message_id:  # else the insert already set them
        now = timezone.now()
        fields = _ticket_fields(
            ticket,
            outbound=outbound,
            created=how == "created",
            sentiment=message.sentiment,
            score=message.sentiment_score,
            language=message.language,
            now=now,
        )
        ticket_message_update(ticket, fields, document, now)
    if not outbound:
        _after_customer_message(
            organization, ticket, message, how=how, previous_status=previous_status, author_id=inbound.author_id
        )
    _publish_ticket(organization, ticket, events.TICKET_CREATED if how == "created" else events.TICKET_UPDATED)
    _publish_message(organization, ticket, message)
    if ticket.assignee_id and how != "created" and not outbound:
        notify_about_ticket(
            organization=organization,
            user_id=ticket.assignee_id,
            kind="customer_replied",
            ticket=ticket,
            params={"contact": contacts[inbound.author_id]},
        )


def ticket_message_update(ticket: Ticket, fields: dict, document: str, now) -> None:
    """What a new message writes on its ticket, in one UPDATE, and on `ticket`: `fields` (times, status, sentiment),
    `updated_at`, and the message's words (`document`, from `index_document`) appended to the ticket's search vector.
    Written as SQL because every message continuing a conversation runs it, and composing it through the ORM cost
    more than the database's work. Scoped by hand exactly as the tenant-scoped manager would: organization and id."""
    columns = [Ticket._meta.get_field(name) for name in fields]
    db = connections[DEFAULT_DB_ALIAS]  # not the proxy: one context-local lookup, not one per value (as copy_insert)
    assignments = "".join(f"{db.ops.quote_name(field.column)} = %s, " for field in columns)
    with db.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Ticket._meta.db_table} SET {assignments}updated_at = %s, "
            f"search_vector = {append_sql('search_vector')} WHERE id = %s AND organization_id = %s",
            [field.get_db_prep_save(fields[field.name], db) for field in columns]
            + [now, document, ticket.pk, ticket.organization_id],
        )
    for name, value in fields.items():
        setattr(ticket, name, value)
    ticket.updated_at = now


def _after_customer_message(
    organization: Organization, ticket: Ticket, message: Message, *, how: str, previous_status: str, author_id: str
) -> None:
    """What a customer message sets in motion, on the locked ticket, in the ingest transaction (all or nothing):
    the rules, the SLA clocks, the channel's auto-response, the crisis check."""
    from tickets.autoreplies import auto_respond
    from tickets.crisis import crisis_check
    from tickets.rules.engine import run_rules
    from tickets.sla.clocks import sla_customer_message, sla_start, sla_status_changed

    runs = []
    if how == "created":
        runs += run_rules(organization=organization, trigger=RuleTrigger.TICKET_CREATED, ticket=ticket, message=message)
    runs += run_rules(organization=organization, trigger=RuleTrigger.MESSAGE_RECEIVED, ticket=ticket, message=message)
    # Rule actions save through the ticket services, on their own copy of the row: read it again only if one acted.
    locked = Ticket.objects.select_for_update().get(pk=ticket.pk) if runs else ticket
    if how == "created":
        if locked.sla_policy_id is None:  # else a rule applied a policy already
            sla_start(organization=organization, ticket=locked)
    else:
        # The customer's message took the ticket out of "pending" (here) or "solved" (reopened by the thread lookup):
        # the held clocks resume with the time they had left.
        held = TicketStatus.SOLVED if how == "reopened" else previous_status
        if held in (TicketStatus.PENDING, TicketStatus.SOLVED) and locked.status == TicketStatus.OPEN:
            sla_status_changed(
                organization=organization, ticket=locked, old=held, new=locked.status, at=message.created_at
            )
        sla_customer_message(organization=organization, ticket=locked, at=message.created_at)
    for name in SLA_FIELDS:
        setattr(ticket, name, getattr(locked, name))
    if locked.status not in (TicketStatus.SOLVED, TicketStatus.CLOSED):  # e.g. a rule closed it as spam
        auto_respond(
            organization=organization,
            ticket=ticket,
            message=message,
            created=how == "created",
            author_external_id=author_id,
        )
    crisis_check(organization=organization, ticket=ticket, message=message)


SLA_FIELDS = (
    "sla_policy_id",
    "sla_state",
    "sla_paused_at",
    "sla_check_at",
    "first_response_due_at",
    "next_response_due_at",
    "resolution_due_at",
    "first_response_at",
    "status",
    "priority",
    "assignee_id",
    "team_id",
)


def _storage_name(filename: str) -> str:
    """A safe file name for storage (the original name is kept on the attachment)."""
    base = re.sub(r"[^\w.-]+", "_", os.path.basename(filename or ""))[-100:].lstrip(".")
    return base or "attachment"


def _our_reply(local_ref: str) -> Message | None:
    try:
        ref = uuid.UUID(local_ref)
    except ValueError:
        return None
    return Message.objects.select_for_update(of=("self",)).select_related("ticket").filter(local_ref=ref).first()


def _echo_confirms(organization: Organization, message: Message, platform_message_id: str) -> None:
    if message.platform_message_id:
        return
    from tickets.replies import message_delivery_set

    state = message.delivery_state
    if state in (DeliveryState.QUEUED, DeliveryState.SENDING, DeliveryState.FAILED):
        state = DeliveryState.SENT
    message_delivery_set(
        organization=organization,
        message=message,
        state=state,
        platform_message_id=platform_message_id,
        platform_timestamp=timezone.now(),
    )


@transaction.atomic
def message_edit_ingest(*, organization: Organization, connection: ChannelConnection, edit: InboundEdit) -> bool:
    """The customer edited a message: keep the newest text (the platform shows only that one too)."""
    message = (
        Message.objects.select_for_update(of=("self",))
        .select_related("ticket")
        .filter(connection=connection, platform_message_id=edit.platform_message_id)
        .first()
    )
    if message is None:
        logger.info("edit of unknown message %s on connection %s ignored", edit.platform_message_id, connection.pk)
        return False
    if message.text == edit.text:
        return False  # a redelivered edit
    message.text = edit.text
    message.edited_at = edit.timestamp or timezone.now()
    message.search_vector = vector_expression(edit.text)
    message.save(update_fields=["text", "edited_at", "search_vector"])
    Ticket.objects.filter(pk=message.ticket_id).update(search_vector=append_expression("search_vector", edit.text))
    _publish_message_updated(organization, message)
    return True


@transaction.atomic
def message_delete_ingest(*, organization: Organization, connection: ChannelConnection, delete: InboundDelete) -> bool:
    """The customer deleted the message on the platform: it stays for the record, marked deleted."""
    updated = Message.objects.filter(
        connection=connection, platform_message_id=delete.platform_message_id, deleted_at__isnull=True
    ).update(deleted_at=delete.timestamp or timezone.now())
    if updated:
        message = Message.objects.select_related("ticket").get(
            connection=connection, platform_message_id=delete.platform_message_id
        )
        _publish_message_updated(organization, message)
    return bool(updated)


@transaction.atomic
def message_delivery_update(
    *, organization: Organization, connection: ChannelConnection, update: DeliveryUpdate
) -> bool:
    """A receipt (delivered) or a bounce (failed) for one of our outbound messages. States only move forward:
    a late "delivered" never overwrites a bounce."""
    from tickets.replies import message_delivery_set

    if update.up_to is not None and update.state == DeliveryState.DELIVERED:
        return _delivered_up_to(organization, connection, update) > 0
    if not update.platform_message_id:
        return False  # never matches a reply still waiting for its id (stored as "")
    message = (
        Message.objects.select_for_update(of=("self",))
        .select_related("ticket")
        .filter(connection=connection, platform_message_id=update.platform_message_id, direction=Direction.OUTBOUND)
        .first()
    )
    if message is None:
        return False
    if update.state == DeliveryState.DELIVERED and message.delivery_state not in (
        DeliveryState.SENT,
        DeliveryState.SENDING,
        DeliveryState.QUEUED,
    ):
        return False
    if update.state == DeliveryState.FAILED and message.delivery_state == DeliveryState.FAILED:
        return False
    message_delivery_set(organization=organization, message=message, state=update.state, error=update.error)
    return True


def _delivered_up_to(organization: Organization, connection: ChannelConnection, update: DeliveryUpdate) -> int:
    """A watermark receipt: our sent messages in the thread, sent at or before `up_to`, are delivered (the newest
    hundred: older ones were settled by earlier receipts)."""
    from tickets.replies import message_delivery_set

    messages = list(
        Message.objects.select_for_update(of=("self",))
        .select_related("ticket")
        .annotate(sent_at=Coalesce("platform_timestamp", "created_at"))
        .filter(
            connection=connection,
            ticket__external_thread_key=update.thread_key,
            direction=Direction.OUTBOUND,
            delivery_state=DeliveryState.SENT,
            sent_at__lte=update.up_to,
        )
        .order_by("-pk")[:100]
    )
    for message in messages:
        message_delivery_set(organization=organization, message=message, state=DeliveryState.DELIVERED)
    return len(messages)


def _publish_message_updated(organization: Organization, message: Message) -> None:
    realtime.publish(
        organization=organization,
        type=events.MESSAGE_UPDATED,
        payload={"ticket_id": message.ticket_id, "message_id": message.pk, "delivery_state": message.delivery_state},
        groups=ticket_groups(message.ticket),
    )


# --- agent actions ----------------------------------------------------------------------------------------------


def _event(ticket: Ticket, actor: User | None, kind: str, old, new) -> TicketEvent:
    return TicketEvent.objects.create(
        organization_id=ticket.organization_id, ticket=ticket, actor=actor, kind=kind, old=old, new=new
    )


@transaction.atomic
def ticket_update(
    *,
    organization: Organization,
    actor: User | None,
    ticket: Ticket,
    status: str | None = None,
    priority: str | None = None,
    assignee: User | None | bool = False,
    team: Team | None | bool = False,
    tags: list[str] | None = None,
    run_rules: bool = True,
) -> Ticket:
    """Change status, priority, assignee (None = unassign), team or tags; each change is a TicketEvent.
    `False` for assignee/team means "leave as is". `actor=None` is automation (a rule or routing); automation passes
    `run_rules=False` so that its own changes do not trigger the "ticket updated" rules again."""
    ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
    changed = []
    old_status = ticket.status
    old_assignee_id = ticket.assignee_id
    if status is not None and status != ticket.status:
        if status not in TicketStatus.values:
            raise DomainError(_("Unknown status."), field="status")
        _event(ticket, actor, TicketEventKind.STATUS, ticket.status, status)
        ticket.status = status
        ticket.solved_at = timezone.now() if status == TicketStatus.SOLVED else None
        ticket.status_changed_at = timezone.now()
        changed += ["status", "solved_at", "status_changed_at"]
    if priority is not None and priority != ticket.priority:
        if priority not in Priority.values:
            raise DomainError(_("Unknown priority."), field="priority")
        _event(ticket, actor, TicketEventKind.PRIORITY, ticket.priority, priority)
        ticket.priority = priority
        changed.append("priority")
    if assignee is not False and (assignee.pk if assignee else None) != ticket.assignee_id:
        if assignee is not None and not Membership.objects.filter(user=assignee).exists():
            raise DomainError(_("The assignee must be a member of this organization."), field="assignee")
        _event(ticket, actor, TicketEventKind.ASSIGNMENT, ticket.assignee_id, assignee.pk if assignee else None)
        ticket.assignee = assignee
        changed.append("assignee")
        if assignee is not None and assignee != actor:
            notify_about_ticket(
                organization=organization,
                user_id=assignee.pk,
                kind="assigned",
                ticket=ticket,
                params={"actor": actor} if actor else {"automated": True},
            )
    if team is not False and (team.pk if team else None) != ticket.team_id:
        _event(ticket, actor, TicketEventKind.TEAM, ticket.team_id, team.pk if team else None)
        ticket.team = team
        changed.append("team")
    if changed:
        ticket.save(update_fields=[*changed, "updated_at"])
    if tags is not None:
        wanted = {name.strip()[:60] for name in tags if name.strip()}
        current = set(ticket.tags.values_list("name", flat=True))
        if wanted != current:
            objects = [Tag.objects.get_or_create(organization=organization, name=name)[0] for name in sorted(wanted)]
            ticket.tags.set(objects)
            _event(ticket, actor, TicketEventKind.TAGS, sorted(current), sorted(wanted))
            changed.append("tags")
    if "status" in changed or "priority" in changed:
        _sla_follow(organization, ticket, old_status=old_status, changed=changed)
    _routing_follow(
        organization, ticket, actor=actor, old_status=old_status, old_assignee_id=old_assignee_id, changed=changed
    )
    if changed and run_rules:
        from tickets.rules.engine import run_rules as run

        what = {"status", "priority", "assignee", "team", "tags"} & set(changed)
        run(organization=organization, trigger=RuleTrigger.TICKET_UPDATED, ticket=ticket, changed=what)
    if changed:
        _publish_ticket(organization, ticket)
    return ticket


def _routing_follow(
    organization: Organization, ticket: Ticket, *, actor, old_status: str, old_assignee_id, changed: list[str]
) -> None:
    """Routing follows the ticket: a member who moves it to a team without an assignee hands it to that team's
    strategy; an agent who finishes a ticket or hands it on has room again, so their teams' queues are drained."""
    from tickets.assignment import agent_queues_drain_later, ticket_route

    if actor is not None and "team" in changed and ticket.team_id and ticket.assignee_id is None:
        ticket_route(organization=organization, ticket=ticket, team=ticket.team, actor=actor)
    working = (TicketStatus.NEW, TicketStatus.OPEN)
    freed = (
        old_assignee_id is not None
        and old_status in working
        and (ticket.assignee_id != old_assignee_id or ticket.status not in working)
    )
    if freed:
        agent_queues_drain_later(organization=organization, user=User(pk=old_assignee_id))


def _sla_follow(organization: Organization, ticket: Ticket, *, old_status: str, changed: list[str]) -> None:
    """The SLA follows the ticket: pending pauses the clocks, solving stops them, a new priority re-applies the
    policy of that priority."""
    from tickets.sla.clocks import sla_start, sla_status_changed

    if "status" in changed:
        sla_status_changed(
            organization=organization, ticket=ticket, old=old_status, new=ticket.status, at=timezone.now()
        )
    if "priority" in changed:
        sla_start(organization=organization, ticket=ticket)


@transaction.atomic
def note_add(*, organization: Organization, actor: User | None, ticket: Ticket, text: str) -> Message:
    """A private note; @mentions of members (by email local part or full email) notify them. `actor=None` is a note
    written by an automation rule."""
    text = (text or "").strip()
    if not text:
        raise DomainError(_("Write something first."), field="text")
    document = index_document(text)
    note = Message.objects.create(
        organization=organization,
        ticket=ticket,
        connection_id=ticket.connection_id,
        direction=Direction.OUTBOUND,
        kind=MessageKind.NOTE,
        author_user=actor,
        automated=actor is None,
        text=text,
        search_vector=document_expression(document),
    )
    mentioned = _mentioned_members(text)
    note.mentions.set(mentioned)
    for user in mentioned:
        if user != actor:
            notify_about_ticket(
                organization=organization,
                user_id=user.pk,
                kind="mentioned",
                ticket=ticket,
                params={"actor": actor} if actor else {"automated": True},
            )
    ticket_message_update(ticket, {}, document, timezone.now())
    _publish_message(organization, ticket, note)
    return note


def _mentioned_members(text: str) -> list[User]:
    """Members named as @local-part or @full@address in the text."""
    handles = {h.lower() for h in re.findall(r"@([\w.+-]+(?:@[\w.-]+)?)", text)}
    if not handles:
        return []
    match = Q()
    for handle in handles:
        match |= Q(email__iexact=handle) if "@" in handle else Q(email__istartswith=f"{handle}@")
    member_ids = Membership.objects.values("user_id")
    return list(User.objects.filter(match, pk__in=member_ids))


# --- snooze, merge, split ---------------------------------------------------------------------------------------


@transaction.atomic
def ticket_snooze(*, organization: Organization, actor: User, ticket: Ticket, until) -> Ticket:
    """Hide the ticket from the active views until `until` (None wakes it now). A customer message wakes it too."""
    ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
    if until is not None and until <= timezone.now():
        raise DomainError(_("Choose a time in the future."), field="until")
    old = ticket.snoozed_until.isoformat() if ticket.snoozed_until else None
    ticket.snoozed_until = until
    ticket.save(update_fields=["snoozed_until", "updated_at"])
    _event(ticket, actor, TicketEventKind.SNOOZE, old, until.isoformat() if until else None)
    _publish_ticket(organization, ticket)
    return ticket


def tickets_wake_snoozed(*, organization: Organization) -> int:
    """Bring back tickets whose snooze has ended (Celery beat, every minute). Returns how many woke."""
    woke = 0
    due = Ticket.objects.filter(snoozed_until__lte=timezone.now()).values_list("pk", flat=True)[:500]
    for ticket_id in due:
        with transaction.atomic():
            ticket = Ticket.objects.select_for_update(skip_locked=True).filter(pk=ticket_id).first()
            if ticket is None or ticket.snoozed_until is None or ticket.snoozed_until > timezone.now():
                continue
            ticket.snoozed_until = None
            ticket.save(update_fields=["snoozed_until", "updated_at"])
            _event(ticket, None, TicketEventKind.SNOOZE, "ended", None)
            _publish_ticket(organization, ticket)
            woke += 1
    return woke


@transaction.atomic
def ticket_merge(*, organization: Organization, actor: User, source: Ticket, target: Ticket) -> Ticket:
    """Move every message of `source` into `target` (same customer) and close `source` as merged."""
    if source.pk == target.pk:
        raise DomainError(_("A ticket cannot be merged into itself."), field="target")
    first, second = sorted([source.pk, target.pk])
    locked = {t.pk: t for t in Ticket.objects.select_for_update().filter(pk__in=[first, second]).order_by("pk")}
    source, target = locked[source.pk], locked[target.pk]
    if source.contact_id != target.contact_id:
        raise DomainError(_("Only tickets of the same customer can be merged."), field="target")
    if source.merged_into_id or target.merged_into_id:
        raise DomainError(_("This ticket was already merged."), field="target")
    moved = Message.objects.filter(ticket=source).update(ticket=target)
    latest = max(filter(None, [source.last_message_at, target.last_message_at]), default=None)
    Ticket.objects.filter(pk=target.pk).update(
        last_message_at=latest,
        updated_at=timezone.now(),
        search_vector=append_expression("search_vector", source.subject),
    )
    source.merged_into = target
    source.status = TicketStatus.CLOSED
    source.status_changed_at = timezone.now()
    source.save(update_fields=["merged_into", "status", "status_changed_at", "updated_at"])
    from tickets.sla.clocks import sla_clear

    sla_clear(organization=organization, ticket=source)  # the conversation continues (and is measured) in target
    _event(source, actor, TicketEventKind.MERGE, None, {"into": target.number})
    _event(target, actor, TicketEventKind.MERGE, {"from": source.number, "messages": moved}, None)
    for ticket in (source, target):
        _publish_ticket(organization, ticket)
    return target


@transaction.atomic
def message_split(*, organization: Organization, actor: User, message: Message) -> Ticket:
    """Move one customer message into a ticket of its own (same customer and channel)."""
    ticket = Ticket.objects.select_for_update().get(pk=message.ticket_id)
    if message.direction != Direction.INBOUND:
        raise DomainError(_("Only a customer's message can be split into its own ticket."))
    if not Message.objects.filter(ticket=ticket).exclude(pk=message.pk).exists():
        raise DomainError(_("This is the ticket's only message."))
    new = Ticket.objects.create(
        organization=organization,
        number=_next_numbers(organization, 1)[0],
        connection_id=ticket.connection_id,
        contact_id=ticket.contact_id,
        subject=message.text.strip().splitlines()[0][:300] if message.text.strip() else "",
        external_thread_key=f"{ticket.external_thread_key}#split-{message.pk}",
        priority=ticket.priority,
        last_message_at=message.created_at,
        last_customer_message_at=message.created_at,
        search_vector=vector_expression(message.text),
    )
    Message.objects.filter(pk=message.pk).update(ticket=new)
    from tickets.sla.clocks import sla_start

    sla_start(organization=organization, ticket=Ticket.objects.select_for_update().get(pk=new.pk))
    _event(new, actor, TicketEventKind.SPLIT, {"from": ticket.number}, None)
    _event(ticket, actor, TicketEventKind.SPLIT, None, {"into": new.number})
    for changed in (ticket, new):
        _publish_ticket(organization, changed, events.TICKET_CREATED if changed is new else events.TICKET_UPDATED)
    return new


@transaction.atomic
def tickets_bulk_update(
    *,
    organization: Organization,
    actor: User,
    membership: Membership,
    ids: list[int],
    tags_add: list[str] | None = None,
    **change,
) -> list[int]:
    """Apply one change (ticket_update's keywords, plus `tags_add`) to every listed ticket the member may see, all
    or nothing. Returns the ids changed; the others are unknown or not visible and are left alone."""
    from tickets.selectors import visible_tickets

    tickets = visible_tickets(membership).filter(pk__in=ids).order_by("pk")
    if tags_add is not None:
        tickets = tickets.prefetch_related("tags")
    changed = []
    for ticket in tickets:
        kwargs = dict(change)
        if tags_add is not None:
            kwargs["tags"] = [*(tag.name for tag in ticket.tags.all()), *tags_add]
        ticket_update(organization=organization, actor=actor, ticket=ticket, **kwargs)
        changed.append(ticket.pk)
    return changed
