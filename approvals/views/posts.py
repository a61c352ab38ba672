"""Posts' pages: the list, the composer (new and edit, with live platform-limit checks), a post's page (content,
targets and their results, the diff reviewers see, approve/return, comments, timeline), and crisis statements.

TenantMiddleware has checked membership and activated the scope. Every post lookup goes through `posts_visible`, so
a post the member may not see is a 404 like a missing one; the services check the capability again."""

import difflib
import zoneinfo
from datetime import datetime

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.roles import RoleKey
from approvals.models import (
    ApprovalRequest,
    CrisisTemplate,
    Post,
    PostComment,
    PostStatus,
    PostVersion,
)
from approvals.services import engine
from approvals.services import posts as services
from assets.models import AssetVersion
from channels_integrations.models import ChannelConnection
from core.errors import DomainError

LIST_SIZE = 100


# --- helpers -----------------------------------------------------------------------------------------------------


def _require_posts(request) -> None:
    if not services.may_see_posts(request.membership):
        raise PermissionDenied


def _require_compose(request) -> None:
    if not services.may_compose(request.membership):
        raise PermissionDenied


def _post(request, post_id: int) -> Post:
    return get_object_or_404(
        services.posts_visible(request.membership).select_related("current_version", "approved_version", "author"),
        pk=post_id,
    )


def org_zone(organization) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(organization.timezone or "UTC")


def parse_local(value: str, organization) -> datetime | None:
    """A time typed in the composer (datetime-local, no zone) read in the organization's zone; ISO with an offset
    (the calendar) as given. Raises DomainError on garbage."""
    value = (value or "").strip()
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        raise DomainError(_("Enter a date and time such as 2026-04-01 09:30."), field="scheduled_at")
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=org_zone(organization))
    return parsed


def _local_input(value: datetime | None, organization) -> str:
    return value.astimezone(org_zone(organization)).strftime("%Y-%m-%dT%H:%M") if value else ""


def error_response(error: DomainError) -> JsonResponse:
    fields = {error.field: [str(error.message)]} if error.field else {}
    return JsonResponse(
        {"error": {"code": error.code, "message": str(error.message), "fields": fields}}, status=error.status
    )


def _connection_rows(request, connections, version: PostVersion | None):
    rows = []
    for connection in connections:
        limits = services.limits_for(connection)
        rows.append(
            {
                "connection": connection,
                "limits": limits,
                "chosen": version is not None and connection.pk in version.connection_ids,
                "variant": (version.variants or {}).get(str(connection.pk), "") if version else "",
            }
        )
    return rows


# --- list --------------------------------------------------------------------------------------------------------


@require_GET
def post_list(request, org_slug):
    _require_posts(request)
    posts = services.posts_visible(request.membership).select_related("current_version", "author")
    status = request.GET.get("status", "")
    if status in PostStatus.values:
        posts = posts.filter(status=status)
    return render(
        request,
        "approvals/post_list.html",
        {
            "posts": list(posts.order_by("-updated_at", "-id")[:LIST_SIZE]),
            "statuses": PostStatus.choices,
            "status": status,
            "may_compose": services.may_compose(request.membership),
        },
    )


# --- composer ----------------------------------------------------------------------------------------------------


def _composer_values(request) -> dict:
    data = request.POST
    variants = {
        key.removeprefix("variant_"): value for key, value in data.items() if key.startswith("variant_") and value
    }
    try:
        connection_ids = [int(i) for i in data.getlist("connections")]
        asset_ids = [int(i) for i in data.getlist("asset_versions")]
    except ValueError as exc:
        raise DomainError(_("Choose from the list."), field="connections") from exc
    return {
        "title": data.get("title", ""),
        "text": data.get("text", ""),
        "link": data.get("link", ""),
        "variants": variants,
        "connection_ids": connection_ids,
        "asset_version_ids": asset_ids,
        "scheduled_at": parse_local(data.get("scheduled_at", ""), request.organization),
        "publish_when_approved": data.get("publish_when_approved") in ("on", "1", "true"),
        "campaign_tags": data.get("campaign_tags", ""),
    }


