"""The approval engine: choosing a workflow for a subject, running its steps, and telling the subject's owner.

Subjects (post versions, held replies) are any model; their app registers it with `register_subject` in
`ApprovalsConfig.ready` and hears the outcome through `on_approved` / `on_rejected`. Facts about a subject
(`SubjectFacts`) are gathered by its owner; the engine matches them against workflow conditions.

Lock order: the request row (`select_for_update`) before anything the subject's handlers lock."""

import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Model, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.audit import audit_record
from accounts.models import Membership, Organization, User
from approvals.models import (
    ApprovalDecision,
    ApprovalRequest,
    ApprovalStatus,
    Decision,
    StepRule,
    Workflow,
    WorkflowStep,
)
from core.errors import DomainError, NotAllowed
from core.notifications import notify

logger = logging.getLogger("tsunagu.approvals")

# Ready-made keyword lists a condition can name (`keyword_sets`): what Japanese brands ask legal to review.
KEYWORD_SETS: dict[str, tuple] = {
    "prices": (
        gettext_lazy("Prices"),
        (
            "価格",
            "値段",
            "料金",
            "円",
            "¥",
            "税込",
            "税抜",
            "割引",
            "値引",
            "無料",
            "price",
            "discount",
            "free",
            "$",
            "€",
        ),
    ),
    "refunds": (gettext_lazy("Refunds"), ("返金", "返品", "払い戻し", "払戻", "キャンセル料", "refund", "chargeback")),
    "medical": (
        gettext_lazy("Medical terms"),
        (
            "医療",
            "治療",
            "診断",
            "医薬",
            "薬",
            "効能",
            "効果",
            "副作用",
            "治る",
            "medical",
            "cure",
            "treatment",
            "diagnos",
        ),
    ),
    "legal": (
        gettext_lazy("Legal terms"),
        ("法律", "法的", "弁護士", "訴訟", "裁判", "契約", "賠償", "違法", "legal", "lawsuit", "lawyer", "liability"),
    ),
}

CONDITION_KEYS = (
    "platforms",
    "connection_ids",
    "keywords",
    "keyword_sets",
    "regexes",
    "author_roles",
    "author_team_ids",
    "author_new_days",
    "public",
    "contact_vip",
    "contact_tags",
    "campaign_tags",
)

# Without a workflow saying how many days, an author counts as new for this long (SubjectFacts.author_is_new).
NEW_AUTHOR_DAYS = 30


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


def author_facts(organization: Organization, user: User | None) -> dict:
    """The author's part of SubjectFacts (role key, team ids, when they joined, whether they are new)."""
    if user is None:
        return {}
    membership = Membership.objects.filter(organization=organization, user=user).select_related("role").first()
    if membership is None:
        return {"author": user}
    team_ids = tuple(
        Group.objects.filter(user=user, team__organization=organization).values_list("team__id", flat=True)
    )
    return {
        "author": user,
        "author_role_key": membership.role.key,
        "author_team_ids": team_ids,
        "author_member_since": membership.created_at,
        "author_is_new": membership.created_at > timezone.now() - timedelta(days=NEW_AUTHOR_DAYS),
    }


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


def subject_handlers(model: type[Model] | None) -> SubjectHandlers | None:
    return _subjects.get(model) if model is not None else None


# --- Conditions --------------------------------------------------------------------------------------------------


def _normal(text: str) -> str:
    """Full-width letters, digits and ￥ in their plain forms, case folded (ＰＲＩＣＥ matches price)."""
    return unicodedata.normalize("NFKC", text or "").casefold()


def _words(values) -> list[str]:
    if isinstance(values, str):
        values = re.split(r"[,\n、]", values)
    return [str(v).strip() for v in values or () if str(v).strip()]


