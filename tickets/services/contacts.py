"""Contacts: found behind platform accounts by their identities, created when new (race-safe), named by the
platform when messages carry only an id; created and edited by agents and the API (addresses and numbers in normal
form, custom attributes validated against the organization's definitions); the organization's contact settings."""

import dataclasses
import datetime as dt
import functools
import logging
import re
import unicodedata
import zoneinfo
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import JSONField
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import audit_record
from accounts.models import AuditAction, Organization
from channels_integrations.handlers import ProfilesLookup
from channels_integrations.registry import platform_choices
from core import after_batch
from core import phone as phone_numbers
from core.db import copy_insert
from core.errors import Conflict, DomainError
from tickets import tasks_contacts  # a module: it imports the services that import this one
from tickets.models import (
    AttributeType,
    Contact,
    ContactAttributeDefinition,
    ContactIdentity,
    ContactSettings,
    Ticket,
)
from tickets.search import append_expression, document_expression, index_document
from tickets.services import contact_webhooks

logger = logging.getLogger("tsunagu.tickets")

# Hiragana ぁ (U+3041) to ゖ (U+3096) become katakana ァ to ヶ 96 code points later; ゝゞ become ヽヾ the same way.
_HIRAGANA = re.compile("[\u3041-\u3096\u309d\u309e]")
# What a reading may hold once normalised: full-width katakana, the long-vowel mark, middle dot and spaces.
_READING = re.compile("[\u30a1-\u30fa\u30fc-\u30fe\u30fb ]*")


def reading_normalise(value: str) -> str:
    """A contact's reading (フリガナ) as full-width katakana: hiragana (たなか) and half-width katakana (ﾀﾅｶ) are
    accepted, spaces collapsed. Anything else (kanji, Latin letters) is refused: a reading is how the name sounds."""
    text = unicodedata.normalize("NFKC", value or "")  # ﾀﾅｶ → タナカ, the full-width space → a space
    text = _HIRAGANA.sub(lambda match: chr(ord(match.group()) + 0x60), text)
    text = " ".join(text.split())
    if not _READING.fullmatch(text):
        raise DomainError(_("Enter the reading in katakana or hiragana."), field="reading")
    return text


def reading_hiragana(katakana: str) -> str:
    """A reading in hiragana (タナカ → たなか), indexed too so that either spelling finds the name."""
    return "".join(chr(ord(c) - 0x60) if "\u30a1" <= c <= "\u30f6" else c for c in katakana)


def contact_document(contact: Contact) -> str:
    """What finds a contact: name, reading (in katakana and hiragana, so either spelling finds it), handles, email
    addresses, phone numbers (as stored and as people write them in the country) and company."""
    # Every identity's handle, not a prefetched subset (a member's view holds only their channels' platforms).
    handles = list(ContactIdentity.objects.filter(contact_id=contact.pk).values_list("handle", flat=True))
    emails = contact.emails or ([contact.email] if contact.email else [])
    phones = [text for number in contact.phones for text in (number, phone_numbers.display(number))]
    return index_document(
        contact.name, contact.reading, reading_hiragana(contact.reading), *handles, *emails, *phones, contact.company
    )


# --- normal forms ------------------------------------------------------------------------------------------------

_email_validator = EmailValidator()


def email_normalise(value: str) -> str:
    """An email address in the form matching compares: full-width characters made plain (ｙａｍａｄａ＠… is typed on
    Japanese keyboards), spaces trimmed, lower-cased (mailboxes are case-insensitive in practice). Refuses what is not
    an address."""
    text = unicodedata.normalize("NFKC", value or "").strip().lower()
    try:
        _email_validator(text)
    except ValidationError:
        raise DomainError(_("“%(value)s” is not an email address.") % {"value": value}, field="emails") from None
    return text


