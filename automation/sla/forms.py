"""Forms of the SLA settings: a calendar with its weekly hours, a closure, a policy with targets in hours and
minutes. They only parse and check shapes; the services decide (uniqueness, capability)."""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from accounts.models import timezone_choices
from automation.models import BusinessCalendar
from automation.sla.calendar import validate_schedule
from channels_integrations.models import ChannelConnection
from tickets.models import Priority

MAX_SLOTS = 12  # intervals per weekday
_SLOT = re.compile(r"^day([1-7])_(\d+)_(start|end)$")
WEEKDAYS = [
    (1, gettext_lazy("Monday")),
    (2, gettext_lazy("Tuesday")),
    (3, gettext_lazy("Wednesday")),
    (4, gettext_lazy("Thursday")),
    (5, gettext_lazy("Friday")),
    (6, gettext_lazy("Saturday")),
    (7, gettext_lazy("Sunday")),
]


JAPAN_TIME_ZONE = "Asia/Tokyo"


def japanese_holidays_preselected(organization) -> bool:
    """A new calendar closes on Japanese public holidays by default only where the organization works on Japan's
    time; elsewhere the admin ticks it if their team keeps Japan's holidays. Saved calendars keep their own value."""
    return organization.timezone == JAPAN_TIME_ZONE


def _time_input(label: str) -> forms.TextInput:
    # A text box typed as a time: browsers offer a picker; "24:00" typed by hand is accepted too.
    return forms.TextInput(attrs={"type": "time", "aria-label": label, "class": "time"})


