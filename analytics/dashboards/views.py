"""Analytics → Dashboards: one page per PAGES key and the drill-down list. `analytics.view` gates them; every
number and list stays within the channels the member may see (filters_from_request)."""

import json
from datetime import date
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_GET

from accounts.permissions import require_capability
from accounts.roles import Capability
from analytics.dashboards import drilldown, formatting
from analytics.dashboards.filters import filter_params, filters_from_request
from analytics.dashboards.pages import PAGES, page_data
from analytics.metrics import DEFINITIONS
from core.db_replica import reads_from_replica

DRILL_PAGE_SIZE = 50


def _url(name: str, slug: str, params) -> str:
    return reverse(name, args=[slug]) + ("?" + urlencode(params) if params else "")


def _export_urls(slug: str, key: str, params) -> dict:
    """The reports engineer's export links, once their URL exists."""
    try:
        base = reverse("org:reports_export", args=[slug])
    except NoReverseMatch:
        return {}
    return {fmt: base + "?" + urlencode([("page", key), ("format", fmt), *params]) for fmt in ("csv", "pdf")}


def _with(params, replace: dict) -> list:
    """The filter parameters with some replaced (a table row's bucket replaces that filter)."""
    return [(name, value) for name, value in params if name not in replace] + list(replace.items())


def _duration_labels() -> dict:
    return {
        "s": _("%(seconds)s s"),
        "min": _("%(minutes)s min"),
        "h": _("%(hours)s h"),
        "h_min": _("%(hours)s h %(minutes)s min"),
        "d": _("%(days)s d"),
        "d_h": _("%(days)s d %(hours)s h"),
    }


def _decorate(data: dict, slug: str, params) -> dict:
    """What the template needs beyond page_data: formatted values, changes, drill-down links, chart configs."""
    drill = "org:analytics_drilldown"
    labels = _duration_labels()
    for kpi in data["kpis"]:
        kpi["display"] = formatting.value(kpi["value"], kpi["unit"])
        kpi["change"] = formatting.change(kpi)
        kpi["url"] = _url(drill, slug, [("metric", kpi["drill"]), *params]) if kpi["drill"] else None
    for series in data["series"]:
        # The chart's numbers as a table too (screen readers, keyboard drill-down), each linked like its point.
        series["table_rows"] = [
            {
                "day": day,
                "cells": [
                    {
                        "display": formatting.value(line["values"][index], series["unit"]),
                        "url": _url(drill, slug, [("metric", line["drill"]), ("day", day), *params])
                        if line["drill"] and line["values"][index] is not None
                        else None,
                    }
                    for line in series["lines"]
                ],
            }
            for index, day in enumerate(series["x"])
        ]
        series["empty"] = not any(value for line in series["lines"] for value in line["values"])
        series["chart"] = json.dumps(
            {
                "type": "line",
                "x": series["x"],
                "lines": series["lines"],
                "unit": series["unit"],
                "labels": labels,
                "drill": _url(drill, slug, params) if any(line["drill"] for line in series["lines"]) else None,
            }
        )
    for table in data["tables"]:
        rows = []
        for row, row_params in zip(table["rows"], table.get("params") or [None] * len(table["rows"]), strict=True):
            cells = []
            for index, cell in enumerate(row):
                unit = (table.get("units") or [None] * len(row))[index]
                metric = (table.get("drill") or [None] * len(row))[index]
                url = None
                if metric and row_params:
                    replace = dict(row_params)
                    metric = replace.pop("metric", metric)
                    if metric != "row":
                        url = _url(drill, slug, [("metric", metric), *_with(params, replace)])
                cells.append({"display": cell if unit is None else formatting.value(cell, unit), "url": url})
            rows.append(cells)
        table["cells"] = rows
        column = table.get("chart")
        if column is not None and table["rows"]:
            table["chart_config"] = json.dumps(
                {
                    "type": "bar",
                    "x": [row[0] for row in table["rows"]],
                    "lines": [{"name": table["columns"][column], "values": [row[column] for row in table["rows"]]}],
                    "unit": table["units"][column],
                    "labels": labels,
                    "urls": [cells[column]["url"] for cells in rows],
                }
            )
    return data


# Tabs served by another engineer's page rather than the generic one: CSAT has its own, richer page (ratings 1–5,
# comments). page_data("csat") still feeds the exports.
OWN_PAGES = {"csat": "org:csat_dashboard"}


