"""Analytics → Satisfaction: the CSAT dashboard (analytics.view) and the organization's survey settings
(analytics.manage). Every number and comment stays within the channels the member may see."""

import json

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from accounts.models import User
from accounts.permissions import require_capability
from accounts.roles import Capability
from analytics.csat import metrics
from analytics.csat.forms import SurveySettingsForm
from analytics.dashboards import formatting
from analytics.dashboards.views import dashboard_context
from channels_integrations.models import ChannelConnection
from core.db_replica import reads_from_replica
from tickets.models import SurveyAnswer, SurveySettings
from tickets.services.surveys import survey_settings_update

RECENT_COMMENTS = 20


def _percent(value) -> str:
    return "—" if value is None else formatting.value(value, "percent")


def _score(value) -> str:
    return "—" if value is None else formatting.value(value, "score")


def _row(name: str, row: dict) -> tuple:
    return (name, row["answered"], _percent(row["rate"]), _score(row["average"]))


def _recent_comments(filters) -> list[SurveyAnswer]:
    """The newest answers with a comment in the range, within the filters and the member's channels."""
    start, end = filters.bounds()
    answers = SurveyAnswer.objects.filter(
        organization=filters.organization, created_at__gte=start, created_at__lt=end
    ).exclude(comment="")
    if filters.visible_connection_ids is not None:
        answers = answers.filter(ticket__connection_id__in=filters.visible_connection_ids)
    if filters.connection_ids:
        answers = answers.filter(ticket__connection_id__in=filters.connection_ids)
    if filters.platforms:
        answers = answers.filter(ticket__connection__platform__in=filters.platforms)
    if filters.agent_ids:
        answers = answers.filter(agent_id__in=filters.agent_ids)
    if filters.team_ids:
        answers = answers.filter(ticket__team_id__in=filters.team_ids)
    if filters.tag_ids:
        answers = answers.filter(ticket__tags__in=filters.tag_ids).distinct()
    return list(answers.select_related("ticket").order_by("-created_at", "-pk")[:RECENT_COMMENTS])


@require_GET
@require_capability(Capability.ANALYTICS_VIEW)
@reads_from_replica
def csat_dashboard(request, org_slug):
    context = dashboard_context(request, "csat")
    filters = context["filters"]
    totals, before = metrics.csat(filters), metrics.csat(filters.previous())
    distribution = metrics.csat_distribution(filters)
    by_agent, by_channel = metrics.csat_by_agent(filters), metrics.csat_by_channel(filters)
    comments = _recent_comments(filters)
    user_ids = {row["id"] for row in by_agent if row["id"]} | {a.agent_id for a in comments if a.agent_id}
    names = {user.pk: user.get_full_name() for user in User.objects.filter(pk__in=user_ids)}
    channels = dict(
        ChannelConnection.objects.filter(pk__in=[row["id"] for row in by_channel]).values_list("pk", "display_name")
    )
    series = metrics.csat_series(filters)
    context.update(
        {
            "kpis": [
                ("csat_rate", _("CSAT"), _percent(totals["rate"]), _percent(before["rate"]), metrics.csat.__doc__),
                ("csat_average", _("Average rating"), _score(totals["average"]), _score(before["average"]), ""),
                ("csat_answered", _("Answers"), totals["answered"], before["answered"], ""),
            ],
            "distribution": [(n, count) for n, count in zip(range(1, 6), distribution, strict=True)],
            "distribution_chart": json.dumps(
                {
                    "type": "bar",
                    "x": ["1", "2", "3", "4", "5"],
                    "lines": [{"name": _("Answers"), "values": distribution}],
                    "unit": "count",
                }
            ),
            "daily_chart": json.dumps(
                {
                    "type": "line",
                    "x": series["x"],
                    "lines": [{"name": _("CSAT"), "values": series["rate"]}],
                    "unit": "percent",
                }
            ),
            "by_agent": [
                (names.get(row["id"], _("Unassigned") if row["id"] is None else _("Former member")), row)
                for row in by_agent
            ],
            "by_channel": [(channels.get(row["id"], "—"), row) for row in by_channel],
            "comments": [(answer, names.get(answer.agent_id, "")) for answer in comments],
            "definitions": {
                "csat": metrics.csat.__doc__,
                "series": metrics.csat_series.__doc__,
                "distribution": metrics.csat_distribution.__doc__,
                "agent": metrics.csat_by_agent.__doc__,
                "channel": metrics.csat_by_channel.__doc__,
            },
            "can_manage": request.membership.has(Capability.ANALYTICS_MANAGE),
        }
    )
    context["table_rows"] = {
        "agent": [_row(name, row) for name, row in context["by_agent"]],
        "channel": [_row(name, row) for name, row in context["by_channel"]],
    }
    return render(request, "analytics/csat/dashboard.html", context)


@require_http_methods(["GET", "POST"])
@require_capability(Capability.ANALYTICS_MANAGE)
def csat_settings(request, org_slug):
    organization = request.membership.organization
    instance = SurveySettings.objects.filter(organization=organization).first()
    form = SurveySettingsForm(request.POST or None, instance=instance, organization=organization)
    if request.method == "POST":
        if form.is_valid():
            survey_settings_update(organization=organization, actor=request.user, form=form)
            messages.success(request, _("Survey settings saved."))
            return redirect("org:csat_settings", org_slug)
        return render(request, "analytics/csat/settings.html", {"form": form}, status=400)
    return render(request, "analytics/csat/settings.html", {"form": form})