def phone_normalise(value: str, *, region: str = phone_numbers.DEFAULT_REGION) -> str:
    """A phone number in E.164 (+819012345678): 03-1234-5678, 090-1234-5678, 0120-123-456, full-width digits and
    +81 numbers alike; numbers without a country code belong to `region` (the organization's phone region). Refuses
    what is not a valid number."""
    if not phone_numbers.is_valid(value, region=region):
        raise DomainError(_("“%(value)s” is not a valid phone number.") % {"value": value}, field="phones")
    return phone_numbers.e164(value, region=region)


def _unique(values) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def emails_normalise(values) -> list[str]:
    return _unique(email_normalise(v) for v in values if (v or "").strip())


def phones_normalise(values, *, region: str) -> list[str]:
    return _unique(phone_normalise(v, region=region) for v in values if (v or "").strip())


# --- settings ----------------------------------------------------------------------------------------------------


def contact_settings(organization: Organization) -> ContactSettings:
    """The organization's contact settings; the defaults (unsaved) until someone changes them."""
    found = ContactSettings.objects.filter(organization=organization).first()
    return found if found is not None else ContactSettings(organization=organization)


@transaction.atomic
def contact_settings_update(
    *,
    organization: Organization,
    actor,
    auto_merge_exact: bool | None = None,
    merge_undo_days: int | None = None,
    phone_region: str | None = None,
    request=None,
) -> ContactSettings:
    """Change the contact settings (automatic merge of exact matches, how long a merge can be undone, the country of
    phone numbers written without a country code)."""
    row, _created = ContactSettings.objects.select_for_update().get_or_create(organization=organization)
    changes = {}
    if merge_undo_days is not None and not 1 <= merge_undo_days <= 365:
        raise DomainError(_("A merge can be undone for 1 to 365 days."), field="merge_undo_days")
    if phone_region is not None:
        phone_region = phone_region.strip().upper()
        if phone_region not in phone_numbers.phonenumbers.SUPPORTED_REGIONS:
            raise DomainError(_("Enter a two-letter country code, such as JP."), field="phone_region")
    for name, value in (
        ("auto_merge_exact", auto_merge_exact),
        ("merge_undo_days", merge_undo_days),
        ("phone_region", phone_region),
    ):
        if value is not None and getattr(row, name) != value:
            changes[name] = [getattr(row, name), value]
            setattr(row, name, value)
    if changes:
        row.save()
        audit_record(
            organization=organization,
            actor=actor,
            action=AuditAction.CONTACT_SETTINGS_CHANGED,
            obj=row,
            changes=changes,
            request=request,
        )
    return row


# --- custom attributes ---------------------------------------------------------------------------------------------


class ContactAttributeError(DomainError):
    """Custom attribute values that do not fit their definitions: `errors` maps each key to its message."""

    def __init__(self, errors: dict[str, str]):
        key, message = next(iter(errors.items()))
        super().__init__(message, field=f"attributes.{key}")
        self.errors = errors


def _attribute_value(definition: ContactAttributeDefinition, value):
    """`value` as stored for `definition` (numbers as numbers, dates as ISO dates, choices as one of the choices);
    ValueError with a message for the person who typed it."""
    if definition.type == AttributeType.NUMBER:
        if isinstance(value, bool):
            raise ValueError(_("Enter a number."))
        try:
            number = Decimal(unicodedata.normalize("NFKC", str(value)).strip().replace(",", ""))
        except InvalidOperation:
            raise ValueError(_("Enter a number.")) from None
        if not number.is_finite():
            raise ValueError(_("Enter a number."))
        return int(number) if number == number.to_integral_value() else float(number)
    if definition.type == AttributeType.DATE:
        text = unicodedata.normalize("NFKC", str(value)).strip().replace("/", "-")
        try:
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            raise ValueError(_("Enter a date as YYYY-MM-DD.")) from None
    text = unicodedata.normalize("NFKC", str(value)).strip() if definition.type == AttributeType.CHOICE else str(value)
    if definition.type == AttributeType.CHOICE:
        if text not in definition.choices:
            raise ValueError(_("Choose one of: %(choices)s.") % {"choices": ", ".join(definition.choices)})
        return text
    if len(text) > 1000:
        raise ValueError(_("Enter at most 1,000 characters."))
    return text.strip()


