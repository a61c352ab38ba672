"""The design system's template tags, used by every page (`{% load ui %}`):

- `{% icon "inbox" %}` an icon of the Lucide set (lucide-static's SVG sprite, copied to static/vendor by `make`);
  decorative (hidden from assistive technology) unless it is given a `label`.
- `{% platform_mark connection.platform %}` the mark of a channel's platform: the brand's logo from simple-icons
  (CC0) for social platforms, a generic Lucide icon for email, phone, web chat and forms.
- `{% avatar user_or_contact %}` a round avatar with the person's initials, in a colour derived from their id.
- `|initials`, `|local_day`, `|day_label`, `|attachment_icon`, `|is_under` filters, `{% bot_avatar %}` and
  `{% unread_notification_count %}`.

Only `core` is imported (the bottom layer): the tags know platforms and people by plain attributes."""

from __future__ import annotations

import datetime
import logging
import re
import unicodedata
import zlib
from functools import cache

from django import template
from django.contrib.staticfiles import finders
from django.templatetags.static import static
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from core.models import Notification

register = template.Library()
logger = logging.getLogger(__name__)

SPRITE = "vendor/lucide/sprite.svg"
BRAND_DIR = "vendor/simple-icons"
# Platforms with a brand mark (simple-icons' file names); the Makefile copies exactly these.
BRANDS = {"facebook": "facebook", "instagram": "instagram", "x": "x", "twitter": "x", "line": "line",
          "whatsapp": "whatsapp", "telegram": "telegram"}  # fmt: skip
# Channels without a brand: a generic Lucide icon.
GENERIC_MARKS = {"email": "mail", "mail": "mail", "phone": "phone", "call": "phone", "voice": "phone",
                 "webchat": "message-circle", "web_chat": "message-circle", "chat": "message-circle",
                 "livechat": "message-circle", "form": "clipboard-list", "forms": "clipboard-list",
                 "webform": "clipboard-list"}  # fmt: skip
AVATAR_COLOURS = 10  # .avatar-c0 … .avatar-c9 in app.css, each with white text at a contrast of 4.5:1 or more


@cache
def _sprite_url() -> str:
    try:
        return static(SPRITE)
    except ValueError:  # the manifest lacks the sprite (an image built without it): icons go missing, pages work
        logger.error("%s is not among the collected static files; run `make deps` before collectstatic", SPRITE)
        return ""


@register.simple_tag
def icon(name: str, label: str = "", cls: str = "") -> SafeString:
    """A Lucide icon. With `label` it is an image with that name (an icon-only button, a status); without, it is
    decoration next to text and hidden from screen readers."""
    classes = f"icon {cls}".strip()
    href = f"{_sprite_url()}#{name}"
    if label:
        return format_html(
            '<svg class="{}" role="img" aria-label="{}" focusable="false"><title>{}</title><use href="{}"></use></svg>',
            classes,
            label,
            label,
            href,
        )
    return format_html(
        '<svg class="{}" aria-hidden="true" focusable="false"><use href="{}"></use></svg>', classes, href
    )


_SVG_OPEN = re.compile(r"<svg\b[^>]*>")
_TITLE = re.compile(r"<title>.*?</title>", re.S)


@cache
def _brand_svg(name: str) -> str | None:
    """The inside of simple-icons' `<name>.svg` (its paths, without its own title), or None when it is missing."""
    path = finders.find(f"{BRAND_DIR}/{name}.svg")
    if not path:
        logger.warning("%s/%s.svg is missing; run `make deps`", BRAND_DIR, name)
        return None
    with open(path, encoding="utf-8") as handle:
        svg = handle.read()
    opening = _SVG_OPEN.search(svg)
    if not opening or "<script" in svg.lower():
        return None
    return _TITLE.sub("", svg[opening.end() : svg.rindex("</svg>")])


@register.simple_tag
def platform_mark(platform: str, label: str = "") -> SafeString:
    """The platform's mark. Decorative beside its name; give `label` (the platform's name) when it stands alone."""
    platform = (platform or "").lower()
    brand = BRANDS.get(platform)
    inner = _brand_svg(brand) if brand else None
    if inner is None:
        return icon(GENERIC_MARKS.get(platform, "message-square"), label=label, cls=f"mark mark-{platform}")
    if label:
        head = format_html(
            '<svg class="mark brand mark-{}" viewBox="0 0 24 24" role="img" aria-label="{}" focusable="false">'
            "<title>{}</title>",
            platform,
            label,
            label,
        )
    else:
        head = format_html(
            '<svg class="mark brand mark-{}" viewBox="0 0 24 24" aria-hidden="true" focusable="false">', platform
        )
    return mark_safe(head + inner + "</svg>")  # the inside is simple-icons' own file, copied from npm by `make`