def conditions_clean(raw: dict) -> dict:
    """Validate and normalize a workflow's conditions (settings page, API); raises DomainError naming the field."""
    if not isinstance(raw, dict):
        raise DomainError(_("Conditions must be an object."), field="conditions")
    unknown = set(raw) - set(CONDITION_KEYS)
    if unknown:
        raise DomainError(
            _("Unknown condition: %(names)s.") % {"names": ", ".join(sorted(unknown))}, field="conditions"
        )
    clean: dict = {}
    for key in ("platforms", "keywords", "author_roles", "contact_tags", "campaign_tags"):
        words = _words(raw.get(key))
        if words:
            clean[key] = words
    sets = _words(raw.get("keyword_sets"))
    for name in sets:
        if name not in KEYWORD_SETS:
            raise DomainError(_("Unknown keyword list: %(name)s.") % {"name": name}, field="keyword_sets")
    if sets:
        clean["keyword_sets"] = sets
    regexes = [r for r in (raw.get("regexes") or []) if str(r).strip()]
    if isinstance(raw.get("regexes"), str):
        regexes = [line for line in raw["regexes"].splitlines() if line.strip()]
    for pattern in regexes:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise DomainError(
                _("The pattern %(pattern)s is not a valid regular expression: %(error)s.")
                % {"pattern": pattern, "error": exc},
                field="regexes",
            ) from exc
    if regexes:
        clean["regexes"] = [str(r) for r in regexes]
    for key in ("connection_ids", "author_team_ids"):
        values = raw.get(key) or []
        try:
            ids = sorted({int(v) for v in values})
        except (TypeError, ValueError) as exc:
            raise DomainError(_("Choose from the list."), field=key) from exc
        if ids:
            clean[key] = ids
    days = raw.get("author_new_days")
    if days not in (None, ""):
        try:
            days = int(days)
        except (TypeError, ValueError) as exc:
            raise DomainError(_("Enter a whole number of days."), field="author_new_days") from exc
        if not 1 <= days <= 3650:
            raise DomainError(_("Enter a number of days between 1 and 3650."), field="author_new_days")
        clean["author_new_days"] = days
    for key in ("public", "contact_vip"):
        if raw.get(key) in (True, "true", "on", "1", 1):
            clean[key] = True
    return clean


def _text_matches(conditions: dict, text: str) -> bool | None:
    """None when the workflow has no text condition; else whether the text mentions any keyword or pattern."""
    keywords = list(conditions.get("keywords", ()))
    for name in conditions.get("keyword_sets", ()):
        keywords.extend(KEYWORD_SETS.get(name, ("", ()))[1])
    regexes = conditions.get("regexes", ())
    if not keywords and not regexes:
        return None
    normal = _normal(text)
    if any(_normal(word) in normal for word in keywords if word):
        return True
    for pattern in regexes:
        try:
            if re.search(pattern, text, flags=re.IGNORECASE) or re.search(pattern, normal, flags=re.IGNORECASE):
                return True
        except re.error:  # validated on save; a pattern that breaks later is simply no match
            logger.warning("invalid approval pattern %r", pattern)
    return False


def conditions_match(conditions: dict, facts: SubjectFacts, *, now: datetime | None = None) -> bool:
    """Every condition the workflow names holds for the subject (a list holds when any of its items does)."""
    now = now or timezone.now()
    if conditions.get("platforms") and not set(conditions["platforms"]) & set(facts.platforms):
        return False
    if conditions.get("connection_ids") and not set(conditions["connection_ids"]) & set(facts.connection_ids):
        return False
    if _text_matches(conditions, facts.text) is False:
        return False
    if conditions.get("author_roles") and facts.author_role_key not in conditions["author_roles"]:
        return False
    if conditions.get("author_team_ids") and not set(conditions["author_team_ids"]) & set(facts.author_team_ids):
        return False
    days = conditions.get("author_new_days")
    if days:
        if facts.author_member_since is not None:
            if facts.author_member_since <= now - timedelta(days=int(days)):
                return False
        elif not facts.author_is_new:
            return False
    if conditions.get("public") and not facts.public:
        return False
    if conditions.get("contact_vip") and not facts.contact_vip:
        return False
    if conditions.get("contact_tags"):
        wanted = {_normal(t) for t in conditions["contact_tags"]}
        if not wanted & {_normal(t) for t in facts.contact_tags}:
            return False
    if conditions.get("campaign_tags"):
        wanted = {_normal(t) for t in conditions["campaign_tags"]}
        if not wanted & {_normal(t) for t in facts.campaign_tags}:
            return False
    return True