def contact_attributes_clean(*, organization: Organization, values: dict, current: dict | None = None) -> dict:
    """The contact's attributes once `values` are applied to `current`: each value checked against the
    organization's definition of its key (an empty value removes it); required attributes must end up set.
    Raises ContactAttributeError listing every problem."""
    definitions = {d.key: d for d in ContactAttributeDefinition.objects.filter(organization=organization)}
    result = dict(current or {})
    errors: dict[str, str] = {}
    if not isinstance(values, dict):
        raise DomainError(_("Attributes must be an object of key and value."), field="attributes")
    for key, value in values.items():
        definition = definitions.get(key)
        if definition is None:
            errors[str(key)] = _("There is no custom field “%(key)s”.") % {"key": key}
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            result.pop(key, None)
            continue
        try:
            result[key] = _attribute_value(definition, value)
        except ValueError as exc:
            errors[key] = f"{definition.label}: {exc}"
    for key, definition in definitions.items():
        if definition.required and result.get(key) in (None, "") and key not in errors:
            errors[key] = _("%(label)s is required.") % {"label": definition.label}
    if errors:
        raise ContactAttributeError(errors)
    return result


_KEY = re.compile(r"[a-z][a-z0-9_]{0,59}")


def _definition_fields(type: str, choices: list[str] | None) -> list[str]:
    if type not in AttributeType.values:
        raise DomainError(_("Choose text, number, date or choice."), field="type")
    choices = _unique(unicodedata.normalize("NFKC", c).strip()[:120] for c in (choices or []))
    if type == AttributeType.CHOICE and not choices:
        raise DomainError(_("Give at least one choice."), field="choices")
    return choices if type == AttributeType.CHOICE else []


@transaction.atomic
def contact_attribute_define(
    *,
    organization: Organization,
    actor,
    key: str,
    label: str,
    type: str = AttributeType.TEXT,
    choices: list[str] | None = None,
    required: bool = False,
    position: int = 0,
    request=None,
) -> ContactAttributeDefinition:
    """Add a custom contact field. Its key (lower-case letters, digits, _) names it in the API, CSV files and rules."""
    key = (key or "").strip().lower()
    if not _KEY.fullmatch(key):
        raise DomainError(_("Use lower-case letters, digits and _ for the key, starting with a letter."), field="key")
    if not (label or "").strip():
        raise DomainError(_("Give the field a label."), field="label")
    if ContactAttributeDefinition.objects.filter(organization=organization, key=key).exists():
        raise Conflict(_("A custom field with this key exists already."), field="key")
    definition = ContactAttributeDefinition.objects.create(
        organization=organization,
        key=key,
        label=label.strip()[:120],
        type=type,
        choices=_definition_fields(type, choices),
        required=bool(required),
        position=position,
    )
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.CONTACT_ATTRIBUTES_CHANGED,
        obj=definition,
        changes={"created": key},
        request=request,
    )
    return definition


@transaction.atomic
def contact_attribute_update(
    *,
    organization: Organization,
    actor,
    definition: ContactAttributeDefinition,
    label: str | None = None,
    choices: list[str] | None = None,
    required: bool | None = None,
    position: int | None = None,
    request=None,
) -> ContactAttributeDefinition:
    """Change a custom field's label, choices, whether it is required, or its place. Its key and type stay (stored
    values would stop fitting); existing values are not re-checked until the contact is next edited."""
    if label is not None:
        if not label.strip():
            raise DomainError(_("Give the field a label."), field="label")
        definition.label = label.strip()[:120]
    if choices is not None:
        definition.choices = _definition_fields(definition.type, choices)
    if required is not None:
        definition.required = bool(required)
    if position is not None:
        definition.position = position
    definition.save()
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.CONTACT_ATTRIBUTES_CHANGED,
        obj=definition,
        changes={"updated": definition.key},
        request=request,
    )
    return definition