class CalendarForm(forms.Form):
    """Name, time zone, holidays, default flag, and the weekly hours as `day<1-7>_<n>_start/end` pairs: the stored
    intervals of each weekday plus one empty row to add another (save, and a new empty row appears)."""

    name = forms.CharField(label=gettext_lazy("Name"), max_length=80)
    timezone = forms.ChoiceField(label=gettext_lazy("Time zone"), required=False)
    japanese_holidays = forms.BooleanField(label=gettext_lazy("Closed on Japanese public holidays"), required=False)
    is_default = forms.BooleanField(
        label=gettext_lazy("Default calendar"),
        required=False,
        help_text=gettext_lazy("Used by rules that ask whether it is business hours."),
    )
    BASIC = ["name", "timezone", "japanese_holidays", "is_default"]

    def __init__(self, *args, organization, schedule: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = [
            ("", _("The organization's time zone (%(tz)s)") % {"tz": organization.timezone}),
            *timezone_choices(organization.timezone),
        ]
        schedule = schedule or {}
        posted: dict[int, int] = {}
        for key in self.data or {}:
            match = _SLOT.match(key)
            if match:
                day, index = int(match.group(1)), int(match.group(2))
                posted[day] = max(posted.get(day, 0), min(index + 1, MAX_SLOTS))
        self.days = []
        for day, day_label in WEEKDAYS:
            stored = schedule.get(str(day), []) or []
            count = min(max(len(stored) + 1, posted.get(day, 0)), MAX_SLOTS)
            slots = []
            for index in range(count):
                start, end = (stored[index] if index < len(stored) else ["", ""])[:2]
                label = _("%(day)s, interval %(n)s") % {"day": day_label, "n": index + 1}
                for part, value in (("start", start), ("end", end)):
                    self.fields[f"day{day}_{index}_{part}"] = forms.CharField(
                        required=False,
                        max_length=8,
                        initial=value,
                        widget=_time_input(
                            _("%(interval)s: opens") % {"interval": label}
                            if part == "start"
                            else _("%(interval)s: closes") % {"interval": label}
                        ),
                    )
                slots.append((f"day{day}_{index}_start", f"day{day}_{index}_end"))
            self.days.append((day, day_label, slots))

    def basic_fields(self):
        return [self[name] for name in self.BASIC]

    def schedule_rows(self):
        """For the template: (weekday label, [(start bound field, end bound field), ...])."""
        return [(label, [(self[start], self[end]) for start, end in slots]) for _day, label, slots in self.days]

    def clean(self):
        cleaned = super().clean()
        schedule: dict[str, list[list[str]]] = {}
        for day, _label, slots in self.days:
            intervals = []
            for start_name, end_name in slots:
                start = (cleaned.get(start_name) or "").strip()
                end = (cleaned.get(end_name) or "").strip()
                if not start and not end:
                    continue  # an empty row: nothing to add (or an interval removed)
                if not start or not end:
                    self.add_error(start_name if not start else end_name, _("Give both an opening and a closing time."))
                    continue
                intervals.append([start[:5], end[:5]])
            schedule[str(day)] = intervals
        try:
            cleaned["schedule"] = validate_schedule(schedule)
        except ValidationError as exc:
            self.add_error(None, exc)
        return cleaned


class LocalDateTimeField(forms.CharField):
    """A wall time typed in the calendar's time zone (datetime-local input); made aware by the form."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"})
    formats = ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")

    def to_python(self, value):
        value = super().to_python(value).strip()
        if not value:
            return None
        for fmt in self.formats:
            try:
                parsed = datetime.strptime(value, fmt)
            except ValueError:
                continue
            if not 2000 <= parsed.year <= 2100:  # far-off years overflow once converted to UTC
                raise ValidationError(_("Enter a date between the years 2000 and 2100."), code="invalid")
            return parsed
        raise ValidationError(_("Enter a date and time like 2026-12-29 00:00."), code="invalid")


class ClosureForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=120)
    starts_at = LocalDateTimeField(label=pgettext_lazy("closure", "From"))
    ends_at = LocalDateTimeField(label=gettext_lazy("Until"))

    def __init__(self, *args, tz_name: str, **kwargs):
        super().__init__(*args, prefix="closure", **kwargs)
        self.tz = ZoneInfo(tz_name)
        for name in ("starts_at", "ends_at"):
            self.fields[name].help_text = _("In the calendar's time zone (%(tz)s).") % {"tz": tz_name}

    def clean(self):
        cleaned = super().clean()
        starts, ends = cleaned.get("starts_at"), cleaned.get("ends_at")
        if starts is not None and ends is not None:
            cleaned["starts_at"], cleaned["ends_at"] = starts.replace(tzinfo=self.tz), ends.replace(tzinfo=self.tz)
            if cleaned["ends_at"] <= cleaned["starts_at"]:
                self.add_error("ends_at", _("The closure must end after it starts."))
        return cleaned


class PolicyForm(forms.Form):
    """Targets are entered as hours and minutes; both empty = not measured."""

    TARGETS = [
        ("first_response", gettext_lazy("First response within")),
        ("next_response", gettext_lazy("Next response within")),
        ("resolution", gettext_lazy("Resolution within")),
    ]
    BASIC = ["name", "priority", "connection", "calendar"]

    name = forms.CharField(label=gettext_lazy("Name"), max_length=120)
    priority = forms.ChoiceField(label=gettext_lazy("Priority"), choices=Priority.choices)
    connection = forms.ModelChoiceField(
        label=gettext_lazy("Channel"),
        queryset=ChannelConnection.objects.none(),
        required=False,
        empty_label=gettext_lazy("Every channel"),
    )
    calendar = forms.ModelChoiceField(
        label=gettext_lazy("Business hours"),
        queryset=BusinessCalendar.objects.none(),
        required=False,
        empty_label=gettext_lazy("Around the clock"),
    )
    warning_minutes = forms.IntegerField(
        label=gettext_lazy("Warn this many minutes before"), min_value=0, max_value=10080, initial=15
    )
    enabled = forms.BooleanField(label=gettext_lazy("Enabled"), required=False, initial=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Querysets built here, inside the request's organization scope.
        self.fields["connection"].queryset = ChannelConnection.objects.all()
        self.fields["calendar"].queryset = BusinessCalendar.objects.all()
        for metric, label in self.TARGETS:
            self.fields[f"{metric}_hours"] = forms.IntegerField(
                label=_("%(target)s: hours") % {"target": label}, required=False, min_value=0, max_value=8760
            )
            self.fields[f"{metric}_minutes"] = forms.IntegerField(
                label=_("%(target)s: minutes") % {"target": label}, required=False, min_value=0, max_value=59
            )

    @staticmethod
    def initial_for(policy) -> dict:
        initial = {
            "name": policy.name,
            "priority": policy.priority,
            "connection": policy.connection_id,
            "calendar": policy.calendar_id,
            "warning_minutes": policy.warning_minutes,
            "enabled": policy.enabled,
        }
        for metric, _label in PolicyForm.TARGETS:
            total = getattr(policy, f"{metric}_minutes")
            if total is not None:
                initial[f"{metric}_hours"], initial[f"{metric}_minutes"] = divmod(total, 60)
        return initial

    def basic_fields(self):
        return [self[name] for name in self.BASIC]

    def tail_fields(self):
        return [self["warning_minutes"], self["enabled"]]

    def target_rows(self):
        return [(label, self[f"{metric}_hours"], self[f"{metric}_minutes"]) for metric, label in self.TARGETS]

    def clean(self):
        cleaned = super().clean()
        for metric, _label in self.TARGETS:
            hours, minutes = cleaned.get(f"{metric}_hours"), cleaned.get(f"{metric}_minutes")
            if hours is None and minutes is None:
                cleaned[f"{metric}_target"] = None
                continue
            total = (hours or 0) * 60 + (minutes or 0)
            if total == 0:
                self.add_error(
                    f"{metric}_hours", _("A target must be at least one minute; leave it empty to not measure it.")
                )
            cleaned[f"{metric}_target"] = total
        if not self.errors and all(cleaned.get(f"{metric}_target") is None for metric, _label in self.TARGETS):
            raise ValidationError(_("Set at least one target."))
        return cleaned

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "priority": data["priority"],
            "connection": data["connection"],
            "calendar": data["calendar"],
            "first_response_minutes": data["first_response_target"],
            "next_response_minutes": data["next_response_target"],
            "resolution_minutes": data["resolution_target"],
            "warning_minutes": data["warning_minutes"],
            "enabled": data["enabled"],
        }
