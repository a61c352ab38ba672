"""Numbers as people read them: durations in days, hours and minutes, percentages with one decimal, and a KPI's
change against the previous period (arrow, words for screen readers, and whether the change is good)."""

from django.utils.formats import number_format
from django.utils.translation import gettext as _

# Whether a rise is good news; absent: neither (e.g. how many tickets were created).
HIGHER_IS_BETTER = {
    "solved": True,
    "backlog": False,
    "first_response_median": False,
    "resolution_median": False,
    "reply_average": False,
    "response_rate": True,
    "sla_compliance": True,
    "sla_met": True,
    "sla_breached": False,
    "reopen_rate": False,
    "csat_rate": True,
    "csat_average": True,
    "sentiment_positive": True,
    "sentiment_negative": False,
}


def duration(seconds) -> str:
    """2 h 5 min; 3 d 4 h; 45 s (under a minute)."""
    seconds = int(round(seconds))
    if seconds < 60:
        return _("%(seconds)s s") % {"seconds": seconds}
    minutes = seconds // 60
    if minutes < 60:
        return _("%(minutes)s min") % {"minutes": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        if minutes:
            return _("%(hours)s h %(minutes)s min") % {"hours": hours, "minutes": minutes}
        return _("%(hours)s h") % {"hours": hours}
    days, hours = divmod(hours, 24)
    if hours:
        return _("%(days)s d %(hours)s h") % {"days": days, "hours": hours}
    return _("%(days)s d") % {"days": days}


def value(number, unit: str) -> str:
    """The number in its unit; "—" when there is none."""
    if number is None:
        return "—"
    if unit == "seconds":
        return duration(number)
    if unit == "percent":
        return f"{number_format(number, 1)}%"
    if unit == "score":
        return number_format(number, 2)
    return number_format(number, 0, force_grouping=True)


def change(kpi: dict) -> dict | None:
    """The KPI against the previous period: {"direction": up|down|same, "tone": good|bad|neutral, "text"} — or None
    when either period has no value."""
    current, previous, unit = kpi["value"], kpi["previous"], kpi["unit"]
    if current is None or previous is None:
        return None
    before = value(previous, unit)
    difference = current - previous
    if abs(difference) < 1e-9 or value(current, unit) == before:
        return {
            "direction": "same",
            "tone": "neutral",
            "text": _("Same as the previous period (%(before)s)") % {"before": before},
        }
    up = difference > 0
    better = HIGHER_IS_BETTER.get(kpi["key"])
    tone = "neutral" if better is None else ("good" if up == better else "bad")
    if unit == "percent":
        amount = _("%(points)s points") % {"points": number_format(abs(difference), 1)}
    else:
        amount = value(abs(difference), unit)
    text = (
        _("Up %(amount)s from %(before)s in the previous period")
        if up
        else _("Down %(amount)s from %(before)s in the previous period")
    ) % {"amount": amount, "before": before}
    return {"direction": "up" if up else "down", "tone": tone, "text": text}
