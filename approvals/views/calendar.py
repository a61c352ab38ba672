"""The content calendar: month and week views (FullCalendar, static/vendor/fullcalendar) of scheduled and published
posts, filtered by channel, status and campaign; drag and drop reschedules (the server checks again and asks for
approval again when the workflow says so); a click on a day opens the composer for that day.

Times: FullCalendar runs in "UTC" and is handed the organization's wall-clock times without an offset, so it shows
them exactly as the organization's zone reads them, DST or not; what it sends back is read in that zone too."""

from datetime import timedelta

from csp.constants import NONCE
from csp.decorators import csp_update
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from approvals.models import PostStatus, PostTarget
from approvals.services import posts as services
from approvals.views.posts import _post, error_response, org_zone, parse_local
from core.errors import DomainError

MAX_RANGE = timedelta(days=62)  # a month view with its leading and trailing weeks, with room
MAX_EVENTS = 2000


MOVABLE = (
    PostStatus.DRAFT,
    PostStatus.IN_REVIEW,
    PostStatus.CHANGES_REQUESTED,
    PostStatus.APPROVED,
    PostStatus.SCHEDULED,
)


def _require(request):
    if not services.may_see_posts(request.membership):
        raise PermissionDenied


# FullCalendar injects its styles into the page's <style data-fullcalendar nonce=…> placeholder (CSSOM rules only),
# and its arrow icons are a font embedded as a data: URL: both allowed on this page only.
@csp_update({"style-src": [NONCE], "font-src": ["data:"]})
@require_GET
def post_calendar(request, org_slug):
    _require(request)
    posts = services.posts_visible(request.membership)
    campaigns = sorted({tag for tags in posts.values_list("campaign_tags", flat=True)[:1000] for tag in tags})
    return render(
        request,
        "approvals/calendar.html",
        {
            "connections": services.publishable_connections(request.membership),
            "statuses": PostStatus.choices,
            "campaigns": campaigns,
            "may_compose": services.may_compose(request.membership),
            "zone": request.organization.timezone,
        },
    )


@require_GET
def post_calendar_feed(request, org_slug):
    """Events between `start` and `end` (the organization's wall-clock times, as FullCalendar asks for them)."""
    _require(request)
    try:
        start = parse_local(request.GET.get("start", "").removesuffix("Z"), request.organization)
        end = parse_local(request.GET.get("end", "").removesuffix("Z"), request.organization)
    except DomainError as exc:
        return error_response(exc)
    if start is None or end is None or end <= start or end - start > MAX_RANGE:
        return error_response(DomainError(_("Ask for a range of at most 62 days."), field="start"))
    zone = org_zone(request.organization)
    posts = (
        services.posts_visible(request.membership)
        .filter(scheduled_at__gte=start, scheduled_at__lt=end)
        .select_related("current_version")
        .prefetch_related(Prefetch("targets", queryset=PostTarget.objects.select_related("connection")))
    )
    status = request.GET.get("status", "")
    if status in PostStatus.values:
        posts = posts.filter(status=status)
    if request.GET.get("connection", "").isdigit():
        posts = posts.filter(targets__connection_id=int(request.GET["connection"]))
    if request.GET.get("campaign"):
        posts = posts.filter(campaign_tags__contains=[request.GET["campaign"]])
    events = []
    for post in posts.order_by("scheduled_at", "id")[:MAX_EVENTS]:
        local = post.scheduled_at.astimezone(zone).replace(tzinfo=None)
        targets = list(post.targets.all())
        events.append(
            {
                "id": str(post.pk),
                "title": str(post)[:80],
                "start": local.isoformat(timespec="minutes"),
                "url": reverse("org:post_detail", args=[request.organization.slug, post.pk]),
                "editable": post.status in MOVABLE and services.may_compose(request.membership),
                "classNames": [f"post-status-{post.status}"],
                "extendedProps": {
                    "status": post.status,
                    "statusLabel": str(post.get_status_display()),
                    "channels": [t.connection.display_name for t in targets],
                    "published": [t.permalink for t in targets if t.permalink],
                    "rescheduleUrl": reverse("org:post_reschedule", args=[request.organization.slug, post.pk]),
                },
            }
        )
    return JsonResponse(events, safe=False)


@require_POST
def post_reschedule(request, org_slug, post_id):
    """Drag and drop: `scheduled_at` as the organization's wall-clock time (or ISO with an offset)."""
    if not services.may_compose(request.membership):
        raise PermissionDenied
    post = _post(request, post_id)
    try:
        when = parse_local(request.POST.get("scheduled_at", "").removesuffix("Z"), request.organization)
        if when is None:
            raise DomainError(_("Choose when to publish."), field="scheduled_at")
        post = services.post_reschedule(
            organization=request.organization, actor=request.user, post=post, scheduled_at=when
        )
    except DomainError as exc:
        return error_response(exc)
    return JsonResponse(
        {
            "id": post.pk,
            "status": post.status,
            "statusLabel": str(post.get_status_display()),
            "scheduled_at": post.scheduled_at.isoformat(),
            "reapproval": post.status == PostStatus.IN_REVIEW,
        }
    )
