"""Reply approval (送信前承認): a reply held by policy is stored but never sent until approved, then sent exactly once
through the normal path; the SLA clock does not count a held reply; approvers approve and send, approve and leave it
to the author, edit (before/after on the ticket's history) or return it with a comment; the author resubmits."""

import email
import email.policy

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditEntry
from approvals.models import ApprovalRequest, ApprovalStatus, ReplyHold
from approvals.services import replies as approval_replies
from approvals.tests.helpers import workflow
from core.errors import DomainError, NotAllowed
from tickets.models import DeliveryState, Message, TicketEvent, TicketEventKind
from tickets.services.replies import message_reply
from tickets.tests.services.test_replies import email_ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def vip_ticket(tenant_a, simulator):
    _conn, ticket = email_ticket(tenant_a, simulator)
    with tenant_a.scope():
        ticket.contact.vip = True
        ticket.contact.save(update_fields=["vip"])
    return ticket


def reply(tenant, ticket, text="ご返金いたします。", who="agent", **kw):
    with tenant.scope():
        return message_reply(organization=tenant.organization, actor=tenant.users[who], ticket=ticket, text=text, **kw)


def sent(simulator):
    return simulator.parts["email"].sent()


def test_a_vip_reply_is_held_not_sent_and_not_a_response_until_approved_then_sent_once(
    tenant_a, simulator, vip_ticket, django_capture_on_commit_callbacks
):
    workflow(tenant_a, kind="reply", name="VIP", conditions={"contact_vip": True}, steps=({"roles": ["manager"]},))
    with django_capture_on_commit_callbacks(execute=True):
        message = reply(tenant_a, vip_ticket)
    assert message.delivery_state == DeliveryState.HELD
    assert sent(simulator) == []
    with tenant_a.scope():
        vip_ticket.refresh_from_db()
        assert vip_ticket.first_response_at is None  # the SLA clock keeps running
        request = ApprovalRequest.objects.get()
        assert request.submitted_by == tenant_a.users["agent"]
        assert TicketEvent.objects.filter(ticket=vip_ticket, kind=TicketEventKind.REPLY_HELD).exists()
        with pytest.raises(NotAllowed):  # the author is no approver of their own reply
            approval_replies.reply_approve(
                organization=tenant_a.organization, actor=tenant_a.users["agent"], message=message
            )
    with tenant_a.scope(), django_capture_on_commit_callbacks(execute=True):
        approval_replies.reply_approve(
            organization=tenant_a.organization, actor=tenant_a.users["manager"], message=message, send=True
        )
    with tenant_a.scope():
        message.refresh_from_db()
        vip_ticket.refresh_from_db()
        assert message.delivery_state == DeliveryState.SENT
        assert vip_ticket.first_response_at is not None
        approved = TicketEvent.objects.get(ticket=vip_ticket, kind=TicketEventKind.REPLY_APPROVED)
        assert approved.actor == tenant_a.users["manager"] and approved.new["seconds"] >= 0
        assert AuditEntry.objects.filter(action="approval.approved").exists()
    assert len(sent(simulator)) == 1
    # A second approval (another tab, a double click) sends nothing more.
    with tenant_a.scope(), pytest.raises(DomainError), django_capture_on_commit_callbacks(execute=True):
        approval_replies.reply_approve(
            organization=tenant_a.organization, actor=tenant_a.users["manager"], message=message
        )
    assert len(sent(simulator)) == 1


def test_replies_matching_no_policy_are_sent_at_once(tenant_a, simulator, django_capture_on_commit_callbacks):
    _conn, ticket = email_ticket(tenant_a, simulator)
    workflow(tenant_a, kind="reply", conditions={"contact_vip": True})
    with django_capture_on_commit_callbacks(execute=True):
        message = reply(tenant_a, ticket, "ありがとうございます。")
    with tenant_a.scope():
        message.refresh_from_db()
    assert message.delivery_state == DeliveryState.SENT
    assert len(sent(simulator)) == 1


def test_an_agent_asks_for_approval_of_any_reply(tenant_a, simulator, django_capture_on_commit_callbacks):
    _conn, ticket = email_ticket(tenant_a, simulator)
    with pytest.raises(DomainError) as error:  # no reply workflow at all: said clearly
        reply(tenant_a, ticket, "確認お願いします", ask_approval=True)
    assert error.value.code == "no_reply_workflow"
    workflow(tenant_a, kind="reply", name="Check", conditions={"contact_vip": True})
    with django_capture_on_commit_callbacks(execute=True):
        message = reply(tenant_a, ticket, "確認お願いします", ask_approval=True)
    assert message.delivery_state == DeliveryState.HELD
    with tenant_a.scope():
        assert ReplyHold.objects.get(message=message).reason == "asked"
    assert sent(simulator) == []


def test_edit_then_approve_keeps_the_diff_and_sends_the_edited_text_once(
    tenant_a, simulator, vip_ticket, django_capture_on_commit_callbacks
):
    workflow(tenant_a, kind="reply", conditions={"contact_vip": True}, steps=({"roles": ["manager"]},))
    message = reply(tenant_a, vip_ticket, "全額返金します")
    org, manager = tenant_a.organization, tenant_a.users["manager"]
    with tenant_a.scope():
        hold = approval_replies.reply_edit(
            organization=org, actor=manager, message=message, text="規定に沿って返金いたします"
        )
        assert hold.version == 2
        requests = list(ApprovalRequest.objects.order_by("id"))
        assert [r.status for r in requests] == [ApprovalStatus.CANCELLED, ApprovalStatus.PENDING]
        assert requests[1].subject_version == 2 and requests[1].submitted_by == tenant_a.users["agent"]
        with pytest.raises(DomainError):  # shown version 1, the text is version 2
            approval_replies.reply_approve(organization=org, actor=manager, message=message, seen_version=1)
    with tenant_a.scope(), django_capture_on_commit_callbacks(execute=True):
        approval_replies.reply_approve(organization=org, actor=manager, message=message, seen_version=2)
    with tenant_a.scope():
        edited = TicketEvent.objects.get(ticket=vip_ticket, kind=TicketEventKind.REPLY_EDITED)
        assert edited.old["text"] == "全額返金します" and edited.new["text"] == "規定に沿って返金いたします"
        assert edited.actor == manager
    outgoing = sent(simulator)
    assert len(outgoing) == 1
    mail = email.message_from_bytes(outgoing[0]["data"], policy=email.policy.default)
    assert "規定に沿って返金いたします" in mail.get_body(("plain",)).get_content()