@transaction.atomic
def contact_attribute_delete(
    *, organization: Organization, actor, definition: ContactAttributeDefinition, request=None
) -> None:
    """Remove a custom field and its values from every contact."""
    Contact.objects.filter(attributes__has_key=definition.key).update(
        attributes=RawSQL("attributes - %s", [definition.key], output_field=JSONField())
    )
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.CONTACT_ATTRIBUTES_CHANGED,
        obj=definition,
        changes={"deleted": definition.key},
        request=request,
    )
    definition.delete()


# --- create and edit ---------------------------------------------------------------------------------------------

# The fields agents and the API edit, as contact_create and contact_update take them.
EDITABLE = (
    "name",
    "reading",
    "avatar_url",
    "emails",
    "phones",
    "company",
    "language",
    "timezone",
    "notes",
    "vip",
    "tags",
    "attributes",
    "consent_marketing",
    "consent_survey",
)
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())  # read from the tz database once per process


def _clean_fields(organization: Organization, contact: Contact, fields: dict) -> dict:
    """The editable fields in `fields` in their stored form (raises DomainError on the first bad one)."""
    cleaned = {}
    for name, value in fields.items():
        if value is None:
            continue
        if name not in EDITABLE:
            raise TypeError(f"contact field {name} is not editable")
        if name == "name":
            value = " ".join(str(value).split())[:200]
        elif name == "reading":
            value = reading_normalise(value)[:200]
        elif name == "emails":
            value = emails_normalise(value)
        elif name == "phones":
            value = phones_normalise(value, region=contact_settings(organization).phone_region)
        elif name == "avatar_url":
            value = str(value).strip()
            if value:
                try:
                    URLValidator(schemes=["https", "http"])(value)
                except ValidationError:
                    raise DomainError(_("Enter a web address."), field="avatar_url") from None
        elif name == "language":
            value = str(value).strip()
            if value and not _LANGUAGE.fullmatch(value):
                raise DomainError(_("Enter a language code such as ja or en."), field="language")
        elif name == "timezone":
            value = str(value).strip()
            if value and value not in _time_zones():
                raise DomainError(_("Enter a time zone such as Asia/Tokyo."), field="timezone")
        elif name == "tags":
            value = _unique(" ".join(str(tag).split())[:60] for tag in value)
        elif name == "attributes":
            value = contact_attributes_clean(organization=organization, values=value, current=contact.attributes)
        elif name in ("vip", "consent_marketing", "consent_survey"):
            value = bool(value)
        elif name in ("company", "notes"):
            value = str(value).strip()[: 200 if name == "company" else 10000]
        cleaned[name] = value
    return cleaned


def _apply(contact: Contact, cleaned: dict) -> list[str]:
    """Set the cleaned fields on `contact`; the names of those that changed."""
    changed = []
    for name, value in cleaned.items():
        if getattr(contact, name) != value:
            setattr(contact, name, value)
            changed.append(name)
    if "emails" in changed:
        contact.email = contact.emails[0] if contact.emails else ""
        changed.append("email")
    if {"consent_marketing", "consent_survey"} & set(changed):
        contact.consent_updated_at = timezone.now()
        changed.append("consent_updated_at")
    return changed


@transaction.atomic
def contact_create(*, organization: Organization, actor, **fields) -> Contact:
    """A contact typed in by an agent or sent through the API (no platform account yet: identities come with
    messages, or `contact_identity_add`). Fields as in EDITABLE; custom attributes are validated, required ones must
    be given. After commit: the contact.created webhook, and matching against the other contacts."""
    contact = Contact(organization=organization)
    _apply(contact, _clean_fields(organization, contact, fields))
    if "attributes" not in fields:
        contact.attributes = contact_attributes_clean(organization=organization, values={}, current={})
    contact.search_vector = None
    contact.save()
    Contact.objects.filter(pk=contact.pk).update(search_vector=document_expression(contact_document(contact)))
    contact_webhooks.contact_event(organization=organization, event="contact.created", contact=contact)
    _match_after_commit(organization, [contact.pk])
    logger.info("contact %s created by %s", contact.pk, getattr(actor, "pk", None))
    return contact


