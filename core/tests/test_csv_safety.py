"""CSV cells never start a spreadsheet formula (OWASP CSV injection), and our import reads our escaping back."""

import csv
import io

import pytest

from core.csv_safety import csv_safe, csv_unescaped

FORMULAS = ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "\t=1", "\r=1", '=HYPERLINK("http://x")', "+81 3-1234-5678"]


@pytest.mark.parametrize("cell", FORMULAS)
def test_text_that_a_spreadsheet_would_run_gets_an_apostrophe(cell):
    assert csv_safe(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["Night", "名前", "", "a=b", "1-2", "'quoted", " =1"])
def test_other_text_stays_as_it_is(cell):
    assert csv_safe(cell) == cell


@pytest.mark.parametrize(("value", "cell"), [(-3, -3), (2.5, 2.5), (0, 0), (True, 1), (False, 0), (None, "")])
def test_numbers_stay_numbers_and_none_is_an_empty_cell(value, cell):
    # A negative number is a number in a spreadsheet, not a formula: no apostrophe.
    assert csv_safe(value) == cell


def test_other_values_are_written_as_their_escaped_text():
    class Named:
        def __str__(self):
            return "=cmd|' /C calc'!A0"

    assert csv_safe(Named()) == "'=cmd|' /C calc'!A0"


@pytest.mark.parametrize("cell", [*FORMULAS, "Night", "'quoted", "'", ""])
def test_what_we_write_reads_back_through_a_csv_file(cell):
    buffer = io.StringIO()
    csv.writer(buffer).writerow([csv_safe(cell)])
    [[read]] = list(csv.reader(io.StringIO(buffer.getvalue(), newline="")))
    assert csv_unescaped(read) == cell
