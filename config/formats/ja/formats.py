"""Japanese date and time formats (FORMAT_MODULE_PATH): 2026年12月3日(木) 14:05 — the weekday in parentheses and a
24-hour clock, so no 午前/午後 to misread. Django's own ja formats have no weekday and G:i (no leading zero)."""

DATE_FORMAT = "Y年n月j日(D)"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "Y年n月j日(D) H:i"
YEAR_MONTH_FORMAT = "Y年n月"
MONTH_DAY_FORMAT = "n月j日(D)"
SHORT_DATE_FORMAT = "Y/m/d(D)"
SHORT_DATETIME_FORMAT = "Y/m/d(D) H:i"
DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
