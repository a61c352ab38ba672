"""Writes for tags. Tags are also created on the fly when a ticket is tagged with a new name
(tickets.services.changes.ticket_update); these services are for managing the list itself.
Renaming, recoloring and deleting a tag change every ticket that has it, so they are audited; creating one is not
(any agent does it by tagging a ticket)."""

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts.audit import audit_record
from accounts.models import AuditAction, Organization, User
from core.errors import Conflict, DomainError
from tickets.models import Tag


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise DomainError(_("Enter a name."), field="name")
    return name[:60]


def _save(tag: Tag, **kwargs) -> None:
    try:
        with transaction.atomic():
            tag.save(**kwargs)
    except IntegrityError as exc:  # the (organization, name) unique constraint, also under concurrency
        raise Conflict(_("A tag with this name already exists."), field="name") from exc


@transaction.atomic
def tag_create(*, organization: Organization, actor: User, name: str, color: str | None = None) -> Tag:
    name = _clean_name(name)
    if Tag.objects.filter(name=name).exists():
        raise Conflict(_("A tag with this name already exists."), field="name")
    tag = Tag(organization=organization, name=name)
    if color:
        tag.color = color
    _save(tag)
    return tag


@transaction.atomic
def tag_update(
    *,
    organization: Organization,
    actor: User,
    tag: Tag,
    name: str | None = None,
    color: str | None = None,
    request=None,
) -> Tag:
    """Rename or recolor; tickets keep the tag (they refer to it, not to its name). Audited as {field: [old, new]}."""
    tag = Tag.objects.select_for_update().get(pk=tag.pk)
    before = {"name": tag.name, "color": tag.color}
    changed = []
    if name is not None and _clean_name(name) != tag.name:
        tag.name = _clean_name(name)
        if Tag.objects.filter(name=tag.name).exclude(pk=tag.pk).exists():
            raise Conflict(_("A tag with this name already exists."), field="name")
        changed.append("name")
    if color is not None and color != tag.color:
        tag.color = color
        changed.append("color")
    if changed:
        _save(tag, update_fields=changed)
        audit_record(
            organization=organization,
            actor=actor,
            action=AuditAction.TAG_UPDATED,
            obj=tag,
            changes={field: [before[field], getattr(tag, field)] for field in changed},
            request=request,
        )
    return tag


@transaction.atomic
def tag_delete(*, organization: Organization, actor: User, tag: Tag, request=None) -> None:
    """Removes the tag from every ticket that has it (the audit entry says how many)."""
    tag = Tag.objects.select_for_update().filter(pk=tag.pk).first()
    if tag is None:  # deleted meanwhile
        return
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.TAG_DELETED,
        obj=tag,
        changes={"name": tag.name, "color": tag.color, "tickets_tagged": tag.tickets.count()},
        request=request,
    )
    tag.delete()
