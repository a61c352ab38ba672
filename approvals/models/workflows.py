"""Approval workflows: which content needs whose approval before it goes out.

A `Workflow` is chosen for a subject (a post version, a reply) by its `conditions` (approvals/services/engine.py
`workflow_select`: active workflows of the subject's kind in `priority` order, the first whose conditions all match;
else the organization's default for that kind; no default = no approval needed). Its `WorkflowStep`s run in
`position` order; each names its approvers (users, role keys, a team) and how many must approve. An
`ApprovalRequest` binds to one version of its subject; `ApprovalDecision`s are the approvers' votes on a step.
"""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_scopes import ScopedManager


def scoped():
    return ScopedManager(organization="organization")


class WorkflowKind(models.TextChoices):
    POST = "post", pgettext_lazy("outgoing content", "Posts")
    REPLY = "reply", pgettext_lazy("outgoing content", "Replies")


class StepRule(models.TextChoices):
    ANY = "any", _("Any one approver")
    ALL = "all", _("Every approver")
    N = "n", _("A number of approvers")


class Workflow(models.Model):
    """An organization's approval workflow for posts or replies.

    `conditions` (all given keys must match; a list matches when any of its items does; {} matches everything):
    `platforms`, `connection_ids`, `keywords`, `keyword_sets` (engine.KEYWORD_SETS), `regexes`, `author_roles`
    (role keys), `author_team_ids`, `author_new_days` (member for fewer days), `public` (bool), `contact_vip`
    (bool), `contact_tags`, `campaign_tags`. Lower `priority` is tried first. `is_default`: used when no workflow's
    conditions match (at most one per kind). `regulated`: separation of duties can never be relaxed
    (`allow_self_approval` is then false, a database check)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("used for"), max_length=8, choices=WorkflowKind.choices, default=WorkflowKind.POST)
    regulated = models.BooleanField(
        _("regulated"),
        default=False,
        db_default=False,
        help_text=_("For finance, healthcare and franchises: an author can never approve their own content."),
    )
    allow_self_approval = models.BooleanField(
        _("authors may approve their own content"), default=False, db_default=False
    )
    is_default = models.BooleanField(_("default workflow"), default=False, db_default=False)
    priority = models.IntegerField(_("priority"), default=100, db_default=100)
    conditions = models.JSONField(_("conditions"), default=dict, blank=True)
    reapprove_on_time_change = models.BooleanField(
        _("a new scheduled time needs approval again"), default=False, db_default=False
    )
    active = models.BooleanField(_("active"), default=True, db_default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = scoped()

    class Meta:
        ordering = ["kind", "priority", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "kind"],
                condition=Q(is_default=True),
                name="approvals_workflow_one_default_per_kind",
            ),
            models.CheckConstraint(
                condition=~(Q(regulated=True) & Q(allow_self_approval=True)),
                name="approvals_workflow_regulated_no_self_approval",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class WorkflowStep(models.Model):
    """One step of a workflow: its approvers (the union of `approver_users`, members whose role key is in
    `approver_roles`, and members of `approver_team`), how many must approve (`rule`, `required_count` for N), a
    target time with a reminder at half of it and escalation to `escalate_to` when it has passed."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(default=1)
    name = models.CharField(_("name"), max_length=120)
    approver_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="+", verbose_name=_("approvers")
    )
    approver_roles = ArrayField(
        models.CharField(max_length=32), default=list, blank=True, verbose_name=_("approver roles")
    )
    approver_team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("approver team"),
    )
    rule = models.CharField(_("approvals needed"), max_length=3, choices=StepRule.choices, default=StepRule.ANY)
    required_count = models.PositiveSmallIntegerField(_("number of approvals"), default=1, db_default=1)
    target_minutes = models.PositiveIntegerField(_("target time (minutes)"), null=True, blank=True)
    escalate_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("escalate to"),
    )

    objects = scoped()

    class Meta:
        ordering = ["workflow", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "position"], name="approvals_step_workflow_position_unique"),
            models.CheckConstraint(condition=Q(required_count__gte=1), name="approvals_step_required_positive"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        if self.organization_id is None and self.workflow_id is not None:  # the tenant is the workflow's
            self.organization_id = self.workflow.organization_id
        super().save(*args, **kwargs)


class ApprovalStatus(models.TextChoices):
    PENDING = "pending", _("Awaiting approval")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", pgettext_lazy("an approval request", "Returned")
    CANCELLED = "cancelled", _("Cancelled")


class ApprovalRequest(models.Model):
    """One subject version going through a workflow. At most one pending request per subject: a new version
    cancels the pending one and is submitted afresh. `current_step` is the step waiting for decisions."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    workflow = models.ForeignKey(Workflow, on_delete=models.PROTECT, related_name="requests")
    subject_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    subject_id = models.PositiveBigIntegerField()
    subject = GenericForeignKey("subject_type", "subject_id")
    subject_version = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING)
    current_step = models.ForeignKey(WorkflowStep, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    summary = models.CharField(max_length=255, blank=True)  # the subject described at submission (queue, audit)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    submitted_at = models.DateTimeField(default=timezone.now)
    step_started_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)

    objects = scoped()

    class Meta:
        ordering = ["-submitted_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "subject_type", "subject_id"],
                condition=Q(status="pending"),
                name="approvals_request_one_pending_per_subject",
            ),
        ]
        indexes = [
            models.Index(fields=["subject_type", "subject_id"], name="approvals_request_subject"),
            models.Index(
                fields=["organization", "step_started_at"],
                condition=Q(status="pending"),
                name="approvals_request_pending",
            ),
        ]

    def __str__(self) -> str:
        return self.summary or f"#{self.pk}"


class Decision(models.TextChoices):
    APPROVE = "approve", _("Approved")
    REJECT = "reject", pgettext_lazy("an approval decision", "Returned")


class ApprovalDecision(models.Model):
    """One approver's vote on one step of a request; a reject carries its reason in `comment`."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="decisions")
    step = models.ForeignKey(WorkflowStep, on_delete=models.PROTECT, related_name="+")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=8, choices=Decision.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = scoped()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "step", "approver"], name="approvals_decision_one_per_approver_step"
            ),
            models.CheckConstraint(
                condition=~Q(decision="reject") | ~Q(comment=""), name="approvals_decision_reject_has_comment"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.decision} by {self.approver_id}"

    def save(self, *args, **kwargs):
        if self.organization_id is None and self.request_id is not None:  # the tenant is the request's
            self.organization_id = self.request.organization_id
        super().save(*args, **kwargs)