@transaction.atomic
def contact_update(*, organization: Organization, contact: Contact, actor=None, **fields) -> Contact:
    """Edit a contact (fields as in EDITABLE; None leaves a field as it is). The contact's search document follows,
    and its tickets' documents (which hold the customer's name, for the inbox search) gain the new name words. After
    commit: the contact.updated webhook with the changed fields, and matching when an address or number changed."""
    given, contact = contact, Contact.objects.select_for_update().get(pk=contact.pk)
    before = (contact.name, contact.reading)
    changed = _apply(contact, _clean_fields(organization, contact, fields))
    for name in changed:  # the caller's instance shows the change too (a view renders it)
        setattr(given, name, getattr(contact, name))
    if not changed:
        return contact
    contact.save(update_fields=[*changed, "updated_at"])
    Contact.objects.filter(pk=contact.pk).update(search_vector=document_expression(contact_document(contact)))
    added = [text for text, old in zip((contact.name, contact.reading), before, strict=True) if text and text != old]
    if contact.reading in added:
        added.append(reading_hiragana(contact.reading))
    if added:
        Ticket.objects.filter(contact_id=contact.pk).update(search_vector=append_expression("search_vector", *added))
    contact_webhooks.contact_event(
        organization=organization, event="contact.updated", contact=contact, changed=sorted(changed)
    )
    if {"emails", "phones", "name", "reading", "company"} & set(changed):
        _match_after_commit(organization, [contact.pk])
    return contact


@transaction.atomic
def contacts_tag(
    *, organization: Organization, actor, contacts: list[Contact], add: list[str] = (), remove: list[str] = ()
) -> int:
    """Add and remove tags on many contacts at once (bulk tag); returns how many contacts changed."""
    add = _unique(" ".join(str(tag).split())[:60] for tag in add)
    remove = set(remove)
    count = 0
    for contact in Contact.objects.select_for_update().filter(pk__in=[c.pk for c in contacts]).order_by("pk"):
        tags = _unique([*(t for t in contact.tags if t not in remove), *add])
        if tags != contact.tags:
            contact.tags = tags
            contact.save(update_fields=["tags", "updated_at"])
            contact_webhooks.contact_event(
                organization=organization, event="contact.updated", contact=contact, changed=["tags"]
            )
            count += 1
    return count


@transaction.atomic
def contact_identity_add(
    *,
    organization: Organization,
    actor,
    contact: Contact,
    platform: str,
    external_id: str,
    handle: str = "",
    profile_url: str = "",
) -> ContactIdentity:
    """Link a platform account to the contact. An account belongs to one contact only (unique per organization,
    platform and id): one linked to another contact is refused — merge the two contacts instead."""
    if platform not in {value for value, _label in platform_choices()}:
        raise DomainError(_("Unknown platform."), field="platform")
    external_id = (external_id or "").strip()
    if not external_id:
        raise DomainError(_("Give the account's id on the platform."), field="external_id")
    if platform == "email":
        external_id = email_normalise(external_id)
    existing = ContactIdentity.objects.filter(platform=platform, external_id=external_id).first()
    if existing is not None:
        if existing.contact_id == contact.pk:
            return existing
        raise Conflict(
            _("This account belongs to another contact: merge the two contacts instead."), field="external_id"
        )
    identity = ContactIdentity.objects.create(
        organization=organization,
        contact=contact,
        platform=platform,
        external_id=external_id[:255],
        handle=(handle or "").strip()[:255],
        profile_url=(profile_url or "").strip()[:1000],
    )
    Contact.objects.filter(pk=contact.pk).update(
        search_vector=document_expression(contact_document(contact)), updated_at=timezone.now()
    )
    contact_webhooks.contact_event(
        organization=organization, event="contact.updated", contact=contact, changed=["identities"]
    )
    return identity


