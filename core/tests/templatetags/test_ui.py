"""The design system's template tags: initials in any script, avatar colours that stay put and meet WCAG AA, icons
that exist in the vendored sprite, platform marks, and day labels in the active time zone."""

import datetime
import re
import zoneinfo
from pathlib import Path

import pytest
from django.conf import settings
from django.template import Context, Template
from django.utils import timezone, translation

from core.templatetags import ui

ROOT = Path(settings.BASE_DIR)
SPRITE = ROOT / "static" / "vendor" / "lucide" / "sprite.svg"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("高橋 誠", "高"),
        ("高橋　誠", "高"),  # a full-width space
        ("たなか ゆき", "た"),
        ("김민수", "김"),
        ("Ann Lee", "AL"),
        ("  ann   van der lee ", "AL"),
        ("Madonna", "M"),
        ("élodie durand", "ÉD"),
        ("ann.lee@example.com", "A"),
        ("(株) 山田商事", "株"),
        ("Ann 高橋", "A"),
        ("", ""),
        ("   ", ""),
        (None, ""),
        ("☺ ☺", ""),
    ],
)
def test_initials_in_any_script(name, expected):
    assert ui.initials(name) == expected


class Person:
    """A stand-in with what the tag reads of a user or a contact."""

    def __init__(self, model_name: str, pk: int, name: str):
        self._meta = type("Meta", (), {"model_name": model_name})
        self.pk = pk
        self.name = name


def _colour(html: str) -> str:
    return re.search(r"avatar-c(\d+)", html).group(1)


def test_avatar_colours_are_stable_per_person_and_spread():
    first = ui.avatar(Person("contact", 42, "高橋 誠"))
    assert "高" in first and 'aria-hidden="true"' in first
    # the same person, renamed, on another render: the same colour (it follows the id, not the name)
    assert _colour(ui.avatar(Person("contact", 42, "Makoto Takahashi"))) == _colour(first)
    # stable across processes and releases (a checksum, not Python's salted hash)
    assert _colour(first) == str(ui.avatar_colour("contact:42"))
    colours = {_colour(ui.avatar(Person("user", pk, "A B"))) for pk in range(1, 101)}
    assert len(colours) == ui.AVATAR_COLOURS  # every colour is used


def test_avatar_without_a_name_or_a_person():
    assert "#user" in ui.avatar(Person("user", 1, ""))
    assert "avatar-none" in ui.avatar(None)
    assert "avatar-bot" in ui.bot_avatar() and "#bot" in ui.bot_avatar()


def _luminance(hex_colour: str) -> float:
    if len(hex_colour) == 4:  # #fff
        hex_colour = "#" + "".join(c * 2 for c in hex_colour[1:])
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


CSS = (ROOT / "static" / "css" / "app.css").read_text(encoding="utf-8")


def test_every_avatar_colour_meets_wcag_aa_with_white_initials():
    palette = dict(re.findall(r"\.avatar-(c\d+|bot|none) \{ background: (#[0-9a-f]{6}|var\(--\w+\)); \}", CSS))
    assert {f"c{i}" for i in range(ui.AVATAR_COLOURS)} <= set(palette)
    variables = dict(re.findall(r"--([\w-]+): (#[0-9a-f]{6});", CSS))
    for key, colour in palette.items():
        colour = variables[colour[6:-1]] if colour.startswith("var") else colour
        assert _contrast(colour, "#ffffff") >= 4.5, key


