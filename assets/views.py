"""The asset library's pages: the library (search, filters, grid or list, drag-and-drop upload through Uppy + tus),
an asset's page (preview, details, versions with compare and restore, status, usage), collections with their rights,
and the picker dialog the reply box and the post composer open.

TenantMiddleware has checked membership and activated the scope. Every asset lookup goes through
`assets_visible`, so an asset the member may not see is a 404 like a missing one; what a member may do with a visible
asset is decided by `AssetAccess` (its collection's rights), and the services check again.
"""

import uuid
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Team
from accounts.roles import RoleKey
from assets import selectors, services
from assets.forms import (
    AssetDetailsForm,
    BulkTagForm,
    CollectionForm,
    LibraryFilterForm,
    NewVersionForm,
    TextAssetForm,
)
from assets.models import TEXT_KINDS, Asset, AssetKind, AssetStatus, AssetUpload, AssetVersion, Collection
from assets.permissions import AssetAccess
from core.errors import Conflict, DomainError, NotAllowed
from core.views import unconfirmed
from tickets import selectors as ticket_selectors
from tickets.models import Message

PAGE_SIZE = 48
PICKER_SIZE = 24
TAG_SAMPLE = 500  # the tag filter offers the most used tags among this many recent assets


# --- helpers ----------------------------------------------------------------------------------------------------


def _access(request) -> AssetAccess:
    """The member's rights in every collection, read once per request."""
    if not hasattr(request, "_asset_access"):
        request._asset_access = AssetAccess.for_member(request.membership)
    return request._asset_access


def _visible(request):
    return selectors.assets_visible(request.organization, request.user, access=_access(request))


def _asset(request, asset_id: int) -> Asset:
    return get_object_or_404(selectors.asset_with_details(_visible(request)), pk=asset_id)


def _actor(request) -> dict:
    return {"organization": request.organization, "actor": request.user}


def _may_upload_somewhere(access: AssetAccess) -> bool:
    return access.admin or access.unrestricted.upload or bool(access.collection_ids("upload"))


def _may_organize(access: AssetAccess) -> bool:
    """Creates and arranges collections (assets.services.collections asks the same)."""
    return access.admin or access.unrestricted.upload


def _upload_collections(request) -> list[Collection]:
    access = _access(request)
    collections = selectors.collections_visible(request.organization, request.user, access=access)
    chosen = [c for c in collections if access.rights(c.pk).upload]
    for c in chosen:
        c.indented_name = "\u2003" * getattr(c, "depth", 0) + c.name
    return chosen