@transaction.atomic
def contact_identity_remove(*, organization: Organization, actor, identity: ContactIdentity) -> None:
    """Unlink a platform account from its contact (its next message makes a new contact, which matching may then
    suggest merging back). The account's messages stay with the contact."""
    contact = identity.contact
    identity.delete()
    Contact.objects.filter(pk=contact.pk).update(
        search_vector=document_expression(contact_document(contact)), updated_at=timezone.now()
    )
    contact_webhooks.contact_event(
        organization=organization, event="contact.updated", contact=contact, changed=["identities"]
    )


def _match_after_commit(organization: Organization, contact_ids: list[int], *, announce: bool = False) -> None:
    """Matching runs in a task after the commit (the caller's transaction, the ingest's hot path, does not wait).
    `announce`: the task also sends the contact.created webhooks (contacts the ingest created)."""
    if not contact_ids:
        return
    ids = list(contact_ids)
    transaction.on_commit(
        lambda: tasks_contacts.match_contacts.delay(organization_id=organization.pk, contact_ids=ids, announce=announce)
    )


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
    seen: set[str] | None = None,
    seen_at: dt.datetime | None = None,
) -> dict[str, Contact]:
    """The contacts behind platform accounts (external id → contact), the missing ones created: one query to find
    them, one insert each for the new contacts and identities. Race-safe on the identity's unique key: when another
    delivery created an identity first, its contact is used and ours is removed. `lookup_profile(external_ids)` asks
    the platform for the names nobody told us yet (one call for all of them). The authors in `seen` wrote at
    `seen_at` (their contact's last seen time moves forward).

    Lock order: the known contacts are locked (id order, FOR KEY SHARE) before the caller locks tickets, as a merge
    locks them; a merge that committed meanwhile is followed to the surviving contact. New contacts are matched
    against the others in a task after the commit."""
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
    if identities:
        survivors = _contacts_touch(
            organization,
            {identity.contact_id for identity in identities.values()},
            {identities[external_id].contact_id for external_id in (seen or ()) if external_id in identities},
            seen_at,
        )
        for external_id, identity in identities.items():
            contact = survivors.get(identity.contact_id) or identity.contact
            name = wanted[external_id].name
            if name and not contact.name:
                Contact.objects.filter(pk=contact.pk).update(name=name)
                contact.name = name
            found[external_id] = contact
    new = [author for external_id, author in wanted.items() if external_id not in found]
    if new:
        created, lost = _contacts_create(organization, platform, new, seen or set(), seen_at)
        found.update(created)
        found.update(lost)
        _match_after_commit(
            organization, [created[a.external_id].pk for a in new if a.external_id in created], announce=True
        )
    return found


# How precise a contact's last seen time is (the contact list and its export show it).
LAST_SEEN_STEP = dt.timedelta(minutes=1)


