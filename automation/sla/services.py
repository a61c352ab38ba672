"""Writes for the SLA settings: business calendars, their closures, and SLA policies. Each change needs the
`rules.manage` capability and writes an audit entry; uniqueness is the database's (a race becomes a Conflict)."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils.translation import gettext as _

from accounts.audit import audit_record
from accounts.models import AuditAction, Membership, Organization, User
from accounts.roles import Capability
from automation.models import BusinessCalendar, BusinessClosure, SlaPolicy
from automation.sla.calendar import spec_invalidate, validate_schedule
from channels_integrations.models import ChannelConnection
from core.errors import Conflict, DomainError, NotAllowed
from tickets.models import ACTIVE_STATUSES, Ticket

POLICY_FIELDS = [
    "name",
    "priority",
    "connection",
    "calendar",
    "first_response_minutes",
    "next_response_minutes",
    "resolution_minutes",
    "warning_minutes",
    "enabled",
]
CALENDAR_FIELDS = ["name", "timezone", "japanese_holidays", "is_default", "schedule"]


def _require(membership: Membership) -> None:
    if membership is None or not membership.has(Capability.RULES_MANAGE):
        raise NotAllowed(_("Only members who manage rules can change SLA policies and business hours."))


def _value(obj, name: str):
    """A field's value as the audit log shows it (related objects by id)."""
    if name in ("connection", "calendar"):
        return getattr(obj, f"{name}_id")
    return getattr(obj, name)


def _integrity_to_conflict(exc: IntegrityError) -> Conflict:
    text = str(exc)
    if "tickets_calendar_org_name_unique" in text:
        return Conflict(_("A calendar with this name already exists."), field="name")
    if "tickets_calendar_one_default" in text:
        return Conflict(_("Another calendar became the default at the same time. Try again."), field="is_default")
    if "tickets_slapolicy_priority_channel_unique" in text:
        return Conflict(_("A policy for this priority and channel already exists."), field="priority")
    raise exc


# --- calendars ----------------------------------------------------------------------------------------------------


def _check_calendar(organization: Organization, *, name: str, schedule: dict, exclude_pk=None) -> dict:
    try:
        schedule = validate_schedule(schedule)
    except ValidationError as exc:
        raise DomainError(" ".join(exc.messages), field="schedule") from exc
    if BusinessCalendar.objects.filter(name=name).exclude(pk=exclude_pk).exists():
        raise Conflict(_("A calendar with this name already exists."), field="name")
    return schedule


@transaction.atomic
def calendar_save(
    *,
    organization: Organization,
    actor: User,
    actor_membership: Membership,
    calendar: BusinessCalendar | None = None,
    name: str,
    timezone: str = "",
    japanese_holidays: bool = True,
    is_default: bool = False,
    schedule: dict,
    request=None,
) -> BusinessCalendar:
    """Create a calendar (`calendar` None) or change one. Making it the default takes that from the previous one."""
    _require(actor_membership)
    name = name.strip()
    schedule = _check_calendar(organization, name=name, schedule=schedule, exclude_pk=calendar.pk if calendar else None)
    creating = calendar is None
    if creating:
        calendar = BusinessCalendar(organization=organization)
    before = {field: _value(calendar, field) for field in CALENDAR_FIELDS} if not creating else {}
    calendar.name, calendar.timezone, calendar.schedule = name, timezone, schedule
    calendar.japanese_holidays, calendar.is_default = japanese_holidays, is_default
    changes = {
        field: [before.get(field), _value(calendar, field)]
        for field in CALENDAR_FIELDS
        if creating or before[field] != _value(calendar, field)
    }
    if not changes:
        return calendar
    try:
        with transaction.atomic():
            if is_default:
                BusinessCalendar.objects.filter(is_default=True).exclude(pk=calendar.pk).update(is_default=False)
            calendar.save()
    except IntegrityError as exc:
        raise _integrity_to_conflict(exc) from exc
    if not creating:
        spec_invalidate(calendar.pk)
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.CALENDAR_CHANGED,
        obj=calendar,
        changes={"created" if creating else "changed": True, **changes},
        request=request,
    )
    return calendar


@transaction.atomic
def calendar_delete(
    *, organization: Organization, actor: User, actor_membership: Membership, calendar: BusinessCalendar, request=None
) -> None:
    """Delete a calendar that no policy uses (policies must be moved off it first)."""
    _require(actor_membership)
    used_by = list(SlaPolicy.objects.filter(calendar=calendar).values_list("name", flat=True)[:5])
    if used_by:
        raise Conflict(
            _("The calendar is used by these SLA policies: %(names)s. Change them first.")
            % {"names": ", ".join(used_by)}
        )
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.CALENDAR_CHANGED,
        obj=calendar,
        changes={"deleted": True, "name": calendar.name},
        request=request,
    )
    spec_invalidate(calendar.pk)
    try:
        with transaction.atomic():
            calendar.delete()
    except ProtectedError as exc:  # a policy chose it meanwhile
        raise Conflict(_("The calendar is used by an SLA policy. Change the policy first.")) from exc


