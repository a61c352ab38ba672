"""Canned responses: who may see and change them, writes (services) and filling their placeholders.

A canned response is shared with the organization (`owner` empty; changing it needs `rules.manage`) or personal
(only its owner sees and changes it; creating one needs `tickets.work`). Placeholders such as `{{contact.name}}` are
filled by a plain regular-expression replace: no template engine, nothing in a body is ever evaluated.

Creating, changing and deleting a shared one is audited (it speaks for the organization, and automation may send
it); personal ones are one member's drafts and are not.
"""

import re

from django.db import IntegrityError, transaction
from django.db.models import Prefetch, ProtectedError, Q, QuerySet
from django.utils.translation import gettext as _

from accounts.audit import audit_record
from accounts.models import AuditAction, Membership, Organization, User
from accounts.roles import Capability
from core.errors import Conflict, DomainError, NotAllowed
from tickets.models import CannedResponse, CannedResponseVariant, Ticket

# --- reads ------------------------------------------------------------------------------------------------------


def canned_for(membership: Membership) -> QuerySet[CannedResponse]:
    """The shared canned responses plus the member's own, each with its variants."""
    return CannedResponse.objects.filter(Q(owner__isnull=True) | Q(owner_id=membership.user_id)).prefetch_related(
        Prefetch("variants", queryset=CannedResponseVariant.objects.order_by("language", "id"))
    )


def can_manage(membership: Membership, *, shared: bool, owner_id: int | None = None) -> bool:
    """Shared ones need `rules.manage`; personal ones belong to their owner, who needs `tickets.work`."""
    if shared:
        return membership.has(Capability.RULES_MANAGE)
    return membership.has(Capability.TICKETS_WORK) and (owner_id is None or owner_id == membership.user_id)


def pick_variant(canned: CannedResponse, *, language: str = "", ticket: Ticket | None = None):
    """The variant in `language`, else in the ticket's language, else in the organization's default language, else
    the first one (by language). None when the response has no variant. Uses the prefetched variants."""
    variants = sorted(canned.variants.all(), key=lambda v: (v.language, v.pk))
    by_language = {v.language: v for v in variants}
    wanted = [language]
    if ticket is not None:
        wanted += [ticket.language, ticket.organization.default_language]
    for code in wanted:
        if code and code in by_language:
            return by_language[code]
    return variants[0] if variants else None


# --- placeholders -----------------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+\.[a-z_]+)\s*\}\}")


def render_canned(body: str, *, ticket: Ticket, agent: User | None) -> str:
    """Fill `{{contact.name}}`, `{{agent.name}}`, `{{ticket.number}}` and `{{organization.name}}`; any other
    `{{...}}` is left exactly as written. Without an agent (an automatic reply) the agent is the organization."""
    values = {
        "contact.name": ticket.contact.name,
        "agent.name": (agent.name or agent.email) if agent is not None else ticket.organization.name,
        "ticket.number": str(ticket.number),
        "organization.name": ticket.organization.name,
    }
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), body)


# --- writes -----------------------------------------------------------------------------------------------------


def _require(membership: Membership, *, shared: bool, owner_id: int | None) -> None:
    if not can_manage(membership, shared=shared, owner_id=owner_id):
        if shared:
            raise NotAllowed(_("Only members who manage rules can change shared canned responses."))
        raise NotAllowed(_("You cannot change this canned response."))


def _check_variants(variants: list[dict]) -> None:
    languages = [v["language"] for v in variants]
    if not variants:
        raise DomainError(_("Add at least one language."), field="variants")
    if len(set(languages)) != len(languages):
        raise DomainError(_("Each language may appear only once."), field="variants")


def _check_shortcut_free(canned_qs: QuerySet[CannedResponse], shortcut: str) -> None:
    if canned_qs.filter(shortcut=shortcut).exists():
        raise Conflict(_("This shortcut is already in use."), field="shortcut")


def _texts(canned: CannedResponse) -> dict[str, str]:
    return {v.language: v.body for v in CannedResponseVariant.objects.filter(response=canned).order_by("language")}


def _snapshot(canned: CannedResponse) -> dict:
    return {"title": canned.title, "shortcut": canned.shortcut, "text": _texts(canned)}


