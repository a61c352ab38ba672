"""Users, organizations (the tenants), roles, memberships, teams, invitations, API tokens and the audit log."""

import zoneinfo
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import Group, PermissionsMixin
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone as dj_timezone
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopedManager

from accounts.roles import ROLE_DESCRIPTIONS, RoleKey
from core import notification_kinds

TIMEZONE_CHOICES = [(name, name) for name in sorted(zoneinfo.available_timezones()) if "/" in name or name == "UTC"]


def timezone_choices(preferred: str) -> list[tuple[str, str]]:
    """The time zones for a form: `preferred` first, then the rest of its region ("Asia/…"), then the others. A
    Japanese organization finds Asia/Tokyo on top rather than after Africa/Abidjan."""
    region = preferred.partition("/")[0] + "/" if "/" in preferred else None
    first = [choice for choice in TIMEZONE_CHOICES if choice[0] == preferred]
    near = [c for c in TIMEZONE_CHOICES if region and c[0].startswith(region) and c[0] != preferred]
    rest = [choice for choice in TIMEZONE_CHOICES if choice not in first and choice not in near]
    return first + near + rest


# First path segments the application itself uses; an organization may not take them as its slug.
RESERVED_SLUGS = frozenset(
    {
        "accounts",
        "admin",
        "api",
        "static",
        "media",
        "healthz",
        "readyz",
        "webhooks",
        "oauth",
        "ws",
        "simulator",
        "orgs",
        "login",
        "logout",
        "settings",
        "help",
        "www",
        "app",
        "i18n",
        "jsi18n",
        "survey",  # customers' satisfaction survey pages
        "published-media",  # the signed links platforms fetch a post's images from
    }
)