def _composer(request, post: Post | None):
    if not services.may_compose(request.membership):
        raise PermissionDenied
    version = post.current_version if post is not None else None
    connections = services.publishable_connections(request.membership)
    error = None
    if request.method == "POST":
        try:
            values = _composer_values(request)
            post = services.post_save(
                organization=request.organization,
                actor=request.user,
                post=post,
                submit=request.POST.get("action") == "submit",
                **values,
            )
        except DomainError as exc:
            error = exc
        else:
            if post.status == PostStatus.IN_REVIEW:
                messages.success(request, _("The post was sent for approval."))
            elif post.status in (PostStatus.APPROVED, PostStatus.SCHEDULED):
                messages.success(request, _("The post is approved and scheduled."))
            else:
                messages.success(request, _("The draft was saved."))
            return redirect("org:post_detail", request.organization.slug, post.pk)
    initial_time = ""
    if version is not None:
        initial_time = _local_input(post.scheduled_at, request.organization)
    elif request.GET.get("date"):
        day = request.GET["date"][:16]
        initial_time = day if "T" in day else f"{day[:10]}T09:00"
    picked = []
    if version is not None:
        by_id = {v.pk: v for v in AssetVersion.objects.filter(pk__in=version.asset_order).select_related("asset")}
        picked = [by_id[i] for i in version.asset_order if i in by_id]
    context = {
        "post": post,
        "version": version,
        "rows": _connection_rows(request, connections, version),
        "initial_time": initial_time,
        "picked": picked,
        "zone": request.organization.timezone,
        "error": error,
        "form_data": request.POST if request.method == "POST" else None,
    }
    return render(request, "approvals/post_compose.html", context, status=400 if error else 200)


@require_http_methods(["GET", "POST"])
def post_new(request, org_slug):
    return _composer(request, None)


@require_http_methods(["GET", "POST"])
def post_edit(request, org_slug, post_id):
    _require_compose(request)
    post = _post(request, post_id)
    if post.status in services.LOCKED:
        messages.error(request, _("This post is already published; it can no longer be edited."))
        return redirect("org:post_detail", request.organization.slug, post.pk)
    return _composer(request, post)


@require_POST
def post_check(request, org_slug):
    """The composer's live check: each chosen channel's problems with the text, variants, link and media."""
    if not services.may_compose(request.membership):
        raise PermissionDenied
    try:
        values = _composer_values(request)
        versions = services.asset_versions_for_use(
            organization=request.organization, actor=request.user, version_ids=values["asset_version_ids"]
        )
    except DomainError as exc:
        return error_response(exc)
    allowed = {c.pk: c for c in services.publishable_connections(request.membership)}
    connections = [allowed[i] for i in values["connection_ids"] if i in allowed]
    problems = services.post_problems(
        connections=connections,
        text=values["text"].strip(),
        variants={k: v.strip() for k, v in values["variants"].items()},
        link=values["link"].strip(),
        versions=versions,
    )
    return JsonResponse({"targets": {str(k): v for k, v in problems.items()}})


# --- a post's page -----------------------------------------------------------------------------------------------


def text_diff(old: str, new: str) -> list[tuple[str, str]]:
    """(op, text) pieces, op "equal" | "insert" | "delete", by character (Japanese has no spaces between words)."""
    matcher = difflib.SequenceMatcher(a=old or "", b=new or "", autojunk=False)
    pieces: list[tuple[str, str]] = []
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op == "equal":
            pieces.append(("equal", old[a1:a2]))
        if op in ("delete", "replace"):
            pieces.append(("delete", old[a1:a2]))
        if op in ("insert", "replace"):
            pieces.append(("insert", new[b1:b2]))
    return pieces


