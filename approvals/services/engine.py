"""The approval engine: choosing a workflow for a subject, running its steps, and telling the subject's owner.

Subjects (post versions, held replies) are any model; their app registers it with `register_subject` in
`ApprovalsConfig.ready` and hears the outcome through `on_approved` / `on_rejected`. Facts about a subject
(`SubjectFacts`) are gathered by its owner; the engine matches them against workflow conditions."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Model

from accounts.models import Organization, User
from approvals.models import ApprovalRequest, Workflow


@dataclass
class SubjectFacts:
    """What workflow conditions look at. `kind`: "post" or "reply"."""

    kind: str
    text: str = ""
    author: User | None = None
    author_role_key: str = ""
    author_team_ids: tuple[int, ...] = ()
    author_is_new: bool = False
    platforms: tuple[str, ...] = ()
    connection_ids: tuple[int, ...] = ()
    public: bool = False
    contact_vip: bool = False
    contact_tags: tuple[str, ...] = ()
    campaign_tags: tuple[str, ...] = ()
    # When the author joined the organization: conditions "new for N days" use it (author_is_new otherwise).
    author_member_since: datetime | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SubjectHandlers:
    on_approved: Callable[..., None]  # (organization=, request=, subject=, actor=)
    on_rejected: Callable[..., None]  # (organization=, request=, subject=, actor=, comment=)
    describe: Callable[[Model], str]  # a short line for queues, notifications and the audit log
    path: Callable[[Model], str] | None = None  # the subject's page (the notification link opens it)
    version: Callable[[Model], int] | None = None  # the subject's current version (decisions bind to it)


_subjects: dict[type[Model], SubjectHandlers] = {}


def register_subject(
    model: type[Model],
    *,
    on_approved: Callable[..., None],
    on_rejected: Callable[..., None],
    describe: Callable[[Model], str],
    path: Callable[[Model], str] | None = None,
    version: Callable[[Model], int] | None = None,
) -> None:
    """Called in `ApprovalsConfig.ready` for each kind of subject."""
    _subjects[model] = SubjectHandlers(on_approved, on_rejected, describe, path, version)


def workflow_select(*, organization: Organization, facts: SubjectFacts) -> Workflow | None:
    """The workflow for a subject: None means no approval is needed."""
    raise NotImplementedError


def approval_submit(
    *,
    organization: Organization,
    actor: User | None,
    subject: Model,
    subject_version: int,
    facts: SubjectFacts,
    workflow: Workflow | None = None,
) -> ApprovalRequest | None:
    """Submit one version of `subject`; None when no workflow applies (the caller proceeds without approval)."""
    raise NotImplementedError


def approval_decide(
    *,
    organization: Organization,
    actor: User,
    request: ApprovalRequest,
    approve: bool,
    comment: str = "",
    seen_version: int | None = None,
) -> ApprovalRequest:
    """An approver approves or rejects the current step of `request`."""
    raise NotImplementedError


def approval_cancel(
    *, organization: Organization, actor: User | None, request: ApprovalRequest, reason: str = ""
) -> ApprovalRequest:
    """Withdraw a pending request (the author withdrew it, or a new version replaces it)."""
    raise NotImplementedError
