"""One export of a dashboard page for one member: the page's data within their channels, as CSV or PDF bytes.

Used by the export view (filters from the request) and by scheduled reports (filters saved with the schedule,
computed for each recipient with their own channel grants)."""

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.http import QueryDict
from django.utils import timezone

from accounts.models import Membership
from analytics.dashboards.filters import MULTI, FilterForm, filters_from_request
from analytics.dashboards.pages import PAGES, page_data
from analytics.metrics import Filters
from analytics.reports.rendering import ExportContext, filename, render_csv, render_pdf

FORMATS = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}


class ExportError(ValueError):
    """An export that cannot be made (unknown page or format)."""


class FilterNotAllowed(ExportError):
    """Saved filters name something the member may not choose (a channel they do not see)."""


@dataclass(frozen=True)
class ExportFile:
    content: bytes
    filename: str
    content_type: str
    filters: Filters
    context: ExportContext


@dataclass(frozen=True)
class _Params:
    """What `filters_from_request` reads from a request: the member and the GET parameters."""

    membership: Membership
    GET: QueryDict


def describe_filters(form: FilterForm, filters: Filters) -> list[tuple[str, str]]:
    """(label, chosen names) of each filter in use, named as the filter bar shows them."""
    chosen = {
        "connection": filters.connection_ids,
        "platform": filters.platforms,
        "team": filters.team_ids,
        "agent": filters.agent_ids,
        "tag": filters.tag_ids,
    }
    described = []
    for name in MULTI:
        values = chosen[name]
        if not values:
            continue
        field = form.fields[name]
        names = {str(key): str(label) for key, label in field.choices}
        described.append((str(field.label), ", ".join(sorted(names.get(str(v), str(v)) for v in values))))
    return described


def export_file(
    *, membership: Membership, params: QueryDict, page_key: str, file_format: str, strict: bool = False
) -> ExportFile:
    """The page's data for the filters in `params`, restricted to what the member may see, rendered as a file.
    Raises ExportError for an unknown page or format. Invalid filters fall back to their defaults, unless `strict`
    (scheduled reports): then a filter the member may not choose raises FilterNotAllowed rather than silently
    widening the report to everything they see."""
    if page_key not in PAGES:
        raise ExportError(page_key)
    if file_format not in FORMATS:
        raise ExportError(file_format)
    filters, form = filters_from_request(_Params(membership=membership, GET=params))
    if strict and any(form.has_error(name) for name in MULTI):
        raise FilterNotAllowed(page_key)
    data = page_data(page_key, filters)
    organization = membership.organization
    context = ExportContext(
        organization=organization.name,
        page_key=page_key,
        page_title=data["title"],
        first_day=filters.first_day,
        last_day=filters.last_day,
        timezone=organization.timezone,
        generated_at=timezone.now().astimezone(ZoneInfo(organization.timezone)),
        filters=describe_filters(form, filters),
    )
    render = render_csv if file_format == "csv" else render_pdf
    return ExportFile(
        content=render(data, context),
        filename=filename(context, file_format),
        content_type=FORMATS[file_format],
        filters=filters,
        context=context,
    )