def _compare_base(post: Post, versions: list[PostVersion], wanted: str) -> PostVersion | None:
    """What reviewers compare the current version with: the one asked for, else the last approved version (an edit
    after approval), else the one before."""
    by_number = {v.number: v for v in versions}
    if wanted.isdigit() and int(wanted) in by_number:
        return by_number[int(wanted)]
    current = post.current_version
    if post.approved_version_id and post.approved_version_id != post.current_version_id:
        return post.approved_version
    if current is not None and current.number > 1:
        return by_number.get(current.number - 1)
    return None


@require_GET
def post_detail(request, org_slug, post_id):
    _require_posts(request)
    post = _post(request, post_id)
    versions = list(post.versions.order_by("number"))
    current = post.current_version
    base = _compare_base(post, versions, request.GET.get("compare", ""))
    connections = {c.pk: c for c in ChannelConnection.objects.filter(pk__in=current.connection_ids)} if current else {}
    diff = None
    if base is not None and current is not None and base.pk != current.pk:
        old_variants, new_variants = base.variants or {}, current.variants or {}
        diff = {
            "base": base,
            "text": text_diff(base.text, current.text),
            "variants": [
                (
                    connections.get(int(k)),
                    text_diff(old_variants.get(k, ""), new_variants.get(k, "")),
                )
                for k in sorted(set(old_variants) | set(new_variants))
                if old_variants.get(k, "") != new_variants.get(k, "")
            ],
            "time_changed": base.scheduled_at != current.scheduled_at,
            "base_time": base.scheduled_at,
            "media_changed": list(base.asset_order) != list(current.asset_order),
            "targets_changed": sorted(base.connection_ids) != sorted(current.connection_ids),
        }
    approval = (
        ApprovalRequest.objects.filter(
            subject_type__app_label="approvals", subject_type__model="post", subject_id=post.pk
        )
        .select_related("workflow", "current_step")
        .order_by("-submitted_at", "-id")
        .first()
    )
    media = []
    if current is not None and current.asset_order:
        by_id = {v.pk: v for v in AssetVersion.objects.filter(pk__in=current.asset_order).select_related("asset")}
        media = [by_id[i] for i in current.asset_order if i in by_id]
    comments = list(post.comments.select_related("author"))
    threads = [c for c in comments if c.parent_id is None]
    replies: dict[int, list[PostComment]] = {}
    for comment in comments:
        if comment.parent_id:
            replies.setdefault(comment.parent_id, []).append(comment)
    for comment in threads:
        comment.thread = replies.get(comment.pk, [])
    context = {
        "post": post,
        "current": current,
        "versions": versions,
        "diff": diff,
        "approval": approval,
        "can_decide": approval is not None and engine.can_decide(approval, request.user),
        "targets": list(post.targets.select_related("connection")),
        "media": media,
        "threads": threads,
        "events": list(post.events.select_related("actor")),
        "variants": [(connections.get(int(k)), v) for k, v in sorted((current.variants or {}).items())]
        if current
        else [],
        "may_edit": services.may_compose(request.membership)
        and post.status not in services.LOCKED
        and not post.crisis_template_id,
        "may_submit": services.may_compose(request.membership)
        and post.status in (PostStatus.DRAFT, PostStatus.CHANGES_REQUESTED),
        "mentionable": services.mentionable_members(request.organization),
    }
    return render(request, "approvals/post_detail.html", context)


@require_POST
def post_submit(request, org_slug, post_id):
    _require_compose(request)
    post = _post(request, post_id)
    try:
        post = services.post_submit(organization=request.organization, actor=request.user, post=post)
    except DomainError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("The post was sent for approval."))
    return redirect("org:post_detail", request.organization.slug, post.pk)


