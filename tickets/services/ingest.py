"""Ingesting what customers write: normalized inbound items from the gateway become contacts, tickets and
messages, each exactly once (unique constraints, not checks), and set automation in motion on the locked ticket.
The gateway hands items to `items_apply` (registered as its ingest handler in TicketsConfig.ready)."""

import dataclasses
import hashlib
import logging
import os
import re
import uuid
from collections.abc import Callable
from datetime import timedelta

from django.core.files.base import ContentFile
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Organization
from channels_integrations.connector import TransientError
from channels_integrations.handlers import ProfilesLookup
from channels_integrations.inbound import (
    AuthorProfile,
    DeliveryUpdate,
    InboundDelete,
    InboundEdit,
    InboundItem,
    InboundMessage,
)
from channels_integrations.models import ChannelConnection
from core.after_batch import after_batch
from core.batch_reads import batch_reads
from core.db import copy_insert
from core.errors import DomainError
from tickets.automation_hooks import automation
from tickets.events import (
    TICKET_CREATED,
    TICKET_UPDATED,
    publish_message,
    publish_message_updated,
    publish_ticket,
)
from tickets.models import (
    ACTIVE_STATUSES,
    Attachment,
    Contact,
    DeliveryState,
    Direction,
    Message,
    Ticket,
    TicketEvent,
    TicketEventKind,
    TicketStatus,
)
from tickets.notifications import notify_about_ticket
from tickets.search import append_expression, append_sql, index_document, vector_expression
from tickets.services import calls
from tickets.services.contacts import Author, contacts_for_authors
from tickets.services.delivery import message_delivery_set, message_delivery_update
from tickets.services.merge import ticket_merge
from tickets.services.numbers import ticket_numbers_next

logger = logging.getLogger("tsunagu.tickets")


def _one_profile(lookup_profile: Callable[[], AuthorProfile | None] | None) -> ProfilesLookup | None:
    """`message_ingest`'s single-customer lookup as a ProfilesLookup."""
    if lookup_profile is None:
        return None

    def lookup(external_ids: list[str]) -> dict[str, AuthorProfile]:
        profile = lookup_profile()
        return {external_ids[0]: profile} if profile is not None and external_ids else {}

    return lookup


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
        label, rolled = automation().sentiment_rollup(ticket.sentiment_score, score)
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
        numbers = ticket_numbers_next(organization, len(missing))
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
    for key, (ticket, _how) in found.items():
        # What the automation reads of the ticket's channel and customer is at hand: not read again per message.
        ticket.connection = connection
        contact = firsts[key][1]
        if ticket.contact_id == contact.pk:
            ticket.contact = contact
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
    `lookup_profile(author_ids)` asks the platform for the names of customers nobody named yet. What automation
    defers to after the transaction (routing decisions) is done before this returns — after the caller's batch
    when the gateway's batch encloses this call (core.after_batch)."""
    with after_batch(), transaction.atomic(), batch_reads():
        return _messages_ingest(organization, connection, list(inbounds), lookup_profile)


def _messages_ingest(organization, connection, inbounds, lookup_profile) -> list[tuple[Message, bool]]:
    if any(inbound.call is not None for inbound in inbounds):
        inbounds = calls.calls_prepare(organization, inbounds)
    results: list[tuple[Message, bool] | None] = [None] * len(inbounds)
    ids = [inbound.platform_message_id for inbound in inbounds if inbound.platform_message_id]
    stored = {
        m.platform_message_id: m for m in Message.objects.filter(connection=connection, platform_message_id__in=ids)
    }
    fresh: list[int] = []
    first_index: dict[str, int] = {}
    threads = _Threads(_threads_known(connection, [i for i in inbounds if i.platform_message_id not in stored]))
    for i, inbound in enumerate(inbounds):
        platform_id = inbound.platform_message_id
        if platform_id in stored:
            results[i] = (stored[platform_id], False)
            continue
        if platform_id:
            if platform_id in first_index:
                continue  # the same message twice in one batch: the second gets the first's result below
            first_index[platform_id] = i
        if inbound.call is not None and not inbound.author_id:
            # A recording callback names no caller: it can only complete a call whose status already came.
            raise TransientError(f"call {inbound.call.call_id} reported before its status; retried later")
        if inbound.direction == Direction.OUTBOUND and inbound.local_ref:
            ours = _our_reply(inbound.local_ref)
            if ours is not None:
                # The platform echoes a reply we sent: it may arrive before our send task stored the id.
                _echo_confirms(organization, ours, platform_id)
                results[i] = (ours, False)
                continue
        threads.add(i, inbound)
        fresh.append(i)
    for i in fresh:
        inbounds[i] = threads.joined(i, inbounds[i])
    if fresh:
        _threads_unite(organization, connection, threads, {inbounds[i].thread_key for i in fresh})
        _store_new(organization, connection, inbounds, fresh, results, lookup_profile)
    for i, inbound in enumerate(inbounds):
        if results[i] is None:
            message = results[first_index[inbound.platform_message_id]][0]
            results[i] = (message, False)
        if inbound.call is not None and not results[i][1]:
            # A later callback of a stored call (its status, recording, transcription) completes it.
            calls.call_merge(organization, results[i][0], inbound.call, attachments=inbound.attachments)
    return results


