"""CSV and PDF files from a page's data: read back with a CSV reader and a PDF parser."""

import csv
import io
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.utils import translation
from pypdf import PdfReader

from analytics.reports import checks
from analytics.reports.rendering import ExportContext, filename, human_seconds, render_csv, render_pdf

DATA = {
    "key": "overview",
    "title": "概要",
    "kpis": [
        {"key": "created", "label": "作成されたチケット", "value": 1234, "previous": 1000, "unit": "count",
         "definition": "期間中に作成されたチケット"},
        {"key": "frt", "label": "初回応答時間（中央値）", "value": 3725.5, "previous": None, "unit": "seconds",
         "definition": "=HYPERLINK(\"http://evil\")"},
        {"key": "sla", "label": "SLA遵守率", "value": 87.5, "previous": 90.0, "unit": "percent", "definition": ""},
    ],
    "series": [
        {"key": "volume", "title": "日別の件数", "x": ["2026-11-01", "2026-11-02"],
         "lines": [{"name": "作成", "values": [3, 5]}, {"name": "解決", "values": [2, None]}], "definition": "毎日"},
    ],
    "tables": [
        {"key": "channels", "title": "チャネル別", "columns": ["チャネル", "作成"],
         "rows": [["LINE 公式", 10], ["@evil", 2], ["-1+2", -3], ["+81 3", 0]], "definition": ""},
    ],
}  # fmt: skip

CONTEXT = ExportContext(
    organization="株式会社つなぐ",
    page_key="overview",
    page_title="概要",
    first_day=date(2026, 11, 1),
    last_day=date(2026, 11, 30),
    timezone="Asia/Tokyo",
    generated_at=datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo")),
    filters=[("チャネル", "LINE 公式"), ("タグ", "=cmd|' /C calc'!A0")],
)


def _rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


def test_csv_has_a_bom_crlf_and_japanese_round_trips():
    content = render_csv(DATA, CONTEXT)
    assert content.startswith(b"\xef\xbb\xbf")
    text = content[3:].decode("utf-8")
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
    rows = _rows(content)
    assert ["株式会社つなぐ"] == rows[0][1:]
    assert ["LINE 公式", "10"] in rows
    assert next(r for r in rows if r[:1] == ["作成されたチケット"])[:3] == ["作成されたチケット", "1234", "1000"]


def test_csv_header_names_page_range_and_filters():
    with translation.override("en"):
        rows = _rows(render_csv(DATA, CONTEXT))
    header = {row[0]: row[1] for row in rows[:9] if len(row) > 1}
    assert header["Report"] == "概要"
    assert header["From"] == "2026-11-01" and header["To"] == "2026-11-30"
    assert header["チャネル"] == "LINE 公式"
    assert header["Time zone"] == "Asia/Tokyo"


def test_csv_durations_are_raw_seconds_with_a_readable_column():
    with translation.override("en"):
        rows = _rows(render_csv(DATA, CONTEXT))
    frt = next(r for r in rows if r[:1] == ["初回応答時間（中央値）"])
    assert frt[1:6] == ["3725.5", "", "seconds", "1 h 02 min", "—"]


def test_csv_cells_that_a_spreadsheet_would_run_are_escaped():
    rows = _rows(render_csv(DATA, CONTEXT))
    cells = [cell for row in rows for cell in row]
    assert "'@evil" in cells and "'-1+2" in cells and "'+81 3" in cells
    assert "'=cmd|' /C calc'!A0" in cells
    assert '\'=HYPERLINK("http://evil")' in cells
    assert "-3" in cells  # a negative number stays a number
    assert not any(cell.startswith(("=", "+", "@")) for cell in cells)
    assert not any(cell.startswith("-") and cell != "-3" for cell in cells)


def test_series_rows_are_dates_with_one_column_per_line():
    rows = _rows(render_csv(DATA, CONTEXT))
    start = rows.index(["日別の件数"])
    assert rows[start + 1][1:] == ["作成", "解決"]
    assert rows[start + 2] == ["2026-11-01", "3", "2"]
    assert rows[start + 3] == ["2026-11-02", "5", ""]


def test_human_seconds():
    with translation.override("en"):
        assert human_seconds(45) == "45 s"
        assert human_seconds(200) == "3 min 20 s"
        assert human_seconds(7500) == "2 h 05 min"
        assert human_seconds(90000) == "1 day 1 h"
        assert human_seconds(None) == ""


def test_pdf_embeds_a_japanese_font_subset_and_its_text_is_extractable():
    content = render_pdf(DATA, CONTEXT)
    assert content.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(content))
    text = "".join(page.extract_text() for page in reader.pages)
    for words in ("概要", "株式会社つなぐ", "作成されたチケット", "LINE 公式", "日別の件数", "2026-11-02"):
        assert words in text
    fonts = []
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            for descendant in font.get("/DescendantFonts", []):
                descriptor = descendant.get_object()["/FontDescriptor"].get_object()
                fonts.append((str(descriptor["/FontName"]), "/FontFile2" in descriptor))
    assert fonts and all(embedded for _name, embedded in fonts)
    assert any("NotoSansJP" in name for name, _embedded in fonts)
    # A subset: the whole font is over 5 MB.
    assert len(content) < 300_000


def test_filename_carries_the_page_and_range():
    assert filename(CONTEXT, "csv") == "tsunagu-overview-2026-11-01_2026-11-30.csv"


def test_a_missing_font_is_reported_by_the_system_checks(monkeypatch, tmp_path):
    assert checks.fonts_present() == []
    monkeypatch.setattr(checks, "FONT_BOLD", tmp_path / "missing.ttf")
    [error] = checks.fonts_present()
    assert error.id == "analytics_reports.W001"