def _collection_or_none(collections: list[Collection], collection_id: int | None) -> Collection | None:
    if collection_id is None:
        return None
    found = next((c for c in collections if c.pk == collection_id), None)
    if found is None:
        raise DomainError(_("Choose a collection from the list."), field="collection")
    return found


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _form_error(form, exc: DomainError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


def preview_kind(version: AssetVersion | None) -> str:
    """What a preview shows: image, video, audio, pdf, text or a generic file (a placeholder icon)."""
    if version is None:
        return "none"
    if version.text and not version.file:
        return "text"
    mime = version.mime_type or ""
    for prefix in ("image", "video", "audio"):
        if mime.startswith(prefix + "/"):
            return prefix
    if mime == "application/pdf":
        return "pdf"
    return "file"


def _decorate(assets: list[Asset]) -> list[Asset]:
    for asset in assets:
        asset.preview = preview_kind(asset.current_version)
        asset.expired = asset.is_expired()
    return assets


# --- the library ------------------------------------------------------------------------------------------------


@require_GET
def library(request, org_slug):
    """Search and browse the assets the member may see; upload many files at once (Uppy + tus)."""
    access = _access(request)
    collections = selectors.collections_visible(request.organization, request.user, access=access)
    form = LibraryFilterForm(request.GET, collections=collections)
    form.is_valid()
    visible = _visible(request)
    tag = form.value("tag")
    found = selectors.asset_search(
        visible,
        text=form.value("q"),
        tags=[tag] if tag else (),
        kind=form.value("kind"),
        collection=form.value("collection", None),
        status=form.value("status"),
    )
    try:
        page = max(1, int(request.GET.get("page") or 1))
    except ValueError:
        page = 1
    rows = list(found.select_related("current_version", "collection")[(page - 1) * PAGE_SIZE : page * PAGE_SIZE + 1])
    has_next = len(rows) > PAGE_SIZE
    query = request.GET.copy()
    query.pop("page", None)
    view = form.value("view", "grid")
    upload_collections = _upload_collections(request)
    context = {
        "form": form,
        "assets": _decorate(rows[:PAGE_SIZE]),
        "view": view,
        "page": page,
        "next_url": f"?{urlencode({**query.dict(), 'page': page + 1})}" if has_next else "",
        "previous_url": f"?{urlencode({**query.dict(), 'page': page - 1})}" if page > 1 else "",
        "view_urls": {v: f"?{urlencode({**query.dict(), 'view': v})}" for v in ("grid", "list")},
        "filtered": any(form.value(name) for name in ("q", "tag", "kind", "collection", "status")),
        "popular_tags": _popular_tags(visible),
        "may_upload": _may_upload_somewhere(access),
        "may_upload_unfiled": access.admin or access.unrestricted.upload,
        "upload_collections": upload_collections,
        "may_organize": _may_organize(access),
        "max_file_bytes": services.asset_limits(request.organization)[0],
    }
    return render(request, "assets/library.html", context)


def _popular_tags(visible) -> list[tuple[str, int]]:
    """The most used tags among recent assets (one query; counted here rather than by unnesting in SQL)."""
    counts: dict[str, int] = {}
    for tags in visible.order_by("-updated_at").values_list("tags", flat=True)[:TAG_SAMPLE]:
        for tag in tags or ():
            counts[tag] = counts.get(tag, 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:20]


def _upload_ids(values) -> list[uuid.UUID]:
    ids = []
    for value in values[:100]:
        try:
            ids.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    return ids


@require_GET
def uploaded(request, org_slug):
    """The assets the member's just-finished uploads became (`upload` = tus upload ids), with a form to tag them all
    at once. Loaded by upload.js when Uppy reports the batch complete."""
    ids = _upload_ids(request.GET.getlist("upload"))
    asset_ids = list(
        AssetUpload.objects.filter(pk__in=ids, created_by=request.user, result_asset__isnull=False).values_list(
            "result_asset_id", flat=True
        )
    )
    assets = _decorate(list(_visible(request).filter(pk__in=asset_ids).select_related("current_version")))
    form = BulkTagForm(asset_ids=[a.pk for a in assets], initial={"asset": [a.pk for a in assets]})
    mine = AssetUpload.objects.filter(pk__in=ids, created_by=request.user)
    failed = list(mine.exclude(error="").values_list("error", flat=True))
    return render(request, "assets/_uploaded.html", {"assets": assets, "form": form, "failed": failed})


@require_POST
def bulk_tag(request, org_slug):
    """Add the same tags to several assets (the member needs the upload right in each one's collection)."""
    access = _access(request)
    if not _may_upload_somewhere(access):
        raise PermissionDenied
    asset_ids = [int(i) for i in request.POST.getlist("asset") if str(i).isdigit()][:200]
    assets = list(_visible(request).filter(pk__in=asset_ids).select_related("current_version"))
    form = BulkTagForm(request.POST, asset_ids=[a.pk for a in assets])
    status = 200
    if form.is_valid():
        chosen = set(form.cleaned_data["asset"])
        try:
            for asset in assets:
                if asset.pk not in chosen:
                    continue
                if not access.rights(asset.collection_id).upload:
                    raise NotAllowed(_("You may not change “%(title)s”.") % {"title": asset.title})
                merged = list(asset.tags) + [t for t in form.cleaned_data["tags"] if t not in asset.tags]
                services.asset_update(**_actor(request), asset=asset, tags=merged)
        except NotAllowed as exc:
            raise PermissionDenied(exc.message) from exc
        except DomainError as exc:
            _form_error(form, exc)
            status = 400
        else:
            message = _("Tags added to %(count)d assets.") % {"count": len(chosen)}
            if not _is_htmx(request):
                messages.success(request, message)
                return redirect("org:asset_library", org_slug=org_slug)
            assets = _decorate(list(_visible(request).filter(pk__in=chosen).select_related("current_version")))
            return render(request, "assets/_uploaded.html", {"assets": assets, "done": message})
    else:
        status = 400
    return render(
        request, "assets/_uploaded.html", {"assets": _decorate(assets), "form": form, "failed": []}, status=status
    )


@require_http_methods(["GET", "POST"])
def new_text(request, org_slug):
    """A new text snippet (pre-approved copy) or reply template."""
    access = _access(request)
    if not _may_upload_somewhere(access):
        raise PermissionDenied
    collections = _upload_collections(request)
    initial = {"kind": request.GET.get("kind") if request.GET.get("kind") in TEXT_KINDS else AssetKind.SNIPPET}
    form = TextAssetForm(request.POST or None, initial=initial, collections=collections)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                asset = services.asset_create(
                    **_actor(request),
                    kind=data["kind"],
                    title=data["title"],
                    description=data["description"],
                    tags=data["tags"],
                    collection=_collection_or_none(collections, data["collection"]),
                    language=data["language"],
                    requires_approval=data["requires_approval"],
                    license_note=data["license_note"],
                    expires_at=data["expires_at"],
                    text=data["text"],
                )
            except NotAllowed as exc:
                raise PermissionDenied(exc.message) from exc
            except DomainError as exc:
                _form_error(form, exc)
            else:
                messages.success(request, _("“%(title)s” was added to the library.") % {"title": asset.title})
                return redirect("org:asset_detail", org_slug=org_slug, asset_id=asset.pk)
        status = 400
    return render(request, "assets/new_text.html", {"form": form}, status=status)


# --- one asset --------------------------------------------------------------------------------------------------


def _usage_rows(request, asset: Asset) -> list[dict]:
    """Each use with what to show and where it links: a reply links to its conversation when the member may see it
    (else it is listed without its subject), a post to the post."""
    usages = list(selectors.asset_usages(asset)[:200])
    message_ids = [u.target_id for u in usages if isinstance(u.target, Message)]
    tickets = {}
    if message_ids:
        ticket_ids = {u.target.ticket_id for u in usages if isinstance(u.target, Message)}
        tickets = {
            t.pk: t
            for t in ticket_selectors.visible_tickets(request.membership)
            .filter(pk__in=ticket_ids)
            .only("pk", "number", "subject")
        }
    post_titles = _post_titles([u.target for u in usages if u.target is not None and hasattr(u.target, "post_id")])
    rows = []
    for usage in usages:
        row = {"usage": usage, "kind": "other", "url": "", "label": ""}
        target = usage.target
        if isinstance(target, Message):
            ticket = tickets.get(target.ticket_id)
            row["kind"] = "reply"
            if ticket is not None:
                row["url"] = reverse("org:inbox_ticket", args=[request.organization.slug, ticket.pk])
                row["label"] = f"#{ticket.number} {ticket.subject}".strip()
        elif target is not None and hasattr(target, "post_id"):
            row["kind"] = "post"
            row["label"] = post_titles.get(target.post_id, "")
            try:
                row["url"] = reverse("org:post_detail", args=[request.organization.slug, target.post_id])
            except NoReverseMatch:
                row["url"] = ""
        rows.append(row)
    return rows


def _post_titles(targets: list) -> dict[int, str]:
    """The titles of the posts whose versions used the asset, in one query (assets does not import approvals: the
    post model is found through the version's own `post` field)."""
    if not targets:
        return {}
    model = type(targets[0])._meta.get_field("post").related_model
    if not any(f.name == "title" for f in model._meta.get_fields()):
        return {}
    return dict(model.objects.filter(pk__in={t.post_id for t in targets}).values_list("pk", "title"))


def _detail_context(request, asset: Asset, form=None, version_form=None) -> dict:
    access = _access(request)
    rights = access.rights(asset.collection_id)
    versions = list(selectors.asset_versions(asset))
    collections = _upload_collections(request) if rights.upload else []
    if form is None and rights.upload:
        form = AssetDetailsForm(
            initial={
                "title": asset.title,
                "description": asset.description,
                "tags": asset.tags,
                "collection": asset.collection_id,
                "language": asset.language,
                "requires_approval": asset.requires_approval,
                "license_note": asset.license_note,
                "expires_at": asset.expires_at,
            },
            collections=collections,
        )
    current = asset.current_version
    _decorate([asset])
    return {
        "asset": asset,
        "current": current,
        "rights": rights,
        "may_archive": rights.upload or rights.delete,
        "versions": versions,
        "usages": _usage_rows(request, asset),
        "form": form,
        "version_form": version_form or (NewVersionForm() if rights.upload else None),
        "is_text": asset.kind in TEXT_KINDS,
        "needs_approval": asset.requires_approval
        and (asset.status != AssetStatus.APPROVED or (current is not None and current.approved_at is None)),
        "usable": _usable(asset),
        "resumable_version": rights.upload and asset.kind == AssetKind.FILE and asset.status != AssetStatus.ARCHIVED,
        "max_file_bytes": services.asset_limits(request.organization)[0] if rights.upload else 0,
    }


def _usable(asset: Asset) -> bool:
    current = asset.current_version
    return (
        current is not None
        and asset.status != AssetStatus.ARCHIVED
        and not asset.is_expired()
        and (not asset.requires_approval or (asset.status == AssetStatus.APPROVED and current.approved_at is not None))
    )


@require_http_methods(["GET", "POST"])
def detail(request, org_slug, asset_id):
    """An asset: preview, details (editable with the upload right), versions, status actions and every use."""
    asset = _asset(request, asset_id)
    if request.method == "GET":
        return render(request, "assets/detail.html", _detail_context(request, asset))
    rights = _access(request).rights(asset.collection_id)
    if not rights.upload:
        raise PermissionDenied
    collections = _upload_collections(request)
    # The asset's own collection stays a valid choice even where the member may not add new assets to it.
    if asset.collection is not None and all(c.pk != asset.collection_id for c in collections):
        collections = [asset.collection, *collections]
    form = AssetDetailsForm(request.POST, collections=collections)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.asset_update(
                **_actor(request),
                asset=asset,
                title=data["title"],
                description=data["description"],
                tags=data["tags"],
                collection=_collection_or_none(collections, data["collection"]),
                language=data["language"],
                requires_approval=data["requires_approval"],
                license_note=data["license_note"],
                expires_at=data["expires_at"],
            )
        except NotAllowed as exc:
            raise PermissionDenied(exc.message) from exc
        except DomainError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, _("Changes saved."))
            return redirect("org:asset_detail", org_slug=org_slug, asset_id=asset.pk)
    return render(request, "assets/detail.html", _detail_context(request, asset, form=form), status=400)


