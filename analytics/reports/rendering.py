"""A dashboard page's data (`analytics.dashboards.pages.page_data`) as a CSV or PDF file.

CSV: UTF-8 with a byte order mark (Excel then reads Japanese correctly), CRLF line ends, a header block naming the
organization, the page, the range and the filters, then one section per KPI list, series and table. Values are
raw numbers (durations in seconds, with a readable column beside them); text that a spreadsheet would run as a
formula is prefixed with an apostrophe.

PDF: fpdf2 with Noto Sans JP (Regular and Bold) embedded as subsets — only the glyphs used — so Japanese displays
and can be copied on any reader. Series print as tables (date by line)."""

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from django.conf import settings
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext
from fpdf import FPDF
from fpdf.enums import TableCellFillMode, WrapMode
from fpdf.fonts import FontFace

from core.csv_safety import csv_safe

FONT_DIR = Path(settings.BASE_DIR) / "static" / "vendor" / "fonts"
FONT_REGULAR = FONT_DIR / "NotoSansJP-Regular.ttf"
FONT_BOLD = FONT_DIR / "NotoSansJP-Bold.ttf"


@dataclass(frozen=True)
class ExportContext:
    """What the header block says about the export."""

    organization: str
    page_key: str
    page_title: str
    first_day: date
    last_day: date
    timezone: str
    generated_at: datetime  # aware, in the organization's time zone
    filters: list[tuple[str, str]] = field(default_factory=list)  # (label, the chosen values joined)


def filename(context: ExportContext, extension: str) -> str:
    """e.g. `tsunagu-overview-2026-11-01_2026-11-30.csv` (ASCII: the page key, not its translated title)."""
    return f"tsunagu-{context.page_key}-{context.first_day.isoformat()}_{context.last_day.isoformat()}.{extension}"


