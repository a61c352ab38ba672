"""Analytics → Listening: the mention stream (with the one-click ticket), share of voice, the monitors."""

import json

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import require_capability
from accounts.roles import Capability
from analytics.listening import selectors, services
from analytics.listening.forms import MonitorForm, PeriodForm, StreamFilterForm, platform_choices
from analytics.listening.models import HashtagQuery, ListeningSource, Monitor, MonitorKind, SpikeAlert
from channels_integrations.permissions import connections_visible_to


def _stream_context(request, *, after_id=None, before_id=None) -> dict:
    monitors = list(Monitor.objects.all())
    form = StreamFilterForm(request.GET or None, monitors=monitors)
    filters = form.cleaned_data if form.is_valid() else {}
    mentions = selectors.mention_stream(
        request.membership,
        monitor_id=filters.get("monitor"),
        platform=filters.get("platform") or "",
        sentiment=filters.get("sentiment") or "",
        after_id=after_id,
        before_id=before_id,
    )
    query = request.GET.copy()
    for key in ("after", "before"):
        query.pop(key, None)
    return {
        "form": form,
        "mentions": mentions,
        "monitors": monitors,
        "filter_query": query.urlencode(),
        "newest_id": max([m.pk for m in mentions], default=after_id or 0),
        "oldest_id": mentions[-1].pk if mentions else 0,  # the last shown: the next page starts after it
        "more": len(mentions) == selectors.STREAM_PAGE,
        "can_ticket": request.membership.has(Capability.TICKETS_WORK),
    }


def _int_param(request, name: str) -> int | None:
    value = request.GET.get(name, "")
    return int(value) if value.isdigit() and len(value) < 19 else None


@require_GET
@require_capability(Capability.ANALYTICS_VIEW)
def listening_stream(request, org_slug):
    """Mentions, newest first, filtered by monitor, platform and sentiment; new ones appear by themselves (htmx
    asks for those collected after the newest shown every 20 seconds)."""
    context = _stream_context(request, before_id=_int_param(request, "before"))
    context["tab"] = "stream"
    return render(request, "analytics_listening/stream.html", context)


@require_GET
@require_capability(Capability.ANALYTICS_VIEW)
def listening_stream_new(request, org_slug):
    """The live part of the stream: mentions collected after `after` (matching the filters), to put on top."""
    after = _int_param(request, "after") or 0
    context = _stream_context(request, after_id=after)
    context["newest_id"] = max(context["newest_id"], after)
    return render(request, "analytics_listening/_stream_new.html", context)


@require_POST
@require_capability(Capability.TICKETS_WORK)
def listening_mention_ticket(request, org_slug, mention_id: int):
    """One click: the mention becomes a ticket (or the ticket it already became) and the member lands on it."""
    mention = get_object_or_404(selectors.visible_mentions(request.membership), pk=mention_id)
    ticket = services.mention_ticket_create(organization=request.organization, actor=request.user, mention=mention)
    return redirect("org:inbox_ticket", request.organization.slug, ticket.pk)


@require_GET
@require_capability(Capability.ANALYTICS_VIEW)
def listening_share(request, org_slug):
    """Share of voice and engagement rate per day or week."""
    form = PeriodForm(request.GET or None)
    first, last, by = form.period()
    period = selectors.Period(first, last, timezone.get_current_timezone(), by)
    share = selectors.share_of_voice(request.membership, period)
    for line in share["lines"]:
        line["name"] = line["name"] or _("Our brand")
    rate = selectors.engagement(request.membership, period)
    # Drawn by the dashboards' charts.js (analytics/static/analytics/charts.js), which reads this shape.
    share_chart = {
        "type": "line",
        "unit": "percent",
        "drill": None,
        "x": share["x"],
        "lines": [{"name": line["name"], "values": line["values"]} for line in share["lines"]],
    }
    rate_chart = {
        "type": "line",
        "unit": "percent",
        "drill": None,
        "x": rate["x"],
        "lines": [{"name": _("Engagement rate"), "values": rate["values"]}],
    }
    rows = [
        {
            "x": x,
            "total": share["totals"][i],
            "cells": [(line["counts"][i], line["values"][i]) for line in share["lines"]],
            "rate": rate["values"][i],
        }
        for i, x in enumerate(share["x"])
    ]
    return render(
        request,
        "analytics_listening/share.html",
        {
            "tab": "share",
            "form": form,
            "first": first,
            "last": last,
            "share": share,
            "rows": rows,
            "share_chart": json.dumps(share_chart, ensure_ascii=False),
            "rate_chart": json.dumps(rate_chart, ensure_ascii=False),
            "has_competitors": len(share["lines"]) > 1,
        },
    )


@require_GET
@require_capability(Capability.ANALYTICS_VIEW)
def listening_monitors(request, org_slug):
    """The monitors, and where each listening connection stands (last poll, errors, Instagram hashtags used)."""
    monitors = list(Monitor.objects.order_by("kind", "name"))
    labels = dict(platform_choices())
    latest = {}
    for alert in (
        SpikeAlert.objects.filter(monitor__in=monitors).order_by("monitor_id", "-window_start").distinct("monitor_id")
    ):
        latest[alert.monitor_id] = alert
    for monitor in monitors:
        monitor.platform_labels = [labels.get(p, p) for p in monitor.platforms]
        monitor.last_spike = latest.get(monitor.pk)
    connections = list(connections_visible_to(request.membership).filter(platform__in=services.listening_platforms()))
    sources = {s.connection_id: s for s in ListeningSource.objects.filter(connection__in=connections)}
    now = timezone.now()
    used = {}
    for connection_id in HashtagQuery.objects.filter(
        connection__in=connections, first_queried_at__gt=now - services.HASHTAG_WINDOW
    ).values_list("connection_id", flat=True):
        used[connection_id] = used.get(connection_id, 0) + 1
    rows = [(c, sources.get(c.pk), used.get(c.pk, 0)) for c in connections]
    return render(
        request,
        "analytics_listening/monitors.html",
        {
            "tab": "monitors",
            "monitors": monitors,
            "sources": rows,
            "hashtag_limit": services.HASHTAG_LIMIT,
            "can_manage": request.membership.has(Capability.ANALYTICS_MANAGE),
            "kinds": dict(MonitorKind.choices),
        },
    )


@require_http_methods(["GET", "POST"])
@require_capability(Capability.ANALYTICS_MANAGE)
def listening_monitor_edit(request, org_slug, monitor_id: int | None = None):
    monitor = get_object_or_404(Monitor, pk=monitor_id) if monitor_id else None
    form = MonitorForm(request.POST or None, instance=monitor, organization=request.organization)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        services.monitor_save(
            organization=request.organization,
            actor=request.user,
            monitor=monitor,
            name=data["name"],
            kind=data["kind"],
            terms=data["terms"],
            excluded_terms=data["excluded_terms"],
            platforms=data["platforms"],
            active=data["active"],
        )
        messages.success(request, _("Monitor saved."))
        return redirect(reverse("org:listening_monitors", args=[request.organization.slug]))
    context = {"tab": "monitors", "form": form, "monitor": monitor}
    return render(request, "analytics_listening/monitor_edit.html", context)
