"""What each dashboard shows, as plain JSON-serialisable data: the pages render it, the exports print it.

`page_data(key, filters)` → {"key", "title", "kpis": [...], "series": [...], "tables": [...]} (shape in the shared
contract of issue 17). Values are raw numbers (seconds, percent, counts, scores) or None when there is no data;
the templates and charts.js format them. Extra keys the exports may ignore: a KPI's or a line's `drill` (the
drill-down metric behind the number), a series' `unit`, a table's `units`, `drill` per column and `params` per row.
"""

from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from accounts.models import Team, User
from analytics import metrics
from analytics.metrics import DEFINITIONS, FactKind, Filters
from channels_integrations.models import ChannelConnection
from channels_integrations.registry import platform_choices
from tickets.models import Sentiment, Tag

try:  # the CSAT engineer's module; until it exists the CSAT page is not listed
    from analytics.csat import metrics as csat_metrics
except ImportError:  # pragma: no cover - depends on what has landed
    csat_metrics = None

COUNT, PERCENT, SECONDS, SCORE = "count", "percent", "seconds", "score"
# Counts of tickets, not dates or states ("Created" alone reads as "creation date" in Japanese).
CREATED = pgettext_lazy("number of tickets", "Created")
SOLVED = pgettext_lazy("number of tickets", "Solved")
BACKLOG = pgettext_lazy("number of tickets", "Backlog")


def _definition(*keys) -> str:
    return " ".join(gettext(DEFINITIONS[key]) for key in keys)


def _kpi(key, label, value, previous, unit, definition, drill=None) -> dict:
    return {
        "key": key,
        "label": str(label),
        "value": value,
        "previous": previous,
        "unit": unit,
        "definition": definition,
        "drill": drill,
    }


def _doc(func) -> str:
    """A docstring as one paragraph (the CSAT engineer's definitions are their functions' docstrings)."""
    return " ".join((func.__doc__ or "").split())


def _x(filters: Filters) -> list[str]:
    return [day.isoformat() for day in filters.days()]


def _series(key, title, filters, lines, unit, definition) -> dict:
    return {
        "key": key,
        "title": str(title),
        "x": _x(filters),
        "lines": [{"name": str(name), "values": values, "drill": drill} for name, values, drill in lines],
        "unit": unit,
        "definition": definition,
    }


# --- bucket names -------------------------------------------------------------------------------------------------


def _names(by: str, buckets, organization) -> dict:
    ids = [bucket for bucket in buckets if bucket is not None]
    if by == "connection":
        rows = [(c.pk, str(c)) for c in ChannelConnection.objects.filter(organization=organization, pk__in=ids)]
    elif by == "platform":
        rows = [(key, label) for key, label in platform_choices() if key in ids]
    elif by == "team":
        rows = Team.objects.filter(organization=organization, pk__in=ids).values_list("pk", "name")
    elif by == "agent":
        rows = [(user.pk, user.name or user.email) for user in User.objects.filter(pk__in=ids)]
    else:
        rows = Tag.objects.filter(organization=organization, pk__in=ids).values_list("pk", "name")
    names = {key: str(name) for key, name in rows}
    names[None] = str(_("No team") if by == "team" else _("Unassigned"))
    return names


BY_TITLES = {
    "connection": _("By channel"),
    "platform": _("By platform"),
    "team": _("By team"),
    "agent": _("By agent"),
    "tag": _("By tag"),
}
BY_COLUMNS = {
    "connection": _("Channel"),
    "platform": _("Platform"),
    "team": _("Team"),
    "agent": pgettext_lazy("person who answers customers", "Agent"),
    "tag": _("Tag"),
}