def test_return_with_comment_then_the_author_edits_and_resubmits(tenant_a, simulator, vip_ticket):
    workflow(tenant_a, kind="reply", conditions={"contact_vip": True}, steps=({"roles": ["manager"]},))
    message = reply(tenant_a, vip_ticket, "たぶん返金できます")
    org = tenant_a.organization
    with tenant_a.scope():
        with pytest.raises(DomainError):
            approval_replies.reply_return(
                organization=org, actor=tenant_a.users["manager"], message=message, comment=""
            )
        approval_replies.reply_return(
            organization=org, actor=tenant_a.users["manager"], message=message, comment="断定的に書いてください"
        )
        message.refresh_from_db()
        assert message.delivery_state == DeliveryState.RETURNED
        returned = TicketEvent.objects.get(kind=TicketEventKind.REPLY_RETURNED)
        assert returned.new["comment"] == "断定的に書いてください"
        with pytest.raises(NotAllowed):  # only the author changes a returned reply
            approval_replies.reply_edit(organization=org, actor=tenant_a.users["manager"], message=message, text="x")
        approval_replies.reply_edit(
            organization=org, actor=tenant_a.users["agent"], message=message, text="返金いたします"
        )
        message.refresh_from_db()
        assert message.delivery_state == DeliveryState.HELD
        assert ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING, subject_version=2).count() == 1
    assert sent(simulator) == []


def test_approve_and_leave_the_sending_to_the_author(
    tenant_a, simulator, vip_ticket, django_capture_on_commit_callbacks
):
    workflow(tenant_a, kind="reply", conditions={"contact_vip": True}, steps=({"roles": ["manager"]},))
    message = reply(tenant_a, vip_ticket)
    org = tenant_a.organization
    with tenant_a.scope(), django_capture_on_commit_callbacks(execute=True):
        approval_replies.reply_approve(organization=org, actor=tenant_a.users["manager"], message=message, send=False)
        message.refresh_from_db()
        assert message.delivery_state == DeliveryState.APPROVED
    assert sent(simulator) == []
    with tenant_a.scope():
        vip_ticket.refresh_from_db()
        assert vip_ticket.first_response_at is None
        with pytest.raises(NotAllowed):
            approval_replies.reply_send_approved(organization=org, actor=tenant_a.users["manager"], message=message)
    with tenant_a.scope(), django_capture_on_commit_callbacks(execute=True):
        approval_replies.reply_send_approved(organization=org, actor=tenant_a.users["agent"], message=message)
    assert len(sent(simulator)) == 1


def test_the_gate_costs_one_query_without_reply_workflows(tenant_a, simulator):
    _conn, ticket = email_ticket(tenant_a, simulator)
    from approvals.services.replies import ApprovalReplyGate

    with tenant_a.scope(), CaptureQueriesContext(db) as queries:
        decision = ApprovalReplyGate().review(
            organization=tenant_a.organization,
            actor=tenant_a.users["agent"],
            ticket=ticket,
            text="x",
            public=False,
            asked=False,
        )
    assert not decision.hold and len(queries) == 1
    with tenant_a.scope():
        assert not Message.objects.filter(delivery_state=DeliveryState.HELD).exists()


def _approved_after_ten_minutes(tenant_a, vip_ticket, capture) -> None:
    from datetime import timedelta

    from django.utils import timezone

    workflow(tenant_a, kind="reply", conditions={"contact_vip": True}, steps=({"roles": ["manager"]},))
    message = reply(tenant_a, vip_ticket)
    with tenant_a.scope():
        ReplyHold.objects.filter(message=message).update(created_at=timezone.now() - timedelta(minutes=10))
    with tenant_a.scope(), capture(execute=True):
        approval_replies.reply_approve(
            organization=tenant_a.organization, actor=tenant_a.users["manager"], message=message
        )


def test_approval_time_is_reported_in_analytics(tenant_a, simulator, vip_ticket, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from analytics.metrics import Filters, reply_approval_time

    _approved_after_ten_minutes(tenant_a, vip_ticket, django_capture_on_commit_callbacks)
    today = timezone.now().astimezone(timezone.get_default_timezone()).date()
    span = {"first_day": today - timedelta(days=1), "last_day": today + timedelta(days=1)}
    with tenant_a.scope():
        figures = reply_approval_time(Filters(organization=tenant_a.organization, **span))
    assert figures["count"] == 1 and 599 <= figures["median"] <= 605


def test_the_overview_dashboard_shows_the_approval_time(
    tenant_a, simulator, vip_ticket, login, django_capture_on_commit_callbacks
):
    _approved_after_ten_minutes(tenant_a, vip_ticket, django_capture_on_commit_callbacks)
    page = login(tenant_a.users["owner"]).get(f"/{tenant_a.slug}/analytics/dashboards/")
    assert page.status_code == 200 and 'data-kpi="reply_approval_median"' in page.content.decode()