@dataclasses.dataclass
class _KnownThreads:
    """What is stored of the ids a batch names: `answered` {platform id: (message pk, its ticket's thread key)} for
    the ids messages answer (thread hints); `opened` the keys, among the batch's replies' own ids and thread keys,
    under which a ticket exists (not merged away)."""

    answered: dict[str, tuple[int, str]]
    opened: set[str]


def _threads_known(connection: ChannelConnection, inbounds: list[InboundMessage]) -> _KnownThreads:
    """The thread lookups of a whole batch in a constant number of queries (not one per reply). Email also looks the
    other way: a reply that came before the mail it answers opened the conversation under that mail's id, and the
    mail joins it.

    First every id the batch's mails name (their own, their thread keys and hints) is locked for the transaction,
    then the keys of the tickets the answered mails are in, until all are held: a batch that unites two
    conversations (merges a ticket, renames its key) holds the keys of both, so a mail ingested at the same moment
    by another worker reads its original's ticket after that commit, never a ticket merged away meanwhile."""
    hints = {hint for inbound in inbounds for hint in inbound.thread_hints[:50]}
    mails = [inbound for inbound in inbounds if inbound.kind == "email" and inbound.platform_message_id]
    if not mails:
        return _KnownThreads(answered=_answered(connection, hints), opened=set())
    # The keys a reply's own thread may already have a ticket under: its own id (a reply to it came first) and its
    # thread key. An original's are one (its id): its ticket lookup finds that one.
    replies = {
        key
        for inbound in mails
        if inbound.thread_key != inbound.platform_message_id
        for key in (inbound.platform_message_id, inbound.thread_key)
    }
    locked = hints | replies | {inbound.platform_message_id for inbound in mails}
    _ids_lock(connection, locked)
    answered = _answered(connection, hints)
    while more := {key for _pk, key in answered.values()} - locked:
        _ids_lock(connection, more)
        locked |= more
        answered = _answered(connection, hints)  # as it is now that nobody changes those tickets
    opened = (
        set(
            Ticket.objects.filter(connection=connection, external_thread_key__in=replies, merged_into__isnull=True)
            .order_by()
            .values_list("external_thread_key", flat=True)
        )
        if replies
        else set()
    )
    return _KnownThreads(answered=answered, opened=opened)


def _answered(connection: ChannelConnection, hints: set[str]) -> dict[str, tuple[int, str]]:
    if not hints:
        return {}
    rows = Message.objects.filter(connection=connection, platform_message_id__in=hints).values_list(
        "pk", "platform_message_id", "ticket__external_thread_key"
    )
    return {platform_id: (pk, key) for pk, platform_id, key in rows}


def _ids_lock(connection: ChannelConnection, ids: set[str]) -> None:
    """Transaction-level advisory locks on mail ids (and thread keys) of this connection, taken in one order (no
    deadlock between two batches): two batches naming a common id make their thread lookups one after the other."""
    keys = sorted(
        {
            int.from_bytes(hashlib.blake2b(f"{connection.pk}:{i}".encode(), digest_size=8).digest(), "big", signed=True)
            for i in ids
        }  # fmt: skip
    )
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT unnest(%s::bigint[]) AS k ORDER BY 1) AS keys",
            [keys],
        )


