"""Forms of the listening pages: a monitor, the stream's filters, the share-of-voice period."""

from datetime import timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from analytics.listening.models import Monitor, MonitorKind, Sentiment
from channels_integrations.registry import connector_for

MAX_DAYS = 366


def platform_choices() -> list[tuple[str, str]]:
    from analytics.listening.services import listening_platforms

    return [(p, str(connector_for(p).label or p)) for p in listening_platforms()]


def _lines(value: str) -> list[str]:
    """Terms one per line or separated by commas (、 too)."""
    parts = value.replace("、", ",").replace("\n", ",").split(",")
    return [p.strip() for p in parts if p.strip()]


class MonitorForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=120)
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=MonitorKind.choices)
    terms = forms.CharField(
        label=gettext_lazy("Terms"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy(
            "One per line or separated by commas. Width, upper/lower case and katakana/hiragana do not matter "
            "(ツナグ also finds ﾂﾅｸﾞ and つなぐ); start a term with = to keep its script (=ツナグ). Latin terms match "
            "whole words only (Zen does not find Zendesk). On Instagram each term is also searched as a hashtag."
        ),
    )
    excluded_terms = forms.CharField(
        label=gettext_lazy("Excluded terms"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("A post containing one of these is left out (e.g. 求人 for job offers)."),
    )
    platforms = forms.MultipleChoiceField(
        label=gettext_lazy("Platforms"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("None checked: every platform."),
    )
    active = forms.BooleanField(label=pgettext_lazy("monitor", "Active"), required=False, initial=True)

    def __init__(self, *args, organization=None, instance: Monitor | None = None, **kwargs):
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": instance.name,
                "kind": instance.kind,
                "terms": "\n".join(instance.terms),
                "excluded_terms": "\n".join(instance.excluded_terms),
                "platforms": instance.platforms,
                "active": instance.active,
            }
        super().__init__(*args, **kwargs)
        self.instance = instance
        self.organization = organization
        self.fields["platforms"].choices = platform_choices()

    def clean_terms(self) -> list[str]:
        terms = _lines(self.cleaned_data["terms"])
        if not terms:
            raise forms.ValidationError(_("Enter at least one term."))
        if any(len(t) > 100 for t in terms):
            raise forms.ValidationError(_("A term may be at most 100 characters long."))
        if len(terms) > 50:
            raise forms.ValidationError(_("A monitor may have at most 50 terms."))
        return terms

    def clean_excluded_terms(self) -> list[str]:
        terms = _lines(self.cleaned_data.get("excluded_terms") or "")
        if any(len(t) > 100 for t in terms):
            raise forms.ValidationError(_("A term may be at most 100 characters long."))
        return terms

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        others = Monitor.objects.filter(name=name)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise forms.ValidationError(_("Another monitor already has this name."))
        return name


class StreamFilterForm(forms.Form):
    monitor = forms.TypedChoiceField(label=gettext_lazy("Monitor"), required=False, coerce=int, empty_value=None)
    platform = forms.ChoiceField(label=gettext_lazy("Platform"), required=False)
    sentiment = forms.ChoiceField(
        label=pgettext_lazy("mention", "Sentiment"),
        required=False,
        choices=[("", gettext_lazy("Any"))] + list(Sentiment.choices),
    )

    def __init__(self, *args, monitors=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["monitor"].choices = [("", _("All monitors"))] + [(m.pk, m.name) for m in monitors]
        self.fields["platform"].choices = [("", _("All platforms"))] + platform_choices()


class PeriodForm(forms.Form):
    """`from`/`to` (YYYY-MM-DD, default: the last 30 days in the organization's time zone) and `by` day or week."""

    from_ = forms.DateField(label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    to = forms.DateField(label=gettext_lazy("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    by = forms.ChoiceField(
        label=gettext_lazy("Group by"),
        required=False,
        choices=[("day", pgettext_lazy("period", "Day")), ("week", pgettext_lazy("period", "Week"))],
    )

    def add_prefix(self, field_name):
        # The GET parameter is `from` (a Python keyword, so not a field name), as on the dashboards.
        return "from" if field_name == "from_" else super().add_prefix(field_name)

    def period(self) -> tuple:
        today = timezone.localdate()
        first, last, by = today - timedelta(days=29), today, "day"
        if self.is_valid():
            first = self.cleaned_data.get("from_") or first
            last = self.cleaned_data.get("to") or last
            by = self.cleaned_data.get("by") or "day"
        if first > last or (last - first).days >= MAX_DAYS:
            if self.is_bound and not self.errors:
                self.add_error(None, _("Choose a range of at most a year, starting before it ends."))
            first, last = today - timedelta(days=29), today
        return first, last, by