def workflow_select(*, organization: Organization, facts: SubjectFacts, now: datetime | None = None) -> Workflow | None:
    """The workflow for a subject: the first active workflow of its kind (by priority) whose conditions match, else
    the organization's default for that kind; None means no approval is needed."""
    workflows = list(Workflow.objects.filter(organization=organization, kind=facts.kind, active=True))
    for workflow in workflows:
        if not workflow.is_default and conditions_match(workflow.conditions or {}, facts, now=now):
            return workflow
    return next((w for w in workflows if w.is_default), None)


# --- Approvers ---------------------------------------------------------------------------------------------------


def step_approver_ids(step: WorkflowStep) -> set[int]:
    """Members of the step's organization named by the step: users, holders of a role key, members of the team."""
    ids = set(step.approver_users.values_list("id", flat=True))
    if step.approver_roles:
        ids |= set(
            Membership.objects.filter(
                organization_id=step.organization_id, role__key__in=step.approver_roles
            ).values_list("user_id", flat=True)
        )
    if step.approver_team_id:
        ids |= set(User.objects.filter(groups__team__id=step.approver_team_id).values_list("id", flat=True))
    members = set(
        Membership.objects.filter(
            organization_id=step.organization_id, user_id__in=ids, user__is_active=True
        ).values_list("user_id", flat=True)
    )
    return members


def self_approval_allowed(workflow: Workflow) -> bool:
    """Separation of duties: an author approves their own subject only where a non-regulated workflow allows it."""
    return workflow.allow_self_approval and not workflow.regulated


def eligible_approver_ids(request: ApprovalRequest, step: WorkflowStep | None = None) -> set[int]:
    """Who may decide the request's current step: the step's approvers, plus the escalation contact once the step
    was escalated, minus the author (separation of duties)."""
    step = step or request.current_step
    if step is None:
        return set()
    ids = step_approver_ids(step)
    if request.escalated_at is not None and step.escalate_to_id:
        ids.add(step.escalate_to_id)
    if request.submitted_by_id and not self_approval_allowed(request.workflow):
        ids.discard(request.submitted_by_id)
    return ids


def approvals_needed(step: WorkflowStep, eligible: int) -> int:
    if step.rule == StepRule.ALL:
        return max(eligible, 1)
    if step.rule == StepRule.N:
        return max(step.required_count, 1)
    return 1


def can_decide(request: ApprovalRequest, user: User) -> bool:
    """Whether `user` may approve or return the request now (pending, eligible, not yet voted on this step)."""
    if request.status != ApprovalStatus.PENDING or request.current_step_id is None:
        return False
    if user.pk not in eligible_approver_ids(request):
        return False
    return not ApprovalDecision.objects.filter(request=request, step_id=request.current_step_id, approver=user).exists()


# --- Notifications -------------------------------------------------------------------------------------------------


def _notify(organization, request: ApprovalRequest, user_ids, kind: str, actor: User | None = None, **params) -> None:
    for user_id in sorted(set(user_ids)):
        notify(
            organization=organization,
            user_id=user_id,
            kind=kind,
            target=request,
            params={
                "subject": request.summary,
                "step": request.current_step.name if request.current_step_id else "",
                "actor": (actor.name or actor.email) if actor is not None else "",
                **params,
            },
        )


def _audit(organization, actor, action: str, request: ApprovalRequest, **changes) -> None:
    audit_record(
        organization=organization,
        actor=actor,
        action=action,
        obj=request,
        changes={
            "subject": f"{request.subject_type.app_label}.{request.subject_type.model}:{request.subject_id}",
            "version": request.subject_version,
            "workflow": request.workflow.name,
            **changes,
        },
    )


# --- Writes ---------------------------------------------------------------------------------------------------------


def _pending_for(organization, subject: Model):
    return ApprovalRequest.objects.filter(
        organization=organization,
        subject_type=ContentType.objects.get_for_model(subject),
        subject_id=subject.pk,
        status=ApprovalStatus.PENDING,
    )


def request_pending_for(*, organization: Organization, subject: Model) -> ApprovalRequest | None:
    """The subject's pending request, if any."""
    return _pending_for(organization, subject).select_related("workflow", "current_step").first()


