"""Tickets created through the REST API (`POST .../tickets/`, `POST .../tickets/<id>/messages/`): the customer found
or created by email address, phone number or platform identity, the message stored by the same ingest webhooks use
(tickets.services.ingest: rules, routing, SLA, acknowledgement, language and sentiment, real-time events all follow),
and the `Idempotency-Key` header honoured.

Idempotency: `idempotency_claim` inserts the key's row in the caller's transaction before any work, and
`idempotency_complete` writes the answer into it before the commit. A retry after the commit reads that answer back
(a different request under the same key is refused, IdempotencyKeyReused). A concurrent retry's insert waits on the
unique key for the first request's transaction: it then replays the committed answer or, when the first failed and
left nothing, does the work itself. A wait longer than IDEMPOTENCY_WAIT_SECONDS answers 409 (IdempotencyInProgress)."""

import dataclasses
import functools
import hashlib
import json
import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db import connection as db_connection
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_scopes import scopes_disabled
from psycopg import errors as psycopg_errors

from accounts.models import ApiToken, Membership, Organization, Role, User
from accounts.roles import Capability
from channels_integrations.inbound import InboundMessage
from channels_integrations.models import ChannelConnection, ConnectionStatus, InboundEvent, InboundEventStatus
from channels_integrations.permissions import granted_params, granted_sql
from channels_integrations.providers.api.connector import API_EVENT_SOURCE, intake_message_id, intake_payload
from channels_integrations.services import RECEIVING, events_store, ingest_wake
from core.db import copy_insert
from core.errors import Conflict, DomainError
from tickets import tasks_contacts
from tickets.models import Contact, ContactIdentity, ContactSettings, IdempotencyKey, Message, MessageKind, Ticket
from tickets.search import index_document
from tickets.services.ingest import messages_ingest

logger = logging.getLogger("tsunagu.tickets")

API_PLATFORM = "api"


# --- idempotency -----------------------------------------------------------------------------------------------


class IdempotencyKeyReused(DomainError):
    """The key was used for another request (another body, path or method) within the retention."""

    code = "idempotency_key_reused"
    status = 422


class IdempotencyInProgress(Conflict):
    """A request with the same key is still being processed (longer than the wait allows)."""

    code = "idempotency_in_progress"


def request_fingerprint(method: str, path: str, data) -> str:
    """What makes two requests "the same": method, path and the parsed body (key order and spacing do not matter)."""
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(f"{method} {path}\n{body}".encode()).hexdigest()


def idempotency_claim(
    *, organization: Organization, principal: str, key: str, fingerprint: str
) -> tuple[int, dict] | None:
    """Claim `key` for this request inside the caller's transaction (call it first, before any other write): None
    when this request is to do the work (then `idempotency_complete` before the commit), else the first request's
    (status, body) to answer again. Raises IdempotencyKeyReused or IdempotencyInProgress."""
    if not connection.in_atomic_block:
        raise RuntimeError("idempotency_claim must run in the transaction that does the work")
    now = timezone.now()
    table = IdempotencyKey._meta.db_table
    wait_ms = int(settings.API_IDEMPOTENCY_WAIT_SECONDS * 1000)
    with connection.cursor() as cursor:
        # A key older than the retention (not pruned yet) is taken over as if new. The insert waits for a concurrent
        # request holding the same key until its transaction ends, so that one's answer is read, never its work redone.
        # No savepoint: this is the transaction's first write, and a timeout ends the whole request.
        cursor.execute("SELECT current_setting('lock_timeout'), set_config('lock_timeout', %s, true)", [f"{wait_ms}ms"])
        previous = cursor.fetchone()[0]
        try:
            cursor.execute(
                f"INSERT INTO {table} AS k (organization_id, principal, key, fingerprint, response_status, "
                "response_body, created_at) VALUES (%s, %s, %s, %s, 0, 'null', %s) "
                "ON CONFLICT (organization_id, principal, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, "
                "response_status = 0, response_body = 'null', created_at = EXCLUDED.created_at "
                "WHERE k.created_at < %s RETURNING id",
                [organization.pk, principal, key, fingerprint, now, now - _retention()],
            )
        except OperationalError as exc:  # lock_timeout: the other request is still at work
            raise IdempotencyInProgress(
                _("A request with this Idempotency-Key is still being processed; retry in a moment."),
                field="Idempotency-Key",
            ) from exc
        claimed = cursor.fetchone() is not None
        if claimed:
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])
        if claimed:
            return None
        cursor.execute(
            f"SELECT fingerprint, response_status, response_body FROM {table} "
            "WHERE organization_id = %s AND principal = %s AND key = %s",
            [organization.pk, principal, key],
        )
        stored_fingerprint, status, body = cursor.fetchone()
    if stored_fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            _(
                "This Idempotency-Key was already used for a different request. Use a new key for a new request, "
                "and the same key only to retry the same request."
            ),
            field="Idempotency-Key",
        )
    if not status:  # never committed without its answer; defensive
        raise IdempotencyInProgress(
            _("A request with this Idempotency-Key is still being processed; retry in a moment."),
            field="Idempotency-Key",
        )
    return status, json.loads(body) if isinstance(body, str) else body