def _contacts_touch(organization: Organization, ids: set[int], seen_ids: set[int], seen_at) -> dict[int, Contact]:
    """Lock the contacts against a merge or an erasure (id order, as merges do) and move the last seen time of
    `seen_ids` forward (at most once a LAST_SEEN_STEP). A contact merged away since its identity was read (the merge
    committed while we waited for its lock) maps to its survivor: {merged contact id: survivor}.

    FOR KEY SHARE, the lock a foreign key takes: it conflicts with the FOR UPDATE of a merge, an erasure or an edit,
    but not with another ingest. Ingests that locked the same customer FOR UPDATE waited for each other's whole
    batch: at 200 msg/s that wait was most of the worker's time. For the same reason the last seen time is written
    after the batch, in its own short statement (`after_batch`); should the worker die in between, the time moves
    forward with the customer's next message."""
    table = Contact._meta.db_table
    with db_connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, merged_into_id, last_seen_at FROM {table} WHERE id = ANY(%s) AND organization_id = %s "
            "ORDER BY id FOR KEY SHARE",
            [sorted(ids), organization.pk],
        )
        rows = cursor.fetchall()
    merged = {contact_id: into for contact_id, into, _seen in rows if into}
    if seen_at:  # a customer writing on moves the time at most once a LAST_SEEN_STEP: one write less per message
        stale = {contact_id for contact_id, _into, seen in rows if seen is None or seen < seen_at - LAST_SEEN_STEP}
        seen_ids = {contact_id for contact_id in seen_ids if contact_id in stale or contact_id in merged}
    survivors = {}
    for contact_id, into in merged.items():
        seen_chain = {contact_id}
        contact = Contact.objects.get(pk=into)
        while contact.merged_into_id and contact.merged_into_id not in seen_chain:  # merged again since
            seen_chain.add(contact.pk)
            contact = Contact.objects.get(pk=contact.merged_into_id)
        survivors[contact_id] = contact
    if seen_at and seen_ids:
        seen = sorted({survivors[i].pk if i in survivors else i for i in seen_ids})
        if not after_batch.defer(functools.partial(_contacts_seen, organization.pk, seen, seen_at)):
            _contacts_seen(organization.pk, seen, seen_at)
    return survivors


def _contacts_seen(organization_id: int, ids: list[int], seen_at) -> None:
    """Move the contacts' last seen time forward (GREATEST: never back, as batches may commit out of order)."""
    table = Contact._meta.db_table
    with db_connection.cursor() as cursor:
        cursor.execute(
            # Rows locked in id order, so that two batches' statements over the same customers cannot deadlock.
            f"UPDATE {table} SET last_seen_at = GREATEST(last_seen_at, %s) WHERE id IN (SELECT id FROM {table} "
            "WHERE id = ANY(%s) AND organization_id = %s ORDER BY id FOR NO KEY UPDATE)",
            [seen_at, ids, organization_id],
        )


def _contact_points(platform: str, author: Author) -> tuple[str, list[str], list[str]]:
    """(email, emails, phones) a new contact gets from its first message: the sender's address, and the number of a
    phone or WhatsApp account (its id is the number)."""
    email = ""
    if author.email:
        try:
            email = email_normalise(author.email)
        except DomainError:
            email = ""
    phones = []
    if platform in ("phone", "whatsapp"):
        number = author.external_id if author.external_id.startswith("+") else f"+{author.external_id}"
        if phone_numbers.is_valid(number):
            phones = [phone_numbers.e164(number)]
    return email, [email] if email else [], phones


def _contacts_create(
    organization: Organization, platform: str, authors: list[Author], seen: set[str], seen_at
) -> tuple[dict[str, Contact], dict[str, Contact]]:
    """(contacts created, contacts another delivery created first) by external id."""
    contacts = []
    for author in authors:
        email, emails, phones = _contact_points(platform, author)
        contacts.append(
            Contact(
                organization=organization,
                name=author.name or author.handle,
                avatar_url=author.avatar_url[:1000],
                email=email,
                emails=emails,
                phones=phones,
                last_seen_at=seen_at if author.external_id in seen else None,
                # PostgreSQL casts the literal
                search_vector=index_document(author.name, author.handle, email, *phones),
            )
        )
    copy_insert(contacts)
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
    theirs: dict[str, Contact] = {}
    if lost:
        Contact.objects.filter(pk__in=[c.pk for _a, c in lost]).delete()
        theirs.update(
            (identity.external_id, identity.contact)
            for identity in ContactIdentity.objects.select_related("contact").filter(
                platform=platform, external_id__in=[a.external_id for a, _c in lost]
            )
        )
    return created, theirs