def human_seconds(seconds) -> str:
    """A duration as people read it: "2 h 05 min", "3 min 20 s", "45 s"; empty when there is none."""
    if seconds is None:
        return ""
    total = round(float(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return ngettext("%(days)d day %(hours)d h", "%(days)d days %(hours)d h", days) % {"days": days, "hours": hours}
    if hours:
        return _("%(hours)d h %(minutes)02d min") % {"hours": hours, "minutes": minutes}
    if minutes:
        return _("%(minutes)d min %(seconds)02d s") % {"minutes": minutes, "seconds": secs}
    return _("%(seconds)d s") % {"seconds": secs}


def readable(value, unit: str) -> str:
    """A value for reading (the PDF, and the CSV's readable column)."""
    if value is None:
        return "—"
    if unit == "seconds":
        return human_seconds(value)
    if unit == "percent":
        return f"{number_format(value, 1, use_l10n=True)} %"
    if unit == "score":
        return number_format(value, 2, use_l10n=True)
    if isinstance(value, float) and not value.is_integer():
        return number_format(value, 2, use_l10n=True, force_grouping=True)
    if isinstance(value, int | float):
        return number_format(int(value), 0, use_l10n=True, force_grouping=True)
    return str(value)


def _unit_label(unit: str) -> str:
    return {
        "count": _("count"),
        "percent": _("percent"),
        "seconds": _("seconds"),
        "score": _("score (1–5)"),
    }.get(unit, unit)


def _header_rows(context: ExportContext) -> list[list]:
    rows = [
        [_("Organization"), context.organization],
        [_("Report"), context.page_title],
        [_("From"), context.first_day.isoformat()],
        [_("To"), context.last_day.isoformat()],
        [_("Time zone"), context.timezone],
    ]
    rows += [[label, value] for label, value in context.filters] or [
        [_("Filters"), pgettext("no filter chosen", "None")]
    ]
    rows.append([_("Generated at"), context.generated_at.strftime("%Y-%m-%d %H:%M")])
    return rows


def render_csv(data: dict, context: ExportContext) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def write(row):
        writer.writerow([csv_safe(cell) for cell in row])

    for row in _header_rows(context):
        write(row)
    if data.get("kpis"):
        write([])
        write([_("Key figures")])
        write([_("Metric"), _("Value"), _("Previous period"), _("Unit"), _("Value (readable)"),
               _("Previous period (readable)"), _("Definition")])  # fmt: skip
        for kpi in data["kpis"]:
            unit = kpi.get("unit", "count")
            write([
                kpi["label"], kpi.get("value"), kpi.get("previous"), _unit_label(unit),
                readable(kpi.get("value"), unit), readable(kpi.get("previous"), unit), kpi.get("definition", ""),
            ])  # fmt: skip
    for series in data.get("series") or []:
        write([])
        write([series["title"]])
        lines = series.get("lines") or []
        units = [series.get("unit")] * len(lines)
        write([_("Date"), *_readable_columns([line["name"] for line in lines], units)])
        for index, day in enumerate(series.get("x") or []):
            write([day, *_readable_values([_at(line.get("values") or [], index) for line in lines], units)])
        if series.get("definition"):
            write([_("Definition"), series["definition"]])
    for table in data.get("tables") or []:
        write([])
        write([table["title"]])
        columns = table.get("columns") or []
        units = table.get("units") or [None] * len(columns)
        write(_readable_columns(columns, units))
        for row in table.get("rows") or []:
            write(_readable_values(row, units))
        if table.get("definition"):
            write([_("Definition"), table["definition"]])
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")


def _readable_columns(columns: list, units: list) -> list:
    """Column titles, each duration column followed by its readable twin."""
    result = []
    for index, column in enumerate(columns):
        result.append(column)
        if _at(units, index) == "seconds":
            result.append(_("%(column)s (readable)") % {"column": column})
    return result


def _readable_values(values: list, units: list) -> list:
    result = []
    for index, value in enumerate(values):
        result.append(value)
        if _at(units, index) == "seconds":
            result.append(human_seconds(value))
    return result


def _at(values: list, index: int):
    return values[index] if index < len(values) else None


def render_pdf(data: dict, context: ExportContext) -> bytes:
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_title(f"{context.page_title} — {context.organization}")
    pdf.set_creator("Tsunagu")
    pdf.add_font("NotoSansJP", "", str(FONT_REGULAR))
    pdf.add_font("NotoSansJP", "B", str(FONT_BOLD))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    width = pdf.epw

    pdf.set_font("NotoSansJP", "B", 16)
    pdf.multi_cell(width, 9, context.page_title, wrapmode=WrapMode.CHAR, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("NotoSansJP", "", 9)
    for label, value in _header_rows(context):
        pdf.multi_cell(width, 5, f"{label}: {value}", wrapmode=WrapMode.CHAR, new_x="LMARGIN", new_y="NEXT")

    def heading(text: str) -> None:
        pdf.ln(4)
        pdf.set_font("NotoSansJP", "B", 12)
        pdf.multi_cell(width, 7, text, wrapmode=WrapMode.CHAR, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("NotoSansJP", "", 8)

    def table(columns: list[str], rows: list[list], widths: tuple | None = None) -> None:
        # The first column names things (channels, agents, metrics): twice as wide as the numbers beside it.
        widths = widths or (2.2, *[1] * (len(columns) - 1))
        with pdf.table(
            col_widths=widths,
            wrapmode=WrapMode.WORD,
            line_height=4.5,
            cell_fill_mode=TableCellFillMode.ROWS,
            cell_fill_color=245,
            headings_style=FontFace(emphasis="BOLD", fill_color=225),
            first_row_as_headings=True,
            repeat_headings=1,
        ) as grid:
            head = grid.row()
            for column in columns:
                head.cell(str(column))
            for values in rows:
                row = grid.row()
                for value in values:
                    row.cell("" if value is None else str(value))

    if data.get("kpis"):
        heading(_("Key figures"))
        table(
            [_("Metric"), _("Value"), _("Previous period")],
            [
                [kpi["label"], readable(kpi.get("value"), unit), readable(kpi.get("previous"), unit)]
                for kpi in data["kpis"]
                for unit in [kpi.get("unit", "count")]
            ],
            (3, 1.5, 1.5),
        )
    for item in data.get("tables") or []:
        heading(item["title"])
        units = item.get("units") or []
        table(
            item.get("columns") or [],
            [[_shown(value, _at(units, i)) for i, value in enumerate(row)] for row in item.get("rows") or []],
        )
    for series in data.get("series") or []:
        heading(series["title"])
        lines = series.get("lines") or []
        table(
            [_("Date"), *[line["name"] for line in lines]],
            [
                [day, *[_shown(_at(line.get("values") or [], i), series.get("unit")) for line in lines]]
                for i, day in enumerate(series.get("x") or [])
            ],
        )
    return bytes(pdf.output())


def _shown(value, unit: str | None) -> str:
    """A cell of the PDF: formatted by its unit when the data gives one."""
    if unit and (value is None or isinstance(value, int | float)):
        return readable(value, unit)
    if value is None:
        return "—"
    if isinstance(value, float):
        return number_format(value, 2 if not value.is_integer() else 0, use_l10n=True, force_grouping=True)
    if isinstance(value, int):
        return number_format(value, 0, use_l10n=True, force_grouping=True)
    return str(value)