def idempotency_complete(*, organization: Organization, principal: str, key: str, status: int, body) -> None:
    """Store the answer of the request that claimed `key` (same transaction as its work)."""
    IdempotencyKey.objects.filter(organization=organization, principal=principal, key=key).update(
        response_status=status, response_body=body
    )


def _retention() -> timedelta:
    return timedelta(hours=settings.API_IDEMPOTENCY_KEY_HOURS)


def idempotency_prune(*, before=None, batch: int = 5000) -> int:
    """Forget keys older than the retention (all organizations: an operator task), in batches each committed on its
    own. A request retried later than that is a new request."""
    before = before or timezone.now() - _retention()
    deleted = 0
    while True:
        with transaction.atomic(), scopes_disabled():
            ids = list(
                IdempotencyKey.objects.filter(created_at__lt=before).order_by().values_list("id", flat=True)[:batch]
            )
            if ids:
                IdempotencyKey.objects.filter(id__in=ids).delete()
        deleted += len(ids)
        if len(ids) < batch:
            return deleted


# --- the customer ------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Customer:
    """Who writes, as the API request names them: an email address (normal form), a phone number (E.164) or an
    account on a platform; the first of identity, email, phone that is given decides who it is."""

    name: str = ""
    email: str = ""
    phone: str = ""
    platform: str = ""
    external_id: str = ""


def _author_id(connection: ChannelConnection, customer: Customer) -> str:
    """The customer's id on the connection's platform: what the ingest finds their identity by. On an API channel it
    says what named them ("email:…", "phone:…", "<platform>:…", or the bare id for an "api" identity); on another
    channel it is their real account there, so replies reach them."""
    platform = connection.platform
    if customer.platform and customer.external_id and customer.platform == platform:
        return customer.external_id
    if platform == API_PLATFORM:
        if customer.platform and customer.external_id:
            return f"{customer.platform}:{customer.external_id}"
        if customer.email:
            return f"email:{customer.email}"
        return f"phone:{customer.phone}"
    if platform == "email" and customer.email:
        return customer.email
    if platform == "whatsapp" and customer.phone:
        return customer.phone.lstrip("+")  # WhatsApp ids are the number's digits
    raise DomainError(
        _(
            "A conversation on %(channel)s needs the customer's %(platform)s account (customer.platform and "
            "external_id)."
        )
        % {"channel": connection.display_name, "platform": connection.get_platform_display()},
        field="customer",
    )


def _existing_contact(customer: Customer, platform: str) -> Contact | None:
    """The contact the customer already is: by their account on another platform, else by address, else by number
    (the oldest such contact: it carries the longer history)."""
    if customer.platform and customer.external_id and customer.platform != platform:
        identity = (
            ContactIdentity.objects.filter(platform=customer.platform, external_id=customer.external_id)
            .select_related("contact")
            .first()
        )
        if identity is not None:
            return _survivor(identity.contact)
    contacts = Contact.objects.filter(merged_into__isnull=True).defer("search_vector").order_by("pk")
    if customer.email:
        found = contacts.filter(emails__contains=[customer.email]).first()
        if found is not None:
            return found
    if customer.phone:
        return contacts.filter(phones__contains=[customer.phone]).first()
    return None