def _breakdown_table(filters: Filters, by: str) -> dict:
    """Volume and times per bucket, largest volume first. A bucket's row links its counts to the drill-down with
    the bucket as filter (not for "no team" / "unassigned", which no filter expresses)."""
    counts = metrics.breakdown(filters, by)
    first = metrics.breakdown_percentiles(filters, by, FactKind.FIRST_RESPONSE)
    resolution = metrics.breakdown_percentiles(filters, by, FactKind.RESOLUTION)
    buckets = set(counts) | set(first) | set(resolution)
    names = _names(by, buckets, filters.organization)
    empty = {"created": 0, "solved": 0, "reopens": 0, "sla_met": 0, "sla_breached": 0, "reply": {"average": None}}
    rows, params = [], []
    for bucket in buckets:
        row = counts.get(bucket, empty)
        sla_total = row["sla_met"] + row["sla_breached"]
        rows.append(
            [
                names.get(bucket, str(bucket)),
                row["created"],
                row["solved"],
                row["reopens"],
                (first.get(bucket) or {}).get("median"),
                (resolution.get(bucket) or {}).get("median"),
                row["reply"]["average"],
                100 * row["sla_met"] / sla_total if sla_total else None,
            ]
        )
        params.append([[by, str(bucket)]] if bucket is not None else None)
    order = sorted(range(len(rows)), key=lambda i: (-rows[i][1], -rows[i][2], rows[i][0]))
    return {
        "key": f"by_{by}",
        "title": str(BY_TITLES[by]),
        "columns": [
            str(BY_COLUMNS[by]),
            str(CREATED),
            str(SOLVED),
            str(_("Reopens")),
            str(_("First response (median)")),
            str(_("Resolution (median)")),
            str(_("Average reply time")),
            str(_("SLA compliance")),
        ],
        "units": [None, COUNT, COUNT, COUNT, SECONDS, SECONDS, SECONDS, PERCENT],
        "drill": [None, "created", "solved", "reopen", "first_response", "solved", "reply", "sla"],
        "rows": [rows[i] for i in order],
        "params": [params[i] for i in order],
        "chart": 1,  # drawn as bars of created tickets too
        "definition": _definition("created", "solved", "reopen", "first_response", "resolution", "reply", "sla"),
    }


# --- pages --------------------------------------------------------------------------------------------------------


def _overview(filters: Filters) -> dict:
    previous = filters.previous()
    volume, volume_before = metrics.volume_with_previous(filters)
    first, first_before = metrics.first_response_time(filters), metrics.first_response_time(previous)
    resolution, resolution_before = metrics.resolution_time(filters), metrics.resolution_time(previous)
    reply, reply_before = metrics.average_reply_time(filters), metrics.average_reply_time(previous)
    response, response_before = metrics.response_rate(filters), metrics.response_rate(previous)
    sla, sla_before = metrics.sla_compliance(filters), metrics.sla_compliance(previous)
    reopen, reopen_before = metrics.reopen_rate(filters), metrics.reopen_rate(previous)
    kpis = [
        _kpi(
            "created",
            CREATED,
            volume["created"],
            volume_before["created"],
            COUNT,
            _definition("created"),
            "created",
        ),
        _kpi("solved", SOLVED, volume["solved"], volume_before["solved"], COUNT, _definition("solved"), "solved"),
        _kpi(
            "backlog",
            BACKLOG,
            volume["backlog"],
            volume_before["backlog"],
            COUNT,
            _definition("backlog"),
            "backlog",
        ),
        _kpi(
            "first_response_median",
            _("First response time (median)"),
            first["median"],
            first_before["median"],
            SECONDS,
            _definition("first_response"),
            "first_response",
        ),
        _kpi(
            "resolution_median",
            _("Resolution time (median)"),
            resolution["median"],
            resolution_before["median"],
            SECONDS,
            _definition("resolution"),
            "solved",
        ),
        _kpi(
            "reply_average",
            _("Average reply time"),
            reply["average"],
            reply_before["average"],
            SECONDS,
            _definition("reply"),
            "reply",
        ),
        _kpi(
            "response_rate",
            _("Response rate"),
            response["rate"],
            response_before["rate"],
            PERCENT,
            _definition("response_rate"),
            "started",
        ),
        _kpi(
            "sla_compliance", _("SLA compliance"), sla["rate"], sla_before["rate"], PERCENT, _definition("sla"), "sla"
        ),
        _kpi(
            "reopen_rate",
            _("Reopen rate"),
            reopen["rate"],
            reopen_before["rate"],
            PERCENT,
            _definition("reopen"),
            "reopen",
        ),
    ]
    # Reply approval (送信前承認): shown once the organization has had a reply approved in either period.
    approval, approval_before = metrics.reply_approval_time(filters), metrics.reply_approval_time(previous)
    if approval["count"] or approval_before["count"]:
        kpis.append(
            _kpi(
                "reply_approval_median",
                _("Reply approval time (median)"),
                approval["median"],
                approval_before["median"],
                SECONDS,
                _definition("reply_approval"),
            )
        )
    if csat_metrics is not None:
        csat, csat_before = csat_metrics.csat(filters), csat_metrics.csat(previous)
        kpis.append(_csat_kpi(csat, csat_before))
    daily = metrics.daily_counts(filters, metrics.VOLUME_KINDS)
    first_daily = metrics.daily_percentiles(filters, FactKind.FIRST_RESPONSE)
    series = [
        _series(
            "volume",
            _("Volume per day"),
            filters,
            [
                (CREATED, daily[FactKind.CREATED], "created"),
                (SOLVED, daily[FactKind.RESOLUTION], "solved"),
                (BACKLOG, metrics.daily_backlog(filters, before=volume_before["backlog"], per_day=daily), "backlog"),
            ],
            COUNT,
            _definition("created", "solved", "backlog"),
        ),
        _series(
            "first_response",
            _("First response time per day"),
            filters,
            [
                (_("Median"), [day["median"] for day in first_daily], "first_response"),
                (_("90th percentile"), [day["p90"] for day in first_daily], "first_response"),
                (_("Median (business hours)"), [day["business_median"] for day in first_daily], "first_response"),
            ],
            SECONDS,
            _definition("first_response"),
        ),
    ]
    times = {
        "key": "times",
        "title": str(_("Response and resolution times")),
        "columns": [
            str(_("Metric")),
            str(_("Median")),
            str(_("90th percentile")),
            str(_("Median (business hours)")),
            str(_("90th percentile (business hours)")),
            str(_("Measured")),
        ],
        "units": [None, SECONDS, SECONDS, SECONDS, SECONDS, COUNT],
        "drill": [None, None, None, None, None, "row"],
        "rows": [
            [
                str(_("First response time")),
                first["median"],
                first["p90"],
                first["business_median"],
                first["business_p90"],
                first["count"],
            ],
            [
                str(_("Resolution time")),
                resolution["median"],
                resolution["p90"],
                resolution["business_median"],
                resolution["business_p90"],
                resolution["count"],
            ],
            [str(_("Average reply time")), reply["average"], None, reply["business_average"], None, reply["count"]],
        ],
        "params": [[["metric", "first_response"]], [["metric", "solved"]], [["metric", "reply"]]],
        "definition": _definition("first_response", "resolution", "reply"),
    }
    return {"kpis": kpis, "series": series, "tables": [times]}


