"""The approvals app's models: approval workflows and requests (workflows), replies held for approval (replies).
Posts (posts) add their import line here."""

from approvals.models.posts import (
    EDITABLE_STATUSES,
    CrisisTemplate,
    Post,
    PostComment,
    PostEvent,
    PostEventKind,
    PostStatus,
    PostTarget,
    PostVersion,
    TargetStatus,
)
from approvals.models.replies import ReplyHold, ReplyHoldReason
from approvals.models.workflows import (
    ApprovalDecision,
    ApprovalRequest,
    ApprovalStatus,
    Decision,
    StepRule,
    Workflow,
    WorkflowKind,
    WorkflowStep,
)

__all__ = [
    "EDITABLE_STATUSES",
    "CrisisTemplate",
    "Post",
    "PostComment",
    "PostEvent",
    "PostEventKind",
    "PostStatus",
    "PostTarget",
    "PostVersion",
    "TargetStatus",
    "ApprovalDecision",
    "ApprovalRequest",
    "ApprovalStatus",
    "Decision",
    "ReplyHold",
    "ReplyHoldReason",
    "StepRule",
    "Workflow",
    "WorkflowKind",
    "WorkflowStep",
]
