"""Contacts behind platform accounts: found by their identities, created when new (race-safe), named by the
platform when messages carry only an id."""

import dataclasses
import logging

from django.db import connection as db_connection

from accounts.models import Organization
from channels_integrations.handlers import ProfilesLookup
from core.db import copy_insert
from tickets.models import (
    Contact,
    ContactIdentity,
)
from tickets.search import index_document

logger = logging.getLogger("tsunagu.tickets")


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
