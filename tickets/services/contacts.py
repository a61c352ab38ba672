"""Contacts behind platform accounts: found by their identities, created when new (race-safe), named by the
platform when messages carry only an id."""

import dataclasses
import logging
import re
import unicodedata

from django.db import connection as db_connection
from django.utils.translation import gettext as _

from accounts.models import Organization
from channels_integrations.handlers import ProfilesLookup
from core.db import copy_insert
from core.errors import DomainError
from tickets.models import (
    Contact,
    ContactIdentity,
    Ticket,
)
from tickets.search import append_expression, document_expression, index_document

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
    """What finds a contact: name, reading (in katakana and hiragana, so either spelling finds it), handles, email."""
    # Every identity's handle, not a prefetched subset (a member's view holds only their channels' platforms).
    handles = list(ContactIdentity.objects.filter(contact_id=contact.pk).values_list("handle", flat=True))
    return index_document(contact.name, contact.reading, reading_hiragana(contact.reading), *handles, contact.email)


def contact_update(
    *, organization: Organization, contact: Contact, name: str | None = None, reading: str | None = None
):
    """Rename a contact or give its reading; the contact's search document follows, and its tickets' documents (which
    hold the customer's name, for the inbox search) gain the new words."""
    before = (contact.name, contact.reading)
    if name is not None:
        contact.name = name.strip()[:200]
    if reading is not None:
        contact.reading = reading_normalise(reading)[:200]
    Contact.objects.filter(pk=contact.pk).update(
        name=contact.name, reading=contact.reading, search_vector=document_expression(contact_document(contact))
    )
    added = [text for text, old in zip((contact.name, contact.reading), before, strict=True) if text and text != old]
    if contact.reading in added:
        added.append(reading_hiragana(contact.reading))
    if added:
        Ticket.objects.filter(contact_id=contact.pk).update(search_vector=append_expression("search_vector", *added))
    return contact


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