def _survivor(contact: Contact) -> Contact:
    seen = {contact.pk}
    while contact.merged_into_id and contact.merged_into_id not in seen:
        contact = Contact.objects.defer("search_vector").get(pk=contact.merged_into_id)
        seen.add(contact.pk)
    return contact


def _identity_insert(organization: Organization, contact_id: int, platform: str, external_id: str) -> bool:
    """Link the account to the contact unless it is linked already; waits for a concurrent request linking it."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {ContactIdentity._meta.db_table} (organization_id, contact_id, platform, external_id, "
            "handle, profile_url) VALUES (%s, %s, %s, %s, '', '') ON CONFLICT DO NOTHING RETURNING id",
            [organization.pk, contact_id, platform, external_id[:255]],
        )
        return cursor.fetchone() is not None


def customer_author_check(connection: ChannelConnection, customer: Customer) -> None:
    """Refuse now (DomainError) a customer the connection cannot take: what the worker would refuse later."""
    _author_id(connection, customer)


def customer_author(
    organization: Organization,
    connection: ChannelConnection,
    customer: Customer,
    *,
    known: set[str] | None = None,
    created: list[int] | None = None,
) -> str:
    """Make sure the customer's account on the connection's platform leads to their contact — an existing one found
    by identity, address or number, else a new one with what the request gave — and return its id (the ingest's
    author id). Race-safe on the identity's unique key: of two requests for a new customer, one contact stays."""
    platform = connection.platform
    author_id = _author_id(connection, customer)
    if (author_id in known) if known is not None else _identity_exists(platform, author_id):
        return author_id
    contact = _existing_contact(customer, platform)
    if contact is not None:
        _identity_insert(organization, contact.pk, platform, author_id)
        return author_id
    contact = _new_contact(organization, customer)
    contact.save()
    if not _identity_insert(organization, contact.pk, platform, author_id):
        # Another request linked the account first (the insert waited for it): its contact is the customer's.
        Contact.objects.filter(pk=contact.pk).delete()
        return author_id
    if customer.platform and customer.external_id and customer.platform != platform:
        _identity_insert(organization, contact.pk, customer.platform, customer.external_id)
    contact_id = contact.pk
    if created is not None:  # the caller queues the matching of all it created at once
        created.append(contact_id)
        return author_id
    # As for contacts the ingest creates: matched against the others, and announced (contact.created), after commit.
    transaction.on_commit(
        lambda: tasks_contacts.match_contacts.delay(
            organization_id=organization.pk, contact_ids=[contact_id], announce=True
        )
    )
    return author_id


# --- tickets and messages ----------------------------------------------------------------------------------------


def _kind(connection: ChannelConnection) -> str:
    if connection.platform == "email":
        return MessageKind.EMAIL
    if connection.platform == API_PLATFORM:
        return MessageKind.FORM
    return MessageKind.DIRECT


@dataclasses.dataclass(frozen=True)
class Intake:
    """What an intake request did: the ticket (new or continued) and the stored message."""

    ticket: Ticket
    message: Message
    ticket_created: bool


def _ingest(organization, connection, *, thread_key: str, author_id: str, name: str, email: str, text: str, subject):
    inbound = InboundMessage(
        platform_message_id=f"api:{uuid.uuid4().hex}",
        thread_key=thread_key,
        kind=_kind(connection),
        author_id=author_id,
        author_name=name,
        author_email=email,
        text=text,
        subject=subject,
        timestamp=timezone.now(),
    )
    message, _created = messages_ingest(organization=organization, connection=connection, inbounds=[inbound])[0]
    return message