class _Threads:
    """Which ticket (by thread key) each new message of a batch joins.

    A message answering an earlier one (its thread hints) joins that one's ticket — the newest it names, among the
    batch's earlier messages first, then the stored ones — whatever its own thread key says; else its thread key's.

    Email (RFC 5322 §3.6.4): In-Reply-To names the parent, References the chain from the thread's first mail (the
    thread key is its first id, else the parent). Mails can arrive in any order, so a reply may come before what it
    answers and open a ticket under the id it names. A mail then belongs with:
    - the ticket of a stored (or earlier in the batch) mail it names: its parent's side;
    - the tickets under its own id: replies to it that came first;
    - the ticket under its thread key: mails of the same thread that came before its start.
    Keys found to be one conversation are united (union-find over keys) under one name: the parent's ticket's key
    unless that is a key the mail itself names (a ticket opened by an early reply, under an id lower in the chain):
    then the highest start known. A key a mail names or its own id is never higher than its thread key.
    `unions()` gives the stored tickets that must then become one (`_threads_unite`)."""

    def __init__(self, known: _KnownThreads):
        self.known = known
        self.up: dict[str, str] = {}  # key -> a key of the same conversation; a conversation's root maps to itself
        self.names: dict[str, str] = {}  # root -> the key the conversation's ticket has
        self.key_of: dict[str, str] = {}  # platform id of a batch message -> a key of its conversation
        self.at: dict[int, str] = {}  # the batch's index of a message -> a key of its conversation
        self.named_by: dict[str, list[str]] = {}  # an id a batch mail names -> keys of those mails' conversations
        self.stored: set[str] = set()  # keys under which a stored ticket is part of a conversation of the batch

    def _root(self, key: str) -> str:
        root = self.up.setdefault(key, key)
        while root != self.up[root]:
            root = self.up[root]
        while key != root:  # path compression
            self.up[key], key = root, self.up[key]
        return root

    def name(self, key: str) -> str:
        return self.names.get(self._root(key), key)

    def _unite(self, keys: list[str], name: str) -> None:
        root = self._root(keys[0])
        for key in keys[1:]:
            self.up[self._root(key)] = root
        self.names[root] = name

    def add(self, index: int, inbound: InboundMessage) -> None:
        own, key, hints = inbound.platform_message_id, inbound.thread_key, inbound.thread_hints[:50]
        in_batch = [self.key_of[hint] for hint in self.key_of if hint in hints]
        stored = [self.known.answered[hint] for hint in hints if hint in self.known.answered]
        if in_batch:
            parent = self.name(in_batch[-1])
        elif stored:
            parent = max(stored)[1]  # the newest stored message it names
            self.stored.add(parent)
        else:
            parent = None
        if inbound.kind != "email":
            self._unite([parent or key], parent or key)
            self.at[index] = parent or key
            if own:
                self.key_of[own] = parent or key
            return
        lower = {own, *hints}
        members = [] if parent is None else [parent]
        if parent is None or parent in lower:
            members.append(key)
        # Replies to this mail that came first: a ticket under its own id, or the batch's earlier mails naming it.
        children = [own] if own in self.up or own in self.known.opened else []
        children += self.named_by.get(own, [])
        members += children
        self.stored.update(k for k in (own, key) if k in self.known.opened)
        higher = [self.name(child) for child in children if self.name(child) not in lower]
        if parent is not None and parent not in lower:
            name = parent
        else:
            name = higher[0] if higher else key
        self._unite(members, name)
        self.at[index] = self.key_of[own] = name
        for hint in hints:
            self.named_by.setdefault(hint, []).append(name)

    def joined(self, index: int, inbound: InboundMessage) -> InboundMessage:
        key = self.name(self.at[index])
        return dataclasses.replace(inbound, thread_key=key) if key != inbound.thread_key else inbound

    def unions(self) -> dict[str, set[str]]:
        """{name: the other keys of its conversation under which a stored ticket may exist} where there are any."""
        found: dict[str, set[str]] = {}
        for key in self.stored:
            name = self.name(key)
            if key != name:
                found.setdefault(name, set()).add(key)
        return found


