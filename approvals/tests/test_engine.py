"""The approval engine: tiered selection, multi-step and N-of-M, separation of duties, comments on returns, version
binding, reminders and escalations (time travel by `now=`), and tenancy."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.services import team_create
from approvals.models import ApprovalStatus, Workflow, WorkflowKind
from approvals.services import engine
from approvals.services.engine import SubjectFacts, approval_decide, approval_submit, approval_sweep, workflow_select
from approvals.services.workflows import workflow_update
from approvals.tests.helpers import workflow
from core.errors import DomainError, NotAllowed
from core.models import Notification

pytestmark = pytest.mark.django_db


@pytest.fixture
def subject(tenant_a):
    """Any model can be a subject; a team stands in for a post version here."""
    with tenant_a.scope():
        return team_create(organization=tenant_a.organization, actor=tenant_a.users["owner"], name="Subject")


@pytest.fixture
def outcomes(monkeypatch, subject):
    """Register the stand-in subject; record what its owner hears."""
    heard = []
    versions = {"current": 1}
    handlers = engine.SubjectHandlers(
        on_approved=lambda **kw: heard.append(("approved", kw["request"].pk)),
        on_rejected=lambda **kw: heard.append(("rejected", kw["comment"])),
        describe=lambda s: f"Post {s.pk}",
        version=lambda s: versions["current"],
    )
    monkeypatch.setitem(engine._subjects, type(subject), handlers)
    return heard, versions


def facts(**kw):
    return SubjectFacts(kind=kw.pop("kind", WorkflowKind.POST), **kw)


def submit(tenant, subject, *, author="editor", version=1, **kw):
    with tenant.scope():
        return approval_submit(
            organization=tenant.organization,
            actor=tenant.users[author],
            subject=subject,
            subject_version=version,
            facts=facts(author=tenant.users[author], **kw),
        )


def decide(tenant, request, who, approve=True, comment="", **kw):
    with tenant.scope():
        return approval_decide(
            organization=tenant.organization,
            actor=tenant.users[who],
            request=request,
            approve=approve,
            comment=comment,
            **kw,
        )


def test_tiered_selection_by_priority_keywords_and_default(tenant_a):
    legal = workflow(tenant_a, name="Legal", priority=10, conditions={"keyword_sets": ["legal", "medical"]})
    prices = workflow(
        tenant_a, name="Prices", priority=20, conditions={"keywords": ["価格", "¥"], "regexes": [r"\d+円"]}
    )
    vip = workflow(tenant_a, name="VIP", priority=30, kind="reply", conditions={"contact_vip": True})
    new = workflow(tenant_a, name="New staff", priority=40, kind="reply", conditions={"author_new_days": 14})
    light = workflow(tenant_a, name="Light", is_default=True)
    org = tenant_a.organization
    now = timezone.now()
    with tenant_a.scope():
        pick = lambda **kw: workflow_select(organization=org, facts=facts(**kw), now=now)  # noqa: E731
        assert pick(text="この治療は医療行為です") == legal  # both match: the lower priority number wins
        assert pick(text="新価格で販売") == prices
        assert pick(text="たった ￥980 です") == prices  # full-width yen is ¥
        assert pick(text="送料500円") == prices  # regex
        assert pick(text="新商品のお知らせ") == light  # no condition: the default
        assert pick(kind="reply", text="ok", contact_vip=True) == vip
        assert pick(kind="reply", text="ok", author_member_since=now - timedelta(days=3)) == new
        assert pick(kind="reply", text="ok", author_member_since=now - timedelta(days=30)) is None  # no reply default
        workflow_update(organization=org, actor=None, workflow=light, active=False)
        assert pick(text="新商品のお知らせ") is None  # without a default: no approval
        workflow_update(organization=org, actor=None, workflow=legal, active=False)
        assert pick(text="医療") is None


def test_conditions_on_channel_author_campaign_and_public(tenant_a):
    flow = workflow(
        tenant_a,
        kind="reply",
        conditions={
            "platforms": ["instagram"],
            "public": True,
            "author_roles": ["agent"],
            "contact_tags": ["クレーム"],
        },
    )
    org = tenant_a.organization
    base = dict(
        kind="reply", platforms=("instagram",), public=True, author_role_key="agent", contact_tags=("クレーム",)
    )
    with tenant_a.scope():
        assert workflow_select(organization=org, facts=facts(**base)) == flow
        for change in (
            {"platforms": ("line",)},
            {"public": False},
            {"author_role_key": "manager"},
            {"contact_tags": ()},
        ):
            assert workflow_select(organization=org, facts=facts(**{**base, **change})) is None, change
    campaign = workflow(tenant_a, name="Campaign", conditions={"campaign_tags": ["summer-sale"]})
    with tenant_a.scope():
        assert workflow_select(organization=org, facts=facts(campaign_tags=("Summer-Sale",))) == campaign


def test_bad_conditions_are_refused_with_the_field(tenant_a):
    with pytest.raises(DomainError) as error:
        workflow(tenant_a, conditions={"regexes": ["(unclosed"]})
    assert error.value.field == "regexes"
    with pytest.raises(DomainError):
        workflow(tenant_a, conditions={"keyword_sets": ["astrology"]})


def test_multi_step_with_n_of_m_then_one(tenant_a, subject, outcomes):
    heard, _versions = outcomes
    users = tenant_a.users
    workflow(
        tenant_a,
        steps=(
            {"users": [users["manager"], users["approver"], users["admin"]], "rule": "n", "required_count": 2},
            {"name": "Legal", "roles": ["owner"]},
        ),
    )
    request = submit(tenant_a, subject)
    first = request.current_step
    request = decide(tenant_a, request, "manager")
    assert request.status == ApprovalStatus.PENDING and request.current_step == first  # 1 of 2
    with pytest.raises(DomainError):
        decide(tenant_a, request, "manager")  # one vote each
    request = decide(tenant_a, request, "approver")
    assert request.status == ApprovalStatus.PENDING and request.current_step.name == "Legal"
    with pytest.raises(NotAllowed):
        decide(tenant_a, request, "admin")  # step 1 approver, not of step 2
    assert heard == []
    request = decide(tenant_a, request, "owner")
    assert request.status == ApprovalStatus.APPROVED
    assert heard == [("approved", request.pk)]
    with tenant_a.scope():
        assert Notification.objects.filter(user=users["owner"], kind="approval_requested").count() == 1
        assert Notification.objects.filter(user=users["editor"], kind="approval_approved").count() == 1


def test_rule_all_needs_every_approver(tenant_a, subject, outcomes):
    users = tenant_a.users
    workflow(tenant_a, steps=({"users": [users["manager"], users["approver"]], "rule": "all"},))
    request = submit(tenant_a, subject)
    request = decide(tenant_a, request, "approver")
    assert request.status == ApprovalStatus.PENDING
    assert decide(tenant_a, request, "manager").status == ApprovalStatus.APPROVED


def test_separation_of_duties(tenant_a, subject, outcomes):
    users = tenant_a.users
    flow = workflow(tenant_a, steps=({"users": [users["editor"], users["manager"]]},))
    request = submit(tenant_a, subject, author="editor")
    with pytest.raises(NotAllowed) as error:
        decide(tenant_a, request, "editor")
    assert error.value.code == "separation_of_duties"
    # A non-regulated workflow may allow it …
    with tenant_a.scope():
        workflow_update(organization=tenant_a.organization, actor=None, workflow=flow, allow_self_approval=True)
    assert decide(tenant_a, request, "editor").status == ApprovalStatus.APPROVED
    # … a regulated one never: not through the service, not in the database.
    with tenant_a.scope(), pytest.raises(DomainError):
        workflow_update(organization=tenant_a.organization, actor=None, workflow=flow, regulated=True)
    with tenant_a.scope(), pytest.raises(IntegrityError), transaction.atomic():
        Workflow.objects.filter(pk=flow.pk).update(regulated=True, allow_self_approval=True)


def test_a_return_needs_a_comment_and_ends_the_request(tenant_a, subject, outcomes):
    heard, _versions = outcomes
    workflow(tenant_a, steps=({"roles": ["manager"]}, {"roles": ["owner"]}))
    request = submit(tenant_a, subject)
    with pytest.raises(DomainError) as error:
        decide(tenant_a, request, "manager", approve=False, comment="  ")
    assert error.value.field == "comment"
    request = decide(tenant_a, request, "manager", approve=False, comment="価格表記を確認してください")
    assert request.status == ApprovalStatus.REJECTED
    assert heard == [("rejected", "価格表記を確認してください")]
    with tenant_a.scope():
        note = Notification.objects.get(user=tenant_a.users["editor"], kind="approval_returned")
        assert note.params["comment"] == "価格表記を確認してください"
    with pytest.raises(DomainError):
        decide(tenant_a, request, "owner")


def test_decisions_bind_to_the_version(tenant_a, subject, outcomes):
    heard, versions = outcomes
    workflow(tenant_a)
    first = submit(tenant_a, subject, version=1)
    versions["current"] = 2
    with pytest.raises(DomainError) as error:
        decide(tenant_a, first, "manager")  # the subject moved on: this request cannot approve version 2
    assert error.value.code == "version_changed"
    second = submit(tenant_a, subject, version=2)
    first.refresh_from_db()
    assert first.status == ApprovalStatus.CANCELLED  # a new version cancels the pending request
    with pytest.raises(DomainError) as error:
        decide(tenant_a, second, "manager", seen_version=1)  # the approver was shown the old text
    assert error.value.code == "version_changed"
    assert decide(tenant_a, second, "manager", seen_version=2).status == ApprovalStatus.APPROVED
    assert heard == [("approved", second.pk)]


def test_reminder_then_escalation_once_each(tenant_a, subject, outcomes):
    users = tenant_a.users
    workflow(tenant_a, steps=({"roles": ["manager"], "target_minutes": 60, "escalate_to": users["admin"]},))
    request = submit(tenant_a, subject)
    start = request.step_started_at
    org = tenant_a.organization
    with tenant_a.scope():
        assert approval_sweep(organization=org, now=start + timedelta(minutes=29)) == (0, 0)
        assert approval_sweep(organization=org, now=start + timedelta(minutes=31)) == (1, 0)
        assert approval_sweep(organization=org, now=start + timedelta(minutes=32)) == (0, 0)  # idempotent
        assert Notification.objects.filter(user=users["manager"], kind="approval_reminder").count() == 1
        with pytest.raises(NotAllowed):
            decide(tenant_a, request, "admin")  # not an approver until escalated
        assert approval_sweep(organization=org, now=start + timedelta(minutes=61)) == (0, 1)
        assert approval_sweep(organization=org, now=start + timedelta(minutes=90)) == (0, 0)
        assert Notification.objects.filter(user=users["admin"], kind="approval_escalated").count() == 1
    assert decide(tenant_a, request, "admin").status == ApprovalStatus.APPROVED  # the named person may decide


def test_other_organizations_neither_select_nor_decide(tenant_a, tenant_b, subject, outcomes):
    workflow(tenant_b, name="B's", is_default=True)
    with tenant_a.scope():
        assert workflow_select(organization=tenant_a.organization, facts=facts(text="x")) is None
    workflow(tenant_a, steps=({"roles": ["manager"]},))
    request = submit(tenant_a, subject)
    with tenant_a.scope(), pytest.raises(NotAllowed):
        approval_decide(
            organization=tenant_a.organization, actor=tenant_b.users["manager"], request=request, approve=True
        )