# No savepoint of their own (savepoint=False): a failure fails the caller's whole transaction, and these run inside
# the API request's, where each savepoint was two more round trips per creation.
@transaction.atomic(savepoint=False)
def ticket_open(
    *,
    organization: Organization,
    actor,
    connection: ChannelConnection,
    customer: Customer,
    text: str,
    subject: str = "",
) -> Intake:
    """A new ticket with its first customer message on `connection`, for the customer found or created. The message
    goes through the same ingest as a webhook's, so the organization's automation runs on it."""
    author_id = customer_author(organization, connection, customer)
    message = _ingest(
        organization,
        connection,
        thread_key=f"api:{uuid.uuid4().hex}",  # a new conversation each time
        author_id=author_id,
        name=customer.name,
        email=customer.email,
        text=text,
        subject=subject,
    )
    logger.info("ticket %s opened through the API by %s", message.ticket_id, getattr(actor, "pk", None))
    return Intake(ticket=message.ticket, message=message, ticket_created=True)


@transaction.atomic(savepoint=False)
def ticket_message_add(*, organization: Organization, actor, ticket: Ticket, text: str) -> Intake:
    """A customer message on an existing ticket, written by its customer, through the same ingest as a webhook's: a
    solved ticket reopens within the organization's reopen window (else the conversation continues in a new ticket,
    as on any channel); a merged ticket's message goes to the ticket it was merged into."""
    seen = {ticket.pk}
    while ticket.merged_into_id and ticket.merged_into_id not in seen:
        ticket = Ticket.objects.select_related("connection").get(pk=ticket.merged_into_id)
        seen.add(ticket.pk)
    connection = ticket.connection
    author_id = (
        ContactIdentity.objects.filter(contact_id=ticket.contact_id, platform=connection.platform)
        .order_by("pk")
        .values_list("external_id", flat=True)
        .first()
    )
    if author_id is None:
        if connection.platform != API_PLATFORM:
            raise DomainError(_("This ticket's customer has no account on its channel to write from."), field="ticket")
        author_id = f"contact:{ticket.contact_id}"
        _identity_insert(organization, ticket.contact_id, API_PLATFORM, author_id)
    before = ticket.pk
    message = _ingest(
        organization,
        connection,
        thread_key=ticket.external_thread_key,
        author_id=author_id,
        name="",
        email="",
        text=text,
        subject="",
    )
    logger.info("message %s added through the API by %s", message.pk, getattr(actor, "pk", None))
    return Intake(ticket=message.ticket, message=message, ticket_created=message.ticket_id != before)


# --- asynchronous intake (`Prefer: respond-async`) ---------------------------------------------------------------


def _identity_exists(platform: str, author_id: str) -> bool:
    return ContactIdentity.objects.filter(platform=platform, external_id=author_id).exists()


def customers_resolve(*, organization: Organization, connection: ChannelConnection, customers: list[dict]) -> list[str]:
    """The worker's customer matching for a batch of stored API requests (registered with the API connector at
    startup): what `customer_author` decides for each request in turn, for the whole batch in a few statements — one
    look for the accounts already linked, one each for the contacts named by another platform's account, by address
    and by number, one insert of the new contacts and one of the new links — and one matching task for all the
    contacts created (as the ingest does for a batch). Should another worker link one of the new accounts meanwhile,
    the batch's matching is done again request by request (`customer_author`, race-safe on its own)."""
    wanted = [Customer(**customer) for customer in customers]
    platform = connection.platform
    authors = [_author_id(connection, customer) for customer in wanted]  # a refused request fails the batch
    known = set(
        ContactIdentity.objects.filter(platform=platform, external_id__in=set(authors)).values_list(
            "external_id", flat=True
        )
    )
    pending: dict[str, Customer] = {}
    for customer, author_id in zip(wanted, authors, strict=True):
        if author_id not in known:
            pending.setdefault(author_id, customer)  # linked by its first request; the others find it
    if not pending:
        return authors
    try:
        with transaction.atomic():  # a savepoint: undone whole when another worker linked an account first
            created = _customers_link(organization, platform, pending)
    except _LinkedMeanwhile:
        created = []
        for author_id, customer in pending.items():
            customer_author(organization, connection, customer, known=known, created=created)
            known.add(author_id)
    if created:
        transaction.on_commit(
            lambda: tasks_contacts.match_contacts.delay(
                organization_id=organization.pk, contact_ids=created, announce=True
            )
        )
    return authors


