"""Reading approvals: what waits for a member, what they submitted, who may see a request."""

from django.db.models import Exists, OuterRef, Q, QuerySet

from accounts.models import Membership, Team
from accounts.roles import Capability
from approvals.models import ApprovalDecision, ApprovalRequest, ApprovalStatus, WorkflowStep


def requests_waiting_for(membership: Membership) -> QuerySet[ApprovalRequest]:
    """Pending requests whose current step names the member (as a user, by role, by team, or as the escalation
    contact once escalated) and that they have not decided yet; never their own unless the workflow allows it. One
    query, whatever the number of requests (the same rules as engine.eligible_approver_ids)."""
    user = membership.user
    team_ids = list(
        Team.objects.filter(organization=membership.organization, group__user=user).values_list("pk", flat=True)
    )
    named = (
        Q(current_step__approver_users=user)
        | Q(current_step__approver_roles__contains=[membership.role.key])
        | Q(current_step__approver_team__in=team_ids)
        | Q(current_step__escalate_to=user, escalated_at__isnull=False)
    )
    voted = ApprovalDecision.objects.filter(request=OuterRef("pk"), step=OuterRef("current_step"), approver=user)
    own_forbidden = Q(submitted_by=user) & ~Q(workflow__allow_self_approval=True, workflow__regulated=False)
    ids = (
        ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING)
        .filter(named)
        .exclude(own_forbidden)
        .filter(~Exists(voted))
        .values("pk")
    )
    return (
        ApprovalRequest.objects.filter(pk__in=ids)
        .select_related("workflow", "current_step", "submitted_by", "subject_type")
        .order_by("step_started_at", "id")
    )


def requests_submitted_by(membership: Membership) -> QuerySet[ApprovalRequest]:
    return (
        ApprovalRequest.objects.filter(submitted_by=membership.user)
        .select_related("workflow", "current_step", "subject_type")
        .order_by("-submitted_at", "-id")
    )


def request_visible(membership: Membership, request: ApprovalRequest) -> bool:
    """Its author, anyone named in any step of its workflow (or its escalation contact), and administrators."""
    if membership.has(Capability.RULES_MANAGE) or request.submitted_by_id == membership.user_id:
        return True
    user = membership.user
    team_ids = list(
        Team.objects.filter(organization=membership.organization, group__user=user).values_list("pk", flat=True)
    )
    return (
        WorkflowStep.objects.filter(workflow_id=request.workflow_id)
        .filter(
            Q(approver_users=user)
            | Q(approver_roles__contains=[membership.role.key])
            | Q(approver_team__in=team_ids)
            | Q(escalate_to=user)
        )
        .exists()
    )
