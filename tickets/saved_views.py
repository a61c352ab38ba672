"""Saved views (named inbox filters): who may change them and the writes. A saved view is shared (`owner` empty;
creating or changing one needs `rules.manage`) or personal (any member, only its owner changes it). The filters are
always stored normalized: parsed by `TicketFilter.from_query` and written back with `as_query()`, so a saved view
never holds a value the inbox would not accept."""

from django.db import transaction
from django.db.models import Max, Q, QuerySet
from django.http import QueryDict
from django.utils.translation import gettext as _

from accounts.models import Membership, Organization, User
from accounts.roles import Capability
from core.errors import DomainError, NotAllowed
from tickets.models import SavedView
from tickets.selectors import TicketFilter

_SCALARS = (str, int, float)


def saved_views_for(membership: Membership) -> QuerySet[SavedView]:
    """The shared views and the member's own."""
    return SavedView.objects.filter(Q(owner__isnull=True) | Q(owner_id=membership.user_id))


def can_manage(membership: Membership, view: SavedView | None = None, *, shared: bool | None = None) -> bool:
    shared = (view.owner_id is None) if view is not None else bool(shared)
    if shared:
        return membership.has(Capability.RULES_MANAGE)
    return view is None or view.owner_id == membership.user_id


def clean_filters(filters: dict) -> dict:
    """The filters as the inbox understands them (unknown keys and values dropped). Values are strings, numbers or
    lists of them; anything else is a field error."""
    if not isinstance(filters, dict):
        raise DomainError(_("Filters must be an object."), field="filters")
    query = QueryDict(mutable=True)
    for key, value in filters.items():
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, _SCALARS) and not isinstance(v, bool) for v in values):
            raise DomainError(_("Filter values must be text, numbers or lists of them."), field="filters")
        query.setlist(str(key), [str(v) for v in values])
    return TicketFilter.from_query(query).as_query()


def _require(membership: Membership, view: SavedView | None = None, *, shared: bool | None = None) -> None:
    if not can_manage(membership, view, shared=shared):
        raise NotAllowed(_("Only members who manage rules can change shared views."))


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise DomainError(_("Enter a name."), field="name")
    return name[:80]


@transaction.atomic
def saved_view_create(
    *,
    organization: Organization,
    actor: User,
    actor_membership: Membership,
    name: str,
    filters: dict | None = None,
    shared: bool = False,
    position: int | None = None,
) -> SavedView:
    """A shared or personal view; without `filters` it shows the whole inbox, without `position` it comes last."""
    _require(actor_membership, shared=shared)
    owner = None if shared else actor
    last = SavedView.objects.filter(owner=owner).aggregate(last=Max("position"))["last"]
    return SavedView.objects.create(
        organization=organization,
        owner=owner,
        name=_clean_name(name),
        filters=clean_filters(filters or {}),
        position=position if position is not None else 0 if last is None else last + 1,
    )


@transaction.atomic
def saved_view_update(
    *,
    organization: Organization,
    actor: User,
    actor_membership: Membership,
    view: SavedView,
    name: str | None = None,
    filters: dict | None = None,
    position: int | None = None,
) -> SavedView:
    view = SavedView.objects.select_for_update().get(pk=view.pk)
    _require(actor_membership, view)
    changed = []
    if name is not None:
        view.name = _clean_name(name)
        changed.append("name")
    if filters is not None:
        view.filters = clean_filters(filters)
        changed.append("filters")
    if position is not None:
        view.position = position
        changed.append("position")
    if changed:
        view.save(update_fields=changed)
    return view


@transaction.atomic
def saved_view_delete(
    *, organization: Organization, actor: User, actor_membership: Membership, view: SavedView
) -> None:
    view = SavedView.objects.select_for_update().get(pk=view.pk)
    _require(actor_membership, view)
    view.delete()
