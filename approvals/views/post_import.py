"""CSV import of posts: upload → (task) check → preview of every row, valid or with its errors per column →
confirm → (task) the valid rows become posts in the approval flow. The page polls the import's progress."""

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from approvals import tasks_import
from approvals.services import post_import
from approvals.services import posts as services
from core.errors import DomainError

PREVIEW_ROWS = 500  # rows shown on the page; the counts cover all of them, errors first


def _require(request):
    if not services.may_compose(request.membership):
        raise PermissionDenied


@require_http_methods(["GET", "POST"])
def import_upload(request, org_slug):
    _require(request)
    error = None
    if request.method == "POST":
        upload = request.FILES.get("file")
        try:
            if upload is None:
                raise DomainError(_("Choose a CSV file."), field="file")
            if upload.size > post_import.MAX_BYTES:
                raise DomainError(
                    _("The file is larger than %(max)d MB.") % {"max": post_import.MAX_BYTES // (1024 * 1024)},
                    field="file",
                )
            import_id = post_import.import_start(
                organization=request.organization, actor=request.user, data=upload.read()
            )
        except DomainError as exc:
            error = exc.message
        else:
            tasks_import.post_import_check.delay(
                organization_id=request.organization.pk, import_id=import_id, user_id=request.user.pk
            )
            return redirect("org:post_import_status", request.organization.slug, import_id)
    return render(
        request,
        "approvals/import_upload.html",
        {"error": error, "connections": services.publishable_connections(request.membership)},
        status=400 if error else 200,
    )


def _state(request, import_id: str) -> dict:
    state = post_import.state_get(request.organization, import_id, request.user)
    if state is None:
        raise Http404
    return state


@require_GET
def import_status(request, org_slug, import_id):
    """The import's page (progress, then the preview, then the result); `?format=json` is what the page polls."""
    _require(request)
    state = _state(request, import_id)
    if request.GET.get("format") == "json":
        return JsonResponse(
            {
                "phase": state["phase"],
                "done": state.get("done", 0),
                "total": state.get("total", 0),
                "created": state.get("created"),
                "error": state.get("error", ""),
            }
        )
    result = state.get("result") or {}
    rows = result.get("rows") or []
    shown = sorted(rows, key=lambda r: (r["valid"], r["line"]))[:PREVIEW_ROWS]
    return render(
        request,
        "approvals/import_status.html",
        {
            "import_id": import_id,
            "state": state,
            "result": result,
            "rows": shown,
            "hidden_rows": max(len(rows) - PREVIEW_ROWS, 0),
            "poll_url": reverse("org:post_import_status", args=[request.organization.slug, import_id]) + "?format=json",
        },
    )


@require_POST
def import_confirm(request, org_slug, import_id):
    _require(request)
    state = _state(request, import_id)
    if state["phase"] == "preview" and (state.get("result") or {}).get("valid"):
        post_import.state_update(request.organization, import_id, phase="creating", done=0)
        tasks_import.post_import_create.delay(
            organization_id=request.organization.pk, import_id=import_id, user_id=request.user.pk
        )
    return redirect("org:post_import_status", request.organization.slug, import_id)