def _csat_kpi(csat: dict, before: dict) -> dict:
    return _kpi(
        "csat_rate",
        _("CSAT"),
        csat.get("rate"),
        before.get("rate"),
        PERCENT,
        _doc(csat_metrics.csat),
        None,
    )


def _channels(filters: Filters) -> dict:
    daily = metrics.daily_counts(filters, [FactKind.CREATED, FactKind.RESOLUTION])
    series = [
        _series(
            "volume",
            _("Volume per day"),
            filters,
            [(CREATED, daily[FactKind.CREATED], "created"), (SOLVED, daily[FactKind.RESOLUTION], "solved")],
            COUNT,
            _definition("created", "solved"),
        )
    ]
    tables = [_breakdown_table(filters, by) for by in ("connection", "platform", "tag")]
    return {"kpis": [], "series": series, "tables": tables}


def _team(filters: Filters) -> dict:
    reply = metrics.daily_counts(filters, [FactKind.REPLY])
    series = [
        _series(
            "replies",
            _("Agent replies per day"),
            filters,
            [(_("Replies"), reply[FactKind.REPLY], "replies")],
            COUNT,
            _definition("reply"),
        )
    ]
    tables = [_breakdown_table(filters, by) for by in ("team", "agent")]
    return {"kpis": [], "series": series, "tables": tables}


