"""The kinds of notification, what they point at and who wants which, registered by the apps that own them.

Each app registers its kinds in `AppConfig.ready()` (tickets: assigned, mentioned, customer replied; automation:
rules, SLA, crisis; later posts awaiting approval, assets expiring...), and for each kind of target a function that
gives its page. A kind is rendered in the reader's language from its stored parameters whenever it is shown or
emailed, so a notification never freezes the language of the moment it was made. Members' preferences belong to
`accounts`, which hands in how to read them (`set_preferences_lookup`)."""

from collections.abc import Callable, Collection
from dataclasses import dataclass

from django.db.models import Model
from django.utils.functional import Promise


@dataclass(frozen=True)
class NotificationKind:
    key: str  # stored on the notification and in members' preferences; at most 40 characters
    label: Promise  # the preference's name: "Assigned to me"
    text: Promise  # "%(actor)s assigned #%(number)s to you", formatted with the notification's parameters
    automated_text: Promise | None = None  # when a rule or routing acted (params carry "automated"): names no one
    rule_text: Promise | None = None  # when a named rule acted (params carry "rule"): names the rule, not a person
    in_app_by_default: bool = True
    email_by_default: bool = False


_kinds: dict[str, NotificationKind] = {}
_targets: dict[type[Model], Callable[[Model, int], str]] = {}
# (kinds wanted in the app, kinds wanted by email) of a user in the organization; None when not a member.
PreferencesLookup = Callable[[Model, int], tuple[Collection[str], Collection[str]] | None]
# The same for several users at once (one read): user id → preferences, non-members left out.
PreferencesManyLookup = Callable[[Model, Collection[int]], dict[int, tuple[Collection[str], Collection[str]]]]
_preferences: list[PreferencesLookup] = []
_preferences_many: list[PreferencesManyLookup] = []


def register_kind(kind: NotificationKind) -> None:
    """Add a kind (apps call this in `ready()`; the order of registration is the order preferences are listed)."""
    if len(kind.key) > 40:
        raise ValueError(f"notification kind {kind.key!r} is longer than 40 characters")
    existing = _kinds.get(kind.key)
    if existing is not None and existing != kind:
        raise ValueError(f"notification kind {kind.key!r} is registered twice")
    _kinds[kind.key] = kind


def register_target(model: type[Model], path: Callable[[Model, int], str]) -> None:
    """How to reach a notification's target: `path(organization, target_id)` gives its page on this site."""
    _targets[model] = path


def kinds() -> list[NotificationKind]:
    return list(_kinds.values())


def kind_keys() -> list[str]:
    return list(_kinds)


def default_in_app() -> list[str]:
    return [kind.key for kind in _kinds.values() if kind.in_app_by_default]


def default_email() -> list[str]:
    return [kind.key for kind in _kinds.values() if kind.email_by_default]


def text_format(key: str, params: dict) -> Promise:
    """The (translatable) format of a notification of this kind."""
    kind = _kinds[key]
    if params.get("rule") and kind.rule_text is not None:
        return kind.rule_text
    if params.get("automated") and kind.automated_text is not None:
        return kind.automated_text
    return kind.text


class _Blank(dict):
    """Format values: a parameter a notification lacks renders empty instead of failing."""

    def __missing__(self, key: str) -> str:
        return ""


def notification_text(key: str, params: dict) -> str:
    """The notification's sentence in the active language."""
    if key not in _kinds:
        return key
    return str(text_format(key, params)) % _Blank(params)


def target_path(organization: Model, model: type[Model] | None, target_id: int) -> str:
    path = _targets.get(model) if model is not None else None
    return path(organization, target_id) if path is not None else ""


def set_preferences_lookup(lookup: PreferencesLookup, many: PreferencesManyLookup | None = None) -> None:
    """Called once by the app that owns members' preferences (accounts, in `ready()`); `many` reads several
    members' at once (without it, `members_preferences` asks `lookup` for each)."""
    _preferences[:] = [lookup]
    _preferences_many[:] = [many] if many is not None else []


def member_preferences(organization: Model, user_id: int) -> tuple[Collection[str], Collection[str]] | None:
    """What the user wants to hear about in this organization: (in-app kinds, email kinds); None for a non-member."""
    return _preferences[0](organization, user_id)


def members_preferences(
    organization: Model, user_ids: Collection[int]
) -> dict[int, tuple[Collection[str], Collection[str]]]:
    """`member_preferences` of several users (one read when the owner handed in a lookup for many): user id →
    (in-app kinds, email kinds); non-members are left out."""
    user_ids = set(user_ids)
    if not user_ids:
        return {}
    if _preferences_many:
        return _preferences_many[0](organization, user_ids)
    found = {user_id: member_preferences(organization, user_id) for user_id in user_ids}
    return {user_id: wanted for user_id, wanted in found.items() if wanted is not None}