# Tabs to other analytics pages with filters of their own (the dashboards' filters are not carried over).
OTHER_TABS = [("listening", _lazy("Listening"), "org:listening_share")]


def _tabs(slug: str) -> list[tuple]:
    """(key, title, url, keeps the filters) for each tab."""
    tabs = [(key, str(title), tab_url(key, slug), True) for key, (title, _build) in PAGES.items()]
    for key, title, name in OTHER_TABS:
        try:
            tabs.append((key, str(title), reverse(name, args=[slug]), False))
        except NoReverseMatch:
            continue
    return tabs


def tab_url(key: str, slug: str) -> str:
    """The URL of a dashboard tab."""
    try:
        return reverse(OWN_PAGES.get(key, f"org:analytics_{key}"), args=[slug])
    except NoReverseMatch:
        return reverse(f"org:analytics_{key}", args=[slug])


def dashboard_context(request, current_tab: str) -> dict:
    """What analytics/dashboards/_layout.html needs (tabs, filter form, filters, the filters' query string, export
    links): for the dashboards and for other dashboard-like pages that extend the layout."""
    filters, form = filters_from_request(request)
    params = filter_params(filters)
    slug = request.membership.organization.slug
    export = request.membership.has(Capability.DATA_EXPORT) and current_tab in PAGES
    return {
        "form": form,
        "filters": filters,
        "params": params,
        "tabs": _tabs(slug),
        "current_tab": current_tab,
        "query": urlencode(params),
        "exports": _export_urls(slug, current_tab, params) if export else {},
    }


@require_GET
@require_capability(Capability.ANALYTICS_VIEW)
@reads_from_replica
def dashboard(request, org_slug, page: str = "overview"):
    context = dashboard_context(request, page)
    context["page"] = _decorate(page_data(page, context["filters"]), org_slug, context["params"])
    return render(request, "analytics/dashboards/page.html", context)


@require_GET
@require_capability(Capability.ANALYTICS_VIEW)
@reads_from_replica
def drilldown_view(request, org_slug):
    """The rows behind a number: ?metric=<DRILLS key>[&day=YYYY-MM-DD]&<filters>."""
    filters, form = filters_from_request(request)
    metric = request.GET.get("metric", "")
    errors = []
    if metric not in drilldown.DRILLS:
        errors.append(_("Choose what to list: this number cannot be listed."))
    day = request.GET.get("day")
    if day:
        try:
            filters = drilldown.for_day(filters, date.fromisoformat(day))
        except ValueError:
            errors.append(_("The day must be a date such as 2026-11-30."))
    context = {"form": form, "filters": filters, "errors": errors, "metric": metric, "day": day}
    if errors:
        return render(request, "analytics/dashboards/drilldown.html", context, status=400)
    title, keys = drilldown.DRILLS[metric]
    paginator = Paginator(drilldown.drill_rows(metric, filters), DRILL_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    rows = list(page.object_list)
    tickets = drilldown.tickets_for(rows)
    params = filter_params(filters)
    back = [("metric", metric), *params] + ([("day", day)] if day else [])
    context.update(
        {
            "title": title,
            "definition": " ".join(_(DEFINITIONS[key]) for key in keys),
            "rows": [{**row, "ticket": tickets.get(row["ticket_id"]), "display": _row_display(row)} for row in rows],
            "page_obj": page,
            "count": paginator.count,
            "query": urlencode(back),
            "dashboard_url": _url("org:analytics_overview", org_slug, params),
            "applied": _applied(form, filters),
        }
    )
    return render(request, "analytics/dashboards/drilldown.html", context)


def _applied(form, filters) -> list[tuple[str, list[str]]]:
    """The filters in words (label, chosen names), as the list shows what it is narrowed to."""
    chosen = {
        "connection": filters.connection_ids,
        "platform": filters.platforms,
        "team": filters.team_ids,
        "agent": filters.agent_ids,
        "tag": filters.tag_ids,
    }
    applied = []
    for name, values in chosen.items():
        if values:
            labels = {str(value): str(label) for value, label in form.fields[name].choices}
            applied.append((str(form.fields[name].label), sorted(labels.get(str(v), str(v)) for v in values)))
    return applied


def _row_display(row: dict) -> str:
    if "answered" in row:
        return _("Answered") if row["answered"] else _("Not answered yet")
    if row.get("duration") is not None:
        return formatting.duration(row["duration"])
    return ""