@transaction.atomic
def approval_submit(
    *,
    organization: Organization,
    actor: User | None,
    subject: Model,
    subject_version: int,
    facts: SubjectFacts,
    workflow: Workflow | None = None,
    now: datetime | None = None,
) -> ApprovalRequest | None:
    """Submit one version of `subject` for approval. A pending request for an earlier version is cancelled first
    (an approval binds to the version approved). `workflow` forces one (the author asked for approval); otherwise
    `workflow_select` chooses. Returns None when no workflow applies: the caller proceeds without approval."""
    now = now or timezone.now()
    for previous in _pending_for(organization, subject).select_for_update():
        _cancel(organization, actor, previous, reason=_("A new version was submitted."), now=now)
    workflow = workflow or workflow_select(organization=organization, facts=facts, now=now)
    if workflow is None:
        return None
    first = workflow.steps.order_by("position", "id").first()
    if first is None:
        raise DomainError(
            _("The approval workflow “%(name)s” has no steps; ask an administrator to add one.")
            % {"name": workflow.name},
            code="workflow_without_steps",
        )
    handlers = subject_handlers(type(subject))
    summary = handlers.describe(subject) if handlers else str(subject)
    request = ApprovalRequest.objects.create(
        organization=organization,
        workflow=workflow,
        subject_type=ContentType.objects.get_for_model(subject),
        subject_id=subject.pk,
        subject_version=subject_version,
        current_step=first,
        summary=summary[:255],
        submitted_by=actor,
        submitted_at=now,
        step_started_at=now,
    )
    _audit(organization, actor, "approval.submitted", request, step=first.name)
    approvers = eligible_approver_ids(request, first)
    if not approvers:
        logger.warning("approval request %s: nobody can approve step %s", request.pk, first.pk)
    _notify(organization, request, approvers, "approval_requested", actor)
    return request


def _lock(request: ApprovalRequest) -> ApprovalRequest:
    return (
        ApprovalRequest.objects.select_for_update(of=("self",))
        .select_related("workflow", "current_step", "subject_type")
        .get(pk=request.pk)
    )


def _subject_of(request: ApprovalRequest) -> Model | None:
    model = request.subject_type.model_class()
    return model._base_manager.filter(pk=request.subject_id).first() if model is not None else None


@transaction.atomic
def approval_decide(
    *,
    organization: Organization,
    actor: User,
    request: ApprovalRequest,
    approve: bool,
    comment: str = "",
    seen_version: int | None = None,
    now: datetime | None = None,
) -> ApprovalRequest:
    """An approver approves or returns (rejects) the current step of `request`. A return needs a comment and ends
    the request; an approval counts toward the step's rule and, when it is met, moves to the next step or approves
    the request. `seen_version`: the version the approver was shown; a decision never applies to another one."""
    now = now or timezone.now()
    comment = (comment or "").strip()
    request = _lock(request)
    if request.status != ApprovalStatus.PENDING:
        raise DomainError(
            _("This request was already decided (%(status)s).") % {"status": request.get_status_display()},
            code="already_decided",
        )
    if seen_version is not None and int(seen_version) != request.subject_version:
        raise DomainError(
            _("The content changed since you opened it; look at the new version before deciding."),
            code="version_changed",
        )
    handlers = subject_handlers(request.subject_type.model_class())
    subject = _subject_of(request)
    if handlers and handlers.version and subject is not None and handlers.version(subject) != request.subject_version:
        raise DomainError(
            _("The content changed since it was submitted; the new version needs its own approval."),
            code="version_changed",
        )
    step = request.current_step
    eligible = eligible_approver_ids(request, step)
    if actor.pk not in eligible:
        if actor.pk == request.submitted_by_id:
            raise NotAllowed(_("You cannot approve your own content."), code="separation_of_duties")
        raise NotAllowed(_("You are not an approver of this step."), code="not_an_approver")
    if not approve and not comment:
        raise DomainError(_("Say why you return it: a comment is required."), field="comment", code="comment_required")
    if ApprovalDecision.objects.filter(request=request, step=step, approver=actor).exists():
        raise DomainError(_("You already decided on this step."), code="already_voted")
    ApprovalDecision.objects.create(
        organization=organization,
        request=request,
        step=step,
        approver=actor,
        decision=Decision.APPROVE if approve else Decision.REJECT,
        comment=comment,
        created_at=now,
    )
    if not approve:
        request.status = ApprovalStatus.REJECTED
        request.decided_at = now
        request.save(update_fields=["status", "decided_at"])
        _audit(organization, actor, "approval.rejected", request, step=step.name, comment=comment)
        if request.submitted_by_id:
            _notify(organization, request, [request.submitted_by_id], "approval_returned", actor, comment=comment)
        if handlers and subject is not None:
            handlers.on_rejected(
                organization=organization, request=request, subject=subject, actor=actor, comment=comment
            )
        return request
    approvals = ApprovalDecision.objects.filter(
        request=request, step=step, decision=Decision.APPROVE, approver_id__in=eligible
    ).count()
    _audit(organization, actor, "approval.approved", request, step=step.name, comment=comment, final=False)
    if approvals < approvals_needed(step, len(eligible)):
        return request
    following = request.workflow.steps.filter(position__gt=step.position).order_by("position", "id").first()
    if following is not None:
        request.current_step = following
        request.step_started_at = now
        request.reminded_at = None
        request.escalated_at = None
        request.save(update_fields=["current_step", "step_started_at", "reminded_at", "escalated_at"])
        _notify(organization, request, eligible_approver_ids(request, following), "approval_requested")
        return request
    request.status = ApprovalStatus.APPROVED
    request.decided_at = now
    request.save(update_fields=["status", "decided_at"])
    if request.submitted_by_id and request.submitted_by_id != actor.pk:
        _notify(organization, request, [request.submitted_by_id], "approval_approved", actor)
    if handlers and subject is not None:
        handlers.on_approved(organization=organization, request=request, subject=subject, actor=actor)
    return request