@require_POST
def version_new(request, org_slug, asset_id):
    """Upload a new version (a file, or a text for snippets and templates); the history is kept."""
    asset = _asset(request, asset_id)
    if not _access(request).rights(asset.collection_id).upload:
        raise PermissionDenied
    form = NewVersionForm(request.POST, request.FILES)
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        upload = data["file"]
        try:
            version = services.asset_version_add(
                **_actor(request),
                asset=asset,
                file=upload,
                filename=upload.name if upload else "",
                text=data["text"],
                note=data["note"],
            )
        except NotAllowed as exc:
            raise PermissionDenied(exc.message) from exc
        except DomainError as exc:
            _form_error(form, exc)
            status = exc.status
        else:
            messages.success(request, _("Version %(number)d added.") % {"number": version.number})
            return redirect("org:asset_detail", org_slug=org_slug, asset_id=asset.pk)
    return render(request, "assets/detail.html", _detail_context(request, asset, version_form=form), status=status)


def _version(request, version_id: int) -> AssetVersion:
    version = (
        AssetVersion.objects.filter(pk=version_id, asset__in=_visible(request))
        .select_related("asset", "asset__current_version", "created_by")
        .first()
    )
    if version is None:
        raise Http404
    return version


@require_GET
def version_view(request, org_slug, version_id):
    """One version as it was: its content, its facts, and a comparison with the current version."""
    version = _version(request, version_id)
    asset = version.asset
    rights = _access(request).rights(asset.collection_id)
    context = {
        "asset": asset,
        "version": version,
        "preview": preview_kind(version),
        "is_current": asset.current_version_id == version.pk,
        "rights": rights,
    }
    return render(request, "assets/version.html", context)