def validate_slug_not_reserved(value: str) -> None:
    if value in RESERVED_SLUGS:
        raise ValidationError(_("This address is reserved. Choose another."), code="reserved")


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra):
        if not email:
            raise ValueError("email is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in with an email address. Belongs to organizations through memberships."""

    email = models.EmailField(_("email address"), max_length=254, unique=True)
    name = models.CharField(_("name"), max_length=150, blank=True)
    language = models.CharField(
        _("language"),
        max_length=8,
        choices=settings.LANGUAGES,
        blank=True,
        help_text=_("Leave empty to use the organization's default language."),
    )
    timezone = models.CharField(
        _("time zone"),
        max_length=64,
        choices=TIMEZONE_CHOICES,
        blank=True,
        help_text=_("Leave empty to use the organization's time zone."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    is_staff = models.BooleanField(_("staff"), default=False)
    date_joined = models.DateTimeField(_("date joined"), default=dj_timezone.now)
    # The organization the user last worked in: where "/" takes them after sign-in.
    last_organization = models.ForeignKey(
        "accounts.Organization", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique")]

    def __str__(self) -> str:
        return self.name or self.email

    def get_full_name(self) -> str:
        return self.name or self.email

    def get_short_name(self) -> str:
        return self.name or self.email


API_TOKEN_MAX_DAYS = 3650  # the longest expiry a token or an organization's limit can name


class Organization(models.Model):
    """A tenant: one company. Every tenant-owned row points here."""

    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(
        _("address"),
        max_length=50,
        unique=True,
        validators=[
            validate_slug_not_reserved,
            RegexValidator(r"^[a-z0-9][a-z0-9-]*$", _("Use lowercase letters, digits and hyphens.")),
        ],
    )
    timezone = models.CharField(_("time zone"), max_length=64, choices=TIMEZONE_CHOICES, default="Asia/Tokyo")
    default_language = models.CharField(_("default language"), max_length=8, choices=settings.LANGUAGES, default="ja")
    require_two_factor = models.BooleanField(
        _("require two-factor authentication"),
        default=False,
        help_text=_("Members must set up an authenticator app before they can work in this organization."),
    )
    ticket_reopen_days = models.PositiveSmallIntegerField(
        _("reopen solved tickets within (days)"),
        default=7,
        help_text=_(
            "A customer message within this many days after a ticket was solved reopens it; later ones "
            "start a new ticket."
        ),
    )
    api_token_max_days = models.PositiveSmallIntegerField(
        _("longest API token lifetime (days)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(API_TOKEN_MAX_DAYS)],
        help_text=_("API tokens expire at the latest this many days after they were created. Empty: no limit."),
    )
    japanese_era_dates = models.BooleanField(
        _("Japanese era dates (和暦)"),
        default=False,
        db_default=False,
        help_text=_("Ticket dates in Japanese read as documents do: 令和8年12月3日 instead of 2026年12月3日."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")

    def __str__(self) -> str:
        return self.name


class Role(models.Model):
    """A role in one organization with its capabilities (seeded from accounts.roles.DEFAULT_MATRIX)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="roles")
    key = models.CharField(max_length=32, choices=RoleKey.choices)
    capabilities = ArrayField(models.CharField(max_length=64), default=list, blank=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "key"], name="accounts_role_org_key_unique")]
        ordering = ["id"]

    def __str__(self) -> str:
        return str(self.label)

    @property
    def label(self):
        return RoleKey(self.key).label

    @property
    def description(self):
        return ROLE_DESCRIPTIONS[RoleKey(self.key)]


def default_in_app_kinds() -> list[str]:
    """A new member hears in the app about every kind the apps registered (core.notification_kinds)."""
    return notification_kinds.default_in_app()


def default_email_kinds() -> list[str]:
    return notification_kinds.default_email()


class Availability(models.TextChoices):
    AVAILABLE = "available", _("Available")
    AWAY = "away", _("Away")


class Membership(models.Model):
    """A user's place in an organization, with one role and their notification preferences there."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="memberships")
    notify_in_app = ArrayField(models.CharField(max_length=24), default=default_in_app_kinds, blank=True)
    notify_email = ArrayField(models.CharField(max_length=24), default=default_email_kinds, blank=True)
    # Routing: automatic assignment goes only to available members with a browser open (inbox presence), up to their
    # capacity of open tickets, preferring the ones whose skills match; `last_assigned_at` keeps it fair.
    availability = models.CharField(
        _("availability"), max_length=10, choices=Availability.choices, default=Availability.AVAILABLE
    )
    capacity = models.PositiveSmallIntegerField(
        _("open tickets at most"), null=True, blank=True, help_text=_("Leave empty to use the team's default.")
    )
    skill_languages = ArrayField(models.CharField(max_length=8), default=list, blank=True)
    skill_platforms = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="accounts_membership_org_user_unique")
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organization_id} ({self.role.key})"

    def has(self, capability: str) -> bool:
        return capability in self.role.capabilities


class AssignmentStrategy(models.TextChoices):
    MANUAL = "manual", _("Manual (the team picks from its queue)")
    ROUND_ROBIN = "round_robin", _("Round robin")
    LEAST_OPEN = "least_open", _("Fewest open tickets")


class Team(models.Model):
    """A group of members (e.g. "Support", "Social"). Channel access can be granted to a whole team.

    Membership is stored in a dedicated auth Group so django-guardian's group object permissions apply.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(_("name"), max_length=80)
    description = models.CharField(_("description"), max_length=255, blank=True)
    group = models.OneToOneField(Group, on_delete=models.PROTECT, related_name="team", editable=False)
    assignment_strategy = models.CharField(
        _("automatic assignment"), max_length=12, choices=AssignmentStrategy.choices, default=AssignmentStrategy.MANUAL
    )
    default_capacity = models.PositiveSmallIntegerField(_("open tickets per agent at most"), default=10)
    match_skills = models.BooleanField(
        _("match skills"),
        default=False,
        help_text=_("Prefer agents who speak the ticket's language and know its platform."),
    )
    require_online = models.BooleanField(
        _("only agents who are online"), default=True, help_text=_("Agents with the inbox open and not away.")
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="accounts_team_org_name_unique")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def members(self):
        return self.group.user_set


class Invitation(models.Model):
    """An emailed, single-use link that makes its recipient a member with the given role and teams."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(_("email address"))
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="+", verbose_name=_("role"))
    teams = models.ManyToManyField(Team, blank=True, related_name="+", verbose_name=_("teams"))
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # At most one open invitation per address and organization.
            models.UniqueConstraint(
                Lower("email"),
                "organization",
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="accounts_invitation_open_unique",
            )
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > dj_timezone.now()


class ApiToken(models.Model):
    """A personal REST API key, valid for one organization only. Only its SHA-256 is stored."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_tokens")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=80)
    prefix = models.CharField(max_length=12, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)  # None: until revoked (or the organization's limit)

    objects = ScopedManager(organization="organization")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def ends_at(self) -> datetime | None:
        """When the token stops working: its own expiry or the organization's longest lifetime, whichever is first."""
        ends = [self.expires_at] if self.expires_at else []
        if self.organization.api_token_max_days:
            ends.append(self.created_at + timedelta(days=self.organization.api_token_max_days))
        return min(ends, default=None)

    def is_expired(self, now: datetime | None = None) -> bool:
        ends = self.ends_at()
        return ends is not None and ends <= (now or dj_timezone.now())


class AuditAction(models.TextChoices):
    LOGIN = "auth.login", _("Signed in")
    LOGIN_FAILED = "auth.login_failed", _("Failed sign-in")
    LOGIN_LOCKED = "auth.login_locked", _("Sign-in locked after repeated failures")
    LOGOUT = "auth.logout", _("Signed out")
    PASSWORD_RESET = "auth.password_reset", _("Password reset")
    PASSWORD_RESET_REQUESTED = "auth.password_reset_requested", _("Password reset requested")
    PASSWORD_CHANGED = "auth.password_changed", _("Password changed")
    TWO_FACTOR_ENABLED = "auth.2fa_enabled", _("Two-factor authentication enabled")
    TWO_FACTOR_DISABLED = "auth.2fa_disabled", _("Two-factor authentication disabled")
    TWO_FACTOR_REPLACED = "auth.2fa_replaced", _("Two-factor authenticator replaced")
    TWO_FACTOR_FAILED = "auth.2fa_failed", _("Wrong two-factor code")
    ORG_UPDATED = "org.updated", _("Organization settings changed")
    MEMBER_INVITED = "member.invited", _("Member invited")
    INVITATION_REVOKED = "member.invitation_revoked", _("Invitation revoked")
    MEMBER_JOINED = "member.joined", _("Member joined")
    MEMBER_ROLE_CHANGED = "member.role_changed", _("Member role changed")
    MEMBER_REMOVED = "member.removed", _("Member removed")
    TEAM_CREATED = "team.created", _("Team created")
    TEAM_UPDATED = "team.updated", _("Team changed")
    TEAM_DELETED = "team.deleted", _("Team deleted")
    TOKEN_CREATED = "token.created", _("API token created")
    TOKEN_REVOKED = "token.revoked", _("API token revoked")
    CHANNEL_ACCESS_CHANGED = "channel.access_changed", _("Channel access changed")
    CHANNEL_CONNECTED = "channel.connected", _("Channel connected")
    CHANNEL_UPDATED = "channel.updated", _("Channel settings changed")
    CHANNEL_PAUSED = "channel.paused", _("Channel paused")
    CHANNEL_RESUMED = "channel.resumed", _("Channel resumed")
    CHANNEL_DISCONNECTED = "channel.disconnected", _("Channel disconnected")
    CHANNEL_NEEDS_REAUTH = "channel.needs_reauth", _("Channel needs re-authorization")
    WEBHOOK_REJECTED = "webhook.rejected", _("Webhook request rejected")
    EVENT_REPLAYED = "webhook.replayed", _("Failed event replayed")
    RULE_CREATED = "rule.created", _("Automation rule created")
    RULE_UPDATED = "rule.updated", _("Automation rule changed")
    RULE_DELETED = "rule.deleted", _("Automation rule deleted")
    RULES_REORDERED = "rule.reordered", _("Automation rules reordered")
    WEBHOOK_SECRET_ROTATED = "rule.webhook_secret_rotated", _("Webhook signing secret rotated")
    SLA_POLICY_CHANGED = "sla.policy_changed", _("SLA policy changed")
    CALENDAR_CHANGED = "sla.calendar_changed", _("Business hours changed")
    ROUTING_CHANGED = "team.routing_changed", _("Team routing changed")
    AUTO_RESPONSE_CHANGED = "autoresponse.changed", _("Auto-response changed")
    AUTOMATION_SETTINGS_CHANGED = "automation.settings_changed", _("Automation settings changed")
    CANNED_CREATED = "canned.created", _("Shared canned response created")
    CANNED_UPDATED = "canned.updated", _("Shared canned response changed")
    CANNED_DELETED = "canned.deleted", _("Shared canned response deleted")
    TAG_UPDATED = "tag.updated", _("Tag renamed or recolored")
    TAG_DELETED = "tag.deleted", _("Tag deleted")
    REPORT_EXPORTED = "report.exported", _("Report exported")
    REPORT_SCHEDULE_CHANGED = "report.schedule_changed", _("Scheduled report changed")
    ASSET_APPROVED = "asset.approved", _("Asset approved")
    ASSET_ARCHIVED = "asset.archived", _("Asset archived")
    ASSET_RESTORED = "asset.restored", _("Asset version restored")
    ASSET_DELETED = "asset.deleted", _("Asset deleted")
    ASSET_RIGHTS_CHANGED = "asset.rights_changed", _("Collection rights changed")
    CONTACT_MERGED = "contact.merged", _("Contacts merged")
    CONTACT_MERGE_UNDONE = "contact.merge_undone", _("Contact merge undone")
    CONTACT_ATTRIBUTES_CHANGED = "contact.attributes_changed", _("Custom contact fields changed")
    CONTACT_SETTINGS_CHANGED = "contact.settings_changed", _("Contact settings changed")
    CONTACT_WEBHOOKS_CHANGED = "contact.webhooks_changed", _("Contact webhook subscriptions changed")
    CONTACT_EXPORTED = "contact.exported", _("Contact's personal data exported")
    CONTACT_ERASED = "contact.erased", _("Contact's personal data erased")
    RETENTION_CHANGED = "privacy.retention_changed", _("Retention policy changed")
    RETENTION_RUN = "privacy.retention_run", _("Retention policy applied")
    APPROVAL_SUBMITTED = "approval.submitted", _("Submitted for approval")
    APPROVAL_APPROVED = "approval.approved", _("Approval given")
    APPROVAL_REJECTED = "approval.rejected", _("Returned for changes by an approver")
    APPROVAL_CANCELLED = "approval.cancelled", _("Approval request withdrawn")
    APPROVAL_ESCALATED = "approval.escalated", _("Late approval escalated")
    APPROVAL_EDITED = "approval.edited", _("Content edited during approval")
    APPROVAL_WORKFLOW_CHANGED = "approval.workflow_changed", _("Approval workflow changed")
    POST_CREATED = "post.created", _("Post created")
    POST_EDITED = "post.edited", _("Post edited")
    POST_EDITED_AFTER_APPROVAL = "post.edited_after_approval", _("Approved post edited (back to review)")
    POST_SUBMITTED = "post.submitted", _("Post submitted for approval")
    POST_APPROVED = "post.approved", _("Post approved")
    POST_REJECTED = "post.rejected", _("Post returned for changes")
    POST_RESCHEDULED = "post.rescheduled", _("Post rescheduled")
    POST_PUBLISHED = "post.published", _("Post published")
    POST_PUBLISH_FAILED = "post.publish_failed", _("Post failed to publish")
    POST_CRISIS_PUBLISHED = "post.crisis_published", _("Crisis statement published")
    CRISIS_TEMPLATE_SAVED = "crisis_template.saved", _("Crisis statement saved")
    CRISIS_TEMPLATE_APPROVED = "crisis_template.approved", _("Crisis statement approved")
    ADMIN_ADDED = "admin.added", _("Added in the operator admin")
    ADMIN_CHANGED = "admin.changed", _("Changed in the operator admin")
    ADMIN_DELETED = "admin.deleted", _("Deleted in the operator admin")


class AuditEntry(models.Model):
    """Append-only record of a sensitive action. A database trigger rejects UPDATE and DELETE.

    `organization` is empty only for events that belong to no organization (a failed sign-in for an unknown
    address); those are visible to operators in the Django admin, never to an organization.
    """

    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_entries"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_email = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=64, choices=AuditAction.choices)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=255, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=dj_timezone.now, db_index=True)

    objects = ScopedManager(organization="organization")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="accounts_audit_org_time"),
            models.Index(fields=["organization", "action", "-created_at"], name="accounts_audit_org_action"),
        ]
        verbose_name_plural = _("audit entries")

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.object_repr}"

    def save(self, *args, **kwargs):
        # Guard in Python too, so the mistake surfaces before the trigger does.
        if self.pk is not None:
            raise ValueError("audit entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("audit entries are append-only")
