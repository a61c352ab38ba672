"""Settings → SLA and business hours: calendars (weekly hours, holidays, closures) and SLA policies. Every member
may read them; changing them needs `rules.manage` (403 otherwise, and the forms are not shown)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import require_capability
from accounts.roles import Capability
from automation.models import BusinessCalendar, BusinessClosure, SlaPolicy
from automation.models.sla import default_schedule
from automation.sla import services
from automation.sla.calendar import calendar_tz_name, spec_for, upcoming_holidays
from automation.sla.forms import WEEKDAYS, CalendarForm, ClosureForm, PolicyForm, japanese_holidays_preselected
from channels_integrations.permissions import connections_visible_to
from core.errors import DomainError, NotAllowed
from core.views import actor_kwargs, form_error, unconfirmed
from tickets.models import PRIORITY_RANK


def _can_manage(request) -> bool:
    return request.membership.has(Capability.RULES_MANAGE)


def format_duration(minutes: int | None) -> str:
    """A target as people read it: "1 h 30 min", "45 min", "8 h"; "—" when not measured."""
    if minutes is None:
        return "—"
    hours, rest = divmod(minutes, 60)
    if hours and rest:
        return _("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": rest}
    if hours:
        return _("%(hours)d h") % {"hours": hours}
    return _("%(minutes)d min") % {"minutes": rest}


def _visible_policies(request) -> Q:
    """A policy names its channel: a member sees the organization-wide ones and those of the channels they may see."""
    return Q(connection__isnull=True) | Q(connection__in=connections_visible_to(request.membership))


@require_GET
def sla_settings(request, org_slug):
    calendars = BusinessCalendar.objects.annotate(policy_count=Count("policies")).order_by("name")
    policies = list(
        SlaPolicy.objects.filter(_visible_policies(request))
        .select_related("connection", "calendar")
        .order_by("name", "pk")
    )
    policies.sort(key=lambda p: -PRIORITY_RANK.get(p.priority, 0))  # urgent first (stable: by name within)
    for policy in policies:
        for metric in ("first_response", "next_response", "resolution"):
            setattr(policy, f"{metric}_display", format_duration(getattr(policy, f"{metric}_minutes")))
    return render(
        request,
        "automation/sla/settings.html",
        {"calendars": calendars, "policies": policies, "can_manage": _can_manage(request)},
    )


# --- calendars ----------------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@require_capability(Capability.RULES_MANAGE)
def sla_calendar_create(request, org_slug):
    form = CalendarForm(
        request.POST or None,
        organization=request.organization,
        schedule=default_schedule(),
        initial={"japanese_holidays": japanese_holidays_preselected(request.organization)},
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                calendar = services.calendar_save(
                    **_calendar_kwargs(form), **actor_kwargs(request, with_membership=True)
                )
            except DomainError as exc:
                form_error(form, exc)
            else:
                messages.success(request, _("Business hours “%(name)s” saved.") % {"name": calendar.name})
                return redirect("org:sla_calendar_edit", org_slug=org_slug, calendar_id=calendar.pk)
    return render(request, "automation/sla/calendar_form.html", {"form": form, "calendar": None}, status=status)


def _calendar_kwargs(form) -> dict:
    data = form.cleaned_data
    return {
        "name": data["name"],
        "timezone": data["timezone"],
        "japanese_holidays": data["japanese_holidays"],
        "is_default": data["is_default"],
        "schedule": data["schedule"],
    }


def _calendar_page(request, calendar, *, form=None, closure_form=None, status=200):
    can_manage = _can_manage(request)
    tz_name = calendar_tz_name(calendar, request.organization)
    if form is None and can_manage:
        form = CalendarForm(
            organization=request.organization,
            schedule=calendar.schedule,
            initial={
                "name": calendar.name,
                "timezone": calendar.timezone,
                "japanese_holidays": calendar.japanese_holidays,
                "is_default": calendar.is_default,
            },
        )
    if closure_form is None and can_manage:
        closure_form = ClosureForm(tz_name=tz_name)
    spec = spec_for(calendar, request.organization)
    today = timezone.now().astimezone(spec.tz).date()
    context = {
        "calendar": calendar,
        "form": form,
        "closure_form": closure_form,
        "can_manage": can_manage,
        "calendar_tz": tz_name,
        "closures": list(calendar.closures.order_by("starts_at")),
        "holidays": upcoming_holidays(spec, today=today),
        "schedule_rows": _schedule_rows(calendar.schedule),
    }
    return render(request, "automation/sla/calendar_form.html", context, status=status)


def _schedule_rows(schedule: dict) -> list:
    """Read-only hours per weekday, for members who cannot edit."""

    return [(label, schedule.get(str(day), []) or []) for day, label in WEEKDAYS]


@require_http_methods(["GET", "POST"])
def sla_calendar_edit(request, org_slug, calendar_id):
    calendar = get_object_or_404(BusinessCalendar, pk=calendar_id)
    if request.method == "GET":
        return _calendar_page(request, calendar)
    if not _can_manage(request):
        raise PermissionDenied
    form = CalendarForm(request.POST, organization=request.organization, schedule=calendar.schedule)
    if form.is_valid():
        try:
            services.calendar_save(
                calendar=calendar, **_calendar_kwargs(form), **actor_kwargs(request, with_membership=True)
            )
        except DomainError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Business hours “%(name)s” saved.") % {"name": calendar.name})
            return redirect("org:sla_calendar_edit", org_slug=org_slug, calendar_id=calendar.pk)
    calendar.refresh_from_db()  # the page shows what is stored next to the rejected input
    return _calendar_page(request, calendar, form=form, status=400)


@require_POST
@require_capability(Capability.RULES_MANAGE)
def sla_calendar_delete(request, org_slug, calendar_id):
    calendar = get_object_or_404(BusinessCalendar, pk=calendar_id)
    asked = unconfirmed(
        request,
        question=_("Delete the business hours “%(name)s”?") % {"name": calendar.name},
        detail=_("SLA policies on them count around the clock instead."),
        action=_("Delete"),
        cancel_url=reverse("org:sla_calendar_edit", args=[org_slug, calendar.pk]),
    )
    if asked:
        return asked
    try:
        services.calendar_delete(calendar=calendar, **actor_kwargs(request, with_membership=True))
    except NotAllowed as exc:
        raise PermissionDenied from exc
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("org:sla_calendar_edit", org_slug=org_slug, calendar_id=calendar.pk)
    messages.success(request, _("Business hours “%(name)s” deleted.") % {"name": calendar.name})
    return redirect("org:sla_settings", org_slug=org_slug)


@require_POST
@require_capability(Capability.RULES_MANAGE)
def sla_closure_add(request, org_slug, calendar_id):
    calendar = get_object_or_404(BusinessCalendar, pk=calendar_id)
    closure_form = ClosureForm(request.POST, tz_name=calendar_tz_name(calendar, request.organization))
    if closure_form.is_valid():
        try:
            services.closure_add(
                calendar=calendar,
                name=closure_form.cleaned_data["name"],
                starts_at=closure_form.cleaned_data["starts_at"],
                ends_at=closure_form.cleaned_data["ends_at"],
                **actor_kwargs(request, with_membership=True),
            )
        except DomainError as exc:
            form_error(closure_form, exc)
        else:
            messages.success(request, _("Closure added."))
            return redirect("org:sla_calendar_edit", org_slug=org_slug, calendar_id=calendar.pk)
    return _calendar_page(request, calendar, closure_form=closure_form, status=400)


@require_POST
@require_capability(Capability.RULES_MANAGE)
def sla_closure_delete(request, org_slug, closure_id):
    closure = get_object_or_404(BusinessClosure.objects.select_related("calendar"), pk=closure_id)
    asked = unconfirmed(
        request,
        question=_("Delete the closure “%(name)s”?") % {"name": closure.name},
        action=_("Delete"),
        cancel_url=reverse("org:sla_calendar_edit", args=[org_slug, closure.calendar_id]),
    )
    if asked:
        return asked
    services.closure_delete(closure=closure, **actor_kwargs(request, with_membership=True))
    messages.success(request, _("Closure deleted."))
    return redirect("org:sla_calendar_edit", org_slug=org_slug, calendar_id=closure.calendar_id)


# --- policies -----------------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@require_capability(Capability.RULES_MANAGE)
def sla_policy_create(request, org_slug):
    form = PolicyForm(request.POST or None, initial={"warning_minutes": 15, "enabled": True})
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                policy = services.policy_save(**form.service_kwargs(), **actor_kwargs(request, with_membership=True))
            except DomainError as exc:
                form_error(form, exc)
            else:
                messages.success(request, _("SLA policy “%(name)s” saved.") % {"name": policy.name})
                return redirect("org:sla_settings", org_slug=org_slug)
    return render(request, "automation/sla/policy_form.html", {"form": form, "policy": None}, status=status)


@require_http_methods(["GET", "POST"])
def sla_policy_edit(request, org_slug, policy_id):
    policy = get_object_or_404(
        SlaPolicy.objects.filter(_visible_policies(request)).select_related("connection", "calendar"), pk=policy_id
    )
    can_manage = _can_manage(request)
    if request.method == "POST" and not can_manage:
        raise PermissionDenied
    form = PolicyForm(request.POST or None, initial=PolicyForm.initial_for(policy)) if can_manage else None
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                services.policy_save(
                    policy=policy, **form.service_kwargs(), **actor_kwargs(request, with_membership=True)
                )
            except DomainError as exc:
                form_error(form, exc)
            else:
                messages.success(request, _("SLA policy “%(name)s” saved.") % {"name": policy.name})
                return redirect("org:sla_settings", org_slug=org_slug)
    context = {"form": form, "policy": policy, "can_manage": can_manage}
    for metric in ("first_response", "next_response", "resolution"):
        context[f"{metric}_display"] = format_duration(getattr(policy, f"{metric}_minutes"))
    return render(request, "automation/sla/policy_form.html", context, status=status)


@require_POST
@require_capability(Capability.RULES_MANAGE)
def sla_policy_delete(request, org_slug, policy_id):
    policy = get_object_or_404(SlaPolicy, pk=policy_id)
    name = policy.name
    asked = unconfirmed(
        request,
        question=_("Delete the SLA policy “%(name)s”?") % {"name": name},
        detail=_("Open tickets under it keep their due times; new tickets get another policy or none."),
        action=_("Delete"),
        cancel_url=reverse("org:sla_policy_edit", args=[org_slug, policy.pk]),
    )
    if asked:
        return asked
    services.policy_delete(policy=policy, **actor_kwargs(request, with_membership=True))
    messages.success(request, _("SLA policy “%(name)s” deleted.") % {"name": name})
    return redirect("org:sla_settings", org_slug=org_slug)