# --- avatars ------------------------------------------------------------------------------------------------------
def _is_cjk(char: str) -> bool:
    """Chinese characters, kana and hangul: a name in these scripts is shown by its first character (高橋 誠 → 高)."""
    name = unicodedata.name(char, "")
    return name.startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "HALFWIDTH KATAKANA"))


def _first_letter(word: str) -> str:
    return next((char for char in word if char.isalnum()), "")


@register.filter
def initials(name) -> str:
    """Initials of a display name in any script: "Ann Lee" → "AL", "高橋 誠" → "高", "madonna" → "M", "" → ""."""
    text = unicodedata.normalize("NFC", str(name or "")).strip()
    if "@" in text and " " not in text:
        text = text.split("@", 1)[0]  # an email address as the name: its local part
    letters = [letter for letter in (_first_letter(word) for word in text.split()) if letter]
    if not letters:
        return ""
    first = letters[0]
    if _is_cjk(first):
        return first
    if len(letters) > 1 and not _is_cjk(letters[-1]):
        return (first + letters[-1]).upper()
    return first.upper()


def avatar_colour(key: str) -> int:
    """A colour index (0…AVATAR_COLOURS-1) that stays the same for the same person on every page and every day."""
    return zlib.crc32(key.encode()) % AVATAR_COLOURS


def _display_name(person) -> str:
    if person is None:
        return ""
    if hasattr(person, "get_full_name"):
        return person.get_full_name() or ""
    return getattr(person, "name", "") or ""


@register.simple_tag
def avatar(person, size: str = "", name: str | None = None) -> SafeString:
    """A person's avatar: their initials on a colour derived from what they are (user, contact...) and their id.
    Decorative: the name is always written beside it. Nobody known (a deleted author): a neutral silhouette."""
    sized = f" avatar-{size}" if size else ""
    if person is None or person.pk is None:
        return format_html('<span class="avatar avatar-none{}" aria-hidden="true">{}</span>', sized, icon("user"))
    letters = initials(name if name is not None else _display_name(person))
    colour = avatar_colour(f"{person._meta.model_name}:{person.pk}")
    content = letters or icon("user")
    return format_html('<span class="avatar avatar-c{}{}" aria-hidden="true">{}</span>', colour, sized, content)


@register.simple_tag
def bot_avatar(size: str = "") -> SafeString:
    """The avatar of automation (auto-replies, rules): a robot, never mistaken for a colleague."""
    sized = f" avatar-{size}" if size else ""
    return format_html('<span class="avatar avatar-bot{}" aria-hidden="true">{}</span>', sized, icon("bot"))


@register.filter
def is_under(path: str, url: str) -> bool:
    """The current page is `url` or one of its sub-pages (the sidebar marks the section the member is in)."""
    return bool(url) and str(path).startswith(url)


# --- days and files -----------------------------------------------------------------------------------------------
@register.filter
def local_day(value) -> str:
    """The calendar day of an aware datetime in the active time zone (the member's or organization's), ISO format."""
    if not value:
        return ""
    return timezone.localtime(value).date().isoformat()


@register.filter
def day_label(value) -> str:
    """A day separator's words: Today, Yesterday, else the date (without the year when it is this year)."""
    if not value:
        return ""
    day = timezone.localtime(value).date()
    today = timezone.localdate()
    if day == today:
        return _("Today")
    if day == today - datetime.timedelta(days=1):
        return _("Yesterday")
    # Both formats carry the weekday (config/formats): 12月3日(木), Thu, Dec 3.
    return formats.date_format(day, "MONTH_DAY_FORMAT" if day.year == today.year else "DATE_FORMAT")


@register.filter
def attachment_icon(content_type: str) -> str:
    """The Lucide icon name for a file of this type."""
    kind = (content_type or "").lower()
    if kind.startswith("image/"):
        return "file-image"
    if kind.startswith("audio/"):
        return "file-headphone"
    if kind.startswith("video/"):
        return "file-video-camera"
    if "zip" in kind or "compressed" in kind or "tar" in kind:
        return "file-archive"
    if kind == "application/pdf" or kind.startswith("text/") or "document" in kind:
        return "file-text"
    return "file"


@register.simple_tag(takes_context=True)
def unread_notification_count(context) -> int:
    """The member's unread notifications for the top bar (the inbox view has counted them already)."""
    if "unread_notifications" in context:
        return context["unread_notifications"] or 0
    membership = context.get("membership")
    if not membership:
        return 0
    return Notification.objects.filter(user_id=membership.user_id, read_at__isnull=True).count()
