"""What apps above `accounts` must do when membership changes, registered at startup (their AppConfig.ready):
`accounts` never imports them. Hooks run inside the accounts service's transaction."""

from collections.abc import Callable

# (organization, user): the user is leaving the organization; drop what was granted to them there.
MemberRemoved = Callable[[object, object], None]
_member_removed: list[MemberRemoved] = []


def on_member_removed(hook: MemberRemoved) -> None:
    if hook not in _member_removed:
        _member_removed.append(hook)


def member_removed(organization, user) -> None:
    for hook in _member_removed:
        hook(organization, user)


# (organization,): an organization was just created by its owner (sign-up, "new organization"); give it the
# starter content apps provide (shared canned responses ready to send).
OrganizationStarted = Callable[[object], None]
_organization_started: list[OrganizationStarted] = []


def on_organization_started(hook: OrganizationStarted) -> None:
    if hook not in _organization_started:
        _organization_started.append(hook)


def organization_started(organization) -> None:
    for hook in _organization_started:
        hook(organization)
