"""English date and time formats (FORMAT_MODULE_PATH): Thu, Dec 3, 2026, 14:05 — the same parts as in Japanese
(weekday, 24-hour clock) in English order, instead of Django's "Dec. 3, 2026, 2:05 p.m."."""

DATE_FORMAT = "D, M j, Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "D, M j, Y, H:i"
YEAR_MONTH_FORMAT = "F Y"
MONTH_DAY_FORMAT = "D, M j"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