@require_POST
def post_decide(request, org_slug, post_id):
    """Approve or return the post's pending request from its page (the queue's request page does the same)."""
    _require_posts(request)
    post = _post(request, post_id)
    approval = engine.request_pending_for(organization=request.organization, subject=post)
    if approval is None:
        messages.error(request, _("Nothing waits for approval on this post."))
        return redirect("org:post_detail", request.organization.slug, post.pk)
    try:
        seen = int(request.POST.get("version", "0") or 0)
        engine.approval_decide(
            organization=request.organization,
            actor=request.user,
            request=approval,
            approve=request.POST.get("decision") == "approve",
            comment=request.POST.get("comment", ""),
            seen_version=seen or None,
        )
    except DomainError as exc:
        messages.error(request, str(exc.message))
    else:
        if request.POST.get("decision") == "approve":
            messages.success(request, _("You approved the post."))
        else:
            messages.success(request, _("You returned the post for changes."))
    return redirect("org:post_detail", request.organization.slug, post.pk)


@require_POST
def post_comment(request, org_slug, post_id):
    _require_posts(request)
    post = _post(request, post_id)
    parent = None
    if request.POST.get("parent"):
        parent = PostComment.objects.filter(post=post, pk=request.POST["parent"]).first()
        if parent is None:
            raise Http404
    try:
        services.post_comment_add(
            organization=request.organization,
            actor=request.user,
            post=post,
            body=request.POST.get("body", ""),
            parent=parent,
            mention_ids=[int(i) for i in request.POST.getlist("mentions") if i.isdigit()],
        )
    except DomainError as exc:
        messages.error(request, str(exc.message))
    return redirect(reverse("org:post_detail", args=[request.organization.slug, post.pk]) + "#comments")


# --- crisis statements -------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def crisis_templates(request, org_slug):
    """The holding statements: who may publish them, approve them, and the button that publishes one now."""
    _require_posts(request)
    error = None
    if request.method == "POST":
        try:
            services.crisis_template_save(
                organization=request.organization,
                actor=request.user,
                name=request.POST.get("name", ""),
                text=request.POST.get("text", ""),
                connection_ids=[int(i) for i in request.POST.getlist("connections") if i.isdigit()],
                allowed_roles=request.POST.getlist("allowed_roles"),
            )
        except DomainError as exc:
            error = exc
        else:
            messages.success(request, _("The statement was saved; it needs approval before it can be used."))
            return redirect("org:crisis_templates", request.organization.slug)
    templates = list(
        CrisisTemplate.objects.filter(organization=request.organization)
        .select_related("approved_by")
        .prefetch_related("connections")
    )
    for template in templates:
        template.may_publish = services.may_use_crisis(request.membership, template) and template.approved_at
    return render(
        request,
        "approvals/crisis_templates.html",
        {
            "templates": templates,
            "connections": services.publishable_connections(request.membership),
            "roles": [(k, label) for k, label in RoleKey.choices],
            "may_review": services.may_review(request.membership),
            "error": error,
        },
        status=400 if error else 200,
    )


def _template(request, template_id: int) -> CrisisTemplate:
    return get_object_or_404(CrisisTemplate.objects.filter(organization=request.organization), pk=template_id)


@require_POST
def crisis_template_approve(request, org_slug, crisis_id):
    if not services.may_review(request.membership):
        raise PermissionDenied
    template = _template(request, crisis_id)
    try:
        services.crisis_template_approve(organization=request.organization, actor=request.user, template=template)
    except DomainError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("The statement is approved."))
    return redirect("org:crisis_templates", request.organization.slug)


@require_POST
def crisis_template_publish(request, org_slug, crisis_id):
    _require_posts(request)
    template = _template(request, crisis_id)
    try:
        post = services.crisis_template_publish(
            organization=request.organization, actor=request.user, template=template
        )
    except DomainError as exc:
        messages.error(request, str(exc.message))
        return redirect("org:crisis_templates", request.organization.slug)
    messages.success(request, _("The statement is being published."))
    return redirect("org:post_detail", request.organization.slug, post.pk)
