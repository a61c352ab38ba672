"""The scheduled report form: what, filters, when, how, to whom."""

from datetime import timedelta

from django import forms
from django.utils import timezone
from django.utils.dates import WEEKDAYS
from django.utils.translation import gettext_lazy as _

from accounts.models import Membership, User
from accounts.roles import Capability
from analytics.dashboards.filters import MULTI, FilterForm
from analytics.dashboards.pages import PAGES
from analytics.reports.models import Frequency, ReportSchedule


def recipient_choices(organization) -> list[Membership]:
    """Members who may read dashboards: only they can receive a report."""
    return list(
        Membership.objects.filter(organization=organization, role__capabilities__contains=[Capability.ANALYTICS_VIEW])
        .select_related("user")
        .order_by("user__name", "user__email")
    )


class RecipientField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return f"{obj.name} <{obj.email}>" if obj.name else obj.email


class ScheduleForm(forms.ModelForm):
    """Saved filters are the filter bar's (channels as the editor sees them); each recipient's copy is computed with
    their own channel access."""

    recipients = RecipientField(
        label=_("Recipients"),
        queryset=User.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Members who may read dashboards. Each receives the report in their own language, counting only "
                    "the channels they may see."),
    )  # fmt: skip

    class Meta:
        model = ReportSchedule
        fields = ["name", "page", "frequency", "weekday", "day_of_month", "hour", "file_format"]

    def __init__(self, *args, membership: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        organization = membership.organization
        self.organization = organization
        self.fields["page"] = forms.ChoiceField(label=_("Dashboard"), choices=[(k, t) for k, (t, _b) in PAGES.items()])
        self.fields["frequency"].widget = forms.RadioSelect(choices=Frequency.choices)
        self.fields["weekday"] = forms.TypedChoiceField(
            label=_("Day of the week"), required=False, coerce=int, empty_value=None,
            choices=[("", "—"), *sorted(WEEKDAYS.items())],
            help_text=_("For weekly reports: they cover the seven days before this day."),
        )  # fmt: skip
        self.fields["day_of_month"] = forms.TypedChoiceField(
            label=_("Day of the month"), required=False, coerce=int, empty_value=None,
            choices=[("", "—"), *[(day, str(day)) for day in range(1, 29)]],
            help_text=_("For monthly reports (1–28, a day every month has): they cover the previous month."),
        )  # fmt: skip
        self.fields["hour"] = forms.TypedChoiceField(
            label=_("Time of sending"), coerce=int,
            choices=[(hour, f"{hour:02d}:00") for hour in range(24)],
            help_text=_("In the organization's time zone (%(zone)s).") % {"zone": organization.timezone},
        )  # fmt: skip
        members = recipient_choices(organization)
        self.fields["recipients"].queryset = User.objects.filter(pk__in=[m.user_id for m in members]).order_by(
            "name", "email"
        )
        # The filter bar's choices as this member sees them (dates excluded: each run has its own period).
        today = timezone.localdate()
        bar = FilterForm(None, membership=membership, default_first=today - timedelta(days=29), default_last=today)
        self.filter_names = []
        for name in MULTI:
            source = bar.fields[name]
            choices = [(str(value), label) for value, label in source.choices if value != ""]
            self.fields[f"filter_{name}"] = forms.MultipleChoiceField(
                label=source.label, required=False, choices=choices, widget=forms.SelectMultiple(attrs={"size": 3})
            )
            self.filter_names.append(f"filter_{name}")
            if self.instance.pk:
                self.initial[f"filter_{name}"] = [str(v) for v in (self.instance.filters or {}).get(name, [])]
        if self.instance.pk:
            self.initial["recipients"] = list(self.instance.recipients.values_list("pk", flat=True))

    def clean(self):
        data = super().clean()
        frequency = data.get("frequency")
        name = data.get("name")
        if name and (
            ReportSchedule.objects.filter(organization=self.organization, name=name)
            .exclude(pk=self.instance.pk)
            .exists()
        ):
            self.add_error("name", _("Another scheduled report has this name."))
        if frequency == Frequency.WEEKLY and data.get("weekday") is None:
            self.add_error("weekday", _("Choose the day of the week a weekly report is sent."))
        if frequency == Frequency.MONTHLY and data.get("day_of_month") is None:
            self.add_error("day_of_month", _("Choose the day of the month a monthly report is sent."))
        return data

    def saved_filters(self) -> dict[str, list[str]]:
        return {name: values for name in MULTI if (values := self.cleaned_data.get(f"filter_{name}"))}

    def basic_fields(self):
        return [self[name] for name in ("name", "page", "file_format")]

    def when_fields(self):
        return [self[name] for name in ("weekday", "day_of_month", "hour")]

    def filter_fields(self):
        return [self[name] for name in self.filter_names]