@require_GET
def compare(request, org_slug, asset_id):
    """Two versions side by side: the texts line by line (snippets, templates), the facts of files."""
    asset = _asset(request, asset_id)
    versions = list(selectors.asset_versions(asset))
    by_id = {v.pk: v for v in versions}

    def pick(name, default):
        try:
            return by_id.get(int(request.GET.get(name) or 0)) or default
        except ValueError:
            return default

    new = pick("new", versions[0] if versions else None)
    old_default = next((v for v in versions if new and v.number < new.number), versions[-1] if versions else None)
    old = pick("old", old_default)
    lines = selectors.asset_version_diff(old, new) if old and new else []
    context = {
        "asset": asset,
        "versions": versions,
        "old": old,
        "new": new,
        "lines": lines,
        "changed": any(line.kind != "equal" for line in lines),
        "is_text": asset.kind in TEXT_KINDS,
    }
    return render(request, "assets/compare.html", context)


@require_POST
def version_restore(request, org_slug, version_id):
    version = _version(request, version_id)
    if not _access(request).rights(version.asset.collection_id).upload:
        raise PermissionDenied
    return _act(
        request,
        version.asset,
        lambda: services.asset_version_restore(**_actor(request), version=version),
        _("Version %(number)d restored as the current version.") % {"number": version.number},
    )


