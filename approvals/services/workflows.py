"""Writing approval workflows (the settings page and tests): a workflow with its conditions and its ordered steps.
Separation of duties: a regulated workflow never allows authors to approve their own content (also a database
check)."""

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from accounts.audit import audit_record
from accounts.models import Membership, Organization, Team, User
from accounts.roles import RoleKey
from approvals.models import ApprovalRequest, ApprovalStatus, StepRule, Workflow, WorkflowKind, WorkflowStep
from approvals.services.engine import conditions_clean
from core.errors import Conflict, DomainError

AUDIT_ACTION = "approval.workflow_changed"


def _check_workflow(organization, *, name: str, kind: str, regulated: bool, allow_self_approval: bool) -> None:
    if not name.strip():
        raise DomainError(_("Give the workflow a name."), field="name")
    if kind not in WorkflowKind.values:
        raise DomainError(_("Choose posts or replies."), field="kind")
    if regulated and allow_self_approval:
        raise DomainError(
            _("A regulated workflow never lets authors approve their own content."), field="allow_self_approval"
        )


def _default_unique(organization, workflow: Workflow) -> None:
    """Only one default per kind: making this one the default unsets the previous one."""
    if workflow.is_default:
        Workflow.objects.filter(organization=organization, kind=workflow.kind, is_default=True).exclude(
            pk=workflow.pk
        ).update(is_default=False)


@transaction.atomic
def workflow_create(
    *,
    organization: Organization,
    actor: User | None,
    name: str,
    kind: str = WorkflowKind.POST,
    conditions: dict | None = None,
    priority: int = 100,
    regulated: bool = False,
    allow_self_approval: bool = False,
    is_default: bool = False,
    reapprove_on_time_change: bool = False,
    active: bool = True,
) -> Workflow:
    """Create a workflow (add its steps with `workflow_step_save`)."""
    _check_workflow(organization, name=name, kind=kind, regulated=regulated, allow_self_approval=allow_self_approval)
    workflow = Workflow(
        organization=organization,
        name=name.strip()[:120],
        kind=kind,
        conditions=conditions_clean(conditions or {}),
        priority=priority,
        regulated=regulated,
        allow_self_approval=allow_self_approval,
        is_default=is_default,
        reapprove_on_time_change=reapprove_on_time_change,
        active=active,
    )
    if is_default:
        Workflow.objects.filter(organization=organization, kind=kind, is_default=True).update(is_default=False)
    workflow.save()
    audit_record(organization=organization, actor=actor, action=AUDIT_ACTION, obj=workflow, changes={"created": name})
    return workflow


@transaction.atomic
def workflow_update(*, organization: Organization, actor: User | None, workflow: Workflow, **fields) -> Workflow:
    """Change a workflow's name, conditions, priority, flags. Pending requests keep running their steps."""
    workflow = Workflow.objects.select_for_update().get(pk=workflow.pk, organization=organization)
    allowed = {
        "name",
        "kind",
        "conditions",
        "priority",
        "regulated",
        "allow_self_approval",
        "is_default",
        "reapprove_on_time_change",
        "active",
    }
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"unknown workflow fields {sorted(unknown)}")
    if "conditions" in fields:
        fields["conditions"] = conditions_clean(fields["conditions"] or {})
    before = {key: getattr(workflow, key) for key in fields}
    for key, value in fields.items():
        setattr(workflow, key, value)
    _check_workflow(
        organization,
        name=workflow.name,
        kind=workflow.kind,
        regulated=workflow.regulated,
        allow_self_approval=workflow.allow_self_approval,
    )
    _default_unique(organization, workflow)
    workflow.save()
    changes = {key: [before[key], getattr(workflow, key)] for key in fields if before[key] != getattr(workflow, key)}
    audit_record(organization=organization, actor=actor, action=AUDIT_ACTION, obj=workflow, changes=changes)
    return workflow


