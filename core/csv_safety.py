"""Cells of the CSV files we hand out (audit log, reports, contacts) that a spreadsheet shows as text, never runs.

A spreadsheet runs a cell that starts with = + - @, a tab or a carriage return as a formula (OWASP "CSV injection":
a customer named =HYPERLINK(...) would become a link, a number such as +81 3... a sum). Such text gets a leading
apostrophe, which the spreadsheet shows as text and hides; our own import reads it back (`csv_unescaped`)."""

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value):
    """`value` as a cell: text that would start a formula gets a leading '. Numbers stay numbers (a negative number
    is not a formula), True/False are written 1/0, None is an empty cell; anything else is written as its text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_unescaped(cell: str) -> str:
    """A cell as `csv_safe` wrote it, read back: the apostrophe that kept a formula-like value text is dropped (a
    cell that merely starts with an apostrophe keeps it)."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_START) else cell