def _cancel(organization, actor, request: ApprovalRequest, *, reason: str, now: datetime) -> None:
    request.status = ApprovalStatus.CANCELLED
    request.decided_at = now
    request.save(update_fields=["status", "decided_at"])
    _audit(organization, actor, "approval.cancelled", request, reason=reason)


@transaction.atomic
def approval_cancel(
    *, organization: Organization, actor: User | None, request: ApprovalRequest, reason: str = ""
) -> ApprovalRequest:
    """Withdraw a pending request (the author withdrew it, or a new version replaces it)."""
    request = _lock(request)
    if request.status != ApprovalStatus.PENDING:
        raise DomainError(_("Only a pending request can be withdrawn."), code="already_decided")
    _cancel(organization, actor, request, reason=reason, now=timezone.now())
    return request


def approval_sweep(*, organization: Organization, now: datetime | None = None) -> tuple[int, int]:
    """Reminders and escalations of late steps (beat, every minute; idempotent: each is claimed by a conditional
    update of its timestamp, so two sweeps never send it twice). At half the step's target time the approvers who
    have not decided are reminded; when the target time has passed the step is escalated to its named person, who
    may then decide too. Returns (reminded, escalated)."""
    now = now or timezone.now()
    reminded = escalated = 0
    pending = (
        ApprovalRequest.objects.filter(
            organization=organization, status=ApprovalStatus.PENDING, current_step__target_minutes__isnull=False
        )
        .filter(Q(reminded_at__isnull=True) | Q(escalated_at__isnull=True))
        .select_related("workflow", "current_step", "subject_type")
    )
    for request in pending:
        step = request.current_step
        elapsed = now - request.step_started_at
        target = timedelta(minutes=step.target_minutes)
        with transaction.atomic():
            if request.reminded_at is None and elapsed >= target / 2:
                claimed = ApprovalRequest.objects.filter(
                    pk=request.pk, status=ApprovalStatus.PENDING, current_step=step, reminded_at__isnull=True
                ).update(reminded_at=now)
                if claimed:
                    voted = set(
                        ApprovalDecision.objects.filter(request=request, step=step).values_list(
                            "approver_id", flat=True
                        )
                    )
                    _notify(organization, request, eligible_approver_ids(request, step) - voted, "approval_reminder")
                    reminded += 1
            if request.escalated_at is None and elapsed >= target and step.escalate_to_id:
                claimed = ApprovalRequest.objects.filter(
                    pk=request.pk, status=ApprovalStatus.PENDING, current_step=step, escalated_at__isnull=True
                ).update(escalated_at=now)
                if claimed:
                    request.escalated_at = now
                    _audit(organization, None, "approval.escalated", request, step=step.name, to=step.escalate_to_id)
                    _notify(organization, request, [step.escalate_to_id], "approval_escalated")
                    escalated += 1
    return reminded, escalated
