"""The permission matrix: which role may do what inside one organization.

Capabilities are coarse, organization-wide rights. Which *tickets* an agent sees is narrowed further by object
permissions on channel connections (django-guardian, see accounts/permissions.py). The README shows this matrix.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Capability(models.TextChoices):
    ORG_MANAGE = "org.manage", _("Change organization settings and security policy")
    MEMBERS_MANAGE = "members.manage", _("Invite and remove members, change roles, manage teams")
    OWNERS_MANAGE = "owners.manage", _("Grant or revoke the Owner role")
    CHANNELS_MANAGE = "channels.manage", _("Connect, pause and disconnect channels; grant channel access")
    RULES_MANAGE = "rules.manage", _("Edit automation rules, routing and SLA policies")
    TICKETS_VIEW_ALL = "tickets.view_all", _("See the tickets of every channel")
    TICKETS_WORK = "tickets.work", _("Reply to, assign and update tickets they can see")
    POSTS_CREATE = "posts.create", _("Create and edit outgoing posts")
    POSTS_APPROVE = "posts.approve", _("Approve or reject outgoing posts")
    ASSETS_MANAGE = "assets.manage", _("Upload, organize and delete assets")
    ASSETS_APPROVE = "assets.approve", _("Approve assets for use in replies and posts")
    ANALYTICS_VIEW = "analytics.view", _("Read dashboards and reports")
    ANALYTICS_MANAGE = "analytics.manage", _("Schedule reports, set up CSAT surveys and listening monitors")
    DATA_EXPORT = "data.export", _("Export data")
    AUDIT_VIEW = "audit.view", _("Read the audit log")


class RoleKey(models.TextChoices):
    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Admin")
    MANAGER = "manager", _("Manager")
    AGENT = "agent", _("Agent")
    EDITOR = "editor", _("Editor")
    APPROVER = "approver", _("Approver")
    ANALYST = "analyst", _("Analyst")


C = Capability
ALL = frozenset(Capability)

# Capabilities of features that ship with later work (publishing, the asset library, reports, exports). Roles hold
# them already, so nothing changes for members when a feature lands; until then no page lists them as something a
# member can do.
COMING: frozenset = frozenset()  # every capability has shipped
SHOWN = [capability for capability in Capability if capability not in COMING]

# Agents (and editors/approvers with channel grants) see tickets only of channels granted to them or their teams.
DEFAULT_MATRIX: dict[str, frozenset[str]] = {
    RoleKey.OWNER: ALL,
    RoleKey.ADMIN: ALL - {C.OWNERS_MANAGE},
    RoleKey.MANAGER: frozenset(
        {
            C.TICKETS_VIEW_ALL,
            C.TICKETS_WORK,
            C.POSTS_CREATE,
            C.ASSETS_MANAGE,
            C.ASSETS_APPROVE,
            C.ANALYTICS_VIEW,
            C.ANALYTICS_MANAGE,
            C.DATA_EXPORT,
        }
    ),
    RoleKey.AGENT: frozenset({C.TICKETS_WORK}),
    RoleKey.EDITOR: frozenset({C.POSTS_CREATE, C.ASSETS_MANAGE}),
    RoleKey.APPROVER: frozenset({C.POSTS_APPROVE, C.ASSETS_APPROVE}),
    RoleKey.ANALYST: frozenset({C.ANALYTICS_VIEW, C.DATA_EXPORT}),
}

ROLE_DESCRIPTIONS = {
    RoleKey.OWNER: _("Everything, including granting the Owner role. Every organization keeps at least one."),
    RoleKey.ADMIN: _("Runs the organization: members, teams, channels, rules, security and the audit log."),
    RoleKey.MANAGER: _("Supervises the inbox: every ticket, dashboards, exports and post drafting."),
    RoleKey.AGENT: _("Works the tickets of the channels granted to them or their teams."),
    RoleKey.EDITOR: _("Prepares outgoing posts and manages the asset library."),
    RoleKey.APPROVER: _("Approves or rejects outgoing posts and approves assets."),
    RoleKey.ANALYST: _("Reads dashboards and exports reports."),
}