def _threads_unite(organization: Organization, connection: ChannelConnection, threads: _Threads, names) -> None:
    """Make each conversation of the batch found under several stored tickets one ticket, under its name: the one
    already under the name, else the oldest, takes the name; the other active ones are merged into it (as an agent
    would merge them, by automation). Only when there are two (a reply that came before a mail, which now links it
    to its original): most batches make no query here. All the batch's tickets are locked first, in id order, as
    `_tickets_for_threads` locks them."""
    unions = threads.unions()
    if not unions:
        return
    keys = set(names) | {key for others in unions.values() for key in others}
    window = timezone.now() - timedelta(days=organization.ticket_reopen_days)
    tickets = list(
        Ticket.objects.select_for_update()
        .filter(connection=connection, external_thread_key__in=keys, merged_into__isnull=True)
        .filter(Q(status__in=ACTIVE_STATUSES) | Q(status=TicketStatus.SOLVED, solved_at__gte=window))
        .order_by("pk")
    )
    for name, others in unions.items():
        mine = [t for t in tickets if t.external_thread_key == name or t.external_thread_key in others]
        active = [t for t in mine if t.status in ACTIVE_STATUSES]
        named = [t for t in active if t.external_thread_key == name]
        if named or active:
            keeper = (named or active)[0]
        elif mine and not any(t.external_thread_key == name for t in mine):
            keeper = max(mine, key=lambda t: t.solved_at)  # reopened under the name by _tickets_for_threads
        else:
            continue
        for ticket in active:
            if ticket.pk == keeper.pk:
                continue
            try:
                ticket_merge(organization=organization, actor=None, source=ticket, target=keeper)
            except DomainError as error:  # another customer's: both stay
                logger.info("ticket %s not merged into %s: %s", ticket.pk, keeper.pk, error)
        if keeper.external_thread_key != name:
            Ticket.objects.filter(pk=keeper.pk).update(external_thread_key=name)


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
        seen={inbounds[i].author_id for i in fresh if inbounds[i].direction != Direction.OUTBOUND},
        seen_at=timezone.now(),
    )
    analyses = {
        i: None if inbounds[i].direction == Direction.OUTBOUND else automation().analyze(inbounds[i].text)
        for i in fresh
    }
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
        opened = getattr(tickets[inbound.thread_key][0], "_opened_by", None) == inbound.platform_message_id
        # The text's words go to the message (unless its subject goes with them) and to a ticket it did not open
        # (the ticket it opened has them from its insert): tokenizing costs more than the rest of the message.
        documents[i] = index_document(inbound.text) if not (opened and inbound.subject) else ""
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
                sender_authentication=inbound.sender_authentication,
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
    _attachments_store(
        organization, [(message, inbounds[i]) for i, message, new in zip(fresh, messages, created, strict=True) if new]
    )
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


def _attachments_store(organization, stored: list[tuple[Message, InboundMessage]]) -> None:
    """The files of the batch's new messages, in one insert (an insert per file was the costliest statement of a
    mail batch); each file is in storage before its row."""
    attachments = []
    for message, inbound in stored:
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
            attachments.append(attachment)
    copy_insert(attachments)


def _message_stored(
    organization, ticket: Ticket, message: Message, inbound: InboundMessage, contacts, how: str, document: str
) -> None:
    """What one new message does to its ticket, in order (its attachments are stored already): the ticket's times,
    status and sentiment, the automation, the real-time events and the assignee's notification."""
    if inbound.call is not None:
        calls.call_stored(organization, ticket, message, inbound)
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
        automation().message_received(
            organization=organization,
            ticket=ticket,
            message=message,
            how=how,
            previous_status=previous_status,
            author_id=inbound.author_id,
        )
    publish_ticket(organization, ticket, TICKET_CREATED if how == "created" else TICKET_UPDATED)
    publish_message(organization, ticket, message)
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
    publish_message_updated(organization, message)
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
        publish_message_updated(organization, message)
    return bool(updated)


def items_apply(
    *,
    organization: Organization,
    connection: ChannelConnection,
    items: list[InboundItem],
    lookup_profile: ProfilesLookup | None,
) -> None:
    """The gateway's ingest handler (registered in TicketsConfig.ready): normalized items, in order, to the services
    that own them; consecutive messages go together. `lookup_profile(author_ids)` asks the platform for the names of
    customers nobody named yet."""
    run: list[InboundMessage] = []

    def flush() -> None:
        if run:
            messages_ingest(
                organization=organization, connection=connection, inbounds=list(run), lookup_profile=lookup_profile
            )
            run.clear()

    for item in items:
        if isinstance(item, InboundMessage):
            run.append(item)
            continue
        flush()
        if isinstance(item, InboundEdit):
            message_edit_ingest(organization=organization, connection=connection, edit=item)
        elif isinstance(item, InboundDelete):
            message_delete_ingest(organization=organization, connection=connection, delete=item)
        elif isinstance(item, DeliveryUpdate):
            message_delivery_update(organization=organization, connection=connection, update=item)
        else:  # pragma: no cover - a connector returned something outside the boundary
            raise TypeError(f"unknown inbound item {type(item).__name__}")
    flush()