def _write_variants(organization: Organization, canned: CannedResponse, variants: list[dict]) -> None:
    CannedResponseVariant.objects.filter(response=canned).delete()
    CannedResponseVariant.objects.bulk_create(
        [
            CannedResponseVariant(organization=organization, response=canned, language=v["language"], body=v["body"])
            for v in variants
        ]
    )


@transaction.atomic
def canned_response_create(
    *,
    organization: Organization,
    actor: User,
    actor_membership: Membership,
    title: str,
    shortcut: str,
    variants: list[dict],
    shared: bool = False,
    request=None,
) -> CannedResponse:
    """A shared (`shared=True`) or personal canned response with its language variants ({language, body})."""
    _require(actor_membership, shared=shared, owner_id=None)
    _check_variants(variants)
    owner = None if shared else actor
    _check_shortcut_free(CannedResponse.objects.filter(owner=owner), shortcut)
    try:
        with transaction.atomic():
            canned = CannedResponse.objects.create(
                organization=organization, owner=owner, title=title, shortcut=shortcut
            )
    except IntegrityError as exc:  # a concurrent request took the shortcut
        raise Conflict(_("This shortcut is already in use."), field="shortcut") from exc
    _write_variants(organization, canned, variants)
    if shared:
        audit_record(
            organization=organization,
            actor=actor,
            action=AuditAction.CANNED_CREATED,
            obj=canned,
            changes=_snapshot(canned),
            request=request,
        )
    return canned


@transaction.atomic
def canned_response_update(
    *,
    organization: Organization,
    actor: User,
    actor_membership: Membership,
    canned: CannedResponse,
    title: str | None = None,
    shortcut: str | None = None,
    variants: list[dict] | None = None,
    request=None,
) -> CannedResponse:
    """Change the title or shortcut; `variants` (when given) replaces all of them. For a shared one the audit entry
    holds {field: [old, new]}, the text per language under "text"."""
    canned = CannedResponse.objects.select_for_update().get(pk=canned.pk)
    _require(actor_membership, shared=canned.owner_id is None, owner_id=canned.owner_id)
    before = _snapshot(canned)
    changed = []
    if title is not None and title != canned.title:
        canned.title = title
        changed.append("title")
    if shortcut is not None and shortcut != canned.shortcut:
        _check_shortcut_free(CannedResponse.objects.filter(owner_id=canned.owner_id), shortcut)
        canned.shortcut = shortcut
        changed.append("shortcut")
    if changed:
        try:
            with transaction.atomic():
                canned.save(update_fields=changed)
        except IntegrityError as exc:
            raise Conflict(_("This shortcut is already in use."), field="shortcut") from exc
    if variants is not None:
        _check_variants(variants)
        _write_variants(organization, canned, variants)
    if canned.owner_id is None:
        after = _snapshot(canned)
        changes = {key: [before[key], after[key]] for key in ("title", "shortcut") if before[key] != after[key]}
        texts = {
            language: [before["text"].get(language, ""), after["text"].get(language, "")]
            for language in sorted(before["text"].keys() | after["text"].keys())
            if before["text"].get(language, "") != after["text"].get(language, "")
        }
        if texts:
            changes["text"] = texts
        if changes:
            audit_record(
                organization=organization,
                actor=actor,
                action=AuditAction.CANNED_UPDATED,
                obj=canned,
                changes=changes,
                request=request,
            )
    return canned


@transaction.atomic
def canned_response_delete(
    *, organization: Organization, actor: User, actor_membership: Membership, canned: CannedResponse, request=None
) -> None:
    canned = CannedResponse.objects.select_for_update().get(pk=canned.pk)
    _require(actor_membership, shared=canned.owner_id is None, owner_id=canned.owner_id)
    if canned.owner_id is None:
        audit_record(
            organization=organization,
            actor=actor,
            action=AuditAction.CANNED_DELETED,
            obj=canned,
            changes=_snapshot(canned),
            request=request,
        )
    try:
        canned.delete()
    except ProtectedError as exc:  # an automatic reply sends it (automation.AutoResponse, on_delete=PROTECT)
        users = ", ".join(sorted(f"{obj._meta.verbose_name}: {obj}" for obj in exc.protected_objects))
        raise Conflict(
            _("This canned response is in use (%(users)s). Choose another response there before deleting it.")
            % {"users": users}
        ) from exc