@transaction.atomic
def closure_add(
    *,
    organization: Organization,
    actor: User,
    actor_membership: Membership,
    calendar: BusinessCalendar,
    name: str,
    starts_at,
    ends_at,
    request=None,
) -> BusinessClosure:
    """Close the calendar from `starts_at` until `ends_at` (aware datetimes)."""
    _require(actor_membership)
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise DomainError(_("Give the closure's times with their time zone."), field="starts_at")
    if ends_at <= starts_at:
        raise DomainError(_("The closure must end after it starts."), field="ends_at")
    closure = BusinessClosure.objects.create(
        organization=organization, calendar=calendar, name=name.strip(), starts_at=starts_at, ends_at=ends_at
    )
    spec_invalidate(calendar.pk)
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.CALENDAR_CHANGED,
        obj=calendar,
        changes={"closure_added": {"name": closure.name, "from": starts_at.isoformat(), "until": ends_at.isoformat()}},
        request=request,
    )
    return closure


@transaction.atomic
def closure_delete(
    *, organization: Organization, actor: User, actor_membership: Membership, closure: BusinessClosure, request=None
) -> None:
    _require(actor_membership)
    calendar = closure.calendar
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.CALENDAR_CHANGED,
        obj=calendar,
        changes={
            "closure_deleted": {
                "name": closure.name,
                "from": closure.starts_at.isoformat(),
                "until": closure.ends_at.isoformat(),
            }
        },
        request=request,
    )
    spec_invalidate(calendar.pk)
    closure.delete()


# --- policies -----------------------------------------------------------------------------------------------------


@transaction.atomic
def policy_save(
    *,
    organization: Organization,
    actor: User,
    actor_membership: Membership,
    policy: SlaPolicy | None = None,
    name: str,
    priority: str,
    connection: ChannelConnection | None = None,
    calendar: BusinessCalendar | None = None,
    first_response_minutes: int | None = None,
    next_response_minutes: int | None = None,
    resolution_minutes: int | None = None,
    warning_minutes: int = 15,
    enabled: bool = True,
    request=None,
) -> SlaPolicy:
    """Create a policy (`policy` None) or change one. One policy per priority and channel (or every channel).
    Changed targets apply to tickets from their next (re)application — creation, a priority change, a rule — the
    due times already promised stay as they are."""
    _require(actor_membership)
    for related in (connection, calendar):
        if related is not None and related.organization_id != organization.pk:
            raise DomainError(_("Choose a channel and calendar of this organization."))
    duplicate = SlaPolicy.objects.filter(priority=priority, connection=connection)
    if policy is not None:
        duplicate = duplicate.exclude(pk=policy.pk)
    if duplicate.exists():
        raise Conflict(_("A policy for this priority and channel already exists."), field="priority")
    creating = policy is None
    if creating:
        policy = SlaPolicy(organization=organization)
    before = {field: _value(policy, field) for field in POLICY_FIELDS} if not creating else {}
    policy.name, policy.priority, policy.connection, policy.calendar = name.strip(), priority, connection, calendar
    policy.first_response_minutes = first_response_minutes
    policy.next_response_minutes = next_response_minutes
    policy.resolution_minutes = resolution_minutes
    policy.warning_minutes, policy.enabled = warning_minutes, enabled
    changes = {
        field: [before.get(field), _value(policy, field)]
        for field in POLICY_FIELDS
        if creating or before[field] != _value(policy, field)
    }
    if not changes:
        return policy
    try:
        with transaction.atomic():
            policy.save()
    except IntegrityError as exc:
        raise _integrity_to_conflict(exc) from exc
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.SLA_POLICY_CHANGED,
        obj=policy,
        changes={"created" if creating else "changed": True, **changes},
        request=request,
    )
    return policy


@transaction.atomic
def policy_delete(
    *, organization: Organization, actor: User, actor_membership: Membership, policy: SlaPolicy, request=None
) -> int:
    """Delete a policy. Its clocks stop on the active tickets that use it (due times and state cleared — without a
    policy nobody could say when to warn); solved and closed tickets keep their due times for the record. Returns
    how many active tickets lost their clocks."""
    _require(actor_membership)
    stopped = Ticket.objects.filter(sla_policy=policy, status__in=ACTIVE_STATUSES).update(
        sla_policy=None,
        first_response_due_at=None,
        next_response_due_at=None,
        resolution_due_at=None,
        sla_paused_at=None,
        sla_state="",
        sla_check_at=None,
    )
    audit_record(
        organization=organization,
        actor=actor,
        action=AuditAction.SLA_POLICY_CHANGED,
        obj=policy,
        changes={"deleted": True, "name": policy.name, "tickets_stopped": stopped},
        request=request,
    )
    policy.delete()
    return stopped