def _act(request, asset: Asset, action, success: str) -> HttpResponse:
    """Run a status action; a refusal is a 403, a conflict (archived, used) a message on the asset's page."""
    try:
        action()
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except Conflict as exc:
        messages.error(request, exc.message)
        response = redirect("org:asset_detail", org_slug=request.organization.slug, asset_id=asset.pk)
        response.status_code = 303
        return response
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success)
    return redirect("org:asset_detail", org_slug=request.organization.slug, asset_id=asset.pk)


@require_POST
def approve(request, org_slug, asset_id):
    asset = _asset(request, asset_id)
    if not _access(request).rights(asset.collection_id).approve:
        raise PermissionDenied
    return _act(
        request,
        asset,
        lambda: services.asset_approve(**_actor(request), asset=asset),
        _("Approved: it can be used in replies and posts."),
    )


def _require_archiver(request, asset: Asset) -> None:
    """Archiving withdraws an asset from everyone: for those who organize its collection (upload or delete)."""
    rights = _access(request).rights(asset.collection_id)
    if not (rights.upload or rights.delete):
        raise PermissionDenied


@require_POST
def archive(request, org_slug, asset_id):
    asset = _asset(request, asset_id)
    _require_archiver(request, asset)
    return _act(
        request,
        asset,
        lambda: services.asset_archive(**_actor(request), asset=asset),
        _("Archived: nobody can use it anew; its uses stay listed."),
    )


@require_POST
def unarchive(request, org_slug, asset_id):
    asset = _asset(request, asset_id)
    _require_archiver(request, asset)
    return _act(
        request,
        asset,
        lambda: services.asset_unarchive(**_actor(request), asset=asset),
        _("Back in the library as a draft."),
    )


@require_POST
def delete(request, org_slug, asset_id):
    asset = _asset(request, asset_id)
    if not _access(request).rights(asset.collection_id).delete:
        raise PermissionDenied
    asked = unconfirmed(
        request,
        question=_("Delete “%(title)s” and all its versions?") % {"title": asset.title},
        detail=_("This cannot be undone. An asset that was used cannot be deleted; archive it instead."),
        action=_("Delete"),
        cancel_url=reverse("org:asset_detail", args=[org_slug, asset.pk]),
    )
    if asked:
        return asked
    try:
        services.asset_delete(**_actor(request), asset=asset)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("org:asset_detail", org_slug=org_slug, asset_id=asset.pk)
    messages.success(request, _("“%(title)s” was deleted.") % {"title": asset.title})
    return redirect("org:asset_library", org_slug=org_slug)