@transaction.atomic
def workflow_delete(*, organization: Organization, actor: User | None, workflow: Workflow) -> None:
    """Delete a workflow nobody used yet; one with requests is deactivated instead (its history stays)."""
    workflow = Workflow.objects.select_for_update().get(pk=workflow.pk, organization=organization)
    if ApprovalRequest.objects.filter(workflow=workflow).exists():
        workflow.active = False
        workflow.is_default = False
        workflow.save(update_fields=["active", "is_default", "updated_at"])
        audit_record(
            organization=organization, actor=actor, action=AUDIT_ACTION, obj=workflow, changes={"deactivated": True}
        )
        return
    audit_record(
        organization=organization, actor=actor, action=AUDIT_ACTION, obj=workflow, changes={"deleted": workflow.name}
    )
    workflow.delete()


@transaction.atomic
def workflow_step_save(
    *,
    organization: Organization,
    actor: User | None,
    workflow: Workflow,
    step: WorkflowStep | None = None,
    name: str,
    users: list[User] | tuple = (),
    roles: list[str] | tuple = (),
    team: Team | None = None,
    rule: str = StepRule.ANY,
    required_count: int = 1,
    target_minutes: int | None = None,
    escalate_to: User | None = None,
    position: int | None = None,
) -> WorkflowStep:
    """Add a step at the end (or `position`), or change `step`. Approvers must be members; N needs N ≥ 1."""
    if not name.strip():
        raise DomainError(_("Give the step a name."), field="name")
    if rule not in StepRule.values:
        raise DomainError(_("Choose how many approvers must approve."), field="rule")
    if rule == StepRule.N and (required_count or 0) < 1:
        raise DomainError(_("At least one approval is needed."), field="required_count")
    bad_roles = [r for r in roles if r not in RoleKey.values]
    if bad_roles:
        raise DomainError(_("Unknown role: %(roles)s.") % {"roles": ", ".join(bad_roles)}, field="roles")
    if not users and not roles and team is None:
        raise DomainError(_("Name at least one approver: people, a role or a team."), field="users")
    member_ids = set(
        Membership.objects.filter(
            organization=organization, user__in=[*users, *([escalate_to] if escalate_to else [])]
        ).values_list("user_id", flat=True)
    )
    if any(u.pk not in member_ids for u in users) or (escalate_to is not None and escalate_to.pk not in member_ids):
        raise DomainError(_("Choose members of this organization."), field="users")
    if team is not None and team.organization_id != organization.pk:
        raise DomainError(_("Choose a team of this organization."), field="team")
    if target_minutes is not None and not 1 <= int(target_minutes) <= 60 * 24 * 30:
        raise DomainError(_("Enter a target between 1 minute and 30 days."), field="target_minutes")
    if step is None:
        step = WorkflowStep(organization=organization, workflow=workflow)
        if position is None:
            last = workflow.steps.aggregate(last=Max("position"))["last"] or 0
            position = last + 1
    elif step.workflow_id != workflow.pk:
        raise DomainError(_("Unknown step."))
    if position is not None:
        step.position = position
    step.name = name.strip()[:120]
    step.approver_roles = list(dict.fromkeys(roles))
    step.approver_team = team
    step.rule = rule
    step.required_count = max(int(required_count or 1), 1)
    step.target_minutes = int(target_minutes) if target_minutes else None
    step.escalate_to = escalate_to
    try:
        with transaction.atomic():
            step.save()
    except IntegrityError as exc:
        raise Conflict(_("Another step already has this position."), field="position") from exc
    step.approver_users.set(users)
    audit_record(
        organization=organization,
        actor=actor,
        action=AUDIT_ACTION,
        obj=workflow,
        changes={"step": step.name, "position": step.position, "rule": step.rule},
    )
    return step


@transaction.atomic
def workflow_step_delete(*, organization: Organization, actor: User | None, step: WorkflowStep) -> None:
    """Remove a step no pending request is waiting on."""
    if ApprovalRequest.objects.filter(current_step=step, status=ApprovalStatus.PENDING).exists():
        raise Conflict(_("Requests are waiting on this step; remove it once they are decided."))
    if (
        ApprovalRequest.objects.filter(current_step=step).exists()
        or ApprovalRequest.objects.filter(decisions__step=step).exists()
    ):
        raise Conflict(_("This step has decisions in the history; change it instead of removing it."))
    audit_record(
        organization=organization, actor=actor, action=AUDIT_ACTION, obj=step.workflow, changes={"removed": step.name}
    )
    step.delete()
