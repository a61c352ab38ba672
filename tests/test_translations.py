"""The Japanese catalogue is complete: every entry translated, none left fuzzy (a fuzzy entry is not used, so the
page shows English), and the formats agree with their msgids (msgfmt --check-format). Run after makemessages.
The gettext tools are required, not optional: `make` compiles the catalogues with msgfmt before any test runs."""

import subprocess
from pathlib import Path

import pytest
from django.conf import settings

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "ja" / "LC_MESSAGES" / "django.po"


@pytest.mark.parametrize("which", ["--untranslated", "--only-fuzzy"])
def test_no_japanese_entry_is_untranslated_or_fuzzy(which):
    left = subprocess.run(
        ["msgattrib", which, "--no-obsolete", "--no-wrap", str(CATALOGUE)], capture_output=True, text=True, check=True
    ).stdout
    msgids = [line for line in left.splitlines() if line.startswith("msgid ") and line != 'msgid ""']
    assert msgids == []


def test_the_japanese_catalogue_compiles_with_matching_formats():
    subprocess.run(["msgfmt", "--check-format", "-o", "/dev/null", str(CATALOGUE)], check=True)
