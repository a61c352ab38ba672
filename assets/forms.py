"""Forms of the asset library pages. They only parse and validate input; the services decide what is allowed."""

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from assets.models import AssetKind, AssetStatus, Collection

VIEWS = (("grid", _("Grid")), ("list", _("List")))


def split_tags(value: str) -> list[str]:
    """Tags typed in one field, separated by commas (also the Japanese ones: 、，)."""
    for separator in ("、", "，", "\n"):
        value = value.replace(separator, ",")
    return [tag.strip() for tag in value.split(",") if tag.strip()]


class TagsField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 2000)
        kwargs.setdefault("label", _("Tags"))
        kwargs.setdefault("help_text", _("Separate tags with commas."))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return ", ".join(value)
        return value

    def to_python(self, value):
        return split_tags(super().to_python(value) or "")


def collection_choices(collections, *, empty_label) -> list[tuple[str, str]]:
    """Collections in tree order, indented by depth (the selectors give each a `.depth`)."""
    return [("", empty_label)] + [(str(c.pk), "\u2003" * getattr(c, "depth", 0) + c.name) for c in collections]


class CollectionChoiceField(forms.TypedChoiceField):
    """A collection among those offered (the page passes only the ones the member may use there)."""

    def __init__(self, **kwargs):
        super().__init__(coerce=int, empty_value=None, required=False, **kwargs)


class LibraryFilterForm(forms.Form):
    """The library's search and filters (GET). Unknown values are ignored rather than refused: it is a link."""

    q = forms.CharField(required=False, max_length=200, label=_("Search"))
    tag = forms.CharField(required=False, max_length=60, label=_("Tag"))
    kind = forms.ChoiceField(required=False, choices=[("", _("All types")), *AssetKind.choices], label=_("Type"))
    collection = CollectionChoiceField(label=_("Collection"))
    status = forms.ChoiceField(
        required=False, choices=[("", _("Any status")), *AssetStatus.choices], label=pgettext_lazy("asset", "Status")
    )
    view = forms.ChoiceField(required=False, choices=VIEWS, label=_("View"))

    def __init__(self, data, *, collections):
        super().__init__(data)
        self.fields["collection"].choices = collection_choices(collections, empty_label=_("All collections"))

    def value(self, name: str, default=""):
        if not self.is_bound or not hasattr(self, "cleaned_data"):
            self.is_valid()
        if name in self.errors:
            return default
        return self.cleaned_data.get(name) or default


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class AssetDetailsForm(forms.Form):
    """Title, description, tags, collection, language, rights (approval, license, expiry) of an asset."""

    title = forms.CharField(max_length=200, label=_("Title"))
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), label=_("Description"))
    tags = TagsField()
    collection = CollectionChoiceField(label=_("Collection"))
    language = forms.ChoiceField(required=False, label=_("Language"))
    requires_approval = forms.BooleanField(
        required=False,
        label=_("Requires approval before use"),
        help_text=_("Until an approver approves it, nobody can attach it to a reply or a post."),
    )
    license_note = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label=_("License and usage rights"),
        help_text=_("Who owns it, where it may be used, credits to give."),
    )
    expires_at = forms.DateTimeField(
        required=False,
        widget=DateTimeLocalInput(),
        label=_("Usable until"),
        help_text=_("After this time it cannot be attached to new replies or posts; its uses stay listed."),
    )

    def __init__(self, *args, collections, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["collection"].choices = collection_choices(collections, empty_label=_("No collection"))
        self.fields["language"].choices = [("", _("Any language")), *settings.LANGUAGES]

    def clean_expires_at(self):
        value = self.cleaned_data.get("expires_at")
        if value is not None and value <= timezone.now() and "expires_at" in self.changed_data:
            raise forms.ValidationError(_("Choose a time in the future."))
        return value


class TextAssetForm(AssetDetailsForm):
    """A new text snippet or reply template: its details and its first text."""

    kind = forms.ChoiceField(
        choices=[(AssetKind.SNIPPET, AssetKind.SNIPPET.label), (AssetKind.TEMPLATE, AssetKind.TEMPLATE.label)],
        label=_("Type"),
        widget=forms.RadioSelect,
    )
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}), label=_("Text"), max_length=100_000)

    field_order = ["kind", "title", "text"]


class NewVersionForm(forms.Form):
    """A new version: a file (file assets) or a text (snippets and templates), with an optional note."""

    file = forms.FileField(required=False, label=_("File"))
    text = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 8}), label=_("Text"))
    note = forms.CharField(required=False, max_length=300, label=_("What changed"))


class BulkTagForm(forms.Form):
    """Tags to add to several assets at once (the ones just uploaded)."""

    asset = forms.TypedMultipleChoiceField(coerce=int, label=_("Assets"))
    tags = TagsField(required=True, help_text=_("Added to every asset above. Separate tags with commas."))

    def __init__(self, *args, asset_ids, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["asset"].choices = [(str(i), str(i)) for i in asset_ids]


class CollectionForm(forms.Form):
    name = forms.CharField(max_length=120, label=_("Name"))
    parent = forms.TypedChoiceField(coerce=int, empty_value=None, required=False, label=_("Inside"))

    def __init__(self, *args, parents: list[Collection], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["parent"].choices = collection_choices(parents, empty_label=_("Top level"))
