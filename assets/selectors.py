"""Reading the asset library: what a member may see and use, search, versions, diffs and usage."""

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from accounts.models import Organization
from assets.models import Asset, AssetStatus, AssetUsage, AssetVersion, Collection
from assets.permissions import AssetAccess
from tickets.search import filter_matching, rank_expression


def usable_condition(now=None) -> Q:
    """Assets that can be used anew right now (the current version's own approval is checked on use)."""
    now = now or timezone.now()
    return (
        ~Q(status=AssetStatus.ARCHIVED)
        & (Q(requires_approval=False) | Q(status=AssetStatus.APPROVED))
        & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        & Q(current_version__isnull=False)
    )


def assets_visible(organization: Organization, user, *, access: AssetAccess | None = None) -> QuerySet[Asset]:
    """The organization's assets the member may see: everything in collections where they manage (upload, approve or
    delete), and only what they can use now where they may only use (agents see what they may use)."""
    access = access or AssetAccess.for_user(organization, user)
    queryset = Asset.objects.filter(organization=organization)
    if access.admin:
        return queryset
    managed = access.collection_filter("manage")
    used = access.collection_filter("use") & usable_condition()
    return queryset.filter(managed | used)


def asset_search(
    queryset: QuerySet[Asset],
    *,
    text: str = "",
    tags: Iterable[str] = (),
    kind: str = "",
    collection: Collection | int | None = None,
    status: str = "",
    usable: bool = False,
) -> QuerySet[Asset]:
    """Narrow assets by words (Japanese-aware, over title, description, tags, file name and text), tags (all of them),
    type, collection (and its sub-collections) and status; `usable` keeps what can be used now. Best matches first
    when searching by text, else the most recently changed."""
    if kind:
        queryset = queryset.filter(kind=kind)
    if status:
        queryset = queryset.filter(status=status)
    tags = [t for t in (tags or ()) if t]
    if tags:
        queryset = queryset.filter(tags__contains=tags)
    if collection:
        collection_id = collection.pk if isinstance(collection, Collection) else int(collection)
        queryset = queryset.filter(collection_id__in=collection_tree_ids(collection_id))
    if usable:
        queryset = queryset.filter(usable_condition())
    text = (text or "").strip()
    if text:
        queryset = filter_matching(queryset, text)
        rank = rank_expression(text)
        if rank is not None:
            return queryset.annotate(search_rank=rank).order_by("search_rank", "-updated_at", "-id")
    return queryset.order_by("-updated_at", "-id")


def collection_tree_ids(collection_id: int) -> list[int]:
    """The collection and all collections below it (one query: the organization's collections are few)."""
    children: dict[int | None, list[int]] = {}
    for cid, parent_id in Collection.objects.values_list("id", "parent_id"):
        children.setdefault(parent_id, []).append(cid)
    result, stack = [], [collection_id]
    while stack:
        current = stack.pop()
        if current in result:
            continue
        result.append(current)
        stack.extend(children.get(current, []))
    return result


def collections_visible(organization: Organization, user, *, access: AssetAccess | None = None) -> list[Collection]:
    """Collections where the member may at least use assets, in tree order (each with `.depth`)."""
    access = access or AssetAccess.for_user(organization, user)
    allowed = set(access.collection_ids("use")) if not access.admin else None
    rows = list(Collection.objects.filter(organization=organization).order_by("name", "id"))
    by_parent: dict[int | None, list[Collection]] = {}
    for row in rows:
        by_parent.setdefault(row.parent_id, []).append(row)
    ordered: list[Collection] = []

    def walk(parent_id, depth):
        for row in by_parent.get(parent_id, []):
            if allowed is None or row.pk in allowed:
                row.depth = depth
                ordered.append(row)
            walk(row.pk, depth + 1)

    walk(None, 0)
    return ordered


def asset_with_details(queryset: QuerySet[Asset]) -> QuerySet[Asset]:
    """What an asset page or the API detail shows, in a fixed number of queries."""
    return queryset.select_related("current_version", "collection", "owner", "approved_by")


def asset_versions(asset: Asset) -> QuerySet[AssetVersion]:
    """The asset's versions, newest first, with who made them."""
    return AssetVersion.objects.filter(asset=asset).select_related("created_by").order_by("-number")


def asset_usages(asset: Asset) -> QuerySet[AssetUsage]:
    """Every use of the asset, newest first, with the version used, who used it and its target (a message or a post
    version: fetched per target type, so the query count does not grow with the list)."""
    return (
        AssetUsage.objects.filter(asset=asset)
        .select_related("version", "used_by", "target_type")
        .prefetch_related("target")
        .order_by("-used_at", "-id")
    )


def assets_with_usages(queryset: QuerySet[Asset]) -> QuerySet[Asset]:
    return queryset.prefetch_related(Prefetch("usages", queryset=AssetUsage.objects.select_related("version")))


def version_visible(
    organization: Organization, user, version_id: int, *, access: AssetAccess | None = None
) -> AssetVersion | None:
    """The version if its asset is visible to the member, else None (a file view then answers 404)."""
    visible = assets_visible(organization, user, access=access)
    return (
        AssetVersion.objects.filter(organization=organization, pk=version_id, asset__in=visible)
        .select_related("asset")
        .first()
    )


@dataclass(frozen=True)
class DiffLine:
    """One line of a text comparison: `kind` is "equal", "insert" or "delete"."""

    kind: str
    text: str
    old_number: int | None
    new_number: int | None


def asset_version_diff(old: AssetVersion, new: AssetVersion) -> list[DiffLine]:
    """Line-by-line comparison of two versions' texts (snippets and templates), for rendering side by side or inline."""
    a, b = (old.text or "").splitlines(), (new.text or "").splitlines()
    lines: list[DiffLine] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            lines += [DiffLine("equal", a[i], i + 1, j1 + (i - i1) + 1) for i in range(i1, i2)]
            continue
        lines += [DiffLine("delete", a[i], i + 1, None) for i in range(i1, i2)]
        lines += [DiffLine("insert", b[j], None, j + 1) for j in range(j1, j2)]
    return lines