class _LinkedMeanwhile(Exception):  # noqa: N818 - not an error: the slower way is taken
    """Another worker linked one of the accounts this batch was creating a contact for."""


def _customers_link(organization: Organization, platform: str, pending: dict[str, Customer]) -> list[int]:
    """Link each account in `pending` (author id → the customer as the request named them) to its contact, found as
    `_existing_contact` finds it — by another platform's account, else by address, else by number, the oldest first,
    the contacts of the batch's earlier requests included — or created. Returns the ids of the contacts created."""
    accounts = {author_id: _other_account(customer, platform) for author_id, customer in pending.items()}
    by_account = _contacts_by_account({account for account in accounts.values() if account})
    by_email = _oldest_contacts(organization, "emails", {c.email for c in pending.values() if c.email})
    by_phone = _oldest_contacts(organization, "phones", {c.phone for c in pending.values() if c.phone})
    new: list[Contact] = []
    links: list[tuple[object, str, str]] = []  # (contact id, or the index of a new contact), platform, account id
    for author_id, customer in pending.items():
        account = accounts[author_id]
        target = by_account.get(account) if account else None
        if target is None and customer.email:
            target = by_email.get(customer.email)
        if target is None and customer.phone:
            target = by_phone.get(customer.phone)
        if target is None:
            target = ("new", len(new))
            new.append(_new_contact(organization, customer))
            # The batch's later requests find it as they would have found it in the database.
            if customer.email:
                by_email.setdefault(customer.email, target)
            if customer.phone:
                by_phone.setdefault(customer.phone, target)
            links.append((target, platform, author_id))
            if account:
                by_account.setdefault(account, target)
                links.append((target, customer.platform, customer.external_id))
            continue
        links.append((target, platform, author_id))
    copy_insert(new)

    def contact_id(target) -> int:
        return new[target[1]].pk if isinstance(target, tuple) else target

    with db_connection.cursor() as cursor:
        # ON CONFLICT: an account linked meanwhile by another worker keeps its link (this statement waits for that
        # transaction, then skips the row).
        cursor.execute(
            f"INSERT INTO {ContactIdentity._meta.db_table} (organization_id, contact_id, platform, external_id, "
            "handle, profile_url) SELECT %s, c, p, e, '', '' FROM unnest(%s::bigint[], %s::text[], %s::text[]) "
            "AS t(c, p, e) ON CONFLICT DO NOTHING RETURNING platform, external_id",
            [
                organization.pk,
                [contact_id(target) for target, _p, _e in links],
                [p for _t, p, _e in links],
                [e[:255] for _t, _p, e in links],
            ],
        )
        inserted = set(cursor.fetchall())
    if any(p == platform and isinstance(t, tuple) and (p, e[:255]) not in inserted for t, p, e in links):
        raise _LinkedMeanwhile  # a new contact lost its account: undo, and decide request by request
    return [contact.pk for contact in new]


def _other_account(customer: Customer, platform: str) -> tuple[str, str] | None:
    """The customer's account on another platform than the channel's, when the request named one."""
    if customer.platform and customer.external_id and customer.platform != platform:
        return (customer.platform, customer.external_id)
    return None


