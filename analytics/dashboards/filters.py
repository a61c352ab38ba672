"""The dashboards' filter bar: GET parameters → `analytics.metrics.Filters`, restricted to the channels the member
may see. Also used by the exports and the other dashboard-like pages (the shared contract of issue 17)."""

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.models import Membership, Team
from accounts.roles import Capability
from analytics.metrics import Filters
from channels_integrations.permissions import connections_visible_to
from channels_integrations.registry import platform_choices
from tickets.models import Tag

DEFAULT_DAYS = 30
# A longer range would draw unreadable daily charts and make every query scan years of facts.
MAX_DAYS = 366
MULTI = ("connection", "platform", "team", "agent", "tag")


class SingleOrManySelect(forms.Select):
    """A plain drop-down whose value is read as a list (the field accepts the parameter repeated)."""

    def value_from_datadict(self, data, files, name):
        getter = getattr(data, "getlist", None)
        return [value for value in (getter(name) if getter else [data.get(name)]) if value not in (None, "")]


class FilterForm(forms.Form):
    """Date range and filters. Built per request: the choices are what the member may see."""

    def __init__(self, data, *, membership: Membership, default_first: date, default_last: date):
        super().__init__(data)
        self.membership = membership
        self.fields["from"] = forms.DateField(label=_("From"), required=False, input_formats=["%Y-%m-%d"])
        self.fields["to"] = forms.DateField(label=_("To"), required=False, input_formats=["%Y-%m-%d"])
        for name in ("from", "to"):
            self.fields[name].widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
        self.initial = {"from": default_first, "to": default_last}
        self.connections = list(connections_visible_to(membership).order_by("platform", "display_name", "pk"))
        self.teams = list(Team.objects.filter(organization=membership.organization_id).order_by("name"))
        self.agents = list(
            Membership.objects.filter(organization=membership.organization_id)
            .select_related("user")
            .order_by("user__name", "user_id")
        )
        self.tags = list(Tag.objects.filter(organization=membership.organization_id).order_by("name"))
        platforms = sorted({connection.platform for connection in self.connections})
        labels = dict(platform_choices())
        everything = [("", _("All"))]
        self.fields["connection"] = forms.TypedMultipleChoiceField(
            label=_("Channel"),
            required=False,
            coerce=int,
            choices=everything + [(c.pk, str(c)) for c in self.connections],
            widget=SingleOrManySelect,
        )
        self.fields["platform"] = forms.MultipleChoiceField(
            label=_("Platform"),
            required=False,
            choices=everything + [(p, labels.get(p, p)) for p in platforms],
            widget=SingleOrManySelect,
        )
        self.fields["team"] = forms.TypedMultipleChoiceField(
            label=_("Team"),
            required=False,
            coerce=int,
            choices=everything + [(t.pk, t.name) for t in self.teams],
            widget=SingleOrManySelect,
        )
        self.fields["agent"] = forms.TypedMultipleChoiceField(
            label=pgettext_lazy("person who answers customers", "Agent"),
            required=False,
            coerce=int,
            choices=everything + [(m.user_id, m.user.name or m.user.email) for m in self.agents],
            widget=SingleOrManySelect,
        )
        self.fields["tag"] = forms.TypedMultipleChoiceField(
            label=_("Tags"),
            required=False,
            coerce=int,
            choices=[(t.pk, t.name) for t in self.tags],
            widget=forms.SelectMultiple(attrs={"size": 3}),
        )

    def clean(self):
        data = super().clean()
        first, last = data.get("from"), data.get("to")
        if first and last:
            if first > last:
                self.add_error("to", _("The end of the range is before its start."))
            elif (last - first).days + 1 > MAX_DAYS:
                self.add_error("to", _("Choose a range of at most %(days)s days.") % {"days": MAX_DAYS})
        return data


def _today(organization) -> date:
    return timezone.localdate(timezone=ZoneInfo(organization.timezone))


def filters_from_request(request) -> tuple[Filters, FilterForm]:
    """The Filters a GET request asks for, within what the member may see, and the bound form (with its errors:
    an invalid value falls back to its default — the last 30 days, no filter — never a 500)."""
    membership = request.membership
    organization = membership.organization
    last_default = _today(organization)
    first_default = last_default - timedelta(days=DEFAULT_DAYS - 1)
    form = FilterForm(request.GET, membership=membership, default_first=first_default, default_last=last_default)
    form.is_valid()
    data = form.cleaned_data
    first, last = data.get("from"), data.get("to")
    if form.has_error("from") or form.has_error("to") or (first and last and (first > last)):
        first, last = first_default, last_default
    if first and not last:
        last = min(first + timedelta(days=DEFAULT_DAYS - 1), last_default) if first <= last_default else first
    if last and not first:
        first = last - timedelta(days=DEFAULT_DAYS - 1)
    first, last = first or first_default, last or last_default
    if (last - first).days + 1 > MAX_DAYS:
        first, last = first_default, last_default
    visible = None
    if not membership.has(Capability.TICKETS_VIEW_ALL):
        visible = frozenset(connection.pk for connection in form.connections)
    filters = Filters(
        organization=organization,
        first_day=first,
        last_day=last,
        **{f"{name}_ids" if name != "platform" else "platforms": frozenset(data.get(name) or ()) for name in MULTI},
        visible_connection_ids=visible,
    )
    return filters, form


def filter_params(filters: Filters) -> list[tuple[str, str]]:
    """The GET parameters that give these filters back (links: drill-down, export, shareable URLs)."""
    params = [("from", filters.first_day.isoformat()), ("to", filters.last_day.isoformat())]
    params += [("connection", str(pk)) for pk in sorted(filters.connection_ids)]
    params += [("platform", value) for value in sorted(filters.platforms)]
    params += [("team", str(pk)) for pk in sorted(filters.team_ids)]
    params += [("agent", str(pk)) for pk in sorted(filters.agent_ids)]
    params += [("tag", str(pk)) for pk in sorted(filters.tag_ids)]
    return params
