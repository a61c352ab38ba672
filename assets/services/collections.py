"""Writing collections (folders of assets) and their rights."""

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts.audit import audit_record
from accounts.models import AuditAction, Organization, Team
from accounts.roles import RoleKey
from assets.models import Asset, Collection, CollectionGrant
from assets.permissions import AssetAccess
from core.errors import Conflict, DomainError, NotAllowed

RIGHTS = ("can_use", "can_upload", "can_approve", "can_delete")


def _may_organize(organization: Organization, actor) -> AssetAccess:
    access = AssetAccess.for_user(organization, actor)
    if not (access.admin or access.unrestricted.upload):
        raise NotAllowed(_("You may not organize the asset library."))
    return access


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())[:120]
    if not name:
        raise DomainError(_("Enter a name."), field="name")
    return name


def collection_create(*, organization: Organization, actor, name: str, parent: Collection | None = None) -> Collection:
    """Create a collection (inside `parent`, where the actor may upload). Needs `assets.manage`."""
    access = _may_organize(organization, actor)
    if parent is not None:
        if parent.organization_id != organization.pk:
            raise DomainError(_("Unknown collection."), field="parent")
        if not access.rights(parent.pk).upload:
            raise NotAllowed(_("You may not add collections there."))
    try:
        with transaction.atomic():
            return Collection.objects.create(organization=organization, name=_clean_name(name), parent=parent)
    except IntegrityError as exc:
        raise DomainError(_("A collection with this name already exists here."), field="name") from exc


def collection_update(
    *, organization: Organization, actor, collection: Collection, name: str | None = None, parent=...
) -> Collection:
    """Rename or move a collection (never into itself or one of its own sub-collections)."""
    access = _may_organize(organization, actor)
    if not access.rights(collection.pk).upload:
        raise NotAllowed(_("You may not change this collection."))
    if name is not None:
        collection.name = _clean_name(name)
    if parent is not ...:
        if parent is not None:
            if parent.organization_id != organization.pk:
                raise DomainError(_("Unknown collection."), field="parent")
            ancestor = parent
            while ancestor is not None:
                if ancestor.pk == collection.pk:
                    raise DomainError(_("A collection cannot be moved into itself."), field="parent")
                ancestor = ancestor.parent
        collection.parent = parent
    try:
        with transaction.atomic():
            collection.save()
    except IntegrityError as exc:
        raise DomainError(_("A collection with this name already exists here."), field="name") from exc
    return collection


def collection_delete(*, organization: Organization, actor, collection: Collection) -> None:
    """Delete an empty collection (no assets, no sub-collections)."""
    access = _may_organize(organization, actor)
    if not access.rights(collection.pk).delete:
        raise NotAllowed(_("You may not delete this collection."))
    if Asset.objects.filter(collection=collection).exists() or Collection.objects.filter(parent=collection).exists():
        raise Conflict(_("Only an empty collection can be deleted. Move or delete its assets first."))
    collection.delete()


def collection_grants_set(
    *, organization: Organization, actor, collection: Collection, grants: list[dict]
) -> list[CollectionGrant]:
    """Replace the collection's rights. Each grant: {"role_key": "agent"} or {"team": Team}, with booleans
    can_use / can_upload / can_approve / can_delete. No grants: the collection follows its parent (or is open to
    everyone by role). Only organization admins set rights (they cannot lock themselves out)."""
    access = AssetAccess.for_user(organization, actor)
    if not access.admin:
        raise NotAllowed(_("Only administrators can change the rights of a collection."))
    rows, seen = [], set()
    for grant in grants:
        role_key, team = grant.get("role_key") or "", grant.get("team")
        if bool(role_key) == bool(team):
            raise DomainError(_("Each right is given to one role or one team."), field="grants")
        if role_key and role_key not in RoleKey.values:
            raise DomainError(_("Unknown role."), field="grants")
        if team is not None and (not isinstance(team, Team) or team.organization_id != organization.pk):
            raise DomainError(_("Unknown team."), field="grants")
        key = ("role", role_key) if role_key else ("team", team.pk)
        if key in seen:
            raise DomainError(_("A role or team is listed twice."), field="grants")
        seen.add(key)
        rows.append(
            CollectionGrant(
                organization=organization,
                collection=collection,
                role_key=role_key,
                team=team,
                **{right: bool(grant.get(right, right == "can_use")) for right in RIGHTS},
            )
        )
    with transaction.atomic():
        CollectionGrant.objects.filter(collection=collection).delete()
        created = CollectionGrant.objects.bulk_create(rows)
        audit_record(
            organization=organization,
            actor=actor,
            action=AuditAction.ASSET_RIGHTS_CHANGED,
            obj=collection,
            changes={
                "grants": [
                    {"role": r.role_key or None, "team": r.team_id, **{k: getattr(r, k) for k in RIGHTS}} for r in rows
                ]
            },
        )
    return created