def _sla(filters: Filters) -> dict:
    previous = filters.previous()
    sla, before = metrics.sla_compliance(filters), metrics.sla_compliance(previous)
    definition = _definition("sla")
    kpis = [
        _kpi("sla_compliance", _("SLA compliance"), sla["rate"], before["rate"], PERCENT, definition, "sla"),
        _kpi("sla_met", _("Met"), sla["met"], before["met"], COUNT, definition, "sla_met"),
        _kpi("sla_breached", _("Breached"), sla["breached"], before["breached"], COUNT, definition, "sla_breach"),
    ]
    daily = metrics.daily_counts(filters, [FactKind.SLA_MET, FactKind.SLA_BREACH])
    series = [
        _series(
            "compliance",
            _("SLA compliance per day"),
            filters,
            [(_("Compliance"), metrics.daily_rates(filters, FactKind.SLA_MET, FactKind.SLA_BREACH), "sla")],
            PERCENT,
            definition,
        ),
        _series(
            "outcomes",
            _("SLA outcomes per day"),
            filters,
            [
                (_("Met"), daily[FactKind.SLA_MET], "sla_met"),
                (_("Breached"), daily[FactKind.SLA_BREACH], "sla_breach"),
            ],
            COUNT,
            definition,
        ),
    ]
    return {"kpis": kpis, "series": series, "tables": [_breakdown_table(filters, "connection")]}


def _csat(filters: Filters) -> dict:
    csat, before = csat_metrics.csat(filters), csat_metrics.csat(filters.previous())
    definition = _doc(csat_metrics.csat)
    kpis = [
        _csat_kpi(csat, before),
        _kpi("csat_average", _("Average rating"), csat.get("average"), before.get("average"), SCORE, definition),
        _kpi("csat_answered", _("Answers"), csat.get("answered"), before.get("answered"), COUNT, definition),
    ]
    daily = csat_metrics.csat_series(filters)
    series = [
        {
            "key": "csat_rate",
            "title": str(_("CSAT per day")),
            "x": daily["x"],
            "lines": [{"name": str(_("CSAT")), "values": daily["rate"], "drill": None}],
            "unit": PERCENT,
            "definition": definition,
        },
        {
            "key": "csat_average",
            "title": str(_("Average rating per day")),
            "x": daily["x"],
            "lines": [{"name": str(_("Average rating")), "values": daily["average"], "drill": None}],
            "unit": SCORE,
            "definition": definition,
        },
    ]
    return {"kpis": kpis, "series": series, "tables": []}


SENTIMENT_LABELS = {
    Sentiment.POSITIVE: _("Positive"),
    Sentiment.NEUTRAL: _("Neutral"),
    Sentiment.NEGATIVE: _("Negative"),
}


def _sentiment(filters: Filters) -> dict:
    mix, before = metrics.sentiment_mix(filters), metrics.sentiment_mix(filters.previous())
    definition = _definition("sentiment")
    kpis = [
        _kpi(
            f"sentiment_{key}",
            SENTIMENT_LABELS[key],
            mix["shares"][key],
            before["shares"][key],
            PERCENT,
            definition,
            f"sentiment_{key}",
        )
        for key in metrics.SENTIMENTS
    ]
    trend = metrics.sentiment_trend(filters)
    series = [
        _series(
            "sentiment_trend",
            _("Customer messages by sentiment per day"),
            filters,
            [(SENTIMENT_LABELS[key], trend[key], f"sentiment_{key}") for key in metrics.SENTIMENTS],
            COUNT,
            definition,
        )
    ]
    table = {
        "key": "sentiment_mix",
        "title": str(_("Sentiment mix")),
        "columns": [str(_("Sentiment")), str(_("Messages")), str(_("Share"))],
        "units": [None, COUNT, PERCENT],
        "drill": [None, "row", None],
        "rows": [[str(SENTIMENT_LABELS[key]), mix["counts"][key], mix["shares"][key]] for key in metrics.SENTIMENTS],
        "params": [[["metric", f"sentiment_{key}"]] for key in metrics.SENTIMENTS],
        "chart": 1,
        "definition": definition,
    }
    return {"kpis": kpis, "series": series, "tables": [table]}


_PAGES = {
    "overview": (_("Overview"), _overview),
    "channels": (_("Channels"), _channels),
    "team": (_("Team and agents"), _team),
    "sla": (_("SLA"), _sla),
    "csat": (_("CSAT"), _csat),
    "sentiment": (_("Sentiment"), _sentiment),
}
# The pages in their order (CSAT only once its metrics module exists).
PAGES = {key: value for key, value in _PAGES.items() if key != "csat" or csat_metrics is not None}


def page_data(key: str, filters: Filters) -> dict:
    """The page's KPIs, series and tables for these filters (KeyError for an unknown page)."""
    title, build = PAGES[key]
    return {"key": key, "title": str(title), **build(filters)}
