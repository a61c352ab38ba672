"""Settings → Approval workflows: the list, a workflow's conditions and flags, its ordered steps. Administrators
(`rules.manage`) only: who must approve what is a policy, like automation rules."""

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Team, User
from accounts.permissions import require_capability
from accounts.roles import Capability, RoleKey
from approvals.models import StepRule, Workflow, WorkflowKind, WorkflowStep
from approvals.services import workflows as services
from approvals.services.engine import KEYWORD_SETS
from channels_integrations.models import ChannelConnection
from channels_integrations.registry import platform_choices
from core.errors import DomainError
from core.views import form_error, unconfirmed


def _members(organization):
    return User.objects.filter(memberships__organization=organization, is_active=True).order_by("name", "email")


class _MemberChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return obj.name or obj.email


class _OneMember(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.name or obj.email


def _lines(value: str) -> list[str]:
    return [line.strip() for line in (value or "").replace("、", ",").replace("\n", ",").split(",") if line.strip()]


class WorkflowForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=120)
    kind = forms.ChoiceField(label=gettext_lazy("Used for"), choices=WorkflowKind.choices)
    priority = forms.IntegerField(
        label=gettext_lazy("Priority"),
        initial=100,
        help_text=gettext_lazy("Workflows are tried from the lowest number; the first whose conditions match is used."),
    )
    is_default = forms.BooleanField(
        label=gettext_lazy("Default: used when no other workflow's conditions match"), required=False
    )
    regulated = forms.BooleanField(
        label=gettext_lazy("Regulated (finance, healthcare, franchises): authors can never approve their own content"),
        required=False,
    )
    allow_self_approval = forms.BooleanField(
        label=gettext_lazy("Authors may approve their own content (never in regulated workflows)"), required=False
    )
    reapprove_on_time_change = forms.BooleanField(
        label=gettext_lazy("A post moved to another time needs approval again"), required=False
    )
    active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)
    # Conditions (all that are filled in must hold; within one, any value matches).
    platforms = forms.MultipleChoiceField(
        label=gettext_lazy("Channel types"), required=False, widget=forms.CheckboxSelectMultiple
    )
    connection_ids = forms.MultipleChoiceField(
        label=gettext_lazy("Channels"), required=False, widget=forms.CheckboxSelectMultiple
    )
    keyword_sets = forms.MultipleChoiceField(
        label=gettext_lazy("The text mentions"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=[(key, label) for key, (label, _words) in KEYWORD_SETS.items()],
    )
    keywords = forms.CharField(
        label=gettext_lazy("…or one of these words"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("Separated by commas or lines, e.g. 返金, 値引き, 保証."),
    )
    regexes = forms.CharField(
        label=gettext_lazy("…or matches one of these regular expressions"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("One per line, e.g. \\d+円."),
    )
    author_roles = forms.MultipleChoiceField(
        label=gettext_lazy("The author's role"),
        required=False,
        choices=RoleKey.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    author_team_ids = forms.MultipleChoiceField(
        label=gettext_lazy("The author's team"), required=False, widget=forms.CheckboxSelectMultiple
    )
    author_new_days = forms.IntegerField(
        label=gettext_lazy("The author joined less than this many days ago"), required=False, min_value=1
    )
    public = forms.BooleanField(label=gettext_lazy("Replies: only public replies (comments)"), required=False)
    contact_vip = forms.BooleanField(label=gettext_lazy("Replies: only to VIP customers"), required=False)
    contact_tags = forms.CharField(label=gettext_lazy("Replies: the customer has one of these tags"), required=False)
    campaign_tags = forms.CharField(label=gettext_lazy("Posts: campaign tags"), required=False)

    basic = (
        "name",
        "kind",
        "priority",
        "is_default",
        "regulated",
        "allow_self_approval",
        "reapprove_on_time_change",
        "active",
    )

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["platforms"].choices = list(platform_choices())
        self.fields["connection_ids"].choices = [
            (str(c.pk), str(c)) for c in ChannelConnection.objects.filter(organization=organization)
        ]
        self.fields["author_team_ids"].choices = [
            (str(t.pk), t.name) for t in Team.objects.filter(organization=organization).order_by("name")
        ]

    def basic_fields(self):
        return [self[name] for name in self.basic]

    def condition_fields(self):
        return [self[name] for name in self.fields if name not in self.basic]

    def values(self) -> dict:
        data = self.cleaned_data
        conditions = {
            "platforms": data["platforms"],
            "connection_ids": data["connection_ids"],
            "keyword_sets": data["keyword_sets"],
            "keywords": _lines(data["keywords"]),
            "regexes": [line.strip() for line in data["regexes"].splitlines() if line.strip()],
            "author_roles": data["author_roles"],
            "author_team_ids": data["author_team_ids"],
            "author_new_days": data["author_new_days"],
            "public": data["public"],
            "contact_vip": data["contact_vip"],
            "contact_tags": _lines(data["contact_tags"]),
            "campaign_tags": _lines(data["campaign_tags"]),
        }
        return {**{name: data[name] for name in self.basic}, "conditions": conditions}

    @classmethod
    def initial_for(cls, workflow: Workflow) -> dict:
        c = workflow.conditions or {}
        return {
            **{name: getattr(workflow, name) for name in cls.basic},
            "platforms": c.get("platforms", []),
            "connection_ids": [str(i) for i in c.get("connection_ids", [])],
            "keyword_sets": c.get("keyword_sets", []),
            "keywords": ", ".join(c.get("keywords", [])),
            "regexes": "\n".join(c.get("regexes", [])),
            "author_roles": c.get("author_roles", []),
            "author_team_ids": [str(i) for i in c.get("author_team_ids", [])],
            "author_new_days": c.get("author_new_days"),
            "public": c.get("public", False),
            "contact_vip": c.get("contact_vip", False),
            "contact_tags": ", ".join(c.get("contact_tags", [])),
            "campaign_tags": ", ".join(c.get("campaign_tags", [])),
        }


class StepForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Step name"), max_length=120)
    users = _MemberChoice(
        label=gettext_lazy("Approvers"),
        queryset=User.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    roles = forms.MultipleChoiceField(
        label=gettext_lazy("…or everyone with the role"),
        required=False,
        choices=RoleKey.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    team = forms.ModelChoiceField(label=gettext_lazy("…or the team"), queryset=Team.objects.none(), required=False)
    rule = forms.ChoiceField(label=gettext_lazy("Approvals needed"), choices=StepRule.choices)
    required_count = forms.IntegerField(
        label=gettext_lazy("Number of approvals (for “a number”)"), min_value=1, initial=1
    )
    target_minutes = forms.IntegerField(
        label=gettext_lazy("Target time in minutes"),
        required=False,
        min_value=1,
        help_text=gettext_lazy("Approvers are reminded at half of it; when it has passed, the step is escalated."),
    )
    escalate_to = _OneMember(label=gettext_lazy("Escalate to"), queryset=User.objects.none(), required=False)

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["users"].queryset = _members(organization)
        self.fields["escalate_to"].queryset = _members(organization)
        self.fields["team"].queryset = Team.objects.filter(organization=organization).order_by("name")

    @classmethod
    def initial_for(cls, step: WorkflowStep) -> dict:
        return {
            "name": step.name,
            "users": list(step.approver_users.all()),
            "roles": step.approver_roles,
            "team": step.approver_team,
            "rule": step.rule,
            "required_count": step.required_count,
            "target_minutes": step.target_minutes,
            "escalate_to": step.escalate_to,
        }

    def values(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "users": list(data["users"]),
            "roles": data["roles"],
            "team": data["team"],
            "rule": data["rule"],
            "required_count": data["required_count"],
            "target_minutes": data["target_minutes"],
            "escalate_to": data["escalate_to"],
        }


@require_GET
@require_capability(Capability.RULES_MANAGE)
def workflow_list(request, org_slug):
    workflows = list(
        Workflow.objects.prefetch_related("steps__approver_users", "steps__approver_team").order_by(
            "kind", "priority", "id"
        )
    )
    return render(request, "approvals/workflows.html", {"workflows": workflows})


@require_http_methods(["GET", "POST"])
@require_capability(Capability.RULES_MANAGE)
def workflow_create(request, org_slug):
    form = WorkflowForm(request.POST or None, organization=request.organization, initial={"active": True})
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                workflow = services.workflow_create(
                    organization=request.organization, actor=request.user, **form.values()
                )
            except DomainError as exc:
                form_error(form, exc)
            else:
                messages.success(request, _("Workflow saved. Add its steps now."))
                return redirect("org:approval_workflow_edit", org_slug=org_slug, workflow_id=workflow.pk)
    return render(request, "approvals/workflows_form.html", {"form": form, "workflow": None}, status=status)


@require_http_methods(["GET", "POST"])
@require_capability(Capability.RULES_MANAGE)
def workflow_edit(request, org_slug, workflow_id):
    workflow = get_object_or_404(Workflow.objects.all(), pk=workflow_id)
    form = WorkflowForm(
        request.POST or None, organization=request.organization, initial=WorkflowForm.initial_for(workflow)
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                services.workflow_update(
                    organization=request.organization, actor=request.user, workflow=workflow, **form.values()
                )
            except DomainError as exc:
                form_error(form, exc)
            else:
                messages.success(request, _("Workflow saved."))
                return redirect("org:approval_workflow_edit", org_slug=org_slug, workflow_id=workflow.pk)
    steps = list(workflow.steps.prefetch_related("approver_users").select_related("approver_team", "escalate_to"))
    context = {
        "form": form,
        "workflow": workflow,
        "steps": steps,
        "step_form": StepForm(organization=request.organization, initial={"rule": StepRule.ANY, "required_count": 1}),
    }
    return render(request, "approvals/workflows_form.html", context, status=status)


@require_POST
@require_capability(Capability.RULES_MANAGE)
def workflow_delete(request, org_slug, workflow_id):
    workflow = get_object_or_404(Workflow.objects.all(), pk=workflow_id)
    ask = unconfirmed(
        request,
        question=_("Delete the workflow “%(name)s”?") % {"name": workflow.name},
        detail=_("A workflow that was used is deactivated instead, so its history stays."),
        action=_("Delete"),
        cancel_url=request.path.rsplit("delete/", 1)[0],
    )
    if ask is not None:
        return ask
    services.workflow_delete(organization=request.organization, actor=request.user, workflow=workflow)
    messages.success(request, _("Workflow removed."))
    return redirect("org:approval_workflows", org_slug=org_slug)


@require_http_methods(["GET", "POST"])
@require_capability(Capability.RULES_MANAGE)
def step_create(request, org_slug, workflow_id):
    workflow = get_object_or_404(Workflow.objects.all(), pk=workflow_id)
    return _step_page(request, workflow, None)


@require_http_methods(["GET", "POST"])
@require_capability(Capability.RULES_MANAGE)
def step_edit(request, org_slug, step_id):
    step = get_object_or_404(WorkflowStep.objects.select_related("workflow"), pk=step_id)
    return _step_page(request, step.workflow, step)


def _step_page(request, workflow: Workflow, step: WorkflowStep | None):
    initial = StepForm.initial_for(step) if step else {"rule": StepRule.ANY, "required_count": 1}
    form = StepForm(request.POST or None, organization=request.organization, initial=initial)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                services.workflow_step_save(
                    organization=request.organization, actor=request.user, workflow=workflow, step=step, **form.values()
                )
            except DomainError as exc:
                form_error(form, exc)
            else:
                messages.success(request, _("Step saved."))
                return redirect(
                    "org:approval_workflow_edit", org_slug=request.organization.slug, workflow_id=workflow.pk
                )
    return render(
        request, "approvals/workflows_step.html", {"form": form, "workflow": workflow, "step": step}, status=status
    )


@require_POST
@require_capability(Capability.RULES_MANAGE)
def step_delete(request, org_slug, step_id):
    step = get_object_or_404(WorkflowStep.objects.select_related("workflow"), pk=step_id)
    try:
        services.workflow_step_delete(organization=request.organization, actor=request.user, step=step)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Step removed."))
    return redirect("org:approval_workflow_edit", org_slug=org_slug, workflow_id=step.workflow_id)