def test_status_and_text_colours_meet_wcag_aa():
    v = dict(re.findall(r"--([\w-]+): (#[0-9a-f]{6}|#[0-9a-f]{3});", CSS))
    pairs = [
        ("ok", "ok-soft"),  # active
        ("warn", "warn-soft"),  # needs attention / pending
        ("danger", "danger-soft"),  # failure
        ("neutral", "neutral-soft"),  # stopped
        ("note", "note-soft"),
        ("auto", "auto-soft"),
        ("muted", "bg"),
        ("muted", "card"),
        ("accent-strong", "accent-soft"),
        ("fg", "bg"),
    ]
    for fg, bg in pairs:
        assert _contrast(v[fg], v[bg]) >= 4.5, (fg, bg)
    assert _contrast(v["control"], "#ffffff") >= 3  # the edge of a text field (WCAG 1.4.11)
    assert _contrast(v["focus"], v["card"]) >= 3 and _contrast(v["topbar-focus"], v["topbar"]) >= 3


def test_icons_are_decorative_unless_labelled():
    decorative = ui.icon("inbox")
    assert 'aria-hidden="true"' in decorative and "role=" not in decorative
    assert 'href="/static/vendor/lucide/sprite.svg#inbox"' in decorative
    labelled = ui.icon("check-check", label="配信済み")
    assert 'role="img"' in labelled and 'aria-label="配信済み"' in labelled and "<title>配信済み</title>" in labelled
    assert "aria-hidden" not in labelled
    assert "&lt;b&gt;" in ui.icon("x", label="<b>")  # labels are escaped


def test_every_icon_the_templates_use_is_in_the_vendored_sprite():
    assert SPRITE.exists(), "run `make deps`: it copies lucide-static's sprite to static/vendor"
    symbols = set(re.findall(r'<symbol id="([\w-]+)"', SPRITE.read_text(encoding="utf-8")))
    used = {"user", "bot", "message-square"} | set(ui.GENERIC_MARKS.values())
    used |= {
        ui.attachment_icon(t) for t in ("image/png", "audio/mpeg", "video/mp4", "application/zip", "text/plain", "x/y")
    }
    templates = [*ROOT.glob("templates/**/*.html"), *ROOT.glob("*/templates/**/*.html")]
    assert ROOT / "templates" / "base.html" in templates
    for template in templates:
        used |= set(re.findall(r'{% icon "([\w-]+)"', template.read_text(encoding="utf-8")))
    used |= {"check", "check-check", "clock", "circle-alert"}  # delivery ticks
    assert used - symbols == set()


def test_platform_marks():
    facebook = ui.platform_mark("facebook")
    assert facebook.startswith('<svg class="mark brand mark-facebook"') and "<path" in facebook
    assert 'aria-hidden="true"' in facebook and "<title>" not in facebook
    for platform in ("instagram", "x", "line", "whatsapp", "telegram"):
        assert "<path" in ui.platform_mark(platform), platform
    labelled = ui.platform_mark("line", label="LINE")
    assert 'role="img"' in labelled and 'aria-label="LINE"' in labelled
    assert "#mail" in ui.platform_mark("email") and "#phone" in ui.platform_mark("phone")
    assert "#message-circle" in ui.platform_mark("webchat") and "#clipboard-list" in ui.platform_mark("form")
    assert "#message-square" in ui.platform_mark("unknown-platform")


def test_day_labels_follow_the_active_time_zone():
    now = timezone.now()
    with translation.override("en"), timezone.override(zoneinfo.ZoneInfo("Asia/Tokyo")):
        assert ui.day_label(now) == "Today"
        assert ui.day_label(now - datetime.timedelta(days=1)) == "Yesterday"
        long_ago = datetime.datetime(2020, 5, 1, 15, 30, tzinfo=datetime.UTC)  # 00:30 on 2 May in Tokyo
        assert ui.local_day(long_ago) == "2020-05-02"
        assert ui.day_label(long_ago) == "Sat, May 2, 2020"
    with timezone.override(zoneinfo.ZoneInfo("UTC")):
        assert ui.local_day(long_ago) == "2020-05-01"


def test_tags_render_from_templates():
    html = Template('{% load ui %}{% icon "inbox" %}{% platform_mark p %}{{ "Ann Lee"|initials }}').render(
        Context({"p": "instagram"})
    )
    assert "#inbox" in html and "mark-instagram" in html and html.endswith("AL")