# --- collections ------------------------------------------------------------------------------------------------


def _require_organizer(request) -> AssetAccess:
    access = _access(request)
    if not _may_organize(access):
        raise PermissionDenied
    return access


def _all_collections(request) -> list[Collection]:
    """Every collection in tree order (organizers see the whole tree; rights decide what they may do in each)."""
    rows = list(Collection.objects.filter(organization=request.organization).prefetch_related("grants__team"))
    by_parent: dict[int | None, list[Collection]] = {}
    for row in rows:
        by_parent.setdefault(row.parent_id, []).append(row)
    ordered: list[Collection] = []

    def walk(parent_id, depth):
        for row in by_parent.get(parent_id, []):
            row.depth = depth
            ordered.append(row)
            walk(row.pk, depth + 1)

    walk(None, 0)
    return ordered


@require_http_methods(["GET", "POST"])
def collections(request, org_slug):
    """The collections (folders) of the library, and a form to add one."""
    access = _require_organizer(request)
    every = _all_collections(request)
    parents = [c for c in every if access.rights(c.pk).upload]
    form = CollectionForm(request.POST or None, parents=parents)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                parent = next((c for c in parents if c.pk == form.cleaned_data["parent"]), None)
                if form.cleaned_data["parent"] and parent is None:
                    raise DomainError(_("Choose a collection from the list."), field="parent")
                created = services.collection_create(**_actor(request), name=form.cleaned_data["name"], parent=parent)
            except NotAllowed as exc:
                raise PermissionDenied(exc.message) from exc
            except DomainError as exc:
                _form_error(form, exc)
            else:
                messages.success(request, _("Collection “%(name)s” created.") % {"name": created.name})
                return redirect("org:asset_collection", org_slug=org_slug, collection_id=created.pk)
        status = 400
    counts = dict(
        Asset.objects.filter(organization=request.organization, collection__isnull=False)
        .values_list("collection_id")
        .annotate(n=Count("id"))
    )
    for row in every:
        row.asset_count = counts.get(row.pk, 0)
        row.restricted = bool(row.grants.all())
    return render(
        request,
        "assets/collections.html",
        {"collections": every, "form": form, "is_admin": access.admin},
        status=status,
    )


RIGHT_NAMES = ("can_use", "can_upload", "can_approve", "can_delete")


def _grant_rows(request, collection: Collection) -> list[dict]:
    """One row per role and per team, with the rights the collection gives it now."""
    grants = list(collection.grants.all())
    by_role = {g.role_key: g for g in grants if g.role_key}
    by_team = {g.team_id: g for g in grants if g.team_id}
    rows = []
    for key, label in RoleKey.choices:
        grant = by_role.get(key)
        rows.append({"field": f"role:{key}", "label": label, "kind": "role", "grant": grant})
    for team in Team.objects.filter(organization=request.organization).order_by("name"):
        rows.append({"field": f"team:{team.pk}", "label": team.name, "kind": "team", "grant": by_team.get(team.pk)})
    for row in rows:
        row["rights"] = [
            (right, bool(row["grant"] and getattr(row["grant"], right)), f"{row['field']}:{right}")
            for right in RIGHT_NAMES
        ]
    return rows


def _collection(request, collection_id: int) -> Collection:
    return get_object_or_404(
        Collection.objects.filter(organization=request.organization).prefetch_related("grants"), pk=collection_id
    )