def _contacts_by_account(accounts: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """The contacts (their survivors) of these accounts on other platforms."""
    if not accounts:
        return {}
    platforms, ids = zip(*sorted(accounts), strict=True)
    found = {}
    identities = ContactIdentity.objects.select_related("contact").filter(
        platform__in=set(platforms), external_id__in=set(ids)
    )
    for identity in identities:
        if (identity.platform, identity.external_id) in accounts:
            found[(identity.platform, identity.external_id)] = _survivor(identity.contact).pk
    return found


def _oldest_contacts(organization: Organization, column: str, values: set[str]) -> dict[str, int]:
    """The oldest contact (not merged away) holding each address or number in `column` ("emails" or "phones")."""
    if not values:
        return {}
    with db_connection.cursor() as cursor:
        cursor.execute(
            f"SELECT v, min(c.id) FROM {Contact._meta.db_table} c, unnest(c.{column}) AS v "  # our names, not input
            f"WHERE c.organization_id = %s AND c.merged_into_id IS NULL AND c.{column} && %s::varchar[] "
            "AND v = ANY(%s::varchar[]) GROUP BY v",
            [organization.pk, sorted(values), sorted(values)],
        )
        return dict(cursor.fetchall())


def intake_event_key(*, principal: str, key: str | None) -> str:
    """The stored request's event key: derived from the caller and its Idempotency-Key (a retry meets the unique key
    of the connection's events), else fresh."""
    if key is None:
        return f"async:{uuid.uuid4().hex}"
    return "idem:" + hashlib.sha256(f"{principal}\n{key}".encode()).hexdigest()


@transaction.atomic(savepoint=False)
def ticket_open_later(
    *,
    organization: Organization,
    actor,
    connection: ChannelConnection,
    customer: Customer,
    text: str,
    subject: str = "",
    event_key: str,
) -> InboundEvent:
    """Accept a new ticket for later: the validated request stored as a raw event of `connection` in one statement,
    and the connection's ingest woken after commit, exactly as a webhook is. The worker then finds or creates the
    customer and ingests the message as `ticket_open` does (channels_integrations.providers.api.connector)."""
    payload = intake_payload(
        customer=dataclasses.asdict(customer),
        text=text,
        subject=subject,
        kind=_kind(connection),
        received_at=timezone.now(),
    )
    ids = events_store(connection=connection, items=[(event_key, payload)], source=API_EVENT_SOURCE)
    if ids:
        if connection.status in RECEIVING:
            transaction.on_commit(lambda: ingest_wake(connection))
        event = InboundEvent(pk=ids[0], connection=connection, event_key=event_key, status=InboundEventStatus.RECEIVED)
    else:  # stored already (a retry after its Idempotency-Key was forgotten): that one stands
        event = InboundEvent.objects.get(connection=connection, event_key=event_key)
    logger.info("ticket accepted through the API as event %s by %s", event.pk, getattr(actor, "pk", None))
    return event


# --- the thin accept path (tickets/api/intake_asgi.py) -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class AcceptGate:
    """What a request accepted by the full stack established, for the thin path to assume — and to check again, in
    the statement that stores the request, on every request: the token (by id) still valid (not revoked, not expired
    by its own or the organization's lifetime, its owner active and, where the organization requires two-factor
    authentication, with a confirmed authenticator), still of the organization of `slug`, its owner still a member
    whose role may work tickets and who sees `connection_id`, that channel still taking tickets (named: active or in
    error; the default, None: the organization's first active API channel), and the phone region the number was
    normalised with still the organization's."""

    token_id: int
    user_id: int
    organization_id: int
    slug: str


_GATE_SQL = """
    SELECT 1 FROM {token} t
    JOIN {user} u ON u.id = t.user_id
    JOIN {organization} o ON o.id = t.organization_id
    JOIN {membership} m ON m.organization_id = o.id AND m.user_id = t.user_id
    JOIN {role} r ON r.id = m.role_id
    JOIN {connection} c ON c.id = %(grant_connection)s::bigint AND c.organization_id = o.id
    WHERE t.id = %(token)s AND o.id = %(organization)s AND o.slug = %(slug)s
      AND t.revoked_at IS NULL AND u.is_active
      AND (t.expires_at IS NULL OR t.expires_at > now())
      AND (COALESCE(o.api_token_max_days, 0) = 0 OR t.created_at + make_interval(days => o.api_token_max_days) > now())
      AND (NOT o.require_two_factor OR EXISTS (SELECT 1 FROM {totp} d WHERE d.user_id = t.user_id AND d.confirmed))
      AND %(work)s = ANY(r.capabilities)
      AND (%(view_all)s = ANY(r.capabilities) OR {granted})
      AND {connection_condition}
      AND (%(region)s::text IS NULL OR %(region)s = COALESCE(
          (SELECT s.phone_region FROM {contact_settings} s WHERE s.organization_id = o.id), %(default_region)s))
"""
# The channel named in the request: it takes tickets while active or in error (intake_connection).
_NAMED_CONNECTION = "c.status IN (%(active)s, %(error)s)"
# No channel named: the first active API channel. Its visibility to the caller is checked above; any active API
# channel before it (even one the caller cannot see, which the full path would skip) sends the request to the full
# path, which decides.
_DEFAULT_CONNECTION = (
    "c.platform = %(api)s AND c.status = %(active)s AND NOT EXISTS (SELECT 1 FROM {connection} c2 "
    "WHERE c2.organization_id = o.id AND c2.platform = %(api)s AND c2.status = %(active)s AND c2.id < c.id)"
)


@functools.cache
def _accept_sql(*, default_connection: bool, keyed: bool) -> str:
    tables = {
        "token": ApiToken._meta.db_table,
        "user": User._meta.db_table,
        "organization": Organization._meta.db_table,
        "membership": Membership._meta.db_table,
        "role": Role._meta.db_table,
        "connection": ChannelConnection._meta.db_table,
        "totp": TOTPDevice._meta.db_table,
        "contact_settings": ContactSettings._meta.db_table,
    }
    condition = (_DEFAULT_CONNECTION if default_connection else _NAMED_CONNECTION).format(**tables)
    gate = _GATE_SQL.format(**tables, granted=granted_sql("t.user_id"), connection_condition=condition)
    events, keys = InboundEvent._meta.db_table, IdempotencyKey._meta.db_table
    # The event's id is drawn first, so that the key's stored answer (the 202's body) can carry it.
    sql = (
        f"WITH gate AS MATERIALIZED ({gate}), "
        f"event AS MATERIALIZED (SELECT nextval(pg_get_serial_sequence('{events}', 'id')) AS id FROM gate)"
    )
    if keyed:
        # idempotency_claim's insert: a live key conflicts (nothing claimed: the full path replays, or refuses); an
        # expired one is taken over.
        sql += (
            f", claim AS (INSERT INTO {keys} AS k (organization_id, principal, key, fingerprint, response_status, "
            "response_body, created_at) SELECT %(organization)s, %(principal)s, %(key)s, %(fingerprint)s, 202, "
            "jsonb_build_object('id', event.id, 'status', 'received', 'ticket', NULL, 'message', NULL), now() "
            "FROM event ON CONFLICT (organization_id, principal, key) DO UPDATE SET "
            "fingerprint = EXCLUDED.fingerprint, response_status = EXCLUDED.response_status, "
            "response_body = EXCLUDED.response_body, created_at = EXCLUDED.created_at "
            "WHERE k.created_at < %(expired)s RETURNING k.id)"
        )
    sql += (
        f", stored AS (INSERT INTO {events} (id, organization_id, connection_id, source, event_key, payload, status, "
        "attempts, last_error, received_at) SELECT event.id, %(organization)s, %(grant_connection)s::bigint, "
        "%(source)s, %(event_key)s, %(payload)s, %(received)s, 0, '', now() "
        f"FROM event{', claim' if keyed else ''} ON CONFLICT (connection_id, event_key) DO NOTHING RETURNING id) "
        f"SELECT (SELECT id FROM event), {'(SELECT count(*) FROM claim)' if keyed else '1'}, (SELECT id FROM stored)"
    )
    return sql


# The thin path does not wait for a concurrent request holding the same Idempotency-Key: it hands the request to
# the full path, which waits (API_IDEMPOTENCY_WAIT_SECONDS) and then replays its answer or refuses.
_ACCEPT_LOCK_TIMEOUT_MS = 100


def intake_accept_checked(
    *,
    gate: AcceptGate,
    connection: ChannelConnection,
    default_connection: bool,
    customer: Customer,
    text: str,
    subject: str,
    phone_region: str | None,
    principal: str,
    key: str | None,
    fingerprint: str,
) -> tuple[int | None, bool]:
    """The thin path's `ticket_open_later` with its checks and Idempotency-Key claim: in one statement, the gate checked
    again (AcceptGate), the key claimed with its answer (the 202's body) and the request stored as a raw event of
    `connection`; its ingest woken after commit. Returns (the event's id, True), or (None, whether the gate let the
    caller through) when anything differs from the plain case (a check fails, the key is known or held, the event was
    stored already): then nothing is stored and the full path is to answer (its checks give the right refusal or
    replay)."""
    payload = intake_payload(
        customer=dataclasses.asdict(customer),
        text=text,
        subject=subject,
        kind=_kind(connection),
        received_at=timezone.now(),
    )
    params = {
        **granted_params(connection.pk),
        "token": gate.token_id,
        "organization": gate.organization_id,
        "slug": gate.slug,
        "work": Capability.TICKETS_WORK.value,
        "view_all": Capability.TICKETS_VIEW_ALL.value,
        "active": ConnectionStatus.ACTIVE.value,
        "error": ConnectionStatus.ERROR.value,
        "api": API_PLATFORM,
        "region": phone_region,
        "default_region": ContactSettings._meta.get_field("phone_region").default,
        "principal": principal,
        "key": key,
        "fingerprint": fingerprint,
        "expired": timezone.now() - _retention(),
        "source": API_EVENT_SOURCE,
        "event_key": intake_event_key(principal=principal, key=key),
        "payload": payload,
        "received": InboundEventStatus.RECEIVED.value,
    }
    sql = _accept_sql(default_connection=default_connection, keyed=key is not None)
    with transaction.atomic():
        with db_connection.cursor() as cursor:
            try:
                cursor.execute(f"SET LOCAL lock_timeout = {_ACCEPT_LOCK_TIMEOUT_MS}; {sql}", params)
            except OperationalError as exc:
                if not isinstance(exc.__cause__, psycopg_errors.LockNotAvailable):
                    raise
                transaction.set_rollback(True)  # the key or the event is held by a request still at work
                return None, True
            cursor.nextset()
            event_id, claimed, stored = cursor.fetchone()
        if event_id is None:
            return None, False  # refused by the gate: nothing was written
        if not claimed:
            return None, True  # the key is known: nothing was written
        if stored is None:
            transaction.set_rollback(True)  # an event of this key exists already (its key expired): the full path
            return None, True
        transaction.on_commit(lambda: ingest_wake(connection))
    logger.info("ticket accepted through the API as event %s by user %s", stored, gate.user_id)
    return stored, True


INTAKE_STATUS = {
    InboundEventStatus.RECEIVED: "received",
    InboundEventStatus.RETRYING: "received",  # an attempt failed; it is tried again
    InboundEventStatus.PROCESSED: "processed",
    InboundEventStatus.DEAD: "failed",
}


def intake_status(event: InboundEvent) -> dict:
    """What became of an accepted request: its status and, once processed, the ticket and message (one query)."""
    body = {"id": event.pk, "status": INTAKE_STATUS.get(event.status, "received"), "ticket": None, "message": None}
    if event.status == InboundEventStatus.PROCESSED:
        stored = (
            Message.objects.filter(
                connection_id=event.connection_id, platform_message_id=intake_message_id(event.event_key)
            )
            .values_list("pk", "ticket_id")
            .first()
        )
        if stored is not None:
            body["message"], body["ticket"] = stored
    return body


def _new_contact(organization: Organization, customer) -> Contact:
    """The contact a new customer becomes (one request, or a batch's new ones)."""
    return Contact(
        organization=organization,
        name=customer.name[:200],
        email=customer.email,
        emails=[customer.email] if customer.email else [],
        phones=[customer.phone] if customer.phone else [],
        search_vector=index_document(customer.name, customer.email, customer.phone, customer.external_id),
    )