@require_http_methods(["GET", "POST"])
def collection_detail(request, org_slug, collection_id):
    """Rename or move a collection; administrators also set who may use, upload, approve and delete there."""
    access = _require_organizer(request)
    collection = _collection(request, collection_id)
    every = _all_collections(request)
    below = set(selectors.collection_tree_ids(collection.pk))
    parents = [c for c in every if c.pk not in below and access.rights(c.pk).upload]
    form = CollectionForm(
        request.POST or None, parents=parents, initial={"name": collection.name, "parent": collection.parent_id}
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            parent = next((c for c in parents if c.pk == form.cleaned_data["parent"]), None)
            try:
                if form.cleaned_data["parent"] and parent is None:
                    raise DomainError(_("Choose a collection from the list."), field="parent")
                services.collection_update(
                    **_actor(request), collection=collection, name=form.cleaned_data["name"], parent=parent
                )
            except NotAllowed as exc:
                raise PermissionDenied(exc.message) from exc
            except DomainError as exc:
                _form_error(form, exc)
            else:
                messages.success(request, _("Collection saved."))
                return redirect("org:asset_collection", org_slug=org_slug, collection_id=collection.pk)
        status = 400
    context = {
        "collection": collection,
        "form": form,
        "is_admin": access.admin,
        "grant_rows": _grant_rows(request, collection) if access.admin else [],
        "may_delete": access.rights(collection.pk).delete,
        "right_labels": [
            _("Use"),
            _("Upload and edit"),
            _("Approve"),
            _("Delete"),
        ],
    }
    return render(request, "assets/collection.html", context, status=status)


@require_POST
def collection_rights(request, org_slug, collection_id):
    """Replace the collection's rights (administrators only; no row ticked: the collection follows its parent)."""
    collection = _collection(request, collection_id)
    if not _access(request).admin:
        raise PermissionDenied
    teams = {t.pk: t for t in Team.objects.filter(organization=request.organization)}
    chosen: dict[str, dict] = {}
    for value in request.POST.getlist("right"):
        kind, _sep, rest = value.partition(":")
        target, _sep, right = rest.rpartition(":")
        if right not in RIGHT_NAMES:
            continue
        nothing = dict.fromkeys(RIGHT_NAMES, False)
        if kind == "role" and target in RoleKey.values:
            grant = chosen.setdefault(f"role:{target}", {"role_key": target, **nothing})
        elif kind == "team" and target.isdigit() and int(target) in teams:
            grant = chosen.setdefault(f"team:{target}", {"team": teams[int(target)], **nothing})
        else:
            continue
        grant[right] = True
    try:
        services.collection_grants_set(**_actor(request), collection=collection, grants=list(chosen.values()))
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Rights saved."))
    return redirect("org:asset_collection", org_slug=org_slug, collection_id=collection.pk)


@require_POST
def collection_delete(request, org_slug, collection_id):
    _require_organizer(request)
    collection = _collection(request, collection_id)
    asked = unconfirmed(
        request,
        question=_("Delete the collection “%(name)s”?") % {"name": collection.name},
        detail=_("Only an empty collection can be deleted."),
        action=_("Delete"),
        cancel_url=reverse("org:asset_collection", args=[org_slug, collection.pk]),
    )
    if asked:
        return asked
    try:
        services.collection_delete(**_actor(request), collection=collection)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("org:asset_collection", org_slug=org_slug, collection_id=collection.pk)
    messages.success(request, _("Collection deleted."))
    return redirect("org:asset_collections", org_slug=org_slug)


# --- the picker -------------------------------------------------------------------------------------------------


@require_GET
def picker(request, org_slug):
    """The picker dialog's content (htmx): search and a grid of what the member may use now. `accept` narrows the
    types (file, snippet, template; comma-separated), as the reply box or the composer needs."""
    accept = [k for k in request.GET.get("accept", "").split(",") if k in AssetKind.values] or list(AssetKind.values)
    text = request.GET.get("q", "").strip()[:200]
    kind = request.GET.get("kind", "")
    kind = kind if kind in accept else ""
    found = selectors.asset_search(_visible(request), text=text, kind=kind, usable=True).filter(kind__in=accept)
    rows = list(found.select_related("current_version")[: PICKER_SIZE + 1])
    items = []
    for asset in _decorate(rows[:PICKER_SIZE]):
        asset.selectable = _usable(asset)
        items.append(asset)
    context = {
        "items": items,
        "more": len(rows) > PICKER_SIZE,
        "q": text,
        "kind": kind,
        "accept": ",".join(accept),
        "kinds": [(k, label) for k, label in AssetKind.choices if k in accept],
    }
    return render(request, "assets/_picker_results.html", context)
